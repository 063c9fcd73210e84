"""Data frames as Parquet: pandas ``DataFrame``/``Series`` through pyarrow (kind ``parquet``),
polars ``DataFrame`` (kind ``polars-parquet``).

Parquet holds the values, not the Python objects: a frame built in this process and the same
frame loaded from the cache give the same bytes (pickle does not: it memoises strings by
identity), and any Arrow tool can read them. The writer options are fixed (zstd, one chunk per
column, dictionary pages for text columns only, no statistics, the default row group and page
sizes), and nothing that varies between equal frames is written: pandas' own metadata (dtypes,
index, column names) and incr's (a Series' name, an index's ``freq``) are functions of the
frame.

A frame Parquet cannot hold exactly (mixed-type object columns, Python objects, labels that
are not strings) is ``Declined`` with the reason, and pickled with a note. When a frame has
anything beyond plain numeric, boolean, datetime and string columns under string labels and a
one-level index, the bytes are read back and compared before they are kept (with a
MultiIndex's levels, which a filter may have left unused: Parquet keeps only the used ones).
Plain excludes what Parquet gives back otherwise: ``datetime64[s]`` (as ``[ms]``), a string
dtype other than pandas' default, labels of dtype ``object``, a frame without columns.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings
from typing import Any, ClassVar

from incr.matbase import Declined, FileMaterializer, Parts

#: The key of incr's metadata in the Arrow schema.
META_KEY = b"incr"
_SERIES_COLUMN = "__series__"
_PLAIN_KINDS = frozenset("biufMm")  # numpy dtype kinds that round-trip as they are


def _need(module: str, extra: str) -> None:
    """Declined, naming the extra to install, unless ``module`` imports."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        package = module.partition(".")[0]
        raise Declined(f"{package} is not installed: pip install 'incr[{extra}]'") from None


class PandasMaterializer(FileMaterializer):
    """pandas ``DataFrame`` and ``Series`` as Parquet (pyarrow)."""

    types: ClassVar[tuple[type | str, ...]] = (
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
    )
    kind: ClassVar[str] = "parquet"
    filename: ClassVar[str] = "frame.parquet"

    def save_bytes(self, obj: Any) -> Parts:
        import pandas as pd

        if type(obj) not in (pd.DataFrame, pd.Series):
            raise Declined()
        _need("pyarrow.parquet", "pandas")
        frame, meta = _as_frame(obj)
        try:
            data = _write_pandas(frame, meta)
        except Exception as exc:  # pyarrow's errors for what it cannot convert
            raise Declined(f"Parquet cannot hold it: {type(exc).__name__}: {exc}") from None
        if _needs_check(frame) or not obj.flags.allows_duplicate_labels:
            try:
                back = self.load_bytes(data)
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                raise Declined(f"Parquet would not give it back: {why}") from None
            _check_same(obj, back)
        return (data,)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        _arrow_types()
        table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))  # no copy of ``data``
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        # one block per column, each built once: no consolidating copy (twice as fast)
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        freq = meta.get("freq")
        if freq is not None:
            frame.index.freq = freq
        if meta.get("series"):
            return frame[_SERIES_COLUMN].rename(meta.get("name"))
        return frame


@functools.cache
def _arrow_types() -> None:
    """Register pandas' Arrow types (a ``PeriodIndex``, an ``IntervalIndex``), as writing a
    frame does: a process that only reads would give such an index back as its storage."""
    with contextlib.suppress(ImportError):
        import pandas.core.arrays.arrow.extension_types  # noqa: F401


def _as_frame(obj: Any) -> tuple[Any, dict[str, Any]]:
    """The frame to write and incr's metadata for ``obj`` (a DataFrame or a Series)."""
    import pandas as pd

    meta: dict[str, Any] = {}
    if isinstance(obj, pd.Series):
        if obj.name is not None and type(obj.name) not in (str, int, float, bool):
            raise Declined(f"a Series named {obj.name!r} (Parquet keeps str/int/float names)")
        meta.update(series=True, name=obj.name)
        obj = obj.to_frame(_SERIES_COLUMN)
    if isinstance(obj.index, pd.DatetimeIndex | pd.TimedeltaIndex) and obj.index.freq is not None:
        meta["freq"] = obj.index.freqstr
    return obj, meta


