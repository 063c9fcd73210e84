"""Digests and the canonical JSON text of values: the one way incr spells a value."""

from __future__ import annotations

import json
from typing import Any

from blake3 import blake3


def digest_bytes(data: bytes, length: int = 64) -> str:
    return blake3(data).hexdigest()[:length]


#: The encoders of ``canonical_json`` and ``json_key``, made once: ``json.dumps`` given any
#: option makes a new encoder on each call (a third of its time on a small value).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_KEY = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: the one text a value has. Raises TypeError/ValueError."""
    return _CANONICAL.encode(value)


def json_key(value: Any) -> str:
    """``canonical_json`` that lets NaN through: for comparing values, never for digests."""
    return _KEY.encode(value)
