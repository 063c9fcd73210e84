"""A file several steps write, one after the other, which a step reads: a step that appends to
it adds to what the writers before it left. When it executes, those writers execute first,
back to the last one that writes the file anew (``shared file appended``); when a writer
executes, the writers after it execute too (``shared file rewritten``), in its pipeline or in
another. Each result equals a run from scratch, and a writer that writes the file anew spares
the writers before it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

HEAD = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


"""


def writer(name: str, mode: str, text: str) -> str:
    """A step writing ``text`` (lines) to work/table.csv, anew (``w``) or appended (``a``)."""
    return f"""\
    @step
    def {name}() -> None:
        mark("{name}")
        os.makedirs("work", exist_ok=True)
        with open("work/table.csv", "{mode}") as fh:
            fh.write("{text}")


"""


READER = """\
    @step
    def total() -> int:
        mark("total")
        with open("work/table.csv") as fh:
            return sum(int(line) for line in fh)


    @step(outs=["reports/total.json"])
    def write(value: int) -> None:
        mark("write")
        os.makedirs("reports", exist_ok=True)
        with open("reports/total.json", "w") as fh:
            json.dump(value, fh)


"""


def module(name: str, *parts: str, calls: str) -> str:
    body = "".join(f"        {call}\n" for call in calls.split("; "))
    return HEAD + "".join(parts) + f"    @pipeline\n    def {name}():\n{body}"


REPORT = module("report", READER, calls="write(total())")
PREP = module(
    "prep",
    writer("write_a", "w", "1\\n2\\n4\\n"),
    writer("append_b", "a", "200\\n"),
    calls="write_a(); append_b()",
)


def _run(project: Project, *args: str) -> list[str]:
    project.repro(*args)
    return project.take_ran()


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")])
@pytest.mark.parametrize("target", [(), ("report",), ("prep.append_b",)])
def test_an_edit_of_the_step_appending_runs_the_writer_before_it_first(
    make_project: MakeProject, tmp_path: Path, target: tuple[str, ...], jobs: tuple[str, ...]
) -> None:
    """``append_b`` appends to what ``write_a`` wrote; ``report.total`` reads the file. An
    edit of ``append_b`` ran it alone: it appended 300 after the 200 its last run left, and
    the reader summed 507 where a run from scratch gives 307."""
    project = make_project({"pipelines/a_report.py": REPORT, "pipelines/b_prep.py": PREP})
    assert _run(project) == ["total", "write_a", "append_b", "total", "write"]
    assert project.read("reports/total.json") == "207"
    assert _run(project, *jobs) == []  # nothing changed: nothing runs

    project.edit("pipelines/b_prep.py", "200", "300")
    dirty = project.dirty(*target)
    assert dirty["write_a"] == [("shared file appended", "work/table.csv, by append_b")]
    assert ("code changed", "append_b in pipelines/b_prep.py") in dirty["append_b"]
    if target != ("prep.append_b",):
        assert dirty["total"] == [("after", "prep.append_b, prep.write_a")]
    assert project.incr("status", "--check", *target).returncode == 1
    assert _run(project, *jobs, *target)[:2] == ["write_a", "append_b"]
    assert project.read("work/table.csv") == "1\n2\n4\n300\n"
    _run(project)
    assert project.read("reports/total.json") == "307"
    assert project.dirty() == {}
    assert _run(project) == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


def test_a_forced_step_appending_runs_the_writer_before_it_first(
    make_project: MakeProject,
) -> None:
    """``incr repro --force prep.append_b`` appended 200 a second time."""
    project = make_project({"pipelines/a_report.py": REPORT, "pipelines/b_prep.py": PREP})
    _run(project)
    assert _run(project, "--force", "prep.append_b") == ["write_a", "append_b"]
    assert project.read("work/table.csv") == "1\n2\n4\n200\n"
    assert project.dirty() == {}


