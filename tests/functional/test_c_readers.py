"""Files opened by C code (here SQLite, the one such reader in the standard library): tracked
as deps when the path is known before the step runs, as reads when the step opens them
otherwise (``incr.nativereads``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from .conftest import MakeProject, Project
from .fresh import assert_same_as_fresh

DB = "data/app.db"
FLOW = "pipelines/flow.py"

FILES = {
    "pipelines/io.py": """\
        import sqlite3


        def query(path):
            con = sqlite3.connect(path)
            try:
                return con.execute("SELECT SUM(x) FROM t").fetchone()[0]
            finally:
                con.close()
        """,
    FLOW: """\
        import sqlite3

        import numpy as np
        from incr import StepConfig, pipeline, step
        from pipelines.io import query
        from pipelines.mark import mark

        DB = "data/app.db"


        class SourceConfig(StepConfig):
            db: str = "data/app.db"


        def _sum(con):
            try:
                return con.execute("SELECT SUM(x) FROM t").fetchone()[0]
            finally:
                con.close()


        @step
        def by_constant() -> int:
            mark("by_constant")
            return _sum(sqlite3.connect(DB))


        @step
        def by_config(config: SourceConfig) -> int:
            mark("by_config")
            return _sum(sqlite3.connect(config.db))


        @step
        def by_helper() -> int:
            mark("by_helper")
            return query("data/app.db")


        @step
        def in_memory() -> int:
            mark("in_memory")
            con = sqlite3.connect(":memory:")
            return con.execute("SELECT 1").fetchone()[0]


        @step
        def mapped() -> float:
            mark("mapped")
            return float(np.memmap("data/x.bin", dtype="f8", mode="r").sum())


        @pipeline
        def flow():
            by_constant()
            by_config(config=SourceConfig())
            by_helper()
            in_memory()
            mapped()
        """,
}
ORDER = ["by_constant", "by_config", "by_helper", "in_memory", "mapped"]


def insert(project: Project, *values: int) -> None:
    (project.root / "data").mkdir(exist_ok=True)
    con = sqlite3.connect(project.root / DB)
    con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    con.commit()
    con.close()


def notes(project: Project) -> dict[str, list[str]]:
    return {s["step"]: s["notes"] for s in project.status()["steps"] if s["notes"]}


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    project = make_project(FILES)
    insert(project, 1, 2, 3)
    np.arange(4, dtype="f8").tofile(project.root / "data/x.bin")
    project.repro()
    assert project.take_ran() == ORDER
    return project


def test_a_database_opened_with_a_known_path_is_tracked(project: Project, tmp_path: Path) -> None:
    lock = project.lock()
    assert DB in lock["flow.by_constant"].facts.deps
    assert DB in lock["flow.by_config"].facts.deps
    assert lock["flow.in_memory"].facts.deps == {}

    insert(project, 10)
    reason = [("dep changed", DB)]
    assert project.dirty() == {
        "by_constant": reason,
        "by_config": reason,
        "by_helper": [("read changed", DB)],
    }
    project.repro()
    assert project.take_ran() == ["by_constant", "by_config", "by_helper"]
    assert project.lock()["flow.by_constant"].outputs != lock["flow.by_constant"].outputs
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_a_path_known_only_when_the_step_runs_is_seen_then(project: Project) -> None:
    """``query(path)`` in a helper: no path before the step runs, SQLite's connect sees it."""
    assert notes(project) == {}
    assert DB in project.lock()["flow.by_helper"].reads
    assert project.lock()["flow.by_helper"].facts.deps == {}
    insert(project, 10)
    assert project.dirty()["by_helper"] == [("read changed", DB)]
    project.repro()
    assert "by_helper" in project.take_ran()
    output = project.lock()["flow.by_helper"].outputs["output"]
    assert project.object_bytes(output.digest) == b"16"
    project.edit(FLOW, "@step\ndef by_helper", '@step(deps=["data/app.db"])\ndef by_helper')
    project.repro()
    project.take_ran()
    insert(project, 10)
    assert project.dirty()["by_helper"] == [("dep changed", DB)]


def test_a_config_value_naming_another_file(project: Project, tmp_path: Path) -> None:
    con = sqlite3.connect(project.root / "data/other.db")
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (100)")
    con.commit()
    con.close()
    project.edit(
        FLOW,
        "by_config(config=SourceConfig())",
        'by_config(config=SourceConfig(db="data/other.db"))',
    )
    project.repro()
    assert project.take_ran() == ["by_config"]
    assert "data/other.db" in project.lock()["flow.by_config"].facts.deps
    insert(project, 10)  # the file by_config no longer reads
    assert set(project.dirty()) == {"by_constant", "by_helper"}
    project.repro()
    assert project.take_ran() == ["by_constant", "by_helper"]
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_a_memory_map_is_seen_when_the_step_runs(project: Project) -> None:
    assert "data/x.bin" in project.lock()["flow.mapped"].reads
    np.arange(5, dtype="f8").tofile(project.root / "data/x.bin")
    assert project.dirty() == {"mapped": [("read changed", "data/x.bin")]}


def test_unrelated_edits_and_same_bytes_rerun_nothing(project: Project) -> None:
    project.edit(FLOW, 'DB = "data/app.db"', 'DB = "data/app.db"  # the database')
    (project.root / DB).write_bytes((project.root / DB).read_bytes())  # touched, same bytes
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_step_that_writes_the_database_is_not_tracked(make_project: MakeProject) -> None:
    flow = """\
        import sqlite3

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def save() -> int:
            mark("save")
            con = sqlite3.connect("data/log.db")
            con.execute("CREATE TABLE IF NOT EXISTS runs (n INTEGER)")
            con.execute("INSERT INTO runs VALUES (1)")
            con.commit()
            return 1


        @pipeline
        def flow():
            save()
        """
    project = make_project({FLOW: flow})
    (project.root / "data").mkdir()
    project.repro()
    assert project.take_ran() == ["save"]
    assert project.lock()["flow.save"].facts.deps == {}
    [note] = notes(project)["save"]
    assert note.startswith("sqlite3.connect() in pipelines/flow.py:save opens data/log.db and may")
    project.repro()
    assert project.take_ran() == []  # its own write does not make it dirty


