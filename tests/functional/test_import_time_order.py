"""A file a module reads as it is imported, which a step writes, orders the steps using what
the import made of it as a file they read would (incr/knownreads.py): after the writer, their
pipeline after the writer's (``a_use`` sorts before ``b_make``), a target brings the writer
along, and ``incr status`` shows them waiting after the writer while it is dirty. A module
finding the file absent (``if os.path.exists(...)``) counts too. Each step runs once per
``incr repro``, and what it leaves is what a run from scratch gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

#: Without the file (a first run), ``M`` is None and ``use`` fails: it must run after ``make``.
USE = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    M = json.load(open("data/m.json")) if os.path.exists("data/m.json") else None


    @step
    def use() -> int:
        mark("use")
        return M["v"] + 100


    @pipeline
    def a_use():
        use()
    """

MAKE = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["data/m.json"])
    def make() -> None:
        mark("make")
        n = json.load(open("n.json"))["n"]
        json.dump({"v": n}, open("data/m.json", "w"))


    @pipeline
    def b_make():
        make()
    """


def _use_and_make(make_project: MakeProject, made: bool) -> Project:
    files = {"pipelines/a_use.py": USE, "pipelines/b_make.py": MAKE, "n.json": '{"n": 1}'}
    project = make_project({**files, **({"data/m.json": '{"v": 0}'} if made else {})})
    if not made:
        (project.root / "data").mkdir()
    return project


@pytest.mark.parametrize("made", [False, True], ids=["absent at import", "present"])
def test_a_pipeline_whose_module_reads_a_file_at_import_runs_after_its_writer(
    make_project: MakeProject, tmp_path: Path, made: bool
) -> None:
    """Before, ``a_use`` ran first: ``use`` failed on ``M = None`` (the file absent, and each
    ``incr repro`` failed so), or ran twice in one ``incr repro``; and after an edit of
    ``n.json``, ``incr status`` said ``use`` was clean."""
    project = _use_and_make(make_project, made)
    result = project.repro()
    assert project.take_ran() == ["make", "use"], result.output  # each once
    assert project.dirty() == {}
    (project.root / "n.json").write_text('{"n": 5}')
    assert project.dirty()["use"] == [("after", "b_make.make")]
    assert project.dirty("a_use")["use"] == [("after", "b_make.make")]
    result = project.repro()
    assert project.take_ran() == ["make", "use"], result.output
    assert project.dirty() == {}
    assert _output(project, "a_use.use") == b"105"
    project.repro()
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


SQLITE_MAKE = """\
    import os
    import sqlite3

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class C(StepConfig):
        n: int = 3


    @step(outs=["data/l.db"])
    def make_db(config: C) -> None:
        mark("make_db")
        if os.path.exists("data/l.db"):
            os.remove("data/l.db")
        con = sqlite3.connect("data/l.db")
        con.execute("create table t (id integer)")
        con.executemany("insert into t values (?)", [(i,) for i in range(config.n)])
        con.commit()
        con.close()


    @pipeline
    def a_make():
        make_db(config=C(n=8))
    """

SQLITE_USE = """\
    import sqlite3

    from incr import pipeline, step
    from pipelines.mark import mark

    CON = sqlite3.connect("data/l.db")


    @step
    def count() -> int:
        mark("count")
        return CON.execute("select count(*) from t").fetchone()[0]


    @pipeline
    def b_use():
        count()
    """

JSON_MAKE = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark

    RAW = json.load(open("data/in.json"))


    @step(outs=["data/labels.json"])
    def make_db() -> None:
        mark("make_db")
        json.dump({"w": RAW["w"] * 10}, open("data/labels.json", "w"))


    @pipeline
    def a_make():
        make_db()
    """

