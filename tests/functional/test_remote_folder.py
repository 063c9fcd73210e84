"""The shared remote cache on a local folder: push, pull, `repro --pull`, verification,
`status --remote`, concurrent pushes and `gc --remote` (see tests/functional/remotes.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import MakeProject, Project
from .remotes import (
    STEPS,
    bad_objects,
    clone,
    commit,
    files_of,
    flip_byte,
    git,
    origin,
    pyproject,
)
from .scratch import outputs

URL = "../remote"


def test_fresh_clone_pulls_and_computes_nothing(make_project: MakeProject, tmp_path: Path) -> None:
    project = origin(make_project, URL)
    pushed = project.incr("push")
    assert pushed.returncode == 0, pushed.output
    assert "to " + str(tmp_path / "remote") in pushed.stdout
    fresh = clone(project, "fresh")
    assert fresh.incr("status", "--check").returncode == 0  # nothing but local results missing
    pulled = fresh.incr("pull")
    assert pulled.returncode == 0, pulled.output
    assert "restored out/report.txt" in pulled.stdout
    fresh.repro()
    assert fresh.take_ran() == []
    assert files_of(fresh) == files_of(project)
    assert outputs(fresh) == outputs(project)
    assert fresh.lock_bytes() == project.lock_bytes()
    check = fresh.incr("status", "--check")
    assert check.returncode == 0, check.output
    again = project.incr("push")  # nothing new: listed, nothing sent
    assert "pushed 0 objects and 0 run records" in again.stdout, again.output
    nothing = fresh.incr("pull")  # nothing missing here: the remote is not contacted
    assert "pulled 0 objects" in nothing.stdout, nothing.output


def test_repro_pull_fetches_clean_and_dirty_steps(make_project: MakeProject) -> None:
    project = origin(make_project, URL)
    project.incr("push")
    fresh = clone(project, "fresh")
    # Changed code whose result was pushed: dirty here, fetched instead of executed.
    project.edit("pipelines/flow.py", 'f"total {sum(values)}\\n"', 'f"sum {sum(values)}\\n"')
    project.repro()
    assert project.take_ran() == ["report"]
    assert project.incr("push").returncode == 0
    fresh.edit("pipelines/flow.py", 'f"total {sum(values)}\\n"', 'f"sum {sum(values)}\\n"')
    result = fresh.repro("--pull")
    assert fresh.take_ran() == []
    assert "Using remote cached version of report." in result.stdout
    assert "Using remote cached version of load." in result.stdout
    assert files_of(fresh) == files_of(project)
    assert outputs(fresh) == outputs(project)
    fresh.repro()
    assert fresh.take_ran() == []


def test_status_remote_marks_each_step(make_project: MakeProject) -> None:
    project = origin(make_project, URL)
    (project.root / URL).resolve().mkdir()  # an empty remote (a missing one is an error)
    before = project.incr("status", "--remote")
    assert before.returncode == 0, before.output
    assert "flow.load    not on remote (1 object missing)" in before.stdout
    assert project.incr("push", "flow.load").returncode == 0
    after = project.incr("status", "--remote").stdout
    assert "flow.load    on remote" in after
    assert "flow.report  not on remote" in after


def test_flipped_byte_is_refused_then_recomputed_and_repaired(make_project: MakeProject) -> None:
    project = origin(make_project, URL)
    project.incr("push")
    remote = project.root.parent / "remote"
    lock = project.lock()["flow.report"]
    digest = lock.outputs["out/report.txt"].digest
    flip_byte(remote / "objects" / digest[:2] / digest[2:])
    fresh = clone(project, "fresh")
    pulled = fresh.incr("pull")
    assert pulled.returncode == 1
    assert "Traceback" not in pulled.output
    refused = [line for line in pulled.stderr.splitlines() if "does not match" in line]
    assert len(refused) == 1 and "flow.report (output out/report.txt)" in refused[0]
    assert not (fresh.root / "out/report.txt").exists()  # nothing kept
    assert bad_objects(fresh.root / ".pipecache") == []
    other = clone(project, "other")
    fetched = other.repro("--pull")  # the record and the lock entry name one result
    assert fetched.stderr.count("does not match") == 1, fetched.stderr
    assert other.take_ran() == ["report"]
    fresh.repro()
    assert fresh.take_ran() == ["report"]  # recomputed, the rest was pulled
    assert files_of(fresh) == files_of(project)
    repaired = project.incr("push", "--repair")
    assert repaired.returncode == 0, repaired.output
    assert "repaired remote object" in repaired.stdout
    assert bad_objects(remote) == []
    again = clone(project, "again")
    assert again.incr("pull").returncode == 0
    again.repro()
    assert again.take_ran() == []


def test_concurrent_pushes_keep_both_records(make_project: MakeProject) -> None:
    project = origin(make_project, URL)
    other = clone(project, "other")
    (other.root / "data/notes.txt").write_text("second\n", encoding="utf-8")
    other.repro()
    assert other.take_ran() == STEPS  # no cache here: the same fingerprints, other reads
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "incr.cli", "push"], cwd=p.root, stdout=subprocess.PIPE
        )
        for p in (project, other)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    fp = project.lock()["flow.noted"].fingerprint
    assert fp == other.lock()["flow.noted"].fingerprint
    records = list((project.root.parent / "remote/runs" / fp[:2] / fp[2:]).glob("*.json"))
    reads = sorted(json.loads(p.read_text())["reads"]["data/notes.txt"] for p in records)
    assert len(records) == 2 and reads[0] != reads[1]
    for name, notes in (("a", "first\n"), ("b", "second\n")):  # each clone gets its own
        fresh = clone(project, name)
        (fresh.root / "data/notes.txt").write_text(notes, encoding="utf-8")
        fresh.repro("--pull")
        assert fresh.take_ran() == []


def test_gc_remote_keeps_what_any_branch_needs(make_project: MakeProject) -> None:
    project = origin(make_project, URL)
    project.incr("push")
    main_outputs = outputs(project)
    git(project.root, "checkout", "-q", "-b", "other")
    (project.root / "data/raw.csv").write_text("4\n5\n", encoding="utf-8")
    project.repro()
    commit(project, "other data")
    project.incr("push")
    other_outputs = outputs(project)
    git(project.root, "checkout", "-q", "main")
    (project.root / "data/raw.csv").write_text("7\n", encoding="utf-8")
    project.repro()
    project.incr("push")  # a result no lockfile will refer to
    git(project.root, "checkout", "--", "data/raw.csv", "pipeline.lock")
    remote = project.root.parent / "remote"
    count = len(list((remote / "objects").glob("*/*")))
    assert "would remove 0 objects" in project.incr("gc", "--remote", "--dry-run").stdout
    dry = project.incr("gc", "--remote", "--grace", "0s", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert len(list((remote / "objects").glob("*/*"))) == count
    done = project.incr("gc", "--remote", "--grace", "0s")
    assert done.returncode == 0, done.output
    removed = int(done.stdout.split("removed ")[1].split()[0])
    assert removed > 0 and len(list((remote / "objects").glob("*/*"))) == count - removed
    for branch, expected in (("main", main_outputs), ("other", other_outputs)):
        git(project.root, "checkout", "-q", branch)
        fresh = clone(project, f"fresh-{branch}")
        assert fresh.incr("pull").returncode == 0
        fresh.repro()
        assert fresh.take_ran() == [] and outputs(fresh) == expected


def test_gc_remote_keeps_an_old_object_a_recent_push_reused(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A branch on another clone reuses ``load``'s old result, pushes only what is new, and
    is not merged yet; main moves on. Its push noted what it needed, so a gc within the grace
    period keeps that old object."""
    project = origin(make_project, URL)
    assert project.incr("push").returncode == 0
    load_out = project.lock()["flow.load"].outputs["output"].digest
    feature = clone(project, "feature")
    assert feature.incr("pull").returncode == 0
    feature.edit("data/notes.txt", feature.read("data/notes.txt"), "other notes\n")
    feature.repro()
    assert feature.take_ran() == ["noted"]
    assert feature.incr("push").returncode == 0  # load's object was there: not sent again

    (project.root / "data/raw.csv").write_text("7\n", encoding="utf-8")
    project.repro()
    commit(project, "new data")  # no lockfile of this repository names load's old result
    assert project.incr("push").returncode == 0
    day_ago = time.time() - 86400
    remote = tmp_path / "remote"
    for path in [*(remote / "objects").rglob("*"), *(remote / "runs").rglob("*")]:
        os.utime(path, (day_ago, day_ago))
    done = project.incr("gc", "--remote", "--grace", "1h")
    assert done.returncode == 0, done.output
    assert (remote / "objects" / load_out[:2] / load_out[2:]).is_file()
    other = clone(feature, "other")  # a clone of the branch fetches it all
    assert other.incr("pull").returncode == 0


