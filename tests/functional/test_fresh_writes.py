"""Before a step executes again, the files its last run wrote outside its ``outs`` (seen
written, written anew, by it alone, holding what that run left) are removed, as a run from
scratch does not find them: one it does not write again (a dataset part named by a fresh
id, a report named by a tag) would otherwise stay beside what it writes now, and a step
reading the folder would read both (``freshouts.clear_written``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = "pipelines/flow.py"

PARTITIONED = """\
    import pandas as pd

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Rows(StepConfig):
        scale: int = 1


    @step
    def write(config: Rows) -> int:
        mark("write")
        frame = pd.DataFrame({"a": [1, 2, 3], "k": ["x", "y", "x"]})
        frame["a"] *= config.scale
        frame.to_parquet("out/parts", partition_cols=["k"])  # parts named by a fresh id
        return config.scale


    @step
    def total(scale: int) -> int:
        mark("total")
        return int(pd.read_parquet("out/parts")["a"].sum())


    @pipeline
    def flow():
        total(write(config=Rows(scale=1)))
    """


def test_a_partitioned_dataset_written_again_holds_only_the_new_parts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """pandas' ``to_parquet`` with ``partition_cols`` writes each part under a fresh id. An
    edit runs ``write`` again: the parts of its last run are removed first, so ``total``
    reads 12, as a run from scratch does. Before, the old parts stayed (and the write was
    not seen at all): ``total`` read both runs' rows, 18, with status clean."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    project = make_project({FLOW: PARTITIONED, "out/.gitkeep": ""})
    project.repro()
    assert project.take_ran() == ["write", "total"]
    assert project.dirty() == {}
    project.edit(FLOW, "Rows(scale=1)", "Rows(scale=2)")
    project.repro()
    assert project.take_ran() == ["write", "total"]
    assert len(list((project.root / "out/parts").rglob("*.parquet"))) == 2
    assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "out/parts")  # a clone: the pipeline makes it
    assert_same_as_scratch(project, fresh)


TAGGED = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Tag(StepConfig):
        tag: str = "a"


    @step
    def report(config: Tag) -> str:
        mark("report")
        with open(f"reports/score_{config.tag}.txt", "w", encoding="utf-8") as fh:
            fh.write(config.tag)
        return config.tag


    @step
    def collect(tag: str) -> list:
        mark("collect")
        return sorted(os.listdir("reports"))


    @pipeline
    def flow():
        collect(report(config=Tag(tag="a")))
    """


def test_a_file_named_by_a_config_value_is_not_left_beside_the_next_one(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``report`` writes ``reports/score_<tag>.txt``; ``collect`` lists the folder. With the
    tag changed, ``score_a.txt`` (its last run's) is removed before it runs again; a file
    the user put there stays. Before, ``collect`` listed both scores."""
    project = make_project({FLOW: TAGGED, "reports/README.md": "scores"})
    project.repro()
    assert project.take_ran() == ["report", "collect"]
    project.edit(FLOW, 'Tag(tag="a")', 'Tag(tag="b")')
    project.repro()
    assert project.take_ran() == ["report", "collect"]
    assert sorted(p.name for p in (project.root / "reports").iterdir()) == [
        "README.md",
        "score_b.txt",
    ]
    assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    (fresh.root / "reports/score_b.txt").unlink()
    assert_same_as_scratch(project, fresh)


def test_a_written_file_edited_since_its_run_is_left_alone(
    make_project: MakeProject,
) -> None:
    """A file of the step's last run that was edited since is not removed: it is not what
    that run left."""
    project = make_project({FLOW: TAGGED, "reports/README.md": "scores"})
    project.repro()
    assert project.take_ran() == ["report", "collect"]
    (project.root / "reports/score_a.txt").write_text("by hand", encoding="utf-8")
    project.edit(FLOW, 'Tag(tag="a")', 'Tag(tag="b")')
    project.repro()
    assert project.take_ran() == ["report", "collect"]
    assert project.read("reports/score_a.txt") == "by hand"


FAN = """\
    import glob
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Src(StepConfig):
        path: str


    @step
    def clean(config: Src) -> str:
        name = os.path.basename(config.path).removesuffix(".csv")
        mark(f"clean_{name}")
        rows = [int(x) * 10 for x in open(config.path).read().split()]
        with open(f"out/{name}.clean.txt", "w") as fh:
            fh.write(" ".join(map(str, rows)))
        return name


    @step(outs=["out/summary.txt"])
    def summary(names: list) -> None:
        mark("summary")
        with open("out/summary.txt", "w") as fh:
            fh.write(",".join(names))


    @step
    def total() -> int:
        mark("total")
        files = sorted(glob.glob("out/*.clean.txt"))
        return sum(sum(map(int, open(p).read().split())) for p in files)


    @pipeline
    def fan():
        summary([clean(config=Src(path=p)) for p in sorted(glob.glob("data/*.csv"))])
        total()
    """


