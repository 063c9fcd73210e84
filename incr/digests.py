"""Digests and the canonical JSON text of values: the one way incr spells a value."""

from __future__ import annotations

import json
from typing import Any

from blake3 import blake3


def digest_bytes(data: bytes, length: int = 64) -> str:
    return blake3(data).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: the one text a value has. Raises TypeError/ValueError."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def json_key(value: Any) -> str:
    """``canonical_json`` that lets NaN through: for comparing values, never for digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