LAZY = """\
    from pathlib import Path

    import polars as pl
    from incr import pipeline, step


    @step(track_reads=False)
    def scan() -> pl.LazyFrame:
        return pl.scan_parquet(sorted(Path("data").glob("*.parquet"))[0])


    @step
    def total(frame: pl.LazyFrame) -> int:
        return int(frame.select(pl.col("a").sum()).collect().item())


    @pipeline
    def lazy():
        total(scan())
    """


def test_a_lazy_frame_returned_by_a_step_not_recording_its_reads_gets_a_note(
    make_project,
) -> None:
    """Its identity holds the files its step read (test_lazy_handles.py): none are known."""
    import polars as pl

    project = make_project({"pipelines/lazy.py": LAZY})
    (project.root / "data").mkdir()
    pl.DataFrame({"a": [1, 2]}).write_parquet(project.root / "data/t.parquet")
    result = project.repro()
    said = "step lazy.scan, output output: a polars LazyFrame reads its files only when collected"
    assert said + ", and this step does not record what it reads" in result.stderr


def test_rows_in_the_write_ahead_log_of_a_database_count(project: Project) -> None:
    """In WAL mode a writer that stays connected leaves its committed rows in app.db-wal,
    not in app.db: the steps reading the database rerun on them."""
    con = sqlite3.connect(project.root / DB)
    con.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
    con.close()
    project.repro()
    assert project.take_ran() == ["by_constant", "by_config", "by_helper"]
    con = sqlite3.connect(project.root / DB)
    try:
        con.execute("PRAGMA wal_autocheckpoint=0")  # rows stay in the log while connected
        con.execute("INSERT INTO t VALUES (100)")
        con.commit()
        reason = [("dep changed", f"{DB}-wal")]
        seen = [("read changed", f"{DB}-wal")]  # the path it opens, seen when it ran
        assert project.dirty() == {"by_constant": reason, "by_config": reason, "by_helper": seen}
        project.repro()
        assert project.take_ran() == ["by_constant", "by_config", "by_helper"]
        for step in ("by_constant", "by_helper"):
            output = project.lock()[f"flow.{step}"].outputs["output"]
            assert project.object_bytes(output.digest) == b"106"
    finally:
        con.close()


