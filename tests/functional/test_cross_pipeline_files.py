"""A file one pipeline's step writes and another pipeline's step reads: ``incr repro TARGET``
brings along the writer, a reader that ran first on the old bytes runs again once the writer
has run, and ``deps`` on another pipeline's ``outs`` orders the pipelines and is no error
while the file is still to be made. Each result equals a run from scratch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

#: ``report`` sorts before ``prepare``: only what incr learns orders them.
REPORT = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def total() -> int:
        mark("total")
        with open("data/clean.txt") as fh:
            return sum(int(line) for line in fh)


    @step(outs=["reports/total.json"])
    def write(value: int) -> None:
        mark("write")
        os.makedirs("reports", exist_ok=True)
        with open("reports/total.json", "w") as fh:
            json.dump(value, fh)


    @pipeline
    def report():
        write(total())
    """

PREPARE = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Keep(StepConfig):
        least: int = 0


    @step
    def clean(config: Keep) -> int:
        mark("clean")
        with open("data/raw.txt") as fh:
            kept = [line for line in fh if int(line) >= config.least]
        with open("data/clean.txt", "w") as fh:
            fh.writelines(kept)
        return len(kept)


    @pipeline
    def prepare():
        clean(config=Keep())
    """

RAW = {"data/raw.txt": "".join(f"{n}\n" for n in range(10))}


def _project(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/a_report.py": REPORT, "pipelines/b_prepare.py": PREPARE, **RAW}
    )
    project.repro()
    project.take_ran()
    assert project.read("reports/total.json") == "45"
    return project


def test_a_target_brings_along_the_writer_of_a_file_it_reads(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    project.edit("pipelines/b_prepare.py", "least: int = 0", "least: int = 5")
    assert project.dirty()["total"] == [("after", "prepare.clean")]
    # the target's status, its check and a dry run say so too (they said total was clean)
    assert project.dirty("report")["total"] == [("after", "prepare.clean")]
    assert project.incr("status", "--check", "report").returncode == 1
    dry = project.incr("repro", "--dry-run", "report")
    assert "total  waiting: after prepare.clean" in dry.stdout, dry.output
    assert project.take_ran() == []
    result = project.repro("report")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["clean", "total", "write"]
    assert project.read("reports/total.json") == "35"
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_reader_run_before_the_writer_runs_again_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """With the cache folder gone, incr no longer knows that ``prepare`` writes what
    ``report`` reads: ``report`` runs first, on the old file, and again once ``prepare``
    has written the new one, in the same ``incr repro``."""
    project = _project(make_project)
    shutil.rmtree(project.root / ".pipecache")
    project.edit("pipelines/b_prepare.py", "least: int = 0", "least: int = 7")
    result = project.repro()
    assert result.returncode == 0, result.output
    assert "pipeline report runs again: prepare wrote what it read" in result.output
    assert project.read("reports/total.json") == "24"
    assert project.take_ran() == ["total", "clean", "total", "write"]  # write: 45 as recorded
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


DECLARED_MODEL = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/features.txt"])
    def fit() -> int:
        mark("fit")
        with open("data/features.txt") as fh:
            return max(int(line) for line in fh)


    @step(outs=["reports/model.json"])
    def save(best: int) -> None:
        mark("save")
        import os

        os.makedirs("reports", exist_ok=True)
        with open("reports/model.json", "w") as fh:
            json.dump(best, fh)


    @pipeline
    def model():
        save(fit())
    """

DECLARED_FEATURES = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.txt"], outs=["data/features.txt"])
    def features() -> None:
        mark("features")
        with open("data/raw.txt") as fh:
            values = [2 * int(line) for line in fh]
        with open("data/features.txt", "w") as fh:
            fh.writelines(f"{v}\\n" for v in values)


    @pipeline
    def featurize():
        features()
    """


def test_deps_on_another_pipelines_outs_order_the_pipelines(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``deps`` naming a file another pipeline's step lists in ``outs``: a first run makes it
    before the reader (no `deps path does not exist`), a status shows the reader waiting once
    the writer is dirty, and a target brings the writer along."""
    project = make_project(
        {"pipelines/a_model.py": DECLARED_MODEL, "pipelines/b_feat.py": DECLARED_FEATURES, **RAW}
    )
    result = project.repro()
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["features", "fit", "save"]
    assert project.read("reports/model.json") == "18"
    (project.root / "data/raw.txt").write_text("1\n30\n")
    assert project.dirty()["fit"] == [("after", "featurize.features")]
    result = project.repro("model")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["features", "fit", "save"]
    assert project.read("reports/model.json") == "60"
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    (project.root / "data/features.txt").unlink()
    assert project.incr("status").returncode == 0
    project.repro()
    assert project.take_ran() == []  # put back from the cache: the same bytes


TWO_INSTANCES = """\
from pathlib import Path

from incr import StepConfig, pipeline, step

from pipelines.mark import mark


class C(StepConfig):
    name: str = "a"


@step
def work(config: C) -> int:
    mark("work")
    Path("out").mkdir(exist_ok=True)
    Path(f"out/{config.name}.txt").write_text(config.name)
    return 1


@step
def index(config: C, n: int) -> list:
    mark("index")
    return sorted(p.name for p in Path("out").glob("*.txt"))


@pipeline
def two(name: str = "a"):
    index(work(config=C(name=name)), config=C(name=name))


b = two(name="b")
a = two(name="a")
"""


