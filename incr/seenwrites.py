"""The files each step was seen to write, kept in ``.pipecache/writes.json`` between runs:
they order the steps that read them (see ``incr.overlaps``, which is pure)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

from incr.storage import atomic_write


class SeenWrites:
    """The files each step was seen to write in its last run, by step key, kept in
    ``.pipecache/writes.json``: read the first time they are asked for, written by ``save``.
    Only a cache (see ``incr.overlaps``): a missing or damaged file reads as empty."""

    FORMAT = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._steps: dict[str, tuple[str, ...]] | None = None
        self.changed = False

    @property
    def steps(self) -> dict[str, tuple[str, ...]]:
        if self._steps is None:
            self._steps = _read_writes(self.path, self.FORMAT)
        return self._steps

    def put(self, key: str, paths: Iterable[str]) -> None:
        value = tuple(sorted(set(paths)))
        if self.steps.get(key, ()) == value:
            return
        if value:
            self.steps[key] = value
        else:
            del self.steps[key]
        self.changed = True

    def save(self, keep: Iterable[str]) -> None:
        """Write the file, with the steps of ``keep`` (step keys) only, if anything changed.
        A failed write costs a rediscovery, never a wrong result."""
        if not self.changed:
            return
        wanted = set(keep)
        steps = {k: list(v) for k, v in sorted(self.steps.items()) if k in wanted}
        text = json.dumps({"format": self.FORMAT, "steps": steps}, separators=(",", ":"))
        with contextlib.suppress(OSError):
            atomic_write(self.path, text.encode(), durable=False)
            self.changed = False


def _read_writes(path: Path, version: int) -> dict[str, tuple[str, ...]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] != version:
            return {}
        return {
            str(k): tuple(str(p) for p in v)
            for k, v in data["steps"].items()
            if isinstance(v, list)
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def restored_note(key: str, outs: Iterable[str], written: Iterable[str]) -> str | None:
    """What to say when step ``key`` has its results put back from the cache while it was
    seen writing files (``written``) that its ``outs`` do not list: those hold what its last
    run wrote, not the result put back (a report written beside the value it returns). None
    when it writes none."""
    listed = list(outs)
    unlisted = [w for w in written if not any(w == o or w.startswith(f"{o}/") for o in listed)]
    if not unlisted:
        return None
    named = ", ".join(unlisted[:3]) + (
        f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
    )
    return (
        f"step {key} was put back from the cache, but not {named}, which it writes without "
        "listing in outs: what its last run wrote stays there; list it in outs=[...] to have "
        "it put back too"
    )
