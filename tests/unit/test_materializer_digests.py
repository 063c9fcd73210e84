"""Equal values, equal digests, for every built-in kind: saving a value twice, in another
process, and after a load-save round trip gives the same bytes (what early cutoff and a shared
cache compare)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from incr import materializers
from incr.hashing import buffers_digest

from .materializer_values import build, digests
from .support import json_values

ROOT = Path(__file__).resolve().parents[2]


def _has_pandas() -> bool:
    import importlib.util

    return importlib.util.find_spec("pandas") is not None


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stored(value):
    """(kind, digest, bytes) of ``value`` as stored."""
    found = materializers.encode(value, "s.out")
    data = b"".join(found.parts)
    return found.kind, buffers_digest([data]), data


def check_equal_digests(value, kind):
    """Saved twice, and saved again after loading: one kind, one digest."""
    first_kind, first, data = stored(value)
    assert first_kind == kind
    assert stored(value)[1] == first
    back = materializers.decode(kind, data)
    assert stored(back)[:2] == (kind, first)
    return back


# --------------------------------------------------------------------------- numpy, json, pickle

DTYPES = st.sampled_from(["int8", "int64", "uint16", "float32", "float64", "bool", "U3", "M8[s]"])


@SETTINGS
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
def test_property_arrays(array):
    back = check_equal_digests(array, "npy")
    assert back.dtype == array.dtype


@SETTINGS
@given(DTYPES.flatmap(lambda d: hnp.from_dtype(np.dtype(d))))
def test_property_numpy_scalars(value):
    scalar = np.asarray(value)[()]
    back = check_equal_digests(scalar, "npscalar")
    assert type(back) is type(scalar)


@SETTINGS
@given(json_values(max_leaves=12))
def test_property_plain_data(value):
    check_equal_digests(value, "json")


@SETTINGS
@given(
    st.tuples(st.integers(), st.text(), st.binary()) | st.lists(st.complex_numbers(), min_size=1)
)
def test_property_pickled_values(value):
    """Values whose pickle is canonical. Not every value's is: a set's order depends on how
    it was filled, and pickle shares a string by identity (see the README)."""
    check_equal_digests(value, "pickle")


@SETTINGS
@given(
    hnp.arrays("float64", (6, 5), elements=st.sampled_from([0.0, 0.0, 1.5, -2.0])),
    st.sampled_from(["csr", "csc", "coo", "bsr", "dia"]),
    st.booleans(),
)
def test_property_sparse_matrices(dense, fmt, as_array):
    import scipy.sparse as sp

    matrix = (sp.csr_array if as_array else sp.csr_matrix)(dense).asformat(fmt)
    back = check_equal_digests(matrix, "npz")
    assert type(back) is type(matrix) and back.format == fmt
    np.testing.assert_array_equal(back.toarray(), dense)


# --------------------------------------------------------------------------- frames


@SETTINGS
@given(st.data())
def test_property_pandas_frames(data):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from hypothesis.extra import pandas as hpd

    frame = data.draw(
        hpd.data_frames(
            [
                hpd.column("word", elements=st.text(max_size=4)),
                hpd.column("n", dtype="int64"),
                hpd.column("x", elements=st.floats(allow_nan=True, width=64), dtype="float64"),
                hpd.column("flag", dtype=bool),
            ],
            index=hpd.range_indexes(max_size=8)
            | st.integers(0, 8).map(lambda n: pd.date_range("2024", periods=n, freq="D")),
        )
    )
    back = check_equal_digests(frame, "parquet")
    pd.testing.assert_frame_equal(
        back, frame, check_exact=True, check_freq=True, check_index_type=True
    )
    # the same values made again from new string objects: the same bytes
    rebuilt = frame.copy(deep=True)
    words = ["".join(list(w)) for w in frame["word"]]
    rebuilt["word"] = pd.Series(words, index=frame.index, dtype=frame["word"].dtype)
    assert stored(rebuilt)[1] == stored(frame)[1]


def test_pandas_series_and_datetime_index_round_trip_exactly():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    index = pd.date_range("2024-01-01", periods=4, freq="15min", tz="Europe/Paris", name="t")
    series = pd.Series(pd.array([1, None, 3, 4], dtype="Int64"), index=index, name="level")
    back = check_equal_digests(series, "parquet")
    pd.testing.assert_series_equal(
        back, series, check_exact=True, check_freq=True, check_index_type=True
    )
    assert back.index.freq == index.freq


def _frames():
    pd = pytest.importorskip("pandas")
    ts = pd.date_range("2020", periods=2, tz="UTC")
    return {
        "range index": pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(5, 9, 2)),
        "int index name": pd.DataFrame({"a": [1, 2]}).rename_axis(5),
        "int columns name": pd.DataFrame({"a": [1, 2]}).rename_axis(7, axis=1),
        "tuple index name": pd.DataFrame({"a": [1]}, index=pd.Index([1.5], name=("x", "y"))),
        "dtypes": pd.DataFrame(
            {
                "u8": np.array([1, 2], dtype="uint8"),
                "f16": np.array([1, 2], dtype="float16"),
                "td": pd.to_timedelta([1, 2], unit="s"),
                "ns": np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[ns]"),
                "tz": ts,
                "bytes": [b"x", b"y"],
            }
        ),
        "period index": pd.DataFrame({"a": [1, 2]}, index=pd.period_range("2020-01", periods=2)),
        "multi index": pd.DataFrame(
            {"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["k", "n"])
        ),
        "timedelta freq": pd.DataFrame({"a": [1, 2]}, index=pd.timedelta_range("1s", periods=2)),
        "attrs": pd.DataFrame({"a": [1, 2]}).pipe(lambda f: f.attrs.update(source="x") or f),
        "lists": pd.DataFrame({"a": [[1, 2], [3]]}),
        "ordered categories": pd.DataFrame(
            {"a": pd.Categorical(["x", "y"], categories=["y", "x"], ordered=True)}
        ),
        # Frames the plain-types shortcut once let through unchecked (they came back changed)
        "datetime64[s]": pd.DataFrame({"ts": np.array(["2024-01-01"], dtype="datetime64[s]")}),
        "python strings": pd.DataFrame({"a": pd.array(["x"], dtype="string[python]")}),
        "python string index": pd.DataFrame(
            {"a": [1]}, index=pd.Index(["x"], dtype="string[python]")
        ),
        "object labels": pd.DataFrame({"a": [1]}).set_axis(pd.Index(["a"], dtype=object), axis=1),
        "no columns": pd.DataFrame(index=range(3)),
        "one-level multi index": pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_arrays([["x"]])),
        "unused levels": pd.DataFrame(
            {"a": [1, 2]}, index=pd.MultiIndex.from_arrays([["AAPL", "MSFT"], [1, 2]])
        ).iloc[:1],
        # Python objects that == takes for what Arrow gives back (rescaled, reordered)
        "decimals": pd.DataFrame({"price": [Decimal("1.50"), Decimal("2")]}),
        "decimal index": pd.DataFrame({"a": [1, 2]}, index=[Decimal("1"), Decimal("2.5")]),
        "dict key order": pd.DataFrame({"rec": [{"b": 1, "a": 2}, {"a": 3, "b": 4}]}),
        "no duplicate labels": pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False),
    }


@pytest.mark.parametrize("name", list(_frames()) if _has_pandas() else [])
def test_a_frame_comes_back_exactly_or_is_pickled(name):
    pytest.importorskip("pyarrow")
    import pandas as pd

    frame = _frames()[name]
    kind, _, data = stored(frame)
    back = materializers.decode(kind, data)
    pd.testing.assert_frame_equal(
        back,
        frame,
        check_exact=True,
        check_freq=True,
        check_index_type=True,
        check_column_type=True,
    )
    assert back.attrs == frame.attrs
    assert list(back.dtypes) == list(frame.dtypes)
    assert (back.index.dtype, back.columns.dtype) == (frame.index.dtype, frame.columns.dtype)
    assert (type(back.index), type(back.columns)) == (type(frame.index), type(frame.columns))
    if isinstance(frame.index, pd.MultiIndex):
        assert all(a.equals(b) for a, b in zip(back.index.levels, frame.index.levels, strict=True))
    assert back.flags.allows_duplicate_labels == frame.flags.allows_duplicate_labels
    for ours, theirs in [(frame.index, back.index), *((frame[c], back[c]) for c in frame)]:
        if ours.dtype == object:
            assert list(map(repr, theirs)) == list(map(repr, ours))


def test_a_series_without_duplicate_labels_keeps_its_flag():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    series = pd.Series([1, 2], name="x").set_flags(allows_duplicate_labels=False)
    kind, _, data = stored(series)
    assert not materializers.decode(kind, data).flags.allows_duplicate_labels


def test_period_and_interval_indexes_load_as_such_in_a_process_that_only_reads(tmp_path):
    """Writing a frame registers pandas' Arrow types; a process that only reads (a consumer
    on a later run, a worker of ``--jobs``) must get the same index back."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    for name, index in [
        ("period", pd.period_range("2024Q1", periods=2, freq="Q")),
        ("interval", pd.interval_range(0, 2)),
    ]:
        kind, _, data = stored(pd.DataFrame({"v": [1, 2]}, index=index))
        (tmp_path / name).write_bytes(data)
        code = (
            "import sys; from pathlib import Path; from incr import materializers; "
            f"f = materializers.decode({kind!r}, Path(sys.argv[1]).read_bytes()); "
            "print(f.index.dtype, flush=True); import os; os._exit(0)"
        )  # os._exit: pyarrow's thread pool may abort the interpreter's own exit (arrow#34314)
        proc = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / name)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert proc.stdout.strip() == str(index.dtype)