def _write_pandas(frame: Any, meta: dict[str, Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with warnings.catch_warnings():  # mixed label types: the check after writing says it
        warnings.simplefilter("ignore", UserWarning)
        # preserve_index=None: a RangeIndex is kept as one (in pandas' metadata), others as columns
        table = pa.Table.from_pandas(frame, preserve_index=None).combine_chunks()
    schema_meta = {**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
    table = table.replace_schema_metadata(schema_meta)
    # Dictionary pages only for text (random floats gain nothing from them, and cost twice).
    texts = [f.name for f in table.schema if pa.types.is_string(f.type) or _is_text(f.type)]
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=texts, write_statistics=False)
    return buf.getvalue()


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _needs_check(frame: Any) -> bool:
    """True unless every column and index level is plain (numeric, bool, datetime, string)
    and every column label a distinct str: then Parquet is known to give it back exactly."""
    import pandas as pd

    labels = list(frame.columns)
    if not all(type(label) is str for label in labels) or len(set(labels)) != len(labels):
        return True
    names = [*frame.index.names, *frame.columns.names]
    if not all(name is None or type(name) is str for name in names):
        return True
    if frame.attrs or type(frame.columns) is not pd.Index or isinstance(frame.index, pd.MultiIndex):
        return True  # no columns (a RangeIndex), levels a filter left unused, one level...
    if frame.columns.dtype != _default_strings()[1]:
        return True  # labels of dtype object or string come back as pandas' default
    index = frame.index
    if isinstance(index, pd.RangeIndex):
        return not all(_plain_dtype(d) for d in frame.dtypes)
    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    dtypes = [*frame.dtypes, *(level.dtype for level in levels)]
    return not all(_plain_dtype(d) for d in dtypes)


@functools.cache
def _default_strings() -> tuple[Any, Any]:
    """pandas' default string dtype and the dtype of an index of strings: how Parquet gives
    back string columns and labels (asked of every frame stored, made once)."""
    import pandas as pd

    return pd.StringDtype(), pd.Index(["text"]).dtype


def _plain_dtype(dtype: Any) -> bool:
    import numpy as np
    import pandas as pd

    if isinstance(dtype, pd.StringDtype):  # only as Parquet gives it back: the default one
        return dtype in _default_strings()
    if isinstance(dtype, np.dtype) and dtype.kind == "M" and np.datetime_data(dtype)[0] == "s":
        return False  # datetime64[s] comes back as datetime64[ms]
    return getattr(dtype, "kind", "O") in _PLAIN_KINDS and getattr(dtype, "tz", None) is None


def _check_same(obj: Any, back: Any) -> None:
    """Declined unless ``back`` equals ``obj`` exactly (values, dtypes, index, labels)."""
    import pandas as pd

    try:
        if isinstance(obj, pd.Series):
            pd.testing.assert_series_equal(
                obj, back, check_exact=True, check_freq=True, check_index_type=True
            )
        else:
            pd.testing.assert_frame_equal(
                obj,
                back,
                check_exact=True,
                check_freq=True,
                check_index_type=True,
                check_column_type=True,
            )
    except AssertionError as exc:
        first = str(exc).strip().splitlines()[0]
        raise Declined(f"Parquet would not give it back as it is: {first}") from None
    if obj.attrs != back.attrs:
        raise Declined("Parquet would not give back its attrs as they are")
    if not _same_objects(obj, back):
        raise Declined("Parquet would not give back its Python objects as they are")
    levels = [getattr(frame.index, "levels", None) for frame in (obj, back)]
    if levels[0] is not None and (
        levels[1] is None or not all(a.equals(b) for a, b in zip(*levels, strict=True))
    ):
        raise Declined("Parquet would not give back its index levels as they are")


def _same_objects(obj: Any, back: Any) -> bool:
    """True when the Python objects in the columns and index levels of dtype object are
    the same type and ``repr`` once back: ``==`` takes ``Decimal("2")`` for
    ``Decimal("2.00")`` and ``{"b": 1, "a": 2}`` for ``{"a": 2, "b": 1}``, which Arrow gives
    back rescaled and reordered. Strings are compared by ``assert_frame_equal`` already."""
    import pandas as pd

    pairs = [(obj.index, back.index)]
    if isinstance(obj, pd.Series):
        pairs.append((obj, back))
    else:
        pairs += [(obj.iloc[:, i], back.iloc[:, i]) for i in range(obj.shape[1])]
    for ours, theirs in pairs:
        for level in range(ours.nlevels if isinstance(ours, pd.Index) else 1):
            a = ours.get_level_values(level) if isinstance(ours, pd.Index) else ours
            b = theirs.get_level_values(level) if isinstance(theirs, pd.Index) else theirs
            if a.dtype != object:
                continue
            for x, y in zip(a, b, strict=True):
                if type(x) is not type(y) or (type(x) is not str and repr(x) != repr(y)):
                    return False
    return True


class PolarsMaterializer(FileMaterializer):
    """polars ``DataFrame`` as Parquet (one chunk, zstd), checked by reading it back."""

    types: ClassVar[tuple[type | str, ...]] = ("polars.dataframe.frame.DataFrame",)
    kind: ClassVar[str] = "polars-parquet"
    filename: ClassVar[str] = "frame.parquet"

    def save_bytes(self, obj: Any) -> Parts:
        buf = io.BytesIO()
        try:
            obj.rechunk().write_parquet(buf, compression="zstd", statistics=False)
        except Exception as exc:
            raise Declined(f"Parquet cannot hold it: {type(exc).__name__}: {exc}") from None
        data = buf.getvalue()
        back = self.load_bytes(data)
        if back.schema != obj.schema or not back.equals(obj, null_equal=True):
            raise Declined("Parquet would not give it back as it is")
        if [c.flags for c in obj.get_columns()] != [c.flags for c in back.get_columns()]:
            raise Declined("Parquet would not give back its columns' sorted flags")
        return (data,)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import polars as pl

        return pl.read_parquet(io.BytesIO(memoryview(data)))
