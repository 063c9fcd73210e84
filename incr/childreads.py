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

A worker outlives the step that started it (loky keeps its workers for the next ``Parallel``;
a pool kept in a module global): what it reads for a later step is taken in by that step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from incr import envreads, reads
from incr.readrelay import for_this_process


def start(spec: dict[str, Any]) -> None:
    """Record what this process reads from now on, reporting it as ``spec`` says (the relay
    folder, the project root and its left-out folders: ``Relay.child_env``)."""
    relay = for_this_process()
    relay.folder = str(spec["folder"])
    with reads.unrecorded():
        relay.start_child()
    if relay.fd is None:
        return  # the folder cannot be written: nothing is reported, the step says so
    root = Path(str(spec["root"]))
    recorder = reads.ReadRecorder(root, tuple(str(path) for path in spec["exclude"]))
    recorder.relay = relay
    variables = envreads.EnvRecorder(root)
    variables.relay = relay
    envreads.start(variables)
    reads.record_for_life(recorder)
    relay.send("hello", os.getpid())
