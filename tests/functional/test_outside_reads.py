"""Files and folders outside the project that a step reads, lists or tests are its inputs
(incr/outside.py): data on another disk, in ``~/datasets``, in a temporary folder.

The lockfile names them by their absolute path, or from the home folder (``~/...``); the
system's, Python's and tools' own files are left out, and so are files the step writes itself.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

READER = """\
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    DATA = Path({data!r})


    @step
    def load() -> list:
        mark("load")
        return (DATA / "raw.csv").read_text(encoding="utf-8").split()


    @step
    def count(rows: list) -> int:
        mark("count")
        return len(rows)


    @pipeline
    def reading():
        count(load())
    """


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"  # beside the project's folder, not in it
    folder.mkdir()
    (folder / "raw.csv").write_text("1\n2\n3\n", encoding="utf-8")
    return folder


@pytest.fixture
def reading(make_project: MakeProject, data: Path) -> Project:
    project = make_project({"pipelines/reading.py": READER.format(data=str(data))})
    project.repro()
    assert project.take_ran() == ["load", "count"]
    return project


def test_a_file_read_outside_the_project_is_recorded_by_its_path(reading, data) -> None:
    key = str(data / "raw.csv")
    reads = reading.lock()["reading.load"].reads
    assert list(reads) == [key]
    assert reading.dirty() == {}
    reading.repro()
    assert reading.take_ran() == []


def test_a_change_of_that_file_reruns_the_step(reading, data) -> None:
    (data / "raw.csv").write_text("1\n2\n3\n4\n", encoding="utf-8")
    key = str(data / "raw.csv")
    assert reading.dirty() == {
        "load": [("read changed", key)],
        "count": [("after", "load")],
    }
    reading.repro()
    assert reading.take_ran() == ["load", "count"]
    assert reading.dirty() == {}


def test_a_file_removed_makes_the_step_dirty(reading, data) -> None:
    (data / "raw.csv").unlink()
    assert reading.dirty()["load"] == [("read changed", str(data / "raw.csv"))]


def test_a_file_under_the_home_folder_is_keyed_from_home(make_project, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "raw.csv").write_text("5 6\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    module = READER.format(data="~").replace("Path('~')", "Path.home() / 'datasets'")
    project = make_project({"pipelines/reading.py": module})
    project.repro()
    assert project.take_ran() == ["load", "count"]
    assert list(project.lock()["reading.load"].reads) == ["~/datasets/raw.csv"]

    # Another home with the same file: the same key, the same bytes, nothing to run.
    other = tmp_path / "other-home"
    shutil.copytree(home, other)
    monkeypatch.setenv("HOME", str(other))
    assert project.dirty() == {}
    (other / "datasets" / "raw.csv").write_text("5 6 7\n", encoding="utf-8")
    assert project.dirty()["load"] == [("read changed", "~/datasets/raw.csv")]
    project.repro()
    assert project.take_ran() == ["load", "count"]


def test_a_file_of_the_same_checkout_is_keyed_from_the_project(make_project, tmp_path):
    """A project in a sub-folder of a monorepo, reading the repository's data folder: the key
    is relative, so another clone of the repository elsewhere has the same one."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    data = tmp_path / "repo" / "data"
    data.mkdir()
    (data / "raw.csv").write_text("1 2\n", encoding="utf-8")
    module = READER.format(data="../data")  # steps run in the project's root folder
    project = make_project({"pipelines/reading.py": module}, "repo/proj")
    project.repro()
    assert project.take_ran() == ["load", "count"]
    assert list(project.lock()["reading.load"].reads) == ["../data/raw.csv"]

    clone = tmp_path / "elsewhere" / "repo"
    shutil.copytree(tmp_path / "repo", clone)
    (data / "raw.csv").write_text("changed in the first clone\n", encoding="utf-8")
    moved = Project(clone / "proj")
    assert moved.dirty() == {}  # the same key, the same bytes: nothing to run
    (clone / "data" / "raw.csv").write_text("3\n", encoding="utf-8")
    assert moved.dirty()["load"] == [("read changed", "../data/raw.csv")]


def test_a_file_named_from_the_project_is_keyed_as_named(make_project, tmp_path):
    """``../data/raw.csv`` opened from the project (no checkout around it) is keyed so, not
    by where it was: a copy of the project beside other data checks that data."""
    data = tmp_path / "work" / "data"
    data.mkdir(parents=True)
    (data / "raw.csv").write_text("1 2\n", encoding="utf-8")
    module = READER.format(data="../data")
    project = make_project({"pipelines/reading.py": module}, "work/proj")
    project.repro()
    assert project.take_ran() == ["load", "count"]
    assert list(project.lock()["reading.load"].reads) == ["../data/raw.csv"]

    copy = tmp_path / "trial"
    shutil.copytree(tmp_path / "work", copy)
    moved = Project(copy / "proj")
    assert moved.dirty() == {}
    (copy / "data" / "raw.csv").write_text("3\n", encoding="utf-8")  # the copy's own data
    assert moved.dirty()["load"] == [("read changed", "../data/raw.csv")]
    assert project.dirty() == {}  # the first project's data did not change


