"""Python processes a step starts afresh (``multiprocessing``'s spawn and forkserver start
methods, joblib's loky workers, ``python script.py``) report what they read to the step, as
forked workers do (``incr.childreads``); a process that cannot is named in a note."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import MakeProject

WORK = """\
    import os


    def read_num(path):
        with open(path, encoding="utf-8") as fh:
            return int(fh.read()) * int(os.environ.get("FACTOR", "1"))
    """

WORKERS = """\
    import multiprocessing
    import subprocess
    import sys
    from concurrent.futures import ProcessPoolExecutor

    from joblib import Parallel, delayed

    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.work import read_num

    FILES = ["data/a.txt", "data/b.txt"]


    @step
    def by_spawn() -> int:
        mark("by_spawn")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context) as ex:
            return sum(ex.map(read_num, FILES))


    @step
    def by_forkserver() -> int:
        mark("by_forkserver")
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            return sum(pool.map(read_num, FILES))


    @step
    def by_joblib() -> int:
        mark("by_joblib")
        return sum(Parallel(n_jobs=2)(delayed(read_num)(f) for f in FILES))


    @step
    def by_script() -> str:
        mark("by_script")
        code = "print(open('data/b.txt').read())"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout


    @pipeline
    def workers():
        by_spawn()
        by_forkserver()
        by_joblib()
        by_script()
    """

EVERY = ["by_forkserver", "by_joblib", "by_script", "by_spawn"]


def own_reads(reads: dict[str, str]) -> list[str]:
    """The keys of ``reads`` but the variables multiprocessing, joblib and loky look up for
    the step (``LOKY_MAX_DEPTH``...), which count too (unset here)."""
    library = {k: v for k, v in reads.items() if k.startswith("$") and k != "$FACTOR"}
    assert set(library.values()) <= {"unset"}, library
    return sorted(k for k in reads if k not in library)


def test_what_python_workers_started_afresh_read_is_read_by_the_step(
    make_project: MakeProject, monkeypatch
) -> None:
    monkeypatch.delenv("FACTOR", raising=False)
    project = make_project(
        {
            "pipelines/work.py": WORK,
            "pipelines/workers.py": WORKERS,
            "data/a.txt": "1",
            "data/b.txt": "2",
        }
    )
    result = project.repro()
    assert sorted(project.take_ran()) == EVERY
    assert "does not follow" not in result.output  # each worker reported: no note
    locks = project.lock()
    for name in ["by_spawn", "by_forkserver", "by_joblib"]:
        assert own_reads(locks[f"workers.{name}"].reads) == ["$FACTOR", "data/a.txt", "data/b.txt"]
    assert own_reads(locks["workers.by_script"].reads) == ["data/b.txt"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []

    (project.root / "data" / "b.txt").write_text("5", encoding="utf-8")
    assert sorted(project.dirty()) == EVERY
    project.repro()
    assert sorted(project.take_ran()) == EVERY
    monkeypatch.setenv("FACTOR", "3")  # read by the workers' code, in the workers
    assert sorted(project.dirty()) == ["by_forkserver", "by_joblib", "by_spawn"]


REUSED = """\
    import glob
    import os
    import time

    from joblib import Parallel, delayed

    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.work import read_num


    def shards(_):
        time.sleep(0.01)  # spread over both workers
        return len(glob.glob("data/shards/*.csv")) + os.path.exists("data/extra.csv")


    @step
    def first() -> int:
        mark("first")
        found = sum(Parallel(n_jobs=2, batch_size=1)(delayed(shards)(i) for i in range(20)))
        return found + sum(Parallel(n_jobs=2)(delayed(read_num)(f) for f in ["data/a.txt"] * 4))


    @step
    def second(x: int) -> int:
        mark("second")
        found = sum(Parallel(n_jobs=2, batch_size=1)(delayed(shards)(i) for i in range(20)))
        return found + sum(Parallel(n_jobs=2)(delayed(read_num)(f) for f in ["data/c.txt"] * 4))


    @pipeline
    def reused():
        second(first())
    """


def test_a_worker_kept_from_an_earlier_step_reports_to_the_step_using_it(
    make_project: MakeProject,
) -> None:
    """loky keeps its workers for the next ``Parallel``: what they read for the second step
    is the second step's, although no process starts during it."""
    project = make_project(
        {
            "pipelines/work.py": WORK,
            "pipelines/reused.py": REUSED,
            "data/a.txt": "1",
            "data/c.txt": "3",
            "data/shards/1.csv": "",
        }
    )
    project.repro()
    assert project.take_ran() == ["first", "second"]
    locks = project.lock()
    assert "data/c.txt" in locks["reused.second"].reads
    assert "data/c.txt" not in locks["reused.first"].reads
    for name in ("first", "second"):  # each step hears of the listing and the test
        reads = locks[f"reused.{name}"].reads
        assert "ls:data/shards" in reads and "exists:data/extra.csv" in reads, name
    (project.root / "data" / "c.txt").write_text("4", encoding="utf-8")
    assert project.dirty() == {"second": [("read changed", "data/c.txt")]}
    (project.root / "data" / "shards" / "2.csv").write_text("", encoding="utf-8")
    assert sorted(project.dirty()) == ["first", "second"]