def test_remote_errors_are_one_line(make_project: MakeProject, tmp_path: Path) -> None:
    project = origin(make_project, URL)
    (project.root / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    assert "no remote" in project.incr("push").user_error()
    blocker = tmp_path / "blocked"  # a backend package that cannot be imported
    blocker.mkdir()
    (blocker / "s3fs.py").write_text("raise ImportError('no s3fs here')\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "incr.cli", "push"],
        cwd=project.root,
        env={**os.environ, "INCR_REMOTE": "s3://bucket/x", "PYTHONPATH": _pythonpath(blocker)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "incr[s3]" in result.stderr and len(result.stderr.strip().splitlines()) == 2


def test_a_missing_remote_folder_is_an_error_until_a_push_makes_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """An unmounted drive or a misspelt path is no empty remote: reading commands say the
    folder is missing and make nothing there; ``push`` makes it."""
    project = origin(make_project, URL)
    fresh = clone(project, "fresh")  # its results are all on the remote, it says
    remote = tmp_path / "remote"
    assert not remote.exists()
    for where, command in ((project, ("status", "--remote")), (fresh, ("pull",))):
        result = where.incr(*command)
        assert result.returncode == 1, result.output
        assert f"remote {remote}: the folder does not exist" in result.stderr
        assert "Traceback" not in result.stderr
        assert not remote.exists()
    repro = fresh.incr("repro", "--pull")  # computes here, saying why it could not fetch
    assert repro.returncode == 0, repro.output
    assert "the folder does not exist" in repro.stderr and not remote.exists()
    assert project.incr("push").returncode == 0
    assert (remote / "objects").is_dir()


def _pythonpath(first: Path) -> str:
    rest = os.environ.get("PYTHONPATH", "")
    return f"{first}{os.pathsep}{rest}" if rest else str(first)


RANDOM = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def draw() -> str:
        mark("draw")
        return os.urandom(8).hex()


    @pipeline
    def lottery():
        draw()
    """


def test_repro_pull_takes_the_committed_result_before_newer_runs(
    make_project: MakeProject,
) -> None:
    """Two clones ran a step whose result varies and pushed; a clone of the commit holding
    the first one's lockfile gets that result from ``repro --pull``, as from ``pull``, not the
    newer run pushed since."""
    project = make_project(
        {
            "pyproject.toml": pyproject(URL),
            "pipelines/lottery.py": RANDOM,
            ".gitignore": "ran.txt\n",
        }
    )
    project.repro()
    git(project.root, "init", "-q", "-b", "main")
    commit(project, "first")
    other = clone(project, "other")
    other.repro()
    assert other.take_ran() == ["draw"]
    assert project.incr("push").returncode == 0
    time.sleep(0.05)
    assert other.incr("push").returncode == 0  # the newer run of the same fingerprint

    fresh = clone(project, "fresh")
    fresh.repro("--pull")
    assert fresh.take_ran() == []
    assert fresh.lock_bytes() == project.lock_bytes()
    assert outputs(fresh) == outputs(project) != outputs(other)


def test_gc_remote_keeps_what_another_project_of_the_checkout_needs(
    make_project: MakeProject,
) -> None:
    """Two projects of one git checkout share a remote: ``gc --remote`` in one keeps what the
    other's lockfile names."""
    shared = "../../remote"
    first = make_project(
        {"pyproject.toml": pyproject(shared), "pipelines/lottery.py": RANDOM}, where="mono/a"
    )
    second = make_project(
        {"pyproject.toml": pyproject(shared), "pipelines/lottery.py": RANDOM}, where="mono/b"
    )
    for project in (first, second):
        project.repro()
        assert project.incr("push").returncode == 0
    top = first.root.parent
    (top / ".gitignore").write_text("ran.txt\n.pipecache/\n", encoding="utf-8")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "two projects")
    done = first.incr("gc", "--remote", "--grace", "0s")
    assert done.returncode == 0, done.output
    assert "removed 0 objects" in done.stdout, done.output
    git(top.parent, "clone", "-q", "mono", "copy")
    copy = Project(top.parent / "copy" / "b")
    assert copy.incr("pull").returncode == 0
    copy.repro()
    assert copy.take_ran() == [] and outputs(copy) == outputs(second)


def test_an_object_cut_short_on_the_remote_is_sent_again_and_not_counted(
    make_project: MakeProject,
) -> None:
    """A remote object whose listed size is not its local copy's is damaged: ``status
    --remote`` does not count it, and ``push`` sends it again whole. A folder's manifest alone
    is no folder: in a fresh clone, ``status --remote`` counts the folder's files too."""
    project = origin(make_project, URL)
    assert project.incr("push").returncode == 0
    remote = project.root.parent / "remote"
    digest = project.lock()["flow.report"].outputs["out/report.txt"].digest
    path = remote / "objects" / digest[:2] / digest[2:]
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:3])
    assert (
        "flow.report  not on remote (1 object missing)" in project.incr("status", "--remote").stdout
    )
    again = project.incr("push")
    assert "pushed 1 object " in again.stdout, again.output
    assert bad_objects(remote) == []

    parts = project.lock()["flow.report"].outputs["out/parts"].digest
    manifest = remote / "objects" / parts[:2] / parts[2:]
    one = json.loads(manifest.read_bytes())
    fresh = clone(project, "fresh")
    files = [o for o in (remote / "objects").glob("*/*") if o.name != manifest.name]
    gone = next(f for f in files if f.parent.name + f.name in json.dumps(one))
    gone.unlink()
    state = fresh.incr("status", "--remote")
    assert "flow.report  not on remote (1 object missing)" in state.stdout, state.output


