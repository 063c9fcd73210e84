"""Values to bytes and back, by type: numpy arrays as .npy, plain data as JSON, else pickle.

Loading never runs code for ``npy`` (``allow_pickle=False``) or ``json``; pickle is read only
from bytes whose digest the store has verified.

JSON keeps the order of dict keys (a consumer iterating a restored dict sees the order the
producer made), so two equal dicts in different orders are different values (early cutoff tells
them apart), and a dict always gives the same bytes. A dict whose keys (at every level) are in
sorted order gives the bytes incr wrote before it kept the order (sorted keys), so those older
objects and their digests stay valid; older objects of unsorted dicts load sorted.

Large arrays are not copied on the way in or out: ``dump_parts`` gives the ``.npy`` header and a
view of the array's own memory (``Store.put_parts`` hashes and writes them in place), and ``load``
builds the array on a writable buffer it is given (``Store.get_view`` maps large objects
copy-on-write) instead of reading it into new memory.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from typing import Any

from incr.errors import MaterializeError

PICKLE_PROTOCOL = 5
#: Arrays from this many bytes on are dumped without copying their data.
LARGE_ARRAY = 1 << 20


def _is_plain(value: Any) -> bool:
    """True for str, int, float, bool, None and lists and str-keyed dicts of them."""
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    return False


def _is_plain_array(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return type(value) is np.ndarray and not value.dtype.hasobject


def dump(value: Any, where: str) -> tuple[str, bytes]:
    """(kind, bytes) for ``value``. ``where`` names the step output for errors."""
    kind, parts = dump_parts(value, where)
    if len(parts) == 1 and type(parts[0]) is bytes:
        return kind, parts[0]
    return kind, b"".join(parts)


def dump_parts(value: Any, where: str) -> tuple[str, tuple[bytes | memoryview, ...]]:
    """(kind, parts) whose concatenation is the bytes ``dump`` gives for ``value``.

    For a numpy array of ``LARGE_ARRAY`` bytes or more, the parts are the ``.npy`` header and a
    read-only view of the array's memory (of a C-ordered copy when the array is not contiguous):
    valid as long as the caller does not change the array.
    """
    if _is_plain_array(value):
        if value.nbytes >= LARGE_ARRAY:
            parts = _npy_parts(value)
            if parts is not None:
                return "npy", parts
        return "npy", (_npy_bytes(value),)
    if _is_plain(value):
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        return "json", (text.encode(),)
    try:
        return "pickle", (pickle.dumps(value, protocol=PICKLE_PROTOCOL),)
    except Exception as exc:
        raise MaterializeError(
            f"{where}: cannot store a value of type {type(value).__qualname__} ({exc})",
            hint="return plain data, a numpy array or a picklable object",
        ) from None


def load(kind: str, data: bytes | memoryview) -> Any:
    """The value stored as ``data``. A large ``npy`` array shares memory with ``data`` when
    ``data`` is writable (a private mapping from ``Store.get_view``); otherwise it is a copy,
    writable either way."""
    if kind == "npy":
        view = memoryview(data)
        if view.nbytes >= LARGE_ARRAY:
            array = _npy_view(view)
            if array is not None:
                return array if array.flags.writeable else array.copy(order="K")
        import numpy as np

        return np.load(io.BytesIO(view), allow_pickle=False)
    if kind == "json":
        return json.loads(data if isinstance(data, bytes) else bytes(data))
    if kind == "pickle":
        return pickle.loads(data)
    raise ValueError(f"unknown artifact kind {kind!r}")


# --------------------------------------------------------------------------- npy


def _npy_bytes(value: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    return buf.getvalue()


def _npy_parts(value: Any) -> tuple[bytes, memoryview] | None:
    """The bytes ``np.save`` writes, as (header, view of the data); None when ``np.save``
    needs its own handling (a header too big or not latin-1 for format 1.0, a user dtype)."""
    from numpy.lib import format as npy_format

    if not getattr(type(value.dtype), "_legacy", True):
        return None
    buf = io.BytesIO()
    try:
        npy_format.write_array_header_1_0(buf, npy_format.header_data_from_array_1_0(value))
    except (ValueError, UnicodeEncodeError):
        return None
    return buf.getvalue(), memoryview(_raw_bytes(value)).toreadonly()


def _raw_bytes(value: Any) -> Any:
    """The array's elements in the order the .npy header states, as a flat uint8 array."""
    import numpy as np

    if value.flags.c_contiguous:
        flat = value.reshape(-1)
    elif value.flags.f_contiguous:
        flat = value.T.reshape(-1)
    else:
        flat = np.ascontiguousarray(value).reshape(-1)
    return flat.view(np.uint8)


class _ViewReader:
    """The ``read`` that numpy's header parsers need, over a memoryview, without copying it."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    def read(self, size: int = -1, /) -> bytes:
        end = self.view.nbytes if size < 0 else self.pos + size
        chunk = bytes(self.view[self.pos : end])
        self.pos += len(chunk)
        return chunk


def _npy_view(view: memoryview) -> Any:
    """An array on the .npy data in ``view`` (no copy), or None for the header versions that
    are left to ``np.load``. Raises ValueError like ``np.load`` does for bad data."""
    import numpy as np
    from numpy.lib import format as npy_format

    reader = _ViewReader(view)
    version = npy_format.read_magic(reader)
    if version == (1, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(reader)
    elif version == (2, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_2_0(reader)
    else:
        return None
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    if dtype.itemsize == 0:
        return None
    count = math.prod(shape)
    if view.nbytes - reader.pos < count * dtype.itemsize:
        raise ValueError(f"npy data is shorter than its header says ({shape}, {dtype})")
    array = np.frombuffer(view, dtype=dtype, count=count, offset=reader.pos)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)