STARTS = """\
    import os
    import subprocess
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark

    SHOW = "import os, sys; print(os.environ.get('PYTHONPATH'), sorted(os.environ), sys.path)"


    @step
    def isolated() -> str:
        mark("isolated")
        code = "import os; print(open('data/a.txt').read(), sorted(os.environ))"
        done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
        with open("isolated.txt", "w", encoding="utf-8") as fh:
            fh.write(done.stdout)  # what it saw of the environment
        return done.stdout


    @step
    def environment() -> str:
        mark("environment")
        shown = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True)
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(shown.stdout + shown.stderr)
        return shown.stdout


    @pipeline
    def starts():
        isolated()
        environment()
    """


def test_a_python_process_that_does_not_report_is_named_in_a_note(
    make_project: MakeProject, monkeypatch, tmp_path
) -> None:
    """``python -I`` ignores ``PYTHONPATH``: it runs no recorder, and the step says so. A
    process that does sees the environment the step gave it, not incr's."""
    given = str(tmp_path / "elsewhere")
    monkeypatch.setenv("PYTHONPATH", given)
    project = make_project({"pipelines/starts.py": STARTS, "data/a.txt": "1"})
    result = project.repro()
    assert sorted(project.take_ran()) == ["environment", "isolated"]
    assert result.output.count("in a process incr does not follow") == 1, result.output
    assert project.lock()["starts.isolated"].reads == {}
    assert "INCR_READS" not in (project.root / "isolated.txt").read_text(encoding="utf-8")
    shown = (project.root / "shown.txt").read_text(encoding="utf-8")
    assert shown.startswith(given + " ") and "INCR_READS" not in shown, shown
    assert "incr-reads" not in shown and "Error" not in shown, shown  # not on sys.path


