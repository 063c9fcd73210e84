"""What a Python process started afresh by a step reads, reported to the step.

A forked worker inherits the step's recorder (``incr.readrelay``); a Python process started
afresh does not: a worker of ``multiprocessing``'s ``spawn`` or ``forkserver`` start method,
one of joblib's loky workers, a ``python script.py`` the step runs. When a step whose reads are
recorded starts one, ``fork_exec`` puts a folder first on its ``PYTHONPATH`` whose
``sitecustomize`` module calls ``start`` here (``incr.readrelay.Relay.child_env``), in the
same Python as the step's only. From then on, for the rest of its life, the process records
what project code reads, lists, tests and changes, and the environment variables it reads, and
reports each to the relay folder of the step's process, as a forked child does. Its first
report says that it is followed, so that the step names it in no note (``incr.processes``).

A worker runs the step's own functions, which the step's fingerprint covers. Another process
(a script, ``python -m tool``) runs code the step's fingerprint does not hold: the project
modules it imports, and the script, count as files the step read (any edit reruns it).

A worker outlives the step that started it (loky keeps its workers for the next ``Parallel``;
a pool kept in a module global): what it reads for a later step is taken in by that step, and
it reports every listing and test again, for each step it may serve.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
from pathlib import Path
from typing import Any

from incr import reads
from incr.processes import CHOSEN


def _is_worker(command: list[str]) -> bool:
    """Whether a command line starts a worker of multiprocessing (``spawn``, the fork server)
    or of loky, whose code is the step's (pickled by reference)."""
    return "--multiprocessing-fork" in command or any(
        arg.startswith("from multiprocessing.") or "loky.backend" in arg for arg in command
    )


def start(spec: dict[str, Any]) -> None:
    """Record what this process reads from now on, reporting it as ``spec`` says (the relay
    folder, the project root and its left-out folders: ``Relay.child_env``)."""
    chosen: frozenset[str] = frozenset()
    with contextlib.suppress(ValueError, TypeError):
        chosen = frozenset(json.loads(os.environ.pop(CHOSEN, "[]")))
    root = Path(str(spec["root"]))
    exclude = tuple(str(path) for path in spec["exclude"])
    recorder = reads.record_for_life(str(spec["folder"]), root, exclude, chosen)
    if recorder is None or recorder.relay is None:
        return  # the step's process has ended: nothing is reported, nothing left behind
    recorder.relay.send("hello", os.getpid())
    command = [str(arg) for arg in getattr(sys, "orig_argv", sys.argv)]
    if not _is_worker(command):
        sys.meta_path.insert(0, _ProjectImports(recorder, root))
        if sys.argv and os.path.isfile(sys.argv[0]):
            recorder.source(sys.argv[0])  # the script


class _ProjectImports(importlib.abc.MetaPathFinder):
    """Tells the recorder each project module this process imports, by its file: a module
    whose first name is found in a folder of ``sys.path`` inside the project (the root,
    ``src/``, a folder a script puts on the path)."""

    def __init__(self, recorder: reads.ReadRecorder, root: Path) -> None:
        self.recorder = recorder
        self.root = os.path.join(str(root), "")
        self.tops: dict[str, bool] = {}
        self.paths: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if self._local(name.partition(".")[0]):
            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
            origin = getattr(spec, "origin", None)
            if isinstance(origin, str) and origin.endswith(".py"):
                self.recorder.source(origin)
        return None  # found by the usual finders

    def _local(self, top: str) -> bool:
        paths = [os.path.abspath(p or ".") for p in sys.path]
        paths = [p for p in paths if os.path.join(p, "").startswith(self.root)]
        if paths != self.paths:
            self.paths, self.tops = paths, {}
        if top not in self.tops:
            places = [(os.path.join(p, top), os.path.join(p, f"{top}.py")) for p in paths]
            self.tops[top] = any(os.path.isdir(d) or os.path.isfile(f) for d, f in places)
        return self.tops[top]