WRITER_AND_NATIVE_READER = """\
    import os
    import sqlite3
    import time

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class C(StepConfig):
        k: int = 1


    @step(outs=["work/app.db"])
    def make_db(config: C) -> None:
        mark("make_db")
        time.sleep(0.5)
        os.makedirs("work", exist_ok=True)
        if os.path.exists("work/app.db"):
            os.remove("work/app.db")
        con = sqlite3.connect("work/app.db")
        con.execute("CREATE TABLE t (x INTEGER)")
        con.executemany("INSERT INTO t VALUES (?)", [(config.k,), (2 * config.k,)])
        con.commit()
        con.close()


    @step
    def total() -> int:
        mark("total")
        con = sqlite3.connect("work/app.db")
        try:
            return con.execute("SELECT SUM(x) FROM t").fetchone()[0]
        finally:
            con.close()


    @pipeline
    def flow():
        make_db(config=C(k=1))
        total()
    """


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_file_opened_in_c_orders_its_reader_after_the_step_writing_it(
    make_project: MakeProject, tmp_path: Path, jobs: list[str]
) -> None:
    """No data edge joins the two steps: the reader's known path, in the writer's outs, puts
    it after the writer, on the first run and after an edit of the writer, in one repro."""
    project = make_project({FLOW: WRITER_AND_NATIVE_READER})
    project.repro(*jobs)
    assert project.take_ran() == ["make_db", "total"]
    assert project.dirty() == {}

    project.edit(FLOW, "C(k=1)", "C(k=5)")
    project.repro(*jobs)
    assert project.take_ran() == ["make_db", "total"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


SEEN_WHEN_CALLED = """\
    import os

    import pandas as pd
    import polars as pl

    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.tables import load_aliased, load_named


    @step
    def after_chdir() -> int:
        mark("after_chdir")
        os.chdir("data")
        try:
            return int(pd.read_parquet("x.parquet")["a"].sum())
        finally:
            os.chdir("..")


    @step
    def named_in_a_file() -> int:
        mark("named_in_a_file")
        with open("split.txt", encoding="utf-8") as fh:
            split = fh.read().strip()
        return int(pd.read_parquet(f"data/{split}.parquet")["a"].sum())


    @step
    def through_a_helper() -> int:
        mark("through_a_helper")
        return load_named("x")


    @step
    def by_an_alias() -> int:
        mark("by_an_alias")
        return load_aliased("x")


    @step
    def a_folder() -> int:
        mark("a_folder")
        return int(pd.read_parquet("data/parts")["a"].sum())


    @step
    def a_glob() -> int:
        mark("a_glob")
        return int(pl.read_parquet("data/parts/*.parquet")["a"].sum())


    @pipeline
    def seen():
        after_chdir()
        named_in_a_file()
        through_a_helper()
        by_an_alias()
        a_folder()
        a_glob()
    """


def test_a_reader_in_c_is_seen_with_the_path_it_gets_when_called(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Paths incr cannot know before the step runs (after ``os.chdir``, read from a file,
    given to a helper, a folder, a glob; a reader imported by name) are seen when the reader
    is called."""
    import pandas as pd

    project = make_project(
        {
            FLOW: SEEN_WHEN_CALLED,
            "pipelines/tables.py": """\
                import pandas as pd
                from pyarrow.parquet import read_table as load_pq


                def load_named(name):
                    return int(pd.read_parquet("data/" + name + ".parquet")["a"].sum())


                def load_aliased(name):
                    return sum(load_pq("data/" + name + ".parquet").column("a").to_pylist())
                """,
            "split.txt": "x",
        }
    )
    (project.root / "data" / "parts").mkdir(parents=True)
    table = project.root / "data" / "x.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(table)
    pd.DataFrame({"a": [3]}).to_parquet(project.root / "data" / "parts" / "0.parquet")
    project.repro()
    assert len(project.take_ran()) == 6
    assert project.lock()["seen.after_chdir"].reads["data/x.parquet"]
    assert project.dirty() == {}

    pd.DataFrame({"a": [10, 20]}).to_parquet(table)
    pd.DataFrame({"a": [4]}).to_parquet(project.root / "data" / "parts" / "1.parquet")
    assert sorted(project.dirty()) == [
        "a_folder",
        "a_glob",
        "after_chdir",
        "by_an_alias",
        "named_in_a_file",
        "through_a_helper",
    ]
    project.repro()
    assert_same_as_fresh(project, tmp_path / "fresh")
    assert project.dirty() == {}


QUERIED = """\
    import polars as pl

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def by_query() -> int:
        mark("by_query")
        return pl.sql("SELECT * FROM read_csv('data/x.csv')").collect().height


    @step
    def in_a_context() -> int:
        mark("in_a_context")
        query = "SELECT SUM(a) AS s FROM read_parquet(['data/p.parquet'])"
        return int(pl.SQLContext().execute(query, eager=True)["s"][0])


    @step
    def no_file() -> int:
        mark("no_file")
        frame = pl.DataFrame({"a": [1, 2]})
        return int(pl.SQLContext(frame=frame).execute("SELECT * FROM frame", eager=True).height)


    @pipeline
    def queried():
        by_query()
        in_a_context()
        no_file()
    """


def test_a_file_an_sql_query_reads_by_name_counts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """polars' SQL reads the file a table function names (``read_csv('data/x.csv')``) in
    Rust, where no ``open`` is seen: an edit of it left the step clean with the old count.
    The query is read when it is run."""
    import pandas as pd

    project = make_project({FLOW: QUERIED, "data/x.csv": "a,b\n1,2\n3,4\n"})
    pd.DataFrame({"a": [1, 2]}).to_parquet(project.root / "data" / "p.parquet")
    project.repro()
    assert sorted(project.take_ran()) == ["by_query", "in_a_context", "no_file"]
    assert "data/x.csv" in project.lock()["queried.by_query"].reads
    assert project.dirty() == {}

    (project.root / "data" / "x.csv").write_text("a,b\n1,2\n3,4\n5,6\n", encoding="utf-8")
    pd.DataFrame({"a": [5, 6]}).to_parquet(project.root / "data" / "p.parquet")
    assert sorted(project.dirty()) == ["by_query", "in_a_context"]
    project.repro()
    assert sorted(project.take_ran()) == ["by_query", "in_a_context"]
    assert_same_as_fresh(project, tmp_path / "fresh")


FILE_SYSTEM = """\
    import os

    from pyarrow import fs

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def opened() -> int:
        mark("opened")
        with fs.LocalFileSystem().open_input_stream("data/a.txt") as stream:
            return len(stream.read())


    @step
    def flagged() -> bool:
        mark("flagged")
        found = fs.LocalFileSystem().get_file_info(os.path.abspath("data/override.flag"))
        return found.type != fs.FileType.NotFound


    @step
    def listed() -> int:
        mark("listed")
        return len(fs.LocalFileSystem().get_file_info(fs.FileSelector(os.path.abspath("data"))))


    @pipeline
    def files():
        opened()
        flagged()
        listed()
    """


def test_a_pyarrow_file_systems_methods_are_readers(make_project: MakeProject) -> None:
    """pyarrow's file systems open and look up files in C: a method called with a path known
    before the step runs tracks it as a dep (an edit, a file that appears: the step runs
    again; it stayed clean); one whose path is not known gets a note."""
    project = make_project({FLOW: FILE_SYSTEM, "data/a.txt": "12345"})
    project.repro()
    assert sorted(project.take_ran()) == ["flagged", "listed", "opened"]
    assert project.dirty() == {}
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert notes["listed"] == [
        "fs.LocalFileSystem().get_file_info() in pipelines/flow.py:listed opens files incr "
        "cannot see; list them in deps=[...]"
    ]
    assert notes["opened"] == notes["flagged"] == []

    (project.root / "data" / "a.txt").write_text("123", encoding="utf-8")
    (project.root / "data" / "override.flag").write_text("", encoding="utf-8")
    assert project.dirty() == {
        "opened": [("dep changed", "data/a.txt")],
        "flagged": [("dep changed", "data/override.flag")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["flagged", "opened"]
    assert project.dirty() == {}


WRITTEN_IN_C = """\
    import os
    import time

    import polars as pl

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class C(StepConfig):
        k: int = 1


    @step
    def make_feat(config: C) -> None:
        mark("make_feat")
        time.sleep(0.5)
        os.makedirs("work", exist_ok=True)
        pl.DataFrame({"a": [1, 2, 3]}).with_columns(pl.col("a") * config.k).write_parquet(
            "work/feat.parquet"
        )


    @step
    def report() -> int:
        mark("report")
        return int(pl.read_parquet("work/feat.parquet")["a"].sum())


    @pipeline
    def flow():
        make_feat(config=C(k=1))
        report()
    """


def test_a_file_written_in_c_orders_the_steps_that_read_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """polars writes in Rust, where no ``open`` is seen: the writer is seen when called, so
    with ``--jobs`` an edit of the writer reruns the reader in the same repro."""
    project = make_project({FLOW: WRITTEN_IN_C})
    project.repro()
    assert project.take_ran() == ["make_feat", "report"]
    project.edit(FLOW, "C(k=1)", "C(k=5)")
    project.repro("--jobs", "2")
    assert project.take_ran() == ["make_feat", "report"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


WRITES_THEN_READS = """\
    import pyarrow as pa
    import pyarrow.parquet as pq

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def own() -> int:
        mark("own")
        with open("data/in.txt", encoding="utf-8") as fh:
            value = int(fh.read())
        pq.write_table(pa.table({"a": [value]}), "data/own.parquet")
        return pq.read_table("data/own.parquet")["a"].to_pylist()[0]


    @pipeline
    def flow():
        own()
    """


def test_a_file_the_step_writes_then_reads_in_c_is_its_own_product(
    make_project: MakeProject,
) -> None:
    """``data/own.parquet`` is a known path of a reader in C (tracked as a dep), which the step
    itself writes first: it is recorded as the step left it, so the step is clean after each
    run, not dirty once more."""
    project = make_project({FLOW: WRITES_THEN_READS, "data/in.txt": "1"})
    project.repro()
    assert project.take_ran() == ["own"]
    assert project.dirty() == {}
    (project.root / "data/in.txt").write_text("2", encoding="utf-8")
    project.repro()
    assert project.take_ran() == ["own"]
    assert project.dirty() == {}


IMPORTS_IN_ITS_BODY = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def load() -> int:
        import pyarrow.parquet as pq  # imported here only: after the step's reads began

        mark("load")
        with open("which.txt", encoding="utf-8") as fh:
            name = fh.read().strip()
        return sum(pq.read_table(f"data/{name}.parquet")["a"].to_pylist())


    @pipeline
    def flow():
        load()
    """


def test_a_reader_of_a_module_the_step_imports_itself_is_seen(
    make_project: MakeProject, tmp_path: Path
) -> None:
    import pandas as pd

    project = make_project({FLOW: IMPORTS_IN_ITS_BODY, "which.txt": "x"})
    (project.root / "data").mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(project.root / "data" / "x.parquet")
    project.repro()
    assert project.take_ran() == ["load"]
    assert "data/x.parquet" in project.lock()["flow.load"].reads
    pd.DataFrame({"a": [10, 20]}).to_parquet(project.root / "data" / "x.parquet")
    assert project.dirty() == {"load": [("read changed", "data/x.parquet")]}
    project.repro()
    assert_same_as_fresh(project, tmp_path / "fresh")


RUNTIME_DATABASE = """\
    import sqlite3

    from incr import pipeline, step
    from pipelines.mark import mark


    def database() -> str:
        return "data/" + "rows.db"  # known only when called


    @step
    def fill() -> None:
        mark("fill")
        con = sqlite3.connect(database())
        con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        con.execute("DELETE FROM t")
        con.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
        con.commit()
        con.close()


    @step
    def count() -> int:
        mark("count")
        con = sqlite3.connect(database())
        try:
            return con.execute("SELECT COUNT(*) FROM t").fetchone()[0]
        finally:
            con.close()


    @pipeline
    def flow():
        fill()
        count()
    """


def test_a_database_opened_by_a_path_known_when_called_is_read_or_written(
    make_project: MakeProject,
) -> None:
    """The step that changes the database writes it (its own write does not make it dirty);
    the step that only queries it reads it, and reruns when the database changes."""
    project = make_project({FLOW: RUNTIME_DATABASE})
    (project.root / "data").mkdir()
    project.repro()
    assert project.take_ran() == ["fill", "count"]
    lock = project.lock()
    assert "data/rows.db" in lock["flow.count"].reads
    assert "data/rows.db" not in lock["flow.fill"].reads
    said = notes(project)
    assert said["fill"] == [
        "sqlite3.connect() in pipelines/flow.py:fill opens a database the step may write: incr "
        "sees it written when the step runs, not what the step reads in it; list the file in "
        "deps=[...] if the step's result depends on that"
    ]
    assert [n.split(",")[0] for n in said["count"]] == ["reads data/rows.db"]  # after fill
    project.repro()
    assert project.take_ran() == []  # fill's own write changes nothing
    con = sqlite3.connect(project.root / "data/rows.db")
    con.execute("INSERT INTO t VALUES (3)")
    con.commit()
    con.close()
    # edited by hand: not what fill left, which count read; fill writes it anew, as a run
    # from scratch would, and count reads that
    assert project.dirty() == {
        "fill": [("written file changed", "data/rows.db")],
        "count": [("read changed", "data/rows.db"), ("after", "fill")],
    }
    project.repro()
    assert project.take_ran() == ["fill", "count"]
    output = project.lock()["flow.count"].outputs["output"]
    assert project.object_bytes(output.digest) == b"2"
    project.edit(FLOW, "[(1,), (2,)]", "[(1,), (2,), (4,), (5,)]")
    project.repro()
    assert project.take_ran() == ["fill", "count"]
    output = project.lock()["flow.count"].outputs["output"]
    assert project.object_bytes(output.digest) == b"4"


CHILD_DATABASE = """\
    import multiprocessing
    import sqlite3
    import subprocess
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark


    def _count(path: str) -> int:
        con = sqlite3.connect(path)
        try:
            return con.execute("SELECT COUNT(*) FROM t").fetchone()[0]
        finally:
            con.close()


    @step
    def build() -> None:
        mark("build")
        subprocess.run([sys.executable, "scripts/build_db.py"], check=True)


    @step
    def count() -> int:
        mark("count")
        with multiprocessing.get_context("fork").Pool(1) as pool:
            return pool.apply(_count, ("data/" + "rows.db",))


    @pipeline
    def flow():
        build()
        count()
    """

BUILD_DB = """\
import sqlite3

con = sqlite3.connect("data/rows.db")
con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
con.execute("DELETE FROM t")
con.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
con.commit()
con.close()
"""


def test_a_database_a_child_process_opens_counts_for_the_step(make_project: MakeProject) -> None:
    """Written by a Python process the step starts (not read: its own write does not make it
    dirty), read by a worker the step forks (a change makes the step dirty)."""
    project = make_project({FLOW: CHILD_DATABASE, "scripts/build_db.py": BUILD_DB})
    (project.root / "data").mkdir()
    project.repro()
    assert project.take_ran() == ["build", "count"]
    lock = project.lock()
    assert "data/rows.db" not in lock["flow.build"].reads
    assert "data/rows.db" in lock["flow.count"].reads
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    con = sqlite3.connect(project.root / "data/rows.db")
    con.execute("INSERT INTO t VALUES (3)")
    con.commit()
    con.close()
    assert project.dirty() == {  # not what build left: build writes it anew
        "build": [("written file changed", "data/rows.db")],
        "count": [("read changed", "data/rows.db"), ("after", "build")],
    }
    # The writer runs again with the database there: its child rewrites it, not reads it.
    project.edit(FLOW, "check=True)", "check=True, timeout=60)")
    project.repro()
    assert project.take_ran() == ["build", "count"]
    assert "data/rows.db" not in project.lock()["flow.build"].reads
    assert project.dirty() == {}


PANDAS_PARQUET = """\
    import pandas as pd

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Rows(StepConfig):
        n: int = 2


    @step
    def export(config: Rows) -> int:
        mark("export")
        pd.DataFrame({"a": list(range(config.n))}).to_parquet("out/feats.parquet")
        return config.n


    @step
    def summary(n: int) -> int:
        mark("summary")
        return int(pd.read_parquet("out/feats.parquet")["a"].sum())


    @pipeline
    def flow():
        summary(export(config=Rows(n=2)))
    """


def test_a_parquet_file_pandas_writes_is_the_steps_own(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """pandas' ``to_parquet`` tests the path, then opens it in C++ (``pa.OSFile``) and has
    pyarrow write it: the write is seen when it is called, so status is clean right after
    the first run, and an edit of the writer reruns the reader. Before, the write was not
    seen, and the test (``exists:out/feats.parquet`` missing) made ``export`` dirty after
    each first run (``file appeared``) until one more repro. The file removed by hand reruns
    its writer (``written file missing``) before ``summary``, which reads it in C (a dep):
    before, a reader's dep did not count as a read of the written file, and the writer was
    put back from the cache (writing no file) while ``summary`` failed on the missing file."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    project = make_project({FLOW: PANDAS_PARQUET, "out/.gitkeep": ""})
    project.repro()
    assert project.take_ran() == ["export", "summary"]
    assert project.dirty() == {}
    project.edit(FLOW, "Rows(n=2)", "Rows(n=4)")
    project.repro()
    assert project.take_ran() == ["export", "summary"]
    assert project.dirty() == {}
    (project.root / "out/feats.parquet").unlink()
    assert "export" in project.dirty()
    project.repro()
    assert project.take_ran() == ["export"]  # the same bytes: summary reused
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


READER_CLASSES = """\
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    from incr import pipeline, step
    from pipelines.mark import mark


    def _named(key):
        with open("sources.txt") as f:  # the path is known only when the step runs
            return dict(line.split("=") for line in f.read().split())[key]


    @step
    def by_file() -> int:
        mark("by_file")
        table = pq.ParquetFile(_named("table"))
        assert isinstance(table, pq.ParquetFile)  # the class is still itself
        return sum(table.read().column("a").to_pylist())


    @step
    def by_dataset() -> int:
        mark("by_dataset")
        return sum(pq.ParquetDataset(path_or_paths=_named("parts")).read().column("a").to_pylist())


    @step
    def by_ipc() -> int:
        mark("by_ipc")
        return sum(ipc.RecordBatchFileReader(_named("ipc")).read_all().column("a").to_pylist())


    @pipeline
    def classes():
        by_file()
        by_dataset()
        by_ipc()
    """


def test_a_reader_class_given_a_path_when_called_is_seen(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """pyarrow's reader classes written in Python (``pq.ParquetFile``, ``pq.ParquetDataset``,
    ``ipc.RecordBatchFileReader``) open the file in C from their ``__init__``: given a path
    known only when the step runs, the file is seen then. Before, ``ParquetFile`` was left
    unwrapped (a class) and its file was no read: a new table left ``by_file`` clean, with
    its old sum."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    def write(a: list[int]) -> None:
        pq.write_table(pa.table({"a": a}), project.root / "data/t.parquet")
        pq.write_table(pa.table({"a": a}), project.root / "data/parts/0.parquet")
        with ipc.new_file(project.root / "data/t.arrow", pa.schema([("a", pa.int64())])) as f:
            f.write_table(pa.table({"a": a}))

    project = make_project(
        {
            FLOW: READER_CLASSES,
            "sources.txt": "table=data/t.parquet parts=data/parts ipc=data/t.arrow",
            "data/parts/.keep": "",
        }
    )
    (project.root / "data/parts/.keep").unlink()
    write([1, 2])
    project.repro()
    assert sorted(project.take_ran()) == ["by_dataset", "by_file", "by_ipc"]
    assert project.lock()["classes.by_file"].reads["data/t.parquet"]
    assert project.dirty() == {}

    write([5, 7])
    assert sorted(project.dirty()) == ["by_dataset", "by_file", "by_ipc"]
    project.repro()
    assert sorted(project.take_ran()) == ["by_dataset", "by_file", "by_ipc"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


CHUNKED = """\
    import pandas as pd
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    from incr import pipeline, step
    from pipelines.mark import mark

    N = 3
    SCHEMA = pa.schema([("v", pa.int64())])


    @step
    def summary() -> int:
        mark("summary")
        return int(pd.read_parquet("out/big.parquet")["v"].sum())


    @step
    def write_chunks() -> None:
        mark("write_chunks")
        with pq.ParquetWriter("out/big.parquet", SCHEMA) as writer:
            for i in range(N):
                writer.write_table(pa.table({"v": [i] * 10}))


    @step
    def stream() -> None:
        mark("stream")
        with ipc.new_file("out/big.arrow", SCHEMA) as writer:
            writer.write_table(pa.table({"v": list(range(N))}))


    @pipeline
    def chunked():
        summary()
        write_chunks()
        stream()
    """


def test_a_file_a_writer_class_opens_in_c_is_written_by_its_step(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``pq.ParquetWriter(path, schema)`` (and ``ipc.new_file``) opens its file in C and writes
    it chunk by chunk: the step is seen writing it. ``summary`` reads it before any step is
    known to write it, fails on the missing file (pandas' ``FileNotFoundError(path)`` names
    no file) and runs again once the other steps have run. Before, it failed the first run,
    and the writer of the file, once run, was not made dirty by its removal."""
    pytest.importorskip("pyarrow")
    project = make_project({FLOW: CHUNKED, "out/.keep": ""})
    project.repro()
    assert project.take_ran() == ["summary", "write_chunks", "stream", "summary"]
    assert project.dirty() == {}
    assert project.lock()["chunked.summary"].outputs  # the sum of the chunks written

    project.edit(FLOW, "N = 3", "N = 5")
    project.repro()
    assert project.take_ran() == ["write_chunks", "summary", "stream"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")

    (project.root / "out/big.parquet").unlink()
    (project.root / "out/big.arrow").unlink()
    assert project.dirty() == {
        "write_chunks": [("written file missing", "out/big.parquet")],
        "summary": [("dep changed", "out/big.parquet"), ("after", "write_chunks")],
        "stream": [("written file missing", "out/big.arrow")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["stream", "write_chunks"]  # the same bytes
    assert project.dirty() == {}


BOOSTED = """\
    import lightgbm as lgb
    import numpy as np
    import xgboost as xgb

    from incr import pipeline, step
    from pipelines.mark import mark

    ROUNDS = 3


    def _data():
        x = np.random.default_rng(0).normal(size=(200, 3))
        return x, (x[:, 0] > 0).astype(int)


    @step
    def score_xgb() -> float:
        mark("score_xgb")
        model = xgb.XGBClassifier()
        model.load_model("models/xgb.json")
        return float(model.predict_proba(_data()[0])[:, 1].sum())


    @step
    def score_lgb() -> float:
        mark("score_lgb")
        return float(lgb.Booster(model_file="models/lgb.txt").predict(_data()[0]).sum())


    @step
    def train_xgb() -> None:
        mark("train_xgb")
        model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=2, n_jobs=1)
        model.fit(*_data()).save_model("models/xgb.json")


    @step
    def train_lgb() -> None:
        mark("train_lgb")
        model = lgb.LGBMClassifier(n_estimators=ROUNDS, verbose=-1, n_jobs=1).fit(*_data())
        model.booster_.save_model("models/lgb.txt")


    @pipeline
    def boosted():
        score_xgb()
        score_lgb()
        train_xgb()
        train_lgb()
    """


def test_a_model_saved_and_loaded_in_its_own_format_by_path_counts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """XGBoost and LightGBM save and load a model file in C++ (``save_model``,
    ``load_model``, ``lgb.Booster(model_file=...)``): the file counts as written by the
    training step and read by the scoring step, whose own error on the missing file (not a
    FileNotFoundError) names it, so it runs again after the others on the first run. Before,
    the first run failed, and a retrained model left the scores as they were, status clean."""
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    project = make_project({FLOW: BOOSTED, "models/.keep": ""})
    project.repro()
    first = ["score_xgb", "score_lgb", "train_xgb", "train_lgb", "score_xgb", "score_lgb"]
    assert project.take_ran() == first
    assert project.lock()["boosted.score_xgb"].reads["models/xgb.json"]
    assert project.lock()["boosted.score_lgb"].reads["models/lgb.txt"]
    assert project.dirty() == {}

    project.edit(FLOW, "ROUNDS = 3", "ROUNDS = 6")
    project.repro()
    assert sorted(project.take_ran()) == ["score_lgb", "score_xgb", "train_lgb", "train_xgb"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


HDF5 = """\
    import h5py
    import numpy as np
    import pandas as pd

    from incr import pipeline, step
    from pipelines.mark import mark

    N = 3


    def _where():
        with open("where.txt") as f:  # a path known only when the step runs
            return f.read().strip()


    @step
    def total() -> float:
        mark("total")
        with h5py.File(_where(), "r") as f:
            return float(f["x"][:].sum())


    @step
    def frame_total() -> float:
        mark("frame_total")
        return float(pd.read_hdf("out/frame.h5", "df")["v"].sum())


    @step
    def write_h5() -> None:
        mark("write_h5")
        with h5py.File(_where(), "w") as f:
            f["x"] = np.arange(N, dtype=float)


    @step
    def write_frame() -> None:
        mark("write_frame")
        pd.DataFrame({"v": range(N)}).to_hdf("out/frame.h5", key="df")  # mode "a"


    @pipeline
    def hdf():
        total()
        frame_total()
        write_h5()
        write_frame()
    """


def test_an_hdf5_file_is_read_or_written_by_the_mode_it_is_opened_in(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``h5py.File`` and pandas' ``HDFStore`` (``to_hdf``, ``read_hdf``) open the file in C, in
    a mode: read (``r``), written (``w``), or read unless the step changes it (``a``, as a
    database). Before, a write was not seen and a path known only at run time not read: the
    readers failed the first run, and after the writers' edit ``total`` kept its old sum,
    status clean."""
    pytest.importorskip("h5py")
    pytest.importorskip("tables")
    project = make_project({FLOW: HDF5, "out/.keep": "", "where.txt": "out/big.h5\n"})
    project.repro()
    first = ["total", "frame_total", "write_h5", "write_frame", "total", "frame_total"]
    assert project.take_ran() == first
    assert project.lock()["hdf.total"].reads["out/big.h5"]
    assert project.dirty() == {}

    project.edit(FLOW, "N = 3", "N = 5")
    project.repro()
    assert sorted(project.take_ran()) == ["frame_total", "total", "write_frame", "write_h5"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")

    (project.root / "out/big.h5").unlink()
    assert project.dirty() == {
        "write_h5": [("written file missing", "out/big.h5")],
        "total": [("read changed", "out/big.h5"), ("after", "write_h5")],
    }


SERVED = """\
    import faiss
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from incr import pipeline, step
    from pipelines.mark import mark

    SHIFT = 1.0


    def _where(name):
        return "models/" + name  # a path built when the step runs


    @step
    def search() -> list:
        mark("search")
        index = faiss.read_index(_where("vectors.faiss"))
        _, ids = index.search(np.ones((1, 4), dtype="float32") * 2, 2)
        return ids[0].tolist()


    @step
    def score() -> float:
        mark("score")
        session = ort.InferenceSession(_where("shift.onnx"), providers=["CPUExecutionProvider"])
        out = session.run(None, {"x": np.ones((1, 2), dtype="float32")})
        return float(out[0].sum())


    @step
    def build_index() -> None:
        mark("build_index")
        vectors = np.arange(40, dtype="float32").reshape(10, 4) * SHIFT
        index = faiss.IndexFlatL2(4)
        index.add(vectors)
        faiss.write_index(index, "models/vectors.faiss")


    @step
    def export() -> None:
        mark("export")
        shift = helper.make_tensor("s", TensorProto.FLOAT, [1, 2], [SHIFT, SHIFT])
        node = helper.make_node("Add", ["x", "s"], ["y"])
        graph = helper.make_graph(
            [node], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
            initializer=[shift],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.save(model, "models/shift.onnx")


    @pipeline
    def serve():
        search()
        score()
        build_index()
        export()
    """


def test_an_index_and_a_model_a_library_opens_in_c_count_when_given_a_path_at_run_time(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``faiss.read_index``/``write_index`` and ``onnxruntime.InferenceSession`` open their
    file in C++: given a path built when the step runs, the file counts as read or written.
    Before, both readers failed the first run, and after the writers' edit their results
    stayed as they were, status clean."""
    pytest.importorskip("faiss")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    project = make_project({FLOW: SERVED, "models/.keep": ""})
    project.repro()
    first = ["search", "score", "build_index", "export", "search", "score"]
    assert project.take_ran() == first
    assert project.lock()["serve.score"].reads["models/shift.onnx"]
    assert project.dirty() == {}

    project.edit(FLOW, "SHIFT = 1.0", "SHIFT = 3.0")
    project.repro()
    assert sorted(project.take_ran()) == ["build_index", "export", "score", "search"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


DATA_IN_C = """\
    import lightgbm as lgb
    import numpy as np
    import xgboost as xgb

    from incr import pipeline, step
    from pipelines.mark import mark

    FLIP = False


    @step
    def xgb_rows() -> int:
        mark("xgb_rows")
        return xgb.DMatrix("data/train.svm?format=libsvm").num_row()


    @step
    def lgb_rows() -> int:
        mark("lgb_rows")
        params = {"header": True, "label_column": "name:y", "verbose": -1}
        return lgb.Dataset("data/train.csv", params=params).construct().num_data()


    @step
    def cache_matrix() -> None:
        mark("cache_matrix")
        x = np.arange(20, dtype=float).reshape(10, 2)
        y = (x[:, 0] > 8).astype(int)
        xgb.DMatrix(x, label=1 - y if FLIP else y).save_binary("work/train.buffer")


    @step
    def label_sum() -> float:
        mark("label_sum")
        return float(xgb.DMatrix("work/train.buffer").get_label().sum())


    @pipeline
    def in_c():
        xgb_rows()
        lgb_rows()
        cache_matrix()
        label_sum()
    """


def test_training_data_a_library_reads_in_c_from_a_path_counts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``xgb.DMatrix(path)`` (a URI: ``?format=libsvm``) and ``lgb.Dataset(path)`` read their
    file in C++: it counts as read, and so does a DMatrix saved by an earlier step
    (``save_binary``) and loaded by path. Before, none was tracked: fewer rows, or other
    labels, left the results as they were, status clean."""
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    svm = "".join(f"{i % 2} 1:{i} 2:{i * 2}\n" for i in range(30))
    csv = "y,a,b\n" + "".join(f"{i % 2},{i},{i * 2}\n" for i in range(30))
    files = {FLOW: DATA_IN_C, "data/train.svm": svm, "data/train.csv": csv, "work/.keep": ""}
    project = make_project(files)
    project.repro()
    assert sorted(project.take_ran()) == ["cache_matrix", "label_sum", "lgb_rows", "xgb_rows"]
    lock = project.lock()
    assert lock["in_c.xgb_rows"].reads["data/train.svm"]  # seen when called: a URI
    assert lock["in_c.lgb_rows"].facts.deps["data/train.csv"]  # a literal path: a dep
    assert lock["in_c.label_sum"].facts.deps["work/train.buffer"]
    assert project.dirty() == {}

    fewer = {"data/train.svm": "".join(svm.splitlines(True)[:20])}
    project.write({**fewer, "data/train.csv": "".join(csv.splitlines(True)[:21])})
    project.edit(FLOW, "FLIP = False", "FLIP = True")
    project.repro()
    assert sorted(project.take_ran()) == ["cache_matrix", "label_sum", "lgb_rows", "xgb_rows"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


REGIONS = """\
    import glob
    import json

    import polars as pl

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def split() -> None:
        mark("split")
        orders = pl.read_csv("data/orders.csv")
        for (region,), part in orders.group_by("region"):
            part.select(pl.col("amount").sum()).write_json(f"work/{region}.json")


    @step
    def combine() -> float:
        mark("combine")
        total = 0.0
        for path in sorted(glob.glob("work/*.json")):
            with open(path) as f:
                total += json.load(f)[0]["amount"]
        return total


    @pipeline
    def regions():
        split()
        combine()
    """


def test_a_file_polars_writes_as_json_is_the_steps_and_goes_when_no_longer_written(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``DataFrame.write_json(path)`` writes in Rust: the file is seen written, so one the
    step no longer writes (a region gone from the data) is removed before it runs again.
    Before, ``work/west.json`` stayed and ``combine`` kept counting it, status clean."""
    pytest.importorskip("polars")
    orders = "region,amount\neast,1\nwest,10\neast,2\n"
    project = make_project({FLOW: REGIONS, "data/orders.csv": orders, "work/.keep": ""})
    project.repro()
    assert project.take_ran() == ["split", "combine"]
    assert project.dirty() == {}
    project.write({"data/orders.csv": orders.replace("west", "east")})
    project.repro()
    assert project.take_ran() == ["split", "combine"]
    assert not (project.root / "work/west.json").exists()
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


ARRAYS = """\
    import blosc2
    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark

    SCALE = 1.0


    @step
    def total() -> float:
        mark("total")
        return float(blosc2.load_array("work/emb.b2nd").sum())


    @step
    def first() -> float:
        mark("first")
        return float(np.frombuffer(blosc2.open("work/emb.b2nd")[:], dtype=float)[1])


    @step
    def embed() -> None:
        mark("embed")
        blosc2.save_array(np.arange(5, dtype=float) * SCALE, "work/emb.b2nd", mode="w")


    @pipeline
    def arrays():
        total()
        first()
        embed()
    """


def test_an_array_blosc2_saves_and_loads_in_c_counts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """blosc2 saves and loads arrays in C (``save_array``, ``load_array``, ``open``): the file
    counts as written and read. Before, neither was seen: the readers failed the first run
    and kept their sums after the writer's edit, status clean."""
    pytest.importorskip("blosc2")
    project = make_project({FLOW: ARRAYS, "work/.keep": ""})
    project.repro()
    assert project.take_ran() == ["total", "first", "embed", "total", "first"]
    assert project.dirty() == {}
    project.edit(FLOW, "SCALE = 1.0", "SCALE = 3.0")
    project.repro()
    assert project.take_ran() == ["embed", "total", "first"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")


TOKENIZER = """\
    import sentencepiece as spm

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def encode() -> list:
        mark("encode")
        return spm.SentencePieceProcessor(model_file="models/sp.model").encode("alpha beta")


    @step
    def train_tokenizer() -> None:
        mark("train_tokenizer")
        spm.SentencePieceTrainer.train(
            input="data/corpus.txt", model_prefix="models/sp", vocab_size=20, minloglevel=2
        )


    @pipeline
    def tok():
        encode()
        train_tokenizer()
    """


def _corpus(words: list[str]) -> str:
    return "".join(
        " ".join(words[(i * 7 + j) % len(words)] for j in range(8)) + "\n" for i in range(300)
    )


def test_a_tokenizer_trained_and_loaded_in_c_counts_its_corpus_and_model(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """SentencePiece reads its corpus and writes its model in C++ (``SentencePieceTrainer.train
    (input=..., model_prefix=...)``), and loads the model in C++: the corpus counts as read,
    the ``.model`` and ``.vocab`` as written, the model as read by the step loading it.
    Before, none was seen: another corpus left the tokenizer and its users clean."""
    pytest.importorskip("sentencepiece")
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    files = {FLOW: TOKENIZER, "data/corpus.txt": _corpus(words), "models/.keep": ""}
    project = make_project(files)
    project.repro()
    assert project.take_ran() == ["encode", "train_tokenizer", "encode"]
    assert project.lock()["tok.train_tokenizer"].reads["data/corpus.txt"]
    assert project.dirty() == {}

    project.write({"data/corpus.txt": _corpus([*words[:4], "omega", "psi", "chi", "phi"])})
    assert project.dirty() == {
        "train_tokenizer": [("read changed", "data/corpus.txt")],
        "encode": [("after", "train_tokenizer")],
    }
    project.repro()
    assert project.take_ran() == ["train_tokenizer", "encode"]
    assert project.dirty() == {}
    assert_same_as_fresh(project, tmp_path / "fresh")
