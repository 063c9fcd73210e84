"""What a lazy handle's identity holds (``incr.lazyfiles``): the files its step read, not the
rest of what it read; and where handles are found among a step's outputs."""

from __future__ import annotations

import pytest

from incr.lazyfiles import files_digest, lazy_outputs, named_files

DEPS = {"data/sales.csv": "a" * 64}
READS = {"data/more.csv": "b" * 64, "ls:data/parts": "c" * 64, "$HOME": "unset"}


def test_the_files_digest_counts_files_listings_and_deps_only() -> None:
    base = files_digest(DEPS, READS, {})
    assert len(base) == 32
    assert files_digest(DEPS, {**READS, "$HOME": "/root", "module:x.py": "d"}, {}) == base
    assert files_digest(DEPS, {**READS, "ls:data/parts": "e" * 64}, {}) != base
    assert files_digest({"data/sales.csv": "f" * 64}, READS, {}) != base


def test_the_files_digest_counts_the_files_of_the_handles_it_took() -> None:
    base = files_digest(DEPS, READS, {"frame": "1" * 64})
    assert files_digest(DEPS, READS, {"frame": "2" * 64}) == base  # not a handle: its step's
    taken = files_digest(DEPS, READS, {"frame": "1" * 64 + "~" + "3" * 32 + "+m:C"})
    assert taken != base
    assert files_digest(DEPS, READS, {"frame": "2" * 64 + "~" + "3" * 32}) == taken
    assert files_digest(DEPS, READS, {"frame": "1" * 64 + "~" + "4" * 32}) != taken


def test_handles_are_found_in_containers() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.LazyFrame({"a": [1]})
    outputs = {"one": frame, "many": [1, {"k": (frame,)}], "plain": [1], "eager": frame.collect()}
    assert lazy_outputs(outputs) == ("one", "many")


def test_the_files_a_handle_names(tmp_path) -> None:
    pl = pytest.importorskip("polars")
    ds = pytest.importorskip("pyarrow.dataset")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    (tmp_path / "a.csv").write_text("a\n1\n", encoding="utf-8")
    csv = str(tmp_path / "a.csv")
    frame = pl.concat([pl.scan_csv(csv), pl.LazyFrame({"a": [2]})])
    assert named_files(frame) == [csv]
    assert named_files(pl.LazyFrame({"a": [1]})) == []
    pq.write_table(pa.table({"a": [1]}), tmp_path / "p.parquet")
    assert named_files(ds.dataset(str(tmp_path / "p.parquet"))) == [str(tmp_path / "p.parquet")]