def test_a_forced_repro_forces_a_pipeline_run_again_for_a_file_only_once(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``incr repro --force``: the pipeline run again because a later one wrote what it read
    reruns what that changed, not every step again (each step executed twice)."""
    project = make_project({"pipelines/two.py": TWO_INSTANCES})
    project.repro()
    project.take_ran()
    project.repro("--force")
    ran = project.take_ran()
    assert ran.count("work") == 2  # once per instance
    assert ran.count("index") <= 3  # b's index again, for the file a wrote
    assert project.status()["dirty"] == 0
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


#: ``prep`` writes ``work/table.csv`` in two steps: ``write_a`` makes it, ``add_b`` appends to
#: it or writes it anew (``MODE``); ``report``, another pipeline, reads it.
TWO_WRITERS = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def write_a() -> None:
        mark("write_a")
        os.makedirs("work", exist_ok=True)
        with open("work/table.csv", "w") as fh:
            fh.write("1\\n2\\n")


    @step
    def add_b() -> None:
        mark("add_b")
        with open("work/table.csv", MODE) as fh:
            fh.write("100\\n")


    @pipeline
    def prep():
        write_a()
        add_b()
    """

TABLE_REPORT = REPORT.replace("data/clean.txt", "work/table.csv")


@pytest.mark.parametrize("mode", ["a", "w"])
@pytest.mark.parametrize("target", [(), ("report",)])
def test_the_later_writer_of_a_file_another_pipeline_reads_runs_again_after_the_first(
    make_project: MakeProject, tmp_path: Path, mode: str, target: tuple[str, ...]
) -> None:
    """An edit of the first of two writers of a file that a step of another pipeline reads:
    the second writer runs again after it, so that the reader sees the file as a run from
    scratch leaves it. Before, the first writer ran alone (the second was spared as 'shared
    file rewritten' only counted readers of its own pipeline) and the reader got its bytes:
    12 where a run from scratch gives 112 (appended) or 100 (written anew)."""
    prep = TWO_WRITERS.replace("MODE", repr(mode))
    files = {"pipelines/a_report.py": TABLE_REPORT, "pipelines/b_prep.py": prep}
    project = make_project(files)
    project.repro()
    assert project.take_ran() == ["total", "write_a", "add_b", "total", "write"]
    expected = {"a": 103, "w": 100}[mode]
    assert project.read("reports/total.json") == str(expected)
    project.repro()
    assert project.take_ran() == []  # nothing changed: nothing runs

    project.edit("pipelines/b_prep.py", 'fh.write("1\\n2\\n")', 'fh.write("1\\n2\\n9\\n")')
    dirty = project.dirty(*target)
    assert dirty["add_b"] == [("shared file rewritten", "work/table.csv, by write_a")]
    assert dirty["total"] == [("after", "prep.add_b, prep.write_a")]
    assert project.incr("status", "--check", *target).returncode == 1
    project.repro(*target)
    # written anew, the file holds the bytes the reader read: it is reused
    assert project.take_ran() == ["write_a", "add_b"] + (["total", "write"] if mode == "a" else [])
    assert project.read("work/table.csv") == ("1\n2\n9\n100\n" if mode == "a" else "100\n")
    assert project.read("reports/total.json") == str(expected + (9 if mode == "a" else 0))
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))


def test_a_file_two_writers_write_is_written_anew_when_not_as_the_last_one_left_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``incr repro prep.write_a`` runs the first writer alone: the file holds its bytes, so
    the second writer is dirty (shared file rewritten) until it has run after it, and the
    reader waits on it. A file edited by hand, which neither writer left so: the first writer
    runs again (written file changed), then the second, and the reader reading what it read
    before is reused. Before, both writers were clean and the reader reran on those bytes."""
    prep = TWO_WRITERS.replace("MODE", repr("a"))
    files = {"pipelines/a_report.py": TABLE_REPORT, "pipelines/b_prep.py": prep}
    project = make_project(files)
    project.repro()
    project.take_ran()
    project.edit("pipelines/b_prep.py", 'fh.write("1\\n2\\n")', 'fh.write("1\\n2\\n9\\n")')
    project.repro("prep.write_a")
    assert project.take_ran() == ["write_a"]
    dirty = project.dirty()
    assert dirty["add_b"] == [("shared file rewritten", "work/table.csv, by write_a")]
    assert ("after", "prep.add_b") in dirty["total"]
    assert "write_a" not in dirty
    project.repro()
    assert project.take_ran() == ["add_b", "total", "write"]
    assert project.read("reports/total.json") == "112"
    assert project.dirty() == {}

    (project.root / "work/table.csv").write_text("1\n")
    dirty = project.dirty()
    assert dirty["write_a"] == [("written file changed", "work/table.csv")]
    assert dirty["add_b"] == [("shared file rewritten", "work/table.csv, by write_a")]
    project.repro()
    assert project.take_ran() == ["write_a", "add_b"]  # the reader read these bytes
    assert project.read("work/table.csv") == "1\n2\n9\n100\n"
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("work/table.csv",))