def test_the_files_of_a_step_gone_from_its_pipeline_are_removed(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A step per data file; ``data/b.csv`` removed, its step goes, and so does the file it
    wrote: ``total``, which globs the folder (no input from it), runs again
    (``removed step's file``) and sums ``a`` alone, as a run from scratch does. Before, it
    kept 100 where a run from scratch gives 30, with status clean."""
    project = make_project(
        {FLOW: FAN, "data/a.csv": "1\n2\n", "data/b.csv": "3\n4\n", "out/.gitkeep": ""}
    )
    project.repro()
    assert sorted(project.take_ran()) == ["clean_a", "clean_b", "summary", "total"]
    (project.root / "data/b.csv").unlink()
    dirty = project.dirty()
    assert dirty["total"] == [("removed step's file", "out/b.clean.txt, of fan.clean_2")]
    assert project.incr("status", "total").returncode == 0  # a status removes nothing
    assert (project.root / "out/b.clean.txt").exists()
    result = project.repro()
    assert "removed out/b.clean.txt, written by step fan.clean_2" in result.output
    assert sorted(project.take_ran()) == ["summary", "total"]
    assert not (project.root / "out/b.clean.txt").exists()
    assert project.dirty() == {}
    fresh = fresh_copy(project, tmp_path / "fresh")
    for made in ("out/a.clean.txt", "out/summary.txt"):
        (fresh.root / made).unlink()
    assert_same_as_scratch(project, fresh)


def test_the_files_of_a_gone_step_go_with_a_target_too_but_not_when_edited(
    make_project: MakeProject,
) -> None:
    """A targeted run removes them too (its status said its readers dirty for them; left
    there, they would be read again), and a file edited by hand since the gone step's run
    is left alone."""
    project = make_project(
        {FLOW: FAN, "data/a.csv": "1\n", "data/b.csv": "3\n", "data/c.csv": "5\n"}
    )
    (project.root / "out").mkdir()
    project.repro()
    project.take_ran()
    (project.root / "data/b.csv").unlink()
    (project.root / "data/c.csv").unlink()
    (project.root / "out/c.clean.txt").write_text("7", encoding="utf-8")  # by hand
    project.repro("fan.total")
    assert not (project.root / "out/b.clean.txt").exists()
    assert project.read("out/c.clean.txt") == "7"
    assert project.repro("--dry-run").returncode == 0


def test_the_files_of_a_deleted_pipeline_module_are_removed(make_project: MakeProject) -> None:
    """``pipelines/b_feat.py`` deleted: the file its step wrote goes before the pipelines
    run, and ``total``, of another pipeline, globbing ``data/feat_*.txt``, sums ``a`` alone.
    Before, it kept reading ``feat_b.txt``."""
    maker = """\
        from incr import pipeline, step


        @step
        def make_NAME() -> int:
            with open("data/feat_NAME.txt", "w") as fh:
                fh.write("VALUE")
            return VALUE


        @pipeline
        def NAME_feat():
            make_NAME()
        """
    total = """\
        import glob

        from incr import pipeline, step


        @step
        def total() -> int:
            return sum(int(open(p).read()) for p in sorted(glob.glob("data/feat_*.txt")))


        @pipeline
        def c_total():
            total()
        """
    project = make_project(
        {
            "pipelines/a_feat.py": maker.replace("NAME", "a").replace("VALUE", "5"),
            "pipelines/b_feat.py": maker.replace("NAME", "b").replace("VALUE", "7"),
            "pipelines/c_total.py": total,
            "data/.gitkeep": "",
        }
    )
    project.repro()
    assert project.lock()["c_total.total"].outputs["output"].digest
    (project.root / "pipelines/b_feat.py").unlink()
    assert project.dirty() == {
        "total": [("removed step's file", "data/feat_b.txt, of b_feat.make_b")]
    }
    result = project.repro()
    assert "removed data/feat_b.txt, written by step b_feat.make_b" in result.output
    assert not (project.root / "data/feat_b.txt").exists()
    assert project.dirty() == {}
    fresh = project.root.parent / "fresh"
    shutil.copytree(project.root / "pipelines", fresh / "pipelines")
    (fresh / "data").mkdir()
    for name in ("pyproject.toml",):
        shutil.copy(project.root / name, fresh / name)
    scratch = type(project)(fresh)
    scratch.repro()
    assert scratch.lock()["c_total.total"].outputs == project.lock()["c_total.total"].outputs


TWO_WRITERS = """\
    import pyarrow as pa
    import pyarrow.parquet as pq

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Scale(StepConfig):
        by: int = 1


    @step
    def write_x(config: Scale) -> int:
        mark("write_x")
        table = pa.table({"a": [1 * config.by, 2 * config.by], "k": ["x", "x"]})
        pq.write_to_dataset(table, "out/parts", partition_cols=["k"])
        return config.by


    @step
    def write_y(x: int) -> int:
        mark("write_y")
        table = pa.table({"a": [10, 20], "k": ["y", "y"]})
        pq.write_to_dataset(table, "out/parts", partition_cols=["k"])
        return 1


    @step
    def total(y: int) -> int:
        mark("total")
        return sum(pq.read_table("out/parts")["a"].to_pylist())


    @pipeline
    def flow():
        total(write_y(write_x(config=Scale(by=1))))
    """


def test_two_steps_writing_parts_of_one_dataset_each_own_their_parts(
    make_project: MakeProject,
) -> None:
    """Each step writes its partition of one dataset (``write_to_dataset``): each is seen
    writing the files it added, not the other's, so an edit of ``write_x`` replaces its part
    alone, and ``total`` reads 36 (6 + 30), as a run from scratch does."""
    pytest.importorskip("pyarrow")
    project = make_project({FLOW: TWO_WRITERS, "out/.gitkeep": ""})
    project.repro()
    assert project.take_ran() == ["write_x", "write_y", "total"]
    project.edit(FLOW, "Scale(by=1)", "Scale(by=2)")
    project.repro()
    assert project.take_ran()[:1] == ["write_x"]
    parts = sorted(p.parent.name for p in (project.root / "out/parts").rglob("*.parquet"))
    assert parts == ["k=x", "k=y"]
    assert project.dirty() == {}
    total = project.lock()["flow.total"].outputs["output"]
    fresh = fresh_copy(project, Path(str(project.root) + "-fresh"))
    shutil.rmtree(fresh.root / "out/parts")
    fresh.repro()
    assert fresh.lock()["flow.total"].outputs["output"] == total


def test_what_a_script_outside_the_pipelines_folder_wrote_stays(make_project: MakeProject) -> None:
    """``fetch.py``, a script at the project's root, runs a pipeline writing
    ``data/raw.txt``, which a step under ``pipelines/`` reads. A full ``incr repro`` drops
    the script's lock entries (no module under ``pipelines/`` defines its pipeline), but
    its file is not a deleted module's: it stays, and the reader runs on it."""
    fetch = """\
        from incr import pipeline, step


        @step
        def fetch() -> int:
            with open("data/raw.txt", "w") as fh:
                fh.write("41")
            return 41


        @pipeline
        def fetching():
            fetch()


        if __name__ == "__main__":
            fetching().run()
        """
    use = """\
        from incr import pipeline, step


        @step
        def use() -> int:
            return int(open("data/raw.txt").read()) + 1


        @pipeline
        def using():
            use()
        """
    project = make_project({"fetch.py": fetch, "pipelines/using.py": use, "data/.keep": ""})
    assert project.python("fetch.py").returncode == 0
    assert "fetching.fetch" in project.lock()
    project.repro()
    assert project.read("data/raw.txt") == "41"
    assert "fetching.fetch" not in project.lock()
    assert project.dirty() == {}


def test_a_scripts_run_removes_the_files_of_its_steps_gone_too(
    make_project: MakeProject,
) -> None:
    """The same pipeline run from its module's main block (``fan().run()``): the file of the
    step gone goes before the run, and ``total`` sums ``a`` alone. Before, the script's run
    kept it and put ``total``'s old sum back from the cache."""
    script = FAN + '\n\n    if __name__ == "__main__":\n        fan().run()\n'
    project = make_project(
        {FLOW: script, "data/a.csv": "1\n2\n", "data/b.csv": "3\n4\n", "out/.gitkeep": ""}
    )
    assert project.python(FLOW).returncode == 0
    (project.root / "data/b.csv").unlink()
    result = project.python(FLOW)
    assert result.returncode == 0, result.output
    assert "removed out/b.clean.txt" in result.output
    assert not (project.root / "out/b.clean.txt").exists()
    assert project.dirty() == {}