def test_verify_rerun_reads_the_checkouts_files_from_its_copy(make_project, tmp_path):
    """``incr verify --rerun`` runs steps again in a copy of the project: a copy as deep as
    the project, beside it, so that ``../data/raw.csv`` is the same file from there."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "data").mkdir()
    (tmp_path / "repo" / "data" / "raw.csv").write_text("1 2\n", encoding="utf-8")
    module = READER.format(data="../data")
    project = make_project({"pipelines/reading.py": module}, "repo/proj")
    project.repro()
    assert project.take_ran() == ["load", "count"]

    result = project.incr("verify", "--rerun")

    assert result.returncode == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 steps run again: every output as recorded"
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [".git", "data", "proj"]
    assert project.take_ran() == []


def test_a_folder_listed_outside_the_project_is_an_input(make_project, data) -> None:
    (data / "parts").mkdir()
    (data / "parts" / "a.txt").write_text("1", encoding="utf-8")
    module = f"""\
        import os

        from incr import pipeline, step
        from pipelines.mark import mark

        PARTS = {str(data / "parts")!r}


        @step
        def names() -> list:
            mark("names")
            return sorted(os.listdir(PARTS))


        @pipeline
        def listing():
            names()
        """
    project = make_project({"pipelines/listing.py": module})
    project.repro()
    assert project.take_ran() == ["names"]
    (data / "parts" / "b.txt").write_text("2", encoding="utf-8")
    assert project.dirty() == {"names": [("listing changed", str(data / "parts"))]}
    project.repro()
    assert project.take_ran() == ["names"]


def test_files_of_the_system_python_and_tools_are_left_out(make_project, tmp_path):
    """(What a library reads in the home folder's dot-folders: ``test_home_settings``.)"""
    python_file = next(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.txt"))  # not code
    system_files = ["/etc/hostname", "/etc/os-release", "/proc/self/status"]
    read = [str(python_file), *system_files]
    assert python_file.is_file() and Path("/proc/self/status").is_file()  # some are read
    module = f"""\
        import os
        import tempfile

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def look() -> int:
            mark("look")
            total = 0
            for path in {read!r}:
                path = os.path.expanduser(path)
                if os.path.exists(path):
                    with open(path, "rb") as fh:
                        total += len(fh.read(100))
            with tempfile.NamedTemporaryFile("w+", suffix=".csv") as tmp:
                tmp.write("1,2")  # the step's own file: written, then read
                tmp.flush()
                with open(tmp.name, encoding="utf-8") as fh:
                    total += len(fh.read())
            return total


        @pipeline
        def looking():
            look()
        """
    project = make_project({"pipelines/looking.py": module})
    project.repro()
    assert project.take_ran() == ["look"]
    assert project.lock()["looking.look"].reads == {}
    assert project.dirty() == {}


WIRED = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    PARTS = {parts!r}


    def part_step(name):
        @step(name=f"part_{{name[:-4]}}")
        def read_part() -> str:
            mark(name)
            with open(os.path.join(PARTS, name), encoding="utf-8") as fh:
                return fh.read()

        return read_part


    @pipeline
    def parts():
        for name in sorted(os.listdir(PARTS)):  # one step per file, listed while tracing
            part_step(name)()
    """


def test_a_folder_listed_outside_while_tracing_rewires_the_pipeline(make_project, data):
    (data / "parts").mkdir()
    (data / "parts" / "a.txt").write_text("a", encoding="utf-8")
    project = make_project({"pipelines/parts.py": WIRED.format(parts=str(data / "parts"))})
    project.repro()
    assert project.take_ran() == ["a.txt"]
    assert project.dirty() == {}
    (data / "parts" / "b.txt").write_text("b", encoding="utf-8")
    assert project.dirty() == {"part_b": [("new step", "")]}
    project.repro()
    assert project.take_ran() == ["b.txt"]
    assert os.listdir(data / "parts")


PARAMS = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    with open({params!r}, encoding="utf-8") as fh:  # read while the module is imported
        FACTOR = int(fh.read())


    @step
    def scaled() -> int:
        mark("scaled")
        return 10 * FACTOR


    @pipeline
    def scaling():
        scaled()
    """


def test_a_file_outside_read_while_importing_is_a_fact_of_the_steps(make_project, data):
    params = data / "factor.txt"
    params.write_text("2", encoding="utf-8")
    project = make_project({"pipelines/scaling.py": PARAMS.format(params=str(params))})
    project.repro()
    assert project.take_ran() == ["scaled"]
    key = f"import:pipelines/scaling.py:{params}"
    assert list(project.lock()["scaling.scaled"].reads) == [key]
    params.write_text("3", encoding="utf-8")
    assert project.dirty() == {
        "scaled": [("read changed", f"{params}, read when pipelines/scaling.py is imported")]
    }
    project.repro()
    assert project.take_ran() == ["scaled"]


DECLARED = """\
    import subprocess

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=[{dep!r}])
    def hidden() -> str:
        mark("hidden")  # read by a child process: only deps=[...] can tell incr
        return subprocess.run(["cat", {path!r}], capture_output=True, text=True).stdout


    @pipeline
    def declared():
        hidden()
    """


@pytest.mark.parametrize("spelling", ["absolute", "home", "parent"])
def test_deps_may_be_outside_the_project(make_project, tmp_path, monkeypatch, spelling):
    (tmp_path / "home" / "shared").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "home" / "shared" / "rows.txt"
    path.write_text("1\n", encoding="utf-8")
    dep = {
        "absolute": str(path),
        "home": "~/shared/rows.txt",
        "parent": "../home/shared/./rows.txt",  # the project is tmp_path/project
    }[spelling]
    project = make_project({"pipelines/declared.py": DECLARED.format(dep=dep, path=str(path))})
    project.repro()
    assert project.take_ran() == ["hidden"]
    key = dep.replace("/./", "/")
    assert list(project.lock()["declared.hidden"].facts.deps) == [key]
    assert project.dirty() == {}
    path.write_text("2\n", encoding="utf-8")
    assert project.dirty() == {"hidden": [("dep changed", key)]}
    project.repro()
    assert project.take_ran() == ["hidden"]
    path.unlink()
    assert "does not exist" in project.incr("status").user_error()


NATIVE = """\
    import sqlite3

    import pandas as pd
    from incr import pipeline, step
    from pipelines.mark import mark

    TABLE = {table!r}
    DB = {db!r}


    @step
    def frame() -> int:
        mark("frame")
        return int(pd.read_parquet(TABLE)["x"].sum())  # opened by Arrow's C++ code


    @step
    def query() -> int:
        mark("query")
        con = sqlite3.connect(DB)  # opened by SQLite's C code
        try:
            return con.execute("SELECT SUM(x) FROM t").fetchone()[0]
        finally:
            con.close()


    @pipeline
    def native():
        frame()
        query()
    """


def test_files_outside_opened_by_readers_in_c_are_tracked(make_project, data) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    import sqlite3

    table, db = data / "rows.parquet", data / "app.db"
    pd.DataFrame({"x": [1, 2]}).to_parquet(table)
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (5);")
    con.commit()
    con.close()
    project = make_project({"pipelines/native.py": NATIVE.format(table=str(table), db=str(db))})
    project.repro()
    assert sorted(project.take_ran()) == ["frame", "query"]
    lock = project.lock()
    assert list(lock["native.frame"].facts.deps) == [str(table)]
    assert list(lock["native.query"].facts.deps) == [str(db), f"{db}-wal"]  # and its log
    assert project.dirty() == {}

    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(table)
    assert project.dirty() == {"frame": [("dep changed", str(table))]}
    project.repro()
    assert project.take_ran() == ["frame"]
    assert "cannot track" not in project.incr("status").stdout


FORKED = """\
    import multiprocessing
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    PARTS = {parts!r}


    def read_part(name):
        with open(os.path.join(PARTS, name), encoding="utf-8") as fh:
            return int(fh.read())


    def names():
        return sorted(os.listdir(PARTS))  # listed in the worker too


    def local():
        with open("data/local.txt", encoding="utf-8") as fh:  # a project file, in a worker
            return int(fh.read()) + int(os.environ.get("PART_OFFSET", "0"))  # and a variable


    @step
    def total() -> int:
        mark("total")
        with multiprocessing.get_context("fork").Pool(2) as pool:
            found = pool.apply(names)
            return sum(pool.map(read_part, found)) + pool.apply(local)  # read by workers only


    @pipeline
    def forked():
        total()
    """


def test_what_forked_workers_read_is_read_by_the_step(make_project, data, monkeypatch) -> None:
    monkeypatch.delenv("PART_OFFSET", raising=False)
    parts = data / "parts"
    parts.mkdir()
    for i in range(3):
        (parts / f"{i}.txt").write_text(str(i), encoding="utf-8")
    project = make_project(
        {
            "pipelines/forked.py": FORKED.format(parts=str(parts)),
            "data/local.txt": "5",
        }
    )
    project.repro()
    assert project.take_ran() == ["total"]
    reads = project.lock()["forked.total"].reads
    outside = [*(str(parts / f"{i}.txt") for i in range(3)), f"ls:{parts}"]
    assert sorted(reads) == sorted([*outside, "data/local.txt", "$PART_OFFSET"])
    assert project.dirty() == {}

    (parts / "1.txt").write_text("10", encoding="utf-8")
    assert project.dirty() == {"total": [("read changed", str(parts / "1.txt"))]}
    project.repro()
    assert project.take_ran() == ["total"]
    (parts / "3.txt").write_text("3", encoding="utf-8")
    assert project.dirty() == {"total": [("listing changed", str(parts))]}
    project.repro()
    monkeypatch.setenv("PART_OFFSET", "7")
    assert project.dirty() == {"total": [("env changed", "PART_OFFSET")]}


KEPT_POOL = """\
    import multiprocessing

    from incr import pipeline, step
    from pipelines.mark import mark

    _POOL = None


    def pool():
        global _POOL
        if _POOL is None:
            _POOL = multiprocessing.get_context("fork").Pool(2)
        return _POOL


    def read_num(path):
        with open(path, encoding="utf-8") as fh:
            return int(fh.read())


    @step
    def first() -> int:
        mark("first")
        return sum(pool().map(read_num, ["data/a.txt", "data/b.txt"]))


    @step
    def second() -> int:
        mark("second")
        return sum(pool().map(read_num, ["data/c.txt", "data/d.txt"]))


    @pipeline
    def kept():
        first()
        second()
    """


def test_what_a_pool_forked_by_an_earlier_step_reads_is_read_by_the_step_using_it(
    make_project, tmp_path
) -> None:
    """A pool a helper keeps in a module global is forked during the first step and used
    again by the second: its workers' reads are the second step's."""
    files = {f"data/{name}.txt": "1" for name in "abcd"}
    project = make_project({"pipelines/kept.py": KEPT_POOL, **files})
    project.repro()
    assert sorted(project.take_ran()) == ["first", "second"]
    assert sorted(project.lock()["kept.second"].reads) == ["data/c.txt", "data/d.txt"]

    (project.root / "data/c.txt").write_text("5", encoding="utf-8")
    assert project.dirty() == {"second": [("read changed", "data/c.txt")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["second"]
    assert_same_as_scratch(project, fresh)


NOTES = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    NOTES = {notes!r}


    @step
    def use_notes() -> str:
        with open(NOTES, encoding="utf-8") as fh:
            text = fh.read()
        mark("use_notes:" + text)
        return text.upper()


    @step
    def write_notes() -> int:
        mark("write_notes")
        with open(NOTES, "w", encoding="utf-8") as fh:
            fh.write("new")
        return 3


    @pipeline
    def notes():
        use_notes()  # before its writer, and nothing wires them
        write_notes()
    """


def test_a_step_reading_an_outside_file_another_writes_runs_after_it(make_project, data):
    notes = data / "notes.txt"
    notes.write_text("old", encoding="utf-8")
    project = make_project({"pipelines/notes.py": NOTES.format(notes=str(notes))})
    project.repro()
    assert project.take_ran() == ["use_notes:old", "write_notes", "use_notes:new"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


STARTS = """\
    import ctypes.util
    import subprocess

    from incr import pipeline, step
    from pipelines.mark import mark

    DATA = {data!r}


    @step
    def by_cat() -> str:
        mark("by_cat")
        return subprocess.run(["cat", DATA], capture_output=True, text=True).stdout


    @step(deps=[DATA])
    def declared() -> str:
        mark("declared")
        return subprocess.run("cat " + DATA, shell=True, capture_output=True, text=True).stdout


    @step
    def library() -> str:
        mark("library")
        return str(ctypes.util.find_library("c"))  # ctypes may run ldconfig: not the step's


    @pipeline
    def starting():
        by_cat()
        declared()
        library()
    """


def test_a_program_the_step_starts_is_named_in_a_note(make_project, data) -> None:
    raw = data / "raw.csv"
    project = make_project({"pipelines/starting.py": STARTS.format(data=str(raw))})
    result = project.repro()
    assert sorted(project.take_ran()) == ["by_cat", "declared", "library"]
    note = "runs `cat` in a process incr does not follow: what it reads is an input only when"
    assert result.output.count(note) == 1, result.output  # by_cat's; declared lists its deps
    assert "ldconfig" not in result.output and "`sh`" not in result.output
    assert project.lock()["starting.by_cat"].reads == {"runs:cat": ""}  # its read is not seen
