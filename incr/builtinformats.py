"""The built-in formats for Python and numpy values: ``npy`` (numpy arrays, without pickle),
``npscalar`` (numpy scalars, dtype kept), ``npz`` (scipy sparse matrices), ``json`` (plain
data) and ``pickle`` (everything else; a set's items in an order that is the same in every
process: ``incr.stablepickle``).

Loading never runs code for ``npy``, ``npscalar``, ``npz`` (``allow_pickle=False``) or
``json``; pickle is read only from bytes whose digest the store has verified.

JSON keeps the order of dict keys (a consumer iterating a restored dict sees the order the
producer made), so two equal dicts in different orders are different values (early cutoff tells
them apart), and a dict always gives the same bytes. A dict whose keys (at every level) are in
sorted order gives the bytes incr wrote before it kept the order (sorted keys), so those older
objects and their digests stay valid; older objects of unsorted dicts load sorted.

Large arrays are not copied on the way in or out: ``NpyMaterializer.save_bytes`` gives the
``.npy`` header and a view of the array's own memory (``Store.put_parts`` hashes and writes
them in place), and ``load_bytes`` builds the array on a writable buffer it is given
(``Store.get_view`` maps large objects copy-on-write) instead of reading it into new memory.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Any, ClassVar

from incr.matbase import Declined, FileMaterializer, Parts

PICKLE_PROTOCOL = 5
#: Arrays from this many bytes on are dumped without copying their data.
LARGE_ARRAY = 1 << 20


def is_plain(value: Any, seen: set[int] | None = None) -> bool:
    """True for str, int, float, bool, None and lists and str-keyed dicts of them, each list
    and dict held once (JSON cannot say that ``[row, row]`` holds one list twice)."""
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is not list and type(value) is not dict:
        return False
    seen = set() if seen is None else seen
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        return all(type(k) is str and is_plain(v, seen) for k, v in value.items())
    return all(is_plain(v, seen) for v in value)


class NpyMaterializer(FileMaterializer):
    """numpy arrays (not subclasses, not object dtype) as ``.npy``."""

    types: ClassVar[tuple[type | str, ...]] = ("numpy.ndarray",)
    kind: ClassVar[str] = "npy"
    filename: ClassVar[str] = "array.npy"

    def save_bytes(self, obj: Any) -> Parts:
        import numpy as np

        if type(obj) is not np.ndarray or obj.dtype.hasobject:
            raise Declined()
        if obj.nbytes >= LARGE_ARRAY:
            parts = _npy_parts(obj)
            if parts is not None:
                return parts
        return (_npy_bytes(obj),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        """A large array shares memory with ``data`` when ``data`` is writable (a private
        mapping from ``Store.get_view``); otherwise it is a copy, writable either way."""
        view = memoryview(data)
        if view.nbytes >= LARGE_ARRAY:
            array = _npy_view(view)
            if array is not None:
                return array if array.flags.writeable else array.copy(order="K")
        import numpy as np

        return np.load(io.BytesIO(view), allow_pickle=False)


class NumpyScalarMaterializer(FileMaterializer):
    """numpy scalars (``np.float32(1.5)``) as the ``.npy`` of a 0-d array: the dtype is kept."""

    types: ClassVar[tuple[type | str, ...]] = ("numpy.generic",)
    kind: ClassVar[str] = "npscalar"
    filename: ClassVar[str] = "scalar.npy"

    def save_bytes(self, obj: Any) -> Parts:
        import numpy as np

        array = np.asarray(obj)
        if array.dtype.hasobject or array.shape != () or type(array[()]) is not type(obj):
            raise Declined()
        return (_npy_bytes(array),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import numpy as np

        return np.load(io.BytesIO(memoryview(data)), allow_pickle=False)[()]


@functools.cache
def _json_encoder() -> Any:
    """The encoder of ``JsonMaterializer``, made once (``json.dumps`` with options makes one per
    call), when first asked: ``from incr import step`` does not load ``json``."""
    import json

    return json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class JsonMaterializer(FileMaterializer):
    """str, int, finite float, bool, None, and lists and str-keyed dicts of them."""

    types: ClassVar[tuple[type | str, ...]] = (str, int, float, bool, type(None), list, dict)
    kind: ClassVar[str] = "json"
    filename: ClassVar[str] = "data.json"

    def save_bytes(self, obj: Any) -> Parts:
        if not is_plain(obj):
            raise Declined()
        return (_json_encoder().encode(obj).encode(),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import json

        return json.loads(data if isinstance(data, bytes) else bytes(data))


class PickleMaterializer(FileMaterializer):
    """Everything else (the fallback): pickle protocol 5."""

    types: ClassVar[tuple[type | str, ...]] = (object,)
    kind: ClassVar[str] = "pickle"
    filename: ClassVar[str] = "data.pickle"

    def save_bytes(self, obj: Any) -> Parts:
        from incr.stablepickle import dumps  # a set's items in the same order in any process

        return (dumps(obj, PICKLE_PROTOCOL),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import pickle

        return pickle.loads(data)


# --------------------------------------------------------------------------- sparse

#: The arrays ``scipy.sparse.save_npz`` writes for each format.
_SPARSE_FIELDS = {
    "csr": ("indices", "indptr"),
    "csc": ("indices", "indptr"),
    "bsr": ("indices", "indptr"),
    "coo": ("row", "col"),
    "dia": ("offsets",),
}
#: The zip entries' fixed time: the earliest a zip file can hold.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class SparseMaterializer(FileMaterializer):
    """scipy sparse matrices and arrays (csr, csc, bsr, coo, dia) as the ``.npz`` that
    ``scipy.sparse.save_npz`` writes, with fixed zip times (so equal matrices give equal
    bytes); loaded with the index dtypes they had. Other formats (lil, dok) are pickled."""

    types: ClassVar[tuple[type | str, ...]] = ("scipy.sparse._base._spbase",)
    kind: ClassVar[str] = "npz"
    filename: ClassVar[str] = "sparse.npz"

    def save_bytes(self, obj: Any) -> Parts:
        import zipfile

        import numpy as np

        fields = _sparse_fields(obj)
        if fields is None:
            raise Declined()
        arrays: dict[str, Any] = {"format": np.array(obj.format.encode("ascii"))}
        arrays.update({name: getattr(obj, name) for name in fields})
        arrays.update(shape=np.array(obj.shape), data=obj.data)
        if any(c.__name__ == "sparray" for c in type(obj).__mro__):
            arrays["_is_array"] = np.array(True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
                info.compress_type, info.create_system = zipfile.ZIP_DEFLATED, 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, _npy_bytes(np.ascontiguousarray(arrays[name])))
        return (buf.getvalue(),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import zipfile

        import numpy as np
        import scipy.sparse

        with zipfile.ZipFile(io.BytesIO(memoryview(data))) as zf:
            arrays = {
                n[:-4]: np.load(io.BytesIO(zf.read(n)), allow_pickle=False) for n in zf.namelist()
            }
        fmt = arrays.pop("format").item().decode("ascii")
        kind = "array" if arrays.pop("_is_array", False) else "matrix"
        cls = getattr(scipy.sparse, f"{fmt}_{kind}")
        shape, values = tuple(int(n) for n in arrays.pop("shape")), arrays.pop("data")
        if fmt == "coo":
            coords = arrays["coords"] if "coords" in arrays else (arrays["row"], arrays["col"])
            made = cls((values, tuple(coords)), shape=shape)
        else:
            made = cls((values, *(arrays[n] for n in _SPARSE_FIELDS[fmt])), shape=shape)
        for name, array in arrays.items():  # the index dtypes as stored, not narrowed
            setattr(made, name, array)
        return made


def _sparse_fields(obj: Any) -> tuple[str, ...] | None:
    fmt = getattr(obj, "format", "")
    if fmt == "coo" and getattr(obj, "ndim", 2) != 2:
        return ("coords",)
    return _SPARSE_FIELDS.get(fmt)


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
