"""A step returning a lazy handle over files (a polars ``LazyFrame`` from ``pl.scan_csv``, a
pyarrow ``Dataset``) hands on a value that stores the same bytes whatever its files hold: its
identity holds the digests of the files its step read or declared, so the steps taking it
rerun when those files change, are kept when nothing changed (a touch, a comment) and are
restored from the cache when the files come back. Before, they kept the old result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

POLARS = """\
    import polars as pl
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def scan() -> pl.LazyFrame:
        mark("scan")
        return pl.scan_csv("data/sales.csv")


    @step
    def large(frame: pl.LazyFrame) -> pl.LazyFrame:
        mark("large")
        return frame.filter(pl.col("a") > 1)


    @step
    def total(frame: pl.LazyFrame) -> int:
        mark("total")
        return int(frame.select(pl.col("a").sum()).collect().item())


    @pipeline
    def sales():
        total(large(scan()))
    """

PYARROW = """\
    import pyarrow.dataset as ds
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def scan():
        mark("scan")
        return ds.dataset("data/parts", format="parquet")


    @step
    def total(dataset) -> int:
        mark("total")
        return sum(dataset.to_table().column("a").to_pylist())


    @pipeline
    def sales():
        total(scan())
    """

#: Handles whose step never opens the files they name: a dataset made from paths, a plan
#: read from a file. The files come from the handle.
UNOPENED = """\
    import polars as pl
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as fs
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def listed():
        mark("listed")
        schema = pa.schema([("a", pa.int64())])
        parquet, local = ds.ParquetFileFormat(), fs.LocalFileSystem()
        return ds.FileSystemDataset.from_paths(
            ["data/parts/one.parquet"], schema=schema, format=parquet, filesystem=local
        )


    @step
    def planned() -> pl.LazyFrame:
        mark("planned")
        with open("data/plan.bin", "rb") as fh:
            return pl.LazyFrame.deserialize(fh)


    @step
    def totals(dataset, frame: pl.LazyFrame) -> list:
        mark("totals")
        first = sum(dataset.to_table().column("a").to_pylist())
        return [first, int(frame.select(pl.col("a").sum()).collect().item())]


    @pipeline
    def sales():
        totals(listed(), planned())
    """


def _parquet(path: Path, values: list[int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": values}), path)


def _total(project: Project, step: str) -> object:
    import json

    artifact = project.lock()[f"sales.{step}"].outputs["output"]
    return json.loads(project.object_bytes(artifact.digest))


@pytest.fixture
def polars_project(make_project: MakeProject) -> Project:
    pytest.importorskip("polars")
    project = make_project({"pipelines/sales.py": POLARS, "data/sales.csv": "a\n1\n3\n5\n"})
    result = project.repro()
    assert project.take_ran() == ["scan", "large", "total"]
    assert "note:" not in result.stderr  # the handle's files are followed: nothing to say
    assert _total(project, "total") == 8
    return project


def test_an_edit_of_the_file_a_lazy_frame_scans_reruns_its_consumers(
    polars_project: Project, tmp_path: Path
) -> None:
    project = polars_project
    project.write({"data/sales.csv": "a\n10\n30\n50\n"})
    project.repro()
    assert project.take_ran() == ["scan", "large", "total"]  # the same plans, other files
    assert _total(project, "total") == 90
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    os.utime(project.root / "data/sales.csv")  # a touch
    project.edit("pipelines/sales.py", '"data/sales.csv")', '"data/sales.csv")  # the sales')
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    project.write({"data/sales.csv": "a\n1\n3\n5\n"})  # back as it was: from the cache
    project.repro()
    assert project.take_ran() == []
    assert _total(project, "total") == 8


def test_a_file_added_to_the_folder_a_dataset_reads_reruns_its_consumer(
    make_project: MakeProject, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow")
    project = make_project({"pipelines/sales.py": PYARROW})
    _parquet(project.root / "data/parts/one.parquet", [1, 2])
    project.repro()
    assert project.take_ran() == ["scan", "total"]
    _parquet(project.root / "data/parts/two.parquet", [30])
    project.repro()
    assert project.take_ran() == ["scan", "total"]
    assert _total(project, "total") == 33
    _parquet(project.root / "data/parts/one.parquet", [10, 20])
    project.repro()
    assert project.take_ran() == ["scan", "total"]
    assert _total(project, "total") == 60
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_the_files_a_handle_names_count_when_its_step_never_opened_them(
    make_project: MakeProject, tmp_path: Path
) -> None:
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    project = make_project({"pipelines/sales.py": UNOPENED, "data/sales.csv": "a\n1\n3\n"})
    _parquet(project.root / "data/parts/one.parquet", [1, 2])
    plan = pl.scan_csv("data/sales.csv").serialize()
    (project.root / "data/plan.bin").write_bytes(plan)
    project.repro()
    assert sorted(project.take_ran()) == ["listed", "planned", "totals"]
    assert _total(project, "totals") == [3, 4]
    _parquet(project.root / "data/parts/one.parquet", [10, 20])
    project.write({"data/sales.csv": "a\n10\n30\n"})
    assert project.dirty() == {
        "listed": [("read changed", "data/parts/one.parquet")],
        "planned": [("read changed", "data/sales.csv")],
        "totals": [("after", "listed, planned")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["listed", "planned", "totals"]
    assert _total(project, "totals") == [30, 40]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
