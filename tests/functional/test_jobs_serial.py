"""`incr repro --jobs N` gives the outputs and the pipeline.lock of a serial run, even when a
step reads a file that another step writes without saying so (no deps/outs wiring)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import MakeProject, Project

#: write_notes writes data/notes.txt with plain open(); use_notes reads it. Nothing wires them:
#: a serial run in body order gets it right, --jobs 2 runs them side by side. The writer
#: takes its time, so that the reader reads the old text first.
NOTES = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark

    TEXT = "new"


    @step
    def write_notes() -> int:
        mark("write_notes")
        time.sleep(0.4)
        with open("data/notes.txt", "w", encoding="utf-8") as fh:
            fh.write(TEXT)
        return len(TEXT)


    @step{reader_args}
    def use_notes() -> str:
        with open("data/notes.txt", encoding="utf-8") as fh:
            text = fh.read()
        mark("use_notes:" + text)
        return text.upper()


    @pipeline
    def notes():
        {body}
    """

WRITER_FIRST = "write_notes()\n        use_notes()"
READER_FIRST = "use_notes()\n        write_notes()"


def notes_project(
    make_project: MakeProject, where: str, body: str = WRITER_FIRST, reader_args: str = ""
) -> Project:
    module = NOTES.format(body=body, reader_args=reader_args)
    return make_project({"pipelines/notes.py": module, "data/notes.txt": "old"}, where=where)


def serial_lock(project: Project, where: str) -> bytes:
    """The pipeline.lock a serial run from scratch gives for ``project`` as it is now."""
    copy = project.root.parent / where
    shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns(".pipecache"))
    (copy / "pipeline.lock").unlink(missing_ok=True)
    (copy / "ran.txt").unlink(missing_ok=True)
    (copy / "data" / "notes.txt").write_text("old", encoding="utf-8")
    serial = Project(copy)
    serial.repro()
    assert serial.dirty() == {}
    return serial.lock_bytes()


@pytest.mark.parametrize("reader_args", ["", '(deps=["data/notes.txt"])'])
def test_jobs_rerun_a_reader_that_read_a_file_before_its_writer_finished(
    make_project: MakeProject, reader_args: str
) -> None:
    project = notes_project(make_project, "parallel", reader_args=reader_args)

    result = project.incr("repro", "--jobs", "2")

    assert result.returncode == 0, result.output
    ran = project.take_ran()
    assert ran[-1] == "use_notes:new"  # run again after the writer, in the same run
    assert ran.count("write_notes") == 1
    assert "read too early (data/notes.txt, written by write_notes)" in result.stdout
    assert project.dirty() == {}
    assert project.lock_bytes() == serial_lock(project, "serial")
    assert project.incr("repro", "-j", "2").returncode == 0
    assert project.take_ran() == []


def test_jobs_order_the_reader_after_the_writer_from_then_on(make_project: MakeProject) -> None:
    project = notes_project(make_project, "parallel")
    assert project.incr("repro", "-j", "2").returncode == 0
    project.take_ran()

    project.edit("pipelines/notes.py", 'TEXT = "new"', 'TEXT = "newer"')
    steps = project.status()["steps"]
    reader = next(s for s in steps if s["step"] == "use_notes")
    assert [r["text"] for r in reader["reasons"]] == ["after write_notes"]
    result = project.incr("repro", "-j", "2")

    assert result.returncode == 0, result.output
    assert project.take_ran() == ["write_notes", "use_notes:newer"]  # each once, in order
    assert "read too early" not in result.stdout
    assert project.dirty() == {}
    assert project.lock_bytes() == serial_lock(project, "serial")


def test_status_names_the_overlap_and_how_to_declare_it(make_project: MakeProject) -> None:
    project = notes_project(make_project, "project")
    project.repro()

    lines = project.incr("status").stdout.splitlines()
    note = (
        "note: reads data/notes.txt, which step write_notes writes; it runs after write_notes: "
        'say so with outs=["data/notes.txt"] on write_notes and deps=["data/notes.txt"] here'
    )
    assert [line.strip() for line in lines].count(note) == 1
    assert lines.index(next(x for x in lines if x.strip() == note)) == 3  # under use_notes
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert notes == {"write_notes": [], "use_notes": [note.removeprefix("note: ")]}


def test_a_reader_before_its_writer_in_body_order_runs_again_serially_too(
    make_project: MakeProject,
) -> None:
    serial = notes_project(make_project, "serial", body=READER_FIRST)
    parallel = notes_project(make_project, "parallel", body=READER_FIRST)

    serial.repro()
    assert parallel.incr("repro", "-j", "2").returncode == 0

    assert serial.take_ran() == ["use_notes:old", "write_notes", "use_notes:new"]
    assert parallel.take_ran()[-1] == "use_notes:new"
    assert serial.dirty() == parallel.dirty() == {}
    assert parallel.lock_bytes() == serial.lock_bytes()
    serial.repro()
    assert serial.take_ran() == []