def test_a_push_from_a_clone_without_results_says_it_sent_nothing(
    make_project: MakeProject,
) -> None:
    """Pushed from a clone that has the lockfile but no cache: each step says its object is
    missing here, and the last line says nothing was sent; it does not claim the remote had
    everything (it has nothing)."""
    project = origin(make_project, URL)  # run, never pushed: the remote is empty
    fresh = clone(project, "fresh")
    pushed = fresh.incr("push")
    assert pushed.returncode == 1
    assert "cannot push flow." in pushed.stderr and "is missing here" in pushed.stderr
    last = pushed.stdout.strip().splitlines()[-1]
    assert last.startswith("pushed nothing to ") and last.endswith("what is above is missing here")
    assert "the remote had everything" not in pushed.output


SUMMARY = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def load() -> list:
        mark("load")
        return [1, 2, 3]


    @step
    def summary(values: list) -> int:
        mark("summary")
        with open("summary.md", "w", encoding="utf-8") as fh:
            fh.write(f"total {sum(values)}\\n")
        return sum(values)


    @pipeline
    def flow():
        summary(load())
    """


def test_a_clone_runs_the_step_whose_report_a_pull_cannot_put_back(
    make_project: MakeProject,
) -> None:
    """``summary.md``, which ``summary`` writes outside its ``outs`` (ignored by git), is not
    on the remote: a clone that pulled the results has ``summary`` dirty and executes it, and
    ``repro --pull`` executes it rather than fetching it. Before, both clones took every
    result from the remote and had no ``summary.md``, where a run from scratch writes it."""
    project = make_project(
        {
            "pyproject.toml": pyproject(URL),
            "pipelines/flow.py": SUMMARY,
            ".gitignore": "summary.md\nran.txt\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["load", "summary"]
    git(project.root, "init", "-q", "-b", "main")
    commit(project, "first")
    assert project.incr("push").returncode == 0
    pulled = clone(project, "pulled")
    assert pulled.incr("pull").returncode == 0
    assert pulled.dirty() == {"summary": [("written file missing", "summary.md")]}
    pulled.repro()
    assert pulled.take_ran() == ["summary"]
    assert pulled.read("summary.md") == "total 6\n"
    assert pulled.dirty() == {}
    fetched = clone(project, "fetched")
    result = fetched.repro("--pull")
    assert "Using remote cached version of load." in result.stdout
    assert fetched.take_ran() == ["summary"]
    assert fetched.read("summary.md") == "total 6\n"
    assert fetched.dirty() == {}
    fetched.repro("--pull")
    assert fetched.take_ran() == []
