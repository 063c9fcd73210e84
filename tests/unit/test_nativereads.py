"""Readers and writers written in C, wrapped while a step's reads are recorded: one object
answers for each, wherever its module keeps it, and it still pickles by reference."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from incr.reads import recording


def test_a_wrapped_reader_or_writer_is_one_object_and_pickles(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    import pandas.io.parquet

    with recording(tmp_path):
        pass  # the wrappers are made when a recording starts
    assert pd.read_parquet is pandas.io.parquet.read_parquet
    assert getattr(pd.read_parquet, "__wrapped__", None) is not None
    for function in (pd.read_parquet, pq.read_table, pq.write_table):
        assert pickle.loads(pickle.dumps(function)) is function


def test_a_reader_tells_the_recorder_the_path_it_gets(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"a": [1]}), tmp_path / "data" / "x.parquet")
    with recording(tmp_path) as seen:
        pq.read_table(tmp_path / "data" / "x.parquet")
        pq.write_table(pa.table({"a": [2]}), str(tmp_path / "data" / "y.parquet"))
    assert seen.paths() == ["data/x.parquet"]
    assert seen.written_paths() == ["data/y.parquet"]