def test_a_reader_rerun_is_followed_by_the_steps_below_it(make_project: MakeProject) -> None:
    shout = '    @step\n    def shout(text: str) -> str:\n        mark("shout:" + text)\n'
    shout += '        return text + "!"\n\n\n    @pipeline'
    module = NOTES.replace("    @pipeline", shout)
    module = module.format(body="write_notes()\n        shout(use_notes())", reader_args="")
    files = {"pipelines/notes.py": module, "data/notes.txt": "old"}
    serial = make_project(files, where="serial")
    parallel = make_project(files, where="parallel")

    serial.repro()
    result = parallel.incr("repro", "-j", "2")

    assert result.returncode == 0, result.output
    assert parallel.take_ran()[-1] == "shout:NEW"
    assert parallel.dirty() == {}
    assert parallel.lock_bytes() == serial.lock_bytes()


def test_a_writer_below_its_reader_keeps_the_serial_result(make_project: MakeProject) -> None:
    """The writer depends on the reader: it cannot run first, so the reader keeps the text it
    saw, under --jobs as in a serial run, and status says why it stays dirty."""
    module = NOTES.replace("def write_notes() -> int:", "def write_notes(seen: str) -> int:")
    module = module.format(body="write_notes(use_notes())", reader_args="")
    serial = make_project({"pipelines/notes.py": module, "data/notes.txt": "old"}, "serial")
    parallel = make_project({"pipelines/notes.py": module, "data/notes.txt": "old"}, "parallel")

    serial.repro()
    result = parallel.incr("repro", "-j", "2")

    assert result.returncode == 0, result.output
    assert parallel.take_ran() == serial.take_ran() == ["use_notes:old", "write_notes"]
    assert parallel.lock_bytes() == serial.lock_bytes()
    steps = {s["step"]: s for s in parallel.status()["steps"]}
    assert [r["text"] for r in steps["use_notes"]["reasons"]] == ["read changed (data/notes.txt)"]
    assert steps["use_notes"]["notes"] == [
        "reads data/notes.txt, which step write_notes writes, but write_notes runs after it "
        "(through its inputs, or another file): it sees the file as it was before"
    ]


CROSSED = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> str:
        with open("data/y.txt", encoding="utf-8") as fh:
            seen = fh.read()
        with open("data/x.txt", "w", encoding="utf-8") as fh:
            fh.write("x-from-first")
        mark("first:" + seen)
        return seen


    @step
    def second() -> str:
        with open("data/x.txt", encoding="utf-8") as fh:
            seen = fh.read()
        with open("data/y.txt", "w", encoding="utf-8") as fh:
            fh.write("y-from-second")
        mark("second:" + seen)
        return seen


    @pipeline
    def crossed():
        first()
        second()
    """


def test_two_steps_reading_what_the_other_writes_run_in_body_order(
    make_project: MakeProject,
) -> None:
    """Each reads a file the other writes: no order serves both, so body order decides, and a
    serial run is what it was before incr ordered anything (first is not run again)."""
    project = make_project(
        {"pipelines/crossed.py": CROSSED, "data/x.txt": "x0", "data/y.txt": "y0"}
    )

    project.repro()

    assert project.take_ran() == ["first:y0", "second:x-from-first"]
    steps = {s["step"]: s for s in project.status()["steps"]}
    assert steps["second"]["notes"] == [
        "reads data/x.txt, which step first writes; it runs after first: say so with "
        'outs=["data/x.txt"] on first and deps=["data/x.txt"] here'
    ]
    assert steps["first"]["notes"] == [
        "reads data/y.txt, which step second writes, but second runs after it (through its "
        "inputs, or another file): it sees the file as it was before"
    ]
    result = project.incr("repro", "-j", "2")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["first:y-from-second"]  # x unchanged: second stays clean
    assert project.dirty() == {}


#: ``later`` reads data/shared.txt, which nothing wrote so far; ``first`` is called before it.
LATER_READER = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def later() -> str:
        with open("data/shared.txt", encoding="utf-8") as fh:
            text = fh.read()
        mark("later:" + text)
        return text


    @step
    def after(text: str) -> str:
        mark("after:" + text)
        return text * 2


    @pipeline
    def shared():
        first()
        after(later())
    """


def test_a_step_clean_before_the_run_is_decided_again_once_a_step_changed_the_disk(
    make_project: MakeProject,
) -> None:
    """A repro reuses what its status pass found clean only until a step executes: here the
    edited step starts to write the file a later step reads, and that step runs again, and
    so does the step after it, clean in the status pass and taking nothing from the disk."""
    project = make_project({"pipelines/shared.py": LATER_READER, "data/shared.txt": "old"})
    project.repro()
    assert project.take_ran() == ["first", "later:old", "after:old"]

    project.edit(
        "pipelines/shared.py",
        '    mark("first")\n',
        '    mark("first")\n    with open("data/shared.txt", "w", encoding="utf-8") as fh:\n'
        '        fh.write("new")\n',
    )
    assert set(project.dirty()) == {"first"}
    project.repro()
    assert project.take_ran() == ["first", "later:new", "after:new"]
    assert project.dirty() == {}