def test_a_polars_frame_keeps_its_sorted_flags():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": [1, 2, 3]}).with_columns(pl.col("a").set_sorted())
    kind, _, data = stored(frame)
    assert materializers.decode(kind, data)["a"].flags == frame["a"].flags


def test_a_list_held_twice_keeps_being_one_list():
    row = [0]
    kind, _, data = stored([row, row])
    assert kind == "pickle"
    back = materializers.decode(kind, data)
    assert back[0] is back[1]
    assert stored([[0], [0]])[0] == "json"


def test_frames_parquet_cannot_hold_are_pickled_with_the_reason():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    for frame in (
        pd.DataFrame({"mixed": pd.array([1, "a", 2.5], dtype=object)}),
        pd.DataFrame({1: [1.0], "a": [2.0]}),  # labels of two types
    ):
        found = materializers.encode(frame, "s.out")
        assert found.kind == "pickle"
        assert found.notes and "not stored as parquet" in found.notes[0]


@SETTINGS
@given(st.lists(st.tuples(st.integers(-5, 5), st.text(max_size=3)), max_size=6))
def test_property_polars_frames(rows):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(rows, schema=["n", "s"], orient="row")
    back = check_equal_digests(frame, "polars-parquet")
    assert back.equals(frame)


# --------------------------------------------------------------------------- skops


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 1000), st.sampled_from(["tree", "linear", "pipeline"]))
def test_property_scikit_learn_models(seed, which):
    pytest.importorskip("skops")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.RandomState(seed)
    X = rng.rand(30, 3)
    y = (X[:, 0] > 0.5).astype(int)
    y[:2] = [0, 1]
    model = {
        "tree": DecisionTreeClassifier(random_state=seed),
        "linear": LogisticRegression(),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()),
    }[which].fit(X, y)
    back = check_equal_digests(model, "skops")
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_skops_refuses_to_load_untrusted_types_and_names_the_fix():
    pytest.importorskip("skops")
    import fractions

    from sklearn.dummy import DummyClassifier

    from incr import skopsformat

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    model.ratio = fractions.Fraction(1, 3)
    try:
        skopsformat.configure(("fractions.Fraction",), lambda module: False)
        kind, _, data = stored(model)
        assert kind == "skops"
        skopsformat.configure((), lambda module: False)
        assert stored(model)[0] == "pickle"
        with pytest.raises(skopsformat.UntrustedTypes) as info:
            materializers.decode("skops", data)
    finally:
        skopsformat.configure((), lambda module: False)
    assert "fractions.Fraction" in info.value.message
    assert "[tool.incr] trusted_types" in info.value.format()


# --------------------------------------------------------------------------- two processes


def test_every_kind_gives_the_same_digest_in_another_process_and_after_loading():
    here = digests(build())
    proc = subprocess.run(
        [sys.executable, "-m", "tests.unit.materializer_values"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout) == here
    assert {kind for kind, _ in here.values()} >= {"npy", "npscalar", "npz", "json", "pickle"}
    loaded = {
        name: materializers.decode(kind, b"".join(materializers.encode(v, name).parts))
        for (name, v), (kind, _) in zip(build().items(), here.values(), strict=True)
    }
    assert digests(loaded) == here
