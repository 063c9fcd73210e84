"""What the last runs did to each step, kept in ``.pipecache/runs.json``: whether it failed,
and how long it took when it last executed. Pictures and the HTML report show it; nothing
decides on it (the lockfile does).

``RunLog`` is a reporter that passes every event on and takes notes; the file is rewritten
when a pipeline finishes. A failed write loses only these notes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from incr.events import Event, PipelineFinished, Reporter, StepCached, StepFailed, StepFinished
from incr.storage import atomic_write
from incr.valueclass import valueclass

#: The events that say how a step ended (one tuple, not a union made at each event).
_STEP_ENDS = (StepFinished, StepCached, StepFailed)

FILE = "runs.json"
RAN, REUSED, FAILED = "ran", "reused", "failed"


@valueclass
class RunLog:
    """A reporter in front of ``reporter`` that records each step's outcome in ``path``."""

    reporter: Reporter
    path: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The file's notes as this log last read or wrote them, with the file's signature then
    #: (size, mtime, inode): a command that runs ten pipelines reads the file once.
    _known: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = field(
        default=None, init=False, repr=False
    )

    def emit(self, event: Event) -> None:
        self.reporter.emit(event)
        if isinstance(event, _STEP_ENDS):
            key = f"{event.pipeline}.{event.step}"
            note = self.steps.setdefault(key, {})
            if isinstance(event, StepFailed):
                note.update(state=FAILED, seconds=round(event.seconds, 3))
            elif isinstance(event, StepFinished) and event.executed:
                note.update(state=RAN, seconds=round(event.seconds, 3))
            elif note.get("state") != FAILED:  # StepCached, then its StepFinished
                note["state"] = REUSED
        elif isinstance(event, PipelineFinished):
            self.save()

    def save(self) -> None:
        if not self.steps:
            return
        known, seen = self._known, _signature(self.path)  # taken before the file is read
        merged = known[1] if known is not None and known[0] == seen else load(self.path)
        before = {key: merged.get(key) for key in self.steps}
        for key, note in self.steps.items():
            merged[key] = {**merged.get(key, {}), **note}
        self.steps.clear()
        if all(merged[key] == before[key] for key in before):  # a no-op run: as it was
            self._known = (seen, merged)
            return
        # Compact: an indented dump takes json's pure-Python encoder, 10 x slower on a
        # large pipeline's notes.
        data = {"schema": 1, "steps": merged}
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        self._known = None
        with contextlib.suppress(OSError):
            atomic_write(self.path, text.encode(), durable=False)
            self._known = (_signature(self.path), merged)


def _signature(path: Path) -> tuple[int, int, int]:
    """What tells a rewritten file (by anyone) from the one last seen: (-1, -1, -1) for none."""
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Step key -> ``{"state": "ran"|"reused"|"failed", "seconds": float}`` (seconds of its
    last execution, when it executed); empty when there is no readable file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    steps = data.get("steps") if isinstance(data, dict) and data.get("schema") == 1 else None
    return steps if isinstance(steps, dict) else {}


def failed(path: Path) -> set[str]:
    """The keys of the steps whose last run failed."""
    return {key for key, note in load(path).items() if note.get("state") == FAILED}