#: ``first`` is edited to change three files that later steps take without a read record:
#: a declared dep, a database opened in C (a file found in the code), a step's own out.
UNSEEN_TAKERS = """\
    import sqlite3
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return 1


    @step(deps=["data/dep.txt"])
    def with_dep() -> int:
        mark("with_dep")
        return 2


    @step
    def with_db() -> int:
        con = sqlite3.connect("data/rows.db")
        try:
            rows = con.execute("select count(*) from t").fetchone()[0]
        finally:
            con.close()
        mark(f"with_db:{rows}")
        return rows


    @step(outs=["out/own.txt"])
    def with_out() -> int:
        mark("with_out")
        Path("out").mkdir(exist_ok=True)
        Path("out/own.txt").write_text("own")
        return 3


    @pipeline
    def takers():
        first()
        with_dep()
        with_db()
        with_out()
    """

FIRST_CHANGES_THEM = """\
    mark("first")
    Path("data/dep.txt").write_text("changed")
    con = sqlite3.connect("data/rows.db")
    con.execute("insert into t values (2)")
    con.commit()
    con.close()
    Path("out/own.txt").write_text("changed by first")
"""


def test_steps_taking_files_without_a_read_record_are_decided_again_after_a_change(
    make_project: MakeProject,
) -> None:
    """A step clean in the status pass is reused unexamined after a step changed the disk only
    when it takes nothing from the disk: a declared dep and a file it opens in C changed by
    an earlier step of the run make it run again; its own out changed is put back."""
    import sqlite3

    project = make_project({"pipelines/takers.py": UNSEEN_TAKERS, "data/dep.txt": "dep"})
    con = sqlite3.connect(project.root / "data" / "rows.db")
    con.execute("create table t (x int)")
    con.execute("insert into t values (1)")
    con.commit()
    con.close()
    project.repro()
    assert project.take_ran() == ["first", "with_dep", "with_db:1", "with_out"]

    project.edit("pipelines/takers.py", '    mark("first")\n', FIRST_CHANGES_THEM)
    assert set(project.dirty()) == {"first"}
    project.repro()
    assert project.take_ran() == ["first", "with_dep", "with_db:2"]
    assert (project.root / "out" / "own.txt").read_text() == "own"
    assert project.dirty() == {}


SHARED = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        with open("shared.txt", "w", encoding="utf-8") as fh:
            fh.write("first")
        return 1


    @step
    def second() -> int:
        mark("second")
        with open("shared.txt", "w", encoding="utf-8") as fh:
            fh.write("second")
        return 2


    @step
    def reader(a: int, b: int) -> str:
        mark("reader")
        with open("shared.txt", encoding="utf-8") as fh:
            return fh.read()


    @step
    def logger() -> int:
        mark("logger")
        with open("run.log", "a", encoding="utf-8") as fh:
            fh.write("logger")
        return 3


    @step
    def other_logger() -> int:
        mark("other_logger")
        with open("run.log", "a", encoding="utf-8") as fh:
            fh.write("other")
        return 4


    @pipeline
    def shared():
        reader(first(), second())
        logger()
        other_logger()
    """


def test_when_one_of_two_writers_of_a_file_a_step_reads_executes_the_later_one_does_too(
    make_project: MakeProject,
) -> None:
    """The file holds what the last writer wrote, as after a run from scratch: an edit of the
    first writer executes the second after it. The reader is told why in a note. A file two
    steps write and none reads (a log) changes nothing."""
    project = make_project({"pipelines/shared.py": SHARED})
    project.repro()
    project.take_ran()
    steps = {s["step"]: s for s in project.status()["steps"]}
    note = "reads shared.txt, which steps first and second both write: they run in that order"
    assert [n for n in steps["reader"]["notes"] if n.startswith(note)], steps["reader"]["notes"]
    assert all(not steps[name]["notes"] for name in ("first", "second", "logger", "other_logger"))

    project.edit("pipelines/shared.py", 'fh.write("first")', 'fh.write("first" + "")')
    project.repro()
    assert project.take_ran() == ["first", "second"]  # the reader read the same bytes
    assert (project.root / "shared.txt").read_text(encoding="utf-8") == "second"
    reasons = {s["step"]: s["reasons"] for s in project.status()["steps"]}
    assert all(not r for r in reasons.values()), reasons
    project.edit("pipelines/shared.py", 'fh.write("logger")', 'fh.write("logger" + "")')
    project.repro()
    assert project.take_ran() == ["logger"]  # no step reads the log: the other stays