def test_a_run_from_python_runs_the_writer_before_an_edited_step_appending(
    make_project: MakeProject,
) -> None:
    """``prep().run()`` in a script, the reader in the pipeline: an edit of ``append_b`` ran
    it alone there too (1 2 4 200 300)."""
    prep = module(
        "prep",
        writer("write_a", "w", "1\\n2\\n4\\n"),
        writer("append_b", "a", "200\\n"),
        READER,
        calls="write_a(); append_b(); write(total())",
    )
    run = "from pipelines.prep import prep\n\nprep().run()\n"
    project = make_project({"pipelines/prep.py": prep, "run.py": run})
    assert project.python("run.py").returncode == 0
    project.take_ran()
    project.edit("pipelines/prep.py", "200", "300")
    result = project.python("run.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["write_a", "append_b", "total", "write"]
    assert project.read("work/table.csv") == "1\n2\n4\n300\n"
    assert project.dirty() == {}


def test_a_step_writing_the_file_anew_spares_the_writers_before_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Four writers, the reader in their pipeline: an edit of the last one, which appends,
    runs the one before it again (it writes the file anew), not the first two; an edit of
    the second runs the first again and every writer after it. An edit of a step writing
    the file anew runs it and the writers after it only."""
    steps = [
        writer("write_a", "w", "1\\n"),
        writer("append_b", "a", "20\\n"),
        writer("write_c", "w", "300\\n"),
        writer("append_d", "a", "4000\\n"),
    ]
    calls = "write_a(); append_b(); write_c(); append_d(); write(total())"
    project = make_project({"pipelines/prep.py": module("prep", *steps, READER, calls=calls)})
    _run(project)
    assert project.read("reports/total.json") == "4300"

    project.edit("pipelines/prep.py", "4000", "5000")
    dirty = project.dirty()
    assert dirty["write_c"] == [("shared file appended", "work/table.csv, by append_d")]
    assert "write_a" not in dirty and "append_b" not in dirty
    assert _run(project) == ["write_c", "append_d", "total", "write"]
    assert project.read("reports/total.json") == "5300"

    project.edit("pipelines/prep.py", '"20', '"30')
    dirty = project.dirty()
    assert dirty["write_a"] == [("shared file appended", "work/table.csv, by append_b")]
    assert _run(project) == ["write_a", "append_b", "write_c", "append_d"]  # total: same bytes

    project.edit("pipelines/prep.py", '"300', '"600')
    assert _run(project) == ["write_c", "append_d", "total", "write"]
    assert project.read("reports/total.json") == "5600"
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


def test_a_step_writing_the_file_anew_after_another_runs_alone(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """No needless rerun: the later writer writes the file anew, what the first wrote is
    gone; an edit of it runs it alone (and the reader)."""
    prep = module(
        "prep",
        writer("write_a", "w", "1\\n2\\n4\\n"),
        writer("write_b", "w", "200\\n"),
        calls="write_a(); write_b()",
    )
    project = make_project({"pipelines/a_report.py": REPORT, "pipelines/b_prep.py": prep})
    _run(project)
    project.edit("pipelines/b_prep.py", "200", "300")
    assert set(project.dirty()) == {"write_b", "total", "write"}
    assert _run(project) == ["write_b", "total", "write"]
    assert project.read("reports/total.json") == "300"
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


#: The writers in two pipelines: ``one.write_a`` writes the file, ``extra.append_b`` (its
#: module after one's, its name before) appends to it; ``report`` (its module first) reads it.
ACROSS = {
    "pipelines/a_report.py": REPORT,
    "pipelines/b_one.py": module("one", writer("write_a", "w", "1\\n2\\n4\\n"), calls="write_a()"),
    "pipelines/c_extra.py": module("extra", writer("append_b", "a", "100\\n"), calls="append_b()"),
}


@pytest.mark.parametrize("target", [(), ("report",), ("one",)])
def test_the_writer_of_another_pipeline_appending_runs_after_an_edited_first_writer(
    make_project: MakeProject, tmp_path: Path, target: tuple[str, ...]
) -> None:
    """An edit of ``one.write_a`` ran it alone (then the reader): 8 where a run from scratch
    gives 108, as the rule that the later writers of a file run again counted the writers
    of one pipeline only; and ``report`` ran before ``extra`` (only ``one``'s writer ordered
    it), so that ``incr status`` said ``total`` clean while ``append_b`` was dirty."""
    project = make_project(ACROSS)
    _run(project)
    assert project.read("reports/total.json") == "107"
    assert [s["pipeline"] for s in project.status()["steps"]][-2:] == ["report", "report"]
    assert _run(project) == []

    project.edit("pipelines/b_one.py", "4\\n", "5\\n")
    dirty = project.dirty(*target)
    assert dirty["append_b"] == [("shared file rewritten", "work/table.csv, by one.write_a")]
    if target != ("one",):
        assert dirty["total"] == [("after", "extra.append_b, one.write_a")]
    assert project.incr("status", "--check", *target).returncode == 1
    assert _run(project, *target)[:2] == ["write_a", "append_b"]
    _run(project)
    assert project.read("reports/total.json") == "108"
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


@pytest.mark.parametrize("target", [(), ("report",), ("extra",)])
def test_the_writer_of_another_pipeline_runs_before_an_edited_step_appending(
    make_project: MakeProject, tmp_path: Path, target: tuple[str, ...]
) -> None:
    project = make_project(ACROSS)
    _run(project)
    project.edit("pipelines/c_extra.py", "100", "300")
    dirty = project.dirty(*target)
    assert dirty["write_a"] == [("shared file appended", "work/table.csv, by extra.append_b")]
    assert project.incr("status", "--check", *target).returncode == 1
    assert _run(project, *target)[:2] == ["write_a", "append_b"]
    assert project.read("work/table.csv") == "1\n2\n4\n300\n"
    _run(project)
    assert project.read("reports/total.json") == "307"
    assert project.dirty() == {}
    assert _run(project) == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


#: Every writer appends: ``prep.append_a``, then ``prep.append_b``; ``report`` reads the file.
EACH_APPENDS = {
    "pipelines/a_report.py": REPORT,
    "pipelines/b_prep.py": module(
        "prep",
        writer("append_a", "a", "1\\n"),
        writer("append_b", "a", "20\\n"),
        calls="append_a(); append_b()",
    ),
}


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")])
@pytest.mark.parametrize("edited", ["20", '"1'])
def test_steps_that_all_append_run_again_from_the_file_as_it_was_before_them(
    make_project: MakeProject, tmp_path: Path, edited: str, jobs: tuple[str, ...]
) -> None:
    """No writer writes the file anew: an edit of ``append_b`` ran it alone, which appended
    30 after the 1 and 20 of the last run (51 where a run from scratch gives 31); an edit of
    ``append_a`` ran both after what they had left (1 20 2 20). They run again, in order, the
    file first removed, as it was before the first of them ran."""
    project = make_project(EACH_APPENDS)
    _run(project)  # (a first run under --jobs knows no order between them)
    assert project.read("work/table.csv") == "1\n20\n"
    assert project.incr("gc").returncode == 0

    project.edit("pipelines/b_prep.py", edited, edited.replace("2", "3").replace("1", "2"))
    dirty = project.dirty()
    if edited == "20":
        assert dirty["append_a"] == [("shared file appended", "work/table.csv, by append_b")]
    else:
        assert ("shared file rewritten", "work/table.csv, by append_a") in dirty["append_b"]
    assert _run(project, *jobs)[:2] == ["append_a", "append_b"]
    assert project.read("work/table.csv") == ("1\n30\n" if edited == "20" else "2\n20\n")
    assert project.dirty() == {}
    assert _run(project, *jobs) == []
    _same_as_scratch(project, tmp_path)


def test_a_step_appending_alone_runs_again_from_the_file_as_it_was_before_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """One writer, which appends, and its reader: an edit of it appended 5 after the 1 its
    last run left."""
    calls = "append_a(); write(total())"
    prep = module("prep", writer("append_a", "a", "1\\n"), READER, calls=calls)
    project = make_project({"pipelines/prep.py": prep})
    _run(project)
    project.edit("pipelines/prep.py", '"1', '"5')
    assert _run(project) == ["append_a", "total", "write"]
    assert project.read("reports/total.json") == "5"
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path)


def test_steps_appending_to_a_file_of_the_project_keep_what_it_held_before_them(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The file is the project's before the writers run (a first line committed with it):
    it is put back with that line, from the cache (``incr gc`` keeps it), not removed."""
    project = make_project({**EACH_APPENDS, "work/table.csv": "300\n"})
    _run(project)
    assert project.read("work/table.csv") == "300\n1\n20\n"
    assert project.incr("gc").returncode == 0
    project.edit("pipelines/b_prep.py", "20", "40")
    assert _run(project) == ["append_a", "append_b", "total", "write"]
    assert project.read("work/table.csv") == "300\n1\n40\n"
    project.edit("pipelines/b_prep.py", '"1', '"2')
    _run(project)
    assert project.read("reports/total.json") == "342"
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path, "300\n")