def test_a_sitecustomize_the_start_folder_hides_still_runs(make_project: MakeProject, tmp_path):
    """A ``sitecustomize`` module on the path the step gives its Python processes runs in
    them as before, although incr's comes first."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.site_ran = 'yes'\n")
    project = make_project(
        {
            "pipelines/site.py": """\
                import subprocess
                import sys

                from incr import pipeline, step

                CODE = (
                    "import sys; print(getattr(sys, 'site_ran', None), open('data/a.txt').read())"
                )


                @step
                def child() -> str:
                    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True)
                    with open("child.txt", "w", encoding="utf-8") as fh:
                        fh.write((done.stdout + done.stderr).decode())
                    return done.stdout.decode()


                @pipeline
                def site():
                    child()
                """,
            "data/a.txt": "1",
        }
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "incr.cli", "repro"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "does not follow" not in done.stdout + done.stderr
    assert list(project.lock()["site.child"].reads) == ["data/a.txt"]
    assert (project.root / "child.txt").read_text(encoding="utf-8").split() == ["yes", "1"]


SCRIPT = """\
    import multiprocessing

    from incr import pipeline, step
    from pipelines.work import read_num


    @step
    def load() -> int:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            return sum(pool.map(read_num, ["data/a.txt"] * 2))


    @step
    def other() -> int:
        return 1


    @pipeline
    def train():
        load()
        other()


    if __name__ == "__main__":
        train().run()
    """


def test_a_script_s_spawned_workers_read_it_as_code_not_as_data(make_project: MakeProject):
    """A spawned worker runs the script again (as ``__mp_main__``): that is code, which the
    step's fingerprint follows, not a file the step reads. An edit of another step of the
    script leaves the step clean."""
    project = make_project(
        {"pipelines/work.py": WORK, "pipelines/train.py": SCRIPT, "data/a.txt": "1"}
    )
    subprocess.run(
        [sys.executable, "pipelines/train.py"], cwd=project.root, check=True, capture_output=True
    )
    assert sorted(project.lock()["train.load"].reads) == ["$FACTOR", "data/a.txt"]
    module = project.root / "pipelines" / "train.py"
    module.write_text(module.read_text().replace("return 1", "return 2"), encoding="utf-8")
    assert project.dirty() == {"other": [("code changed", "other in pipelines/train.py")]}


RELAYS = """\
    import subprocess
    import sys

    from incr import pipeline, step
    from incr.readrelay import for_this_process


    @step
    def first() -> str:
        subprocess.run([sys.executable, "-c", "open('data/a.txt').read()"], check=True)
        with open("first.relay", "w", encoding="utf-8") as fh:
            fh.write(for_this_process().folder)
        return "done"


    @step
    def second() -> str:
        subprocess.run([sys.executable, "-c", "open('data/a.txt').read()"], check=True)
        with open("second.relay", "w", encoding="utf-8") as fh:
            fh.write(for_this_process().folder)
        return "done"


    @pipeline
    def relays():
        first()
        second()
    """


def test_the_report_folders_of_jobs_workers_are_removed(make_project: MakeProject) -> None:
    """A worker of ``--jobs`` ends without running ``atexit``: the folder its steps' processes
    reported to (and the one it started them with) is removed all the same."""
    project = make_project({"pipelines/relays.py": RELAYS, "data/a.txt": "1"})
    project.repro("--jobs", "2")
    locks = project.lock()
    assert list(locks["relays.first"].reads) == list(locks["relays.second"].reads) == ["data/a.txt"]
    folders = [
        (project.root / f"{n}.relay").read_text(encoding="utf-8") for n in ("first", "second")
    ]
    assert all("incr-reads-" in folder for folder in folders)
    for folder in folders:
        assert not os.path.exists(folder) and not os.path.exists(folder + ".start"), folder


HELPED = """\
    import subprocess
    import sys

    from incr import pipeline, step


    @step
    def prep() -> str:
        subprocess.run([sys.executable, "scripts/prep.py"], check=True)
        with open("data/prepped.txt", encoding="utf-8") as fh:
            return fh.read()


    @pipeline
    def helped():
        prep()
    """


def test_the_project_code_a_script_runs_is_read_by_the_step(make_project: MakeProject) -> None:
    """The step's fingerprint does not hold a script's code: the script and the project
    modules it imports (from a folder it puts on the path too) count as files it read."""
    project = make_project(
        {
            "pipelines/helped.py": HELPED,
            "scripts/helpers.py": "def scale(x):\n    return x * 2\n",
            "scripts/prep.py": (
                "import sys\n"
                "sys.path.insert(0, 'scripts')\n"
                "from helpers import scale\n"
                "values = [int(v) for v in open('data/raw.txt').read().split(',')]\n"
                "open('data/prepped.txt', 'w').write(','.join(str(scale(v)) for v in values))\n"
            ),
            "data/raw.txt": "1,2,3",
        }
    )
    result = project.repro()
    assert "does not follow" not in result.output
    reads = project.lock()["helped.prep"].reads
    assert {"scripts/prep.py", "scripts/helpers.py", "data/raw.txt"} <= set(reads), reads
    project.edit("scripts/helpers.py", "x * 2", "x * 3")
    assert project.dirty() == {"prep": [("read changed", "scripts/helpers.py")]}
    project.repro()
    assert (project.root / "data" / "prepped.txt").read_text(encoding="utf-8") == "3,6,9"


JOBLIB_JOBS = """\
    from joblib import Parallel, delayed

    from incr import pipeline, step
    from pipelines.work import read_num


    @step
    def left() -> int:
        return read_num("data/a.txt")


    @step
    def right() -> int:
        return sum(Parallel(n_jobs=2)(delayed(read_num)(f) for f in ["data/b.txt"] * 3))


    @pipeline
    def jobs():
        left()
        right()
    """


def test_a_jobs_worker_ends_with_the_run_although_loky_keeps_its_workers(
    make_project: MakeProject,
) -> None:
    """loky keeps idle workers for 300 s; the ``--jobs`` worker that started them ends them
    as it ends, instead of waiting for them."""
    project = make_project(
        {"pipelines/work.py": WORK, "pipelines/jobs.py": JOBLIB_JOBS, "data/a.txt": "1"}
        | {"data/b.txt": "2"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "incr.cli", "repro", "--jobs", "2"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert own_reads(project.lock()["jobs.right"].reads) == ["$FACTOR", "data/b.txt"]


KEPT_FDS = """\
    import subprocess
    import sys

    from incr import pipeline, step


    @step
    def kept_fds() -> str:
        code = "print(open('data/a.txt').read())"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, close_fds=False)
        return done.stdout.decode()


    @pipeline
    def fds():
        kept_fds()
    """


def test_a_process_started_with_close_fds_off_is_followed(make_project: MakeProject) -> None:
    """``close_fds=False`` would have ``subprocess`` start the process through
    ``os.posix_spawn``, which passes no wrapper: it is started as the others are."""
    project = make_project({"pipelines/fds.py": KEPT_FDS, "data/a.txt": "1"})
    result = project.repro()
    assert "does not follow" not in result.output
    assert list(project.lock()["fds.kept_fds"].reads) == ["data/a.txt"]


REWRITES = """\
    import multiprocessing

    from incr import pipeline, step
    from pipelines.work import read_num


    @step
    def grow() -> int:
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            total = pool.apply(read_num, ("data/count.txt",))
        with open("data/count.txt", "w", encoding="utf-8") as fh:
            fh.write(str(total + 1))  # rewritten in place, after the worker read it
        return total


    @pipeline
    def rewrites():
        grow()
    """


def test_a_file_a_worker_read_before_the_step_rewrote_it_is_read(make_project: MakeProject):
    """The step's input is the file as the worker read it, before the step's own process
    wrote it, as for a read in the step's own process."""
    project = make_project(
        {"pipelines/work.py": WORK, "pipelines/rewrites.py": REWRITES, "data/count.txt": "1"}
    )
    project.repro()
    assert "data/count.txt" in project.lock()["rewrites.grow"].reads
    assert project.dirty() == {}
    (project.root / "data" / "count.txt").write_text("10", encoding="utf-8")
    assert project.dirty() == {"grow": [("read changed", "data/count.txt")]}


