"""Values to bytes and back, by type: numpy arrays as .npy, plain data as JSON, else pickle.

Loading never runs code for ``npy`` (``allow_pickle=False``) or ``json``; pickle is read only
from bytes whose digest the store has verified.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from typing import Any

from incr.errors import MaterializeError

PICKLE_PROTOCOL = 5


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
    if _is_plain_array(value):
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return "npy", buf.getvalue()
    if _is_plain(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return "json", text.encode()
    try:
        return "pickle", pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    except Exception as exc:
        raise MaterializeError(
            f"{where}: cannot store a value of type {type(value).__qualname__} ({exc})",
            hint="return plain data, a numpy array or a picklable object",
        ) from None


def load(kind: str, data: bytes) -> Any:
    if kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "json":
        return json.loads(data)
    if kind == "pickle":
        return pickle.loads(data)
    raise ValueError(f"unknown artifact kind {kind!r}")