JSON_USE = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark

    LABELS = json.load(open("data/labels.json"))


    @step
    def count() -> int:
        mark("count")
        return LABELS["w"] + 1


    @pipeline
    def b_use():
        count()
    """


@pytest.mark.parametrize("reader", ["sqlite", "json"])
def test_a_target_brings_along_the_writer_of_a_file_its_module_reads_at_import(
    make_project: MakeProject, tmp_path: Path, reader: str
) -> None:
    """Before, with ``make_db`` dirty, ``incr status b_use`` said ``count`` was clean and
    ``incr repro b_use`` left ``make_db`` out (``CON = sqlite3.connect("data/l.db")`` at the
    top of the module); with ``json.load`` at the top, ``make_db`` was brought along but
    ``count`` showed clean; ``incr show b_use.count`` said clean."""
    if reader == "sqlite":
        files = {"pipelines/a_make.py": SQLITE_MAKE, "pipelines/b_use.py": SQLITE_USE}
    else:
        files = {"pipelines/a_make.py": JSON_MAKE, "pipelines/b_use.py": JSON_USE}
        files |= {"data/in.json": '{"w": 1}', "data/labels.json": '{"w": 0}'}
    project = make_project(files)
    (project.root / "data").mkdir(exist_ok=True)
    project.repro()
    assert project.take_ran() == ["make_db", "count"]
    if reader == "sqlite":
        project.edit("pipelines/a_make.py", "n=8", "n=5")
    else:
        (project.root / "data/in.json").write_text('{"w": 7}')
    assert project.dirty()["count"] == [("after", "a_make.make_db")]
    assert project.dirty("b_use")["count"] == [("after", "a_make.make_db")]
    shown = json.loads(project.incr("show", "b_use.count", "--json").stdout)  # as status
    assert [r["text"] for r in shown["reasons"]] == ["after a_make.make_db"], shown
    result = project.repro("b_use")
    assert project.take_ran() == ["make_db", "count"], result.output
    assert project.dirty() == {}
    assert _output(project, "b_use.count") == (b"5" if reader == "sqlite" else b"71")
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def _output(project: Project, key: str) -> bytes:
    """The stored bytes of the value step ``key`` returned, as the lockfile records it."""
    return project.object_bytes(project.lock()[key].outputs["output"].digest)


LATER = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    M = json.load(open("data/m.json")) if os.path.exists("data/m.json") else {"v": 0}


    @step
    def use() -> int:
        mark("use")
        return M["v"] + 100


    @step(outs=["data/m.json"])
    def make() -> None:
        mark("make")
        json.dump({"v": json.load(open("n.json"))["n"]}, open("data/m.json", "w"))


    @pipeline
    def p():
        use()
        make()
    """


@pytest.mark.parametrize("made", [False, True], ids=["absent at import", "present"])
def test_a_step_whose_module_reads_at_import_what_a_later_step_writes_runs_after_it(
    make_project: MakeProject, tmp_path: Path, made: bool
) -> None:
    """Before, ``use`` (first in the body) ran twice in the first ``incr repro``, and after
    an edit of ``n.json`` ``incr status`` said it was clean."""
    project = make_project({"pipelines/p.py": LATER, "n.json": '{"n": 1}'})
    (project.root / "data").mkdir()
    if made:
        (project.root / "data/m.json").write_text('{"v": 0}')
    result = project.repro()
    assert project.take_ran() == ["make", "use"], result.output
    assert project.dirty() == {}
    (project.root / "n.json").write_text('{"n": 5}')
    assert project.dirty()["use"] == [("after", "make")]
    result = project.repro()
    assert project.take_ran() == ["make", "use"], result.output
    assert project.dirty() == {}
    assert _output(project, "p.use") == b"105"
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


OPTIONAL = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    EXTRA = json.load(open("local.json")) if os.path.exists("local.json") else {"k": 1}


    @step
    def scaled() -> int:
        mark("scaled")
        return EXTRA["k"] * 10


    @pipeline
    def opt():
        scaled()


    if __name__ == "__main__":
        opt().run()
    """


def test_a_file_a_module_found_absent_at_import_reruns_its_users_once_there(
    make_project: MakeProject,
) -> None:
    """A script's run, which does not see what its modules test as they are imported, leaves
    ``scaled`` clean for ``incr status``; the file appearing reruns it."""
    project = make_project({"pipelines/opt.py": OPTIONAL})
    assert project.python("pipelines/opt.py").returncode == 0
    assert project.take_ran() == ["scaled"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    (project.root / "local.json").write_text('{"k": 4}')
    assert project.dirty()["scaled"] == [
        ("read changed", "local.json, read when pipelines/opt.py is imported")
    ]
    project.repro()
    assert project.take_ran() == ["scaled"]
    assert _output(project, "opt.scaled") == b"40"
    assert project.dirty() == {}