SIBLING = """\
    import multiprocessing

    from incr import pipeline, step
    from pipelines.work import read_num


    @step
    def beside() -> int:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(read_num, ("../shared/lookup.txt",))


    @pipeline
    def sibling():
        beside()
    """


def test_a_worker_s_read_named_from_the_project_is_keyed_as_named(make_project: MakeProject):
    """``../shared/lookup.txt`` read by a worker is keyed as the step's own process keys it,
    so that the lockfile holds the same key in another checkout."""
    project = make_project({"pipelines/work.py": WORK, "pipelines/sibling.py": SIBLING})
    shared = project.root.parent / "shared"
    shared.mkdir()
    (shared / "lookup.txt").write_text("3", encoding="utf-8")
    project.repro()
    assert sorted(project.lock()["sibling.beside"].reads) == ["$FACTOR", "../shared/lookup.txt"]


AT_IMPORT = """\
    import multiprocessing
    import subprocess
    import sys

    from incr import pipeline, step
    from pipelines.work import read_num

    POOL = multiprocessing.get_context("{method}").Pool(2)  # made as the module is imported
    subprocess.run([sys.executable, "-c", "open('data/setup.txt').read()"], check=True)


    @step
    def total() -> int:
        return sum(POOL.map(read_num, ["data/a.txt", "data/b.txt"]))


    @pipeline
    def at_import():
        total()
    """


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_pool_a_module_makes_as_it_is_imported_reports_to_the_step_using_it(
    make_project: MakeProject, method: str
) -> None:
    """Its workers start while discovery imports the module, before any step: they report
    what they read from then on, and each step takes in what they read while it ran. What
    processes read while the module was imported is no step's."""
    project = make_project(
        {
            "pipelines/work.py": WORK,
            "pipelines/at_import.py": AT_IMPORT.replace("{method}", method),
            "data/a.txt": "1",
            "data/b.txt": "2",
            "data/setup.txt": "",
        }
    )
    project.repro()
    assert sorted(project.lock()["at_import.total"].reads) == [
        "$FACTOR",
        "data/a.txt",
        "data/b.txt",
    ]
    (project.root / "data" / "b.txt").write_text("5", encoding="utf-8")
    assert project.dirty() == {"total": [("read changed", "data/b.txt")]}


SEEDED = """\
    import os
    import subprocess
    import sys

    from incr import pipeline, step


    @step
    def seeded() -> str:
        env = os.environ.copy()  # (a whole copy reads no variable)
        env["SEED"] = "1"  # the step's own choice for its script
        done = subprocess.run([sys.executable, "scripts/seed.py"], env=env, capture_output=True)
        return done.stdout.decode()


    @pipeline
    def seeds():
        seeded()
    """


def test_a_variable_the_step_sets_for_its_process_is_no_input(make_project, monkeypatch):
    """The script reads ``SEED``, which the step set for it: not the environment's value, so
    a change of the shell's ``SEED`` changes nothing. ``FACTOR``, passed on as it is, counts."""
    monkeypatch.setenv("SEED", "5")
    monkeypatch.setenv("FACTOR", "2")
    project = make_project(
        {
            "pipelines/seeds.py": SEEDED,
            "scripts/seed.py": "import os\nprint(os.environ['SEED'], os.environ['FACTOR'])\n",
        }
    )
    project.repro()
    reads = project.lock()["seeds.seeded"].reads
    assert "$FACTOR" in reads and "$SEED" not in reads, reads
    monkeypatch.setenv("SEED", "6")
    assert project.dirty() == {}
    monkeypatch.setenv("FACTOR", "3")
    assert project.dirty() == {"seeded": [("env changed", "FACTOR")]}
