"""Readers and writers written in C, wrapped while a step's reads are recorded: one object
answers for each, wherever its module keeps it, and it still pickles by reference."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from incr import nativepaths, nativereads
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


def test_a_path_on_a_file_system_given_is_the_file_it_opens(tmp_path: Path) -> None:
    """``filesystem=``: a pyarrow ``SubTreeFileSystem`` or an fsspec ``DirFileSystem`` opens
    its paths under its folder; a file system that is not the disk opens no local file."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from pyarrow import fs

    (tmp_path / "data" / "sub").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1]}), tmp_path / "data" / "sub" / "x.parquet")
    sub = fs.SubTreeFileSystem(str(tmp_path / "data"), fs.LocalFileSystem())
    with recording(tmp_path) as seen:
        pq.read_table("sub/x.parquet", filesystem=sub)
        pq.write_table(pa.table({"a": [2]}), "sub/y.parquet", filesystem=sub)
        pq.read_table("x.parquet", filesystem=fs.SubTreeFileSystem("sub", sub))  # nested
    assert seen.paths() == ["data/sub/x.parquet"]
    assert seen.written_paths() == ["data/sub/y.parquet"]


def test_fsspec_file_systems_are_followed_to_the_disk_or_not(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    from fsspec.implementations.dirfs import DirFileSystem

    from incr.nativereads import on_disk

    local = fsspec.filesystem("file")
    assert on_disk(local, "data/x.csv") == "data/x.csv"
    assert on_disk(DirFileSystem(str(tmp_path), fs=local), "x.csv") == str(tmp_path / "x.csv")
    assert on_disk(fsspec.filesystem("memory"), "x.csv") is None
    assert on_disk(None, "x.csv") == "x.csv"


@pytest.mark.parametrize(
    ("given", "uri", "file"),
    [
        ("data/app.db", False, "data/app.db"),
        (Path("data/app.db"), False, "data/app.db"),
        (":memory:", False, None),
        ("", False, None),
        (":memory:shared", False, None),  # DuckDB's named in-memory databases
        ("file:data/app.db?mode=ro", True, "data/app.db"),
        ("file:///srv/app.db", True, "/srv/app.db"),
        ("file://localhost/srv/app.db", True, "/srv/app.db"),
        ("file:cache?mode=memory&cache=shared", True, None),
        ("file:data/app.db", False, "file:data/app.db"),  # without uri=True: a file's name
        ("md:my_db", False, None),  # MotherDuck
        ("s3://bucket/app.duckdb", False, None),
        (3, False, None),
    ],
)
def test_the_file_a_database_connection_opens(given: object, uri: bool, file: str | None) -> None:
    assert nativereads.database_file(given, uri) == file


@pytest.mark.parametrize(
    ("query", "files"),
    [
        ("SELECT * FROM read_csv('data/x.csv')", ["data/x.csv"]),
        (
            "select a from read_parquet(['a.pq', 'b.pq']) join 'c.parquet' using (a)",
            ["a.pq", "b.pq", "c.parquet"],
        ),
        ("SELECT * FROM scan_ndjson('logs/*.json') WHERE x > 1", ["logs/*.json"]),
        ("FROM read_csv_auto('d/it''s.csv', header = true)", ["d/it's.csv"]),
        ('SELECT * FROM "tbl"', []),  # a name in double quotes, no file
        ("SELECT 'from here' AS note FROM frame", []),  # a string that is no table
    ],
)
def test_the_files_an_sql_query_reads_by_name(query: str, files: list[str]) -> None:
    assert nativereads.sql_files(query) == files


@pytest.mark.parametrize(
    ("arg", "flags", "expected"),
    [
        (
            None,
            {"input": "a.txt,b.txt", "model_prefix": "m/sp"},
            (["a.txt", "b.txt"], ["m/sp.model", "m/sp.vocab"]),
        ),
        (
            None,
            {"input": ["a.txt", "b.txt"], "model_prefix": "sp"},
            (["a.txt", "b.txt"], ["sp.model", "sp.vocab"]),
        ),
        (
            "--input=c.txt --model_prefix=out/t --vocab_size=8",
            {},
            (["c.txt"], ["out/t.model", "out/t.vocab"]),
        ),
        (None, {"input": "a.txt", "model_prefix": "sp", "model_writer": object()}, (["a.txt"], [])),
        (
            None,
            {"sentence_iterator": iter([]), "model_prefix": "sp"},
            ([], ["sp.model", "sp.vocab"]),
        ),
    ],
    ids=["commas", "list", "flag-string", "model-writer", "iterator"],
)
def test_a_trainers_files_come_from_its_flags(arg: object, flags: dict, expected: tuple) -> None:
    assert nativepaths.trainer_files(arg, flags) == expected