def test_steps_appending_after_the_cache_folder_is_deleted_run_again_from_no_file(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``.pipecache`` deleted, nothing is known of what the steps write: an edit of
    ``append_b`` ran it alone, which appended to what the last run left. Its bytes then were
    those ``report.total`` read: both writers run again in the same command, the file first
    removed (``appended file not known``)."""
    project = make_project(EACH_APPENDS)
    _run(project)
    shutil.rmtree(project.root / ".pipecache")
    assert "append_b" not in _run(project)  # nothing edited: the file as it was
    assert project.read("work/table.csv") == "1\n20\n"

    shutil.rmtree(project.root / ".pipecache")
    project.edit("pipelines/b_prep.py", "20", "30")
    result = project.repro()
    assert "appended file not known (work/table.csv)" in result.output, result.output
    ran = [name for name in project.take_ran() if name.startswith("append")]
    assert ran == ["append_b", "append_a", "append_b"]
    assert project.read("work/table.csv") == "1\n30\n"
    assert project.read("reports/total.json") == "31"
    assert project.dirty() == {}
    assert _run(project) == []
    _same_as_scratch(project, tmp_path)


def test_steps_appending_when_an_older_incr_ran_them_run_again_once(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A file an older incr left holding what each run appended (1 20 30, where a run from
    scratch gives 1 30): what it held before its writers is not known to incr, so they run
    again, from no file, once."""
    project = make_project(EACH_APPENDS)
    _run(project)
    table = project.root / "work/table.csv"
    with open(table, "a", encoding="utf-8") as fh:
        fh.write("30\n")  # as an edit of append_b run by an older incr left it
    writes = project.root / ".pipecache" / "writes.json"
    data = json.loads(writes.read_text(encoding="utf-8"))
    assert data.pop("before")["work/table.csv"] == ""  # (absent) an older incr wrote none
    st = table.stat()
    data["left"]["prep.append_b"][1]["work/table.csv"] = [st.st_size, st.st_mtime_ns]
    writes.write_text(json.dumps(data), encoding="utf-8")

    dirty = project.dirty()
    assert ("appended file not known", "work/table.csv") in dirty["append_a"]
    assert ("appended file not known", "work/table.csv") in dirty["append_b"]
    assert _run(project)[:2] == ["append_a", "append_b"]
    assert project.read("work/table.csv") == "1\n20\n"
    assert project.dirty() == {}
    assert _run(project) == []
    _same_as_scratch(project, tmp_path)


def test_a_step_writing_the_file_anew_that_appends_to_it_now_runs_again_from_no_file(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``write_a`` opened the file with "w", then with "a": it appended 1 2 4 to the 1 2 4
    200 of the last run, taken as what the file held before the writers. What a step wrote
    before is no such thing: the writers run again from no file."""
    project = make_project({"pipelines/a_report.py": REPORT, "pipelines/b_prep.py": PREP})
    _run(project)
    project.edit("pipelines/b_prep.py", '"w"', '"a"')
    assert "write_a" in _run(project)
    assert project.read("work/table.csv") == "1\n2\n4\n200\n"
    assert project.dirty() == {}
    project.edit("pipelines/b_prep.py", "200", "300")
    assert _run(project) == ["write_a", "append_b", "total", "write"]
    assert project.read("reports/total.json") == "307"
    _same_as_scratch(project, tmp_path)


def test_a_file_no_step_reads_keeps_what_each_run_appended(make_project: MakeProject) -> None:
    """No needless rerun, no file removed: a log the writers append to, which no step reads."""
    logs = module(
        "prep",
        writer("append_a", "a", "1\\n").replace("work/table.csv", "work/run.log"),
        writer("append_b", "a", "20\\n").replace("work/table.csv", "work/run.log"),
        calls="append_a(); append_b()",
    )
    project = make_project({"pipelines/prep.py": logs})
    _run(project)
    project.edit("pipelines/prep.py", "20", "30")
    assert _run(project) == ["append_b"]
    assert project.read("work/run.log") == "1\n20\n30\n"
    assert project.dirty() == {}


def _same_as_scratch(project: Project, tmp_path: Path, held: str | None = None) -> None:
    """``assert_same_as_scratch``, work/table.csv holding ``held`` in the copy (None: absent)."""
    fresh = fresh_copy(project, tmp_path / "fresh")
    (fresh.root / "work/table.csv").unlink()
    if held is not None:
        (fresh.root / "work/table.csv").write_text(held, encoding="utf-8")
    assert_same_as_scratch(project, fresh, ("work/table.csv",))


def _outs(text: str) -> str:
    """A step of ``writer`` (or ``total``) listing work/table.csv in outs (deps, for total)."""
    listed = "deps" if "def total" in text else "outs"
    return text.replace("@step\n", f'@step({listed}=["work/table.csv"])\n', 1)


def test_a_step_appending_to_its_out_runs_again_from_the_file_as_it_was_before_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """One writer, which appends to the file it lists in outs, and a reader listing it in
    deps: an edit of it appended 5 after the 1 its last run left (6 for 5), as a write to an
    out was not recorded as an append."""
    calls = "append_a(); write(total())"
    prep = module("prep", _outs(writer("append_a", "a", "1\\n")), _outs(READER), calls=calls)
    project = make_project({"pipelines/prep.py": prep})
    _run(project)
    project.edit("pipelines/prep.py", '"1', '"5')
    assert _run(project) == ["append_a", "total", "write"]
    assert project.read("work/table.csv") == "5\n"
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path)


@pytest.mark.parametrize("first", ["a", "w"])
@pytest.mark.parametrize("edited", [("20", "30"), ('"1\\n', '"2\\n')])
def test_a_step_appending_after_the_writer_listing_the_file_in_outs(
    make_project: MakeProject, tmp_path: Path, edited: tuple[str, str], first: str
) -> None:
    """``append_a`` lists the file in outs (appending to it, or writing it anew), ``append_b``
    appends to it: its out was found modified after every run (it holds what append_b left),
    so a repro with nothing edited put it back (1, where a run from scratch gives 1 20) and
    ran nothing else; an edit of ``append_a`` appended after what the last run left, or
    ``append_b`` appended after the 1 it found before its first run (1 20 where a run from
    scratch gives 2 20). The reader's note named append_b alone, asking for an outs that
    append_a already lists."""
    steps = (_outs(writer("append_a", first, "1\\n")), writer("append_b", "a", "20\\n"))
    calls = "append_a(); append_b(); write(total())"
    project = make_project({"pipelines/prep.py": module("prep", *steps, READER, calls=calls)})
    _run(project)
    assert project.dirty() == {}
    assert _run(project) == []
    assert project.read("work/table.csv") == "1\n20\n"
    notes = [line for s in project.status()["steps"] for line in s.get("notes", ())]
    assert any("which steps append_a and append_b both write" in n for n in notes), notes

    project.edit("pipelines/prep.py", *edited)
    assert _run(project)[:2] == ["append_a", "append_b"]
    assert project.read("work/table.csv") == ("1\n30\n" if edited[0] == "20" else "2\n20\n")
    assert project.dirty() == {}
    project.edit("pipelines/prep.py", edited[1], edited[0])
    assert "append_b" in _run(project)  # append_a put back from the cache: append_b after it
    assert project.read("work/table.csv") == "1\n20\n"
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path)


LOADS_AND_ADDS = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    M = "reports/metrics.json"


    def add(name, value):
        os.makedirs("reports", exist_ok=True)
        rows = json.load(open(M)) if os.path.exists(M) else {}
        rows[name] = value
        json.dump(rows, open(M, "w"), sort_keys=True)
        return rows


    @step
    def eval_lin(depth: int = 3) -> dict:
        mark("eval_lin")
        return add("lin", depth * 10)


    @step
    def eval_forest(lin: dict) -> dict:
        mark("eval_forest")
        return add("forest", 7)


    @step
    def report(rows: dict) -> str:
        mark("report")
        return open(M).read()


    @pipeline
    def flow():
        report(eval_forest(eval_lin()))
    """


def test_steps_that_load_add_to_and_write_back_a_file_run_from_it_as_before_them(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Each evaluation loads ``reports/metrics.json`` (when it is there), adds its score and
    writes it back: it depends on what the file held, as a step appending to it does. An
    edit of the first one runs it from no file, as a run from scratch does. Before, it loaded
    what the last run's second step left, and returned ``{forest, lin}`` where a run from
    scratch returns ``{lin}``."""
    project = make_project({"pipelines/flow.py": LOADS_AND_ADDS})
    project.repro()
    assert project.take_ran() == ["eval_lin", "eval_forest", "report"]
    for depth in ("4", "5"):  # the second edit: what the first one learned stands
        project.edit("pipelines/flow.py", f"depth: int = {int(depth) - 1}", f"depth: int = {depth}")
        project.repro()
        assert project.take_ran()[-3:] == ["eval_lin", "eval_forest", "report"]
        lin = project.object_bytes(project.lock()["flow.eval_lin"].outputs["output"].digest)
        assert b"forest" not in lin
        assert project.dirty() == {}
        fresh = fresh_copy(project, tmp_path / depth)
        shutil.rmtree(fresh.root / "reports")  # a clone: the pipeline makes it
        assert_same_as_scratch(project, fresh, ("reports/metrics.json",))


CALIBRATE = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    M = "reports/metrics.json"


    @step
    def evaluate() -> float:
        mark("evaluate")
        os.makedirs("reports", exist_ok=True)
        json.dump({"acc": 0.5, "extra": []}, open(M, "w"))
        return 0.5


    @step
    def calibrate(acc: float) -> int:
        mark("calibrate")
        rows = json.load(open(M))
        rows["extra"].append(round(acc / 3, 3))
        json.dump(rows, open(M, "w"))
        return len(rows["extra"])


    @pipeline
    def flow():
        calibrate(evaluate())
    """


def test_an_edit_of_a_step_loading_and_writing_back_runs_the_writer_before_it_first(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``calibrate`` loads what ``evaluate`` wrote, adds to it and writes it back. Its edit
    runs ``evaluate`` first (``shared file appended``). Before, it loaded what its own last
    run left: two entries where a run from scratch has one, one more on each edit."""
    project = make_project({"pipelines/flow.py": CALIBRATE})
    project.repro()
    assert project.take_ran() == ["evaluate", "calibrate"]
    project.edit("pipelines/flow.py", "acc / 3", "acc / 4")
    project.repro()
    assert project.take_ran() == ["evaluate", "calibrate"]
    assert json.loads(project.read("reports/metrics.json"))["extra"] == [0.125]
    assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "reports")  # a clone: the pipeline makes it
    assert_same_as_scratch(project, fresh, ("reports/metrics.json",))


def test_three_steps_loading_and_writing_back_a_file_are_clean_after_their_first_run(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A third step (``calibrate``) loads, adds to and writes back the file after the two
    evaluations. Right after the first run every step is clean, and an edit of the middle one
    runs the three. Before, the middle one's read of the file (which ``calibrate`` then
    rewrote) counted: status said the four steps dirty (``read changed``, ``shared file
    appended``) until one more ``repro``."""
    source = LOADS_AND_ADDS.replace(
        "    @step\n    def report",
        '    @step\n    def calibrate(f: dict) -> dict:\n        mark("calibrate")\n'
        '        return add("cal", 2)\n\n\n    @step\n    def report',
    ).replace("report(eval_forest(eval_lin()))", "report(calibrate(eval_forest(eval_lin())))")
    project = make_project({"pipelines/flow.py": source})
    project.repro()
    assert project.take_ran() == ["eval_lin", "eval_forest", "calibrate", "report"]
    assert project.dirty() == {}
    project.edit("pipelines/flow.py", 'add("forest", 7)', 'add("forest", 8)')
    project.repro()
    assert project.take_ran() == ["eval_lin", "eval_forest", "calibrate", "report"]
    assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "reports")
    assert_same_as_scratch(project, fresh, ("reports/metrics.json",))


LOG_OF_TWO = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    M = "reports/metrics.json"


    def add(name, value):
        os.makedirs("reports", exist_ok=True)
        rows = json.load(open(M)) if os.path.exists(M) else []
        rows.append([name, value])
        json.dump(rows, open(M, "w"))
        return rows


    @step
    def evaluate() -> int:
        mark("evaluate")
        return len(add("eval", 10))


    @step
    def calibrate(n: int) -> int:
        mark("calibrate")
        return len(add("cal", 2))


    @pipeline
    def flow():
        calibrate(evaluate())
    """


def test_each_edit_of_the_last_of_two_steps_loading_and_writing_back_runs_both(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Both steps load the file (when it is there), add a row and write it back; no other
    step reads it. Each edit of ``calibrate`` runs ``evaluate`` first, from no file. Before,
    its first execution in such a chain dropped its read of the file from its lock entry, so
    the next command saw no step reading the file: the second edit ran ``calibrate`` alone,
    on its own last write (three rows where a run from scratch has two), status clean."""
    project = make_project({"pipelines/flow.py": LOG_OF_TWO})
    project.repro()
    assert project.take_ran() == ["evaluate", "calibrate"]
    for value in (3, 4, 5):
        project.edit("pipelines/flow.py", f'"cal", {value - 1}', f'"cal", {value}')
        project.repro()
        assert project.take_ran() == ["evaluate", "calibrate"]
        assert json.loads(project.read("reports/metrics.json")) == [["eval", 10], ["cal", value]]
        assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "reports")
    assert_same_as_scratch(project, fresh, ("reports/metrics.json",))
