"""Programs a step starts in processes that no recorder follows: ``subprocess``, ``os.system``,
``os.posix_spawn``, the ``os.exec`` and ``os.spawn`` functions.

What such a program reads is not seen (``incr.reads`` follows the step's own process and the
processes it forks), so its inputs are inputs of the step only when the step lists them in
``deps=[...]``. When the project's code starts one and the step lists no ``deps``, the run says
so in a note, once per run of the step.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

#: Audit events that start a process running another program.
STARTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn"})


def program(event: str, args: tuple[Any, ...]) -> str:
    """The name of the program an audit event of ``STARTS`` starts ("" when not known)."""
    with contextlib.suppress(TypeError, ValueError, IndexError, StopIteration):
        path = args[1] if event == "os.spawn" else args[0]
        if event == "subprocess.Popen" and path is None:  # no executable: the first argument
            path = args[1] if isinstance(args[1], str | bytes) else next(iter(args[1]))
        text = os.fsdecode(path)
        if event == "os.system" or (event == "subprocess.Popen" and " " in text):
            text = text.split()[0]  # a shell command line
        return os.path.basename(text)
    return ""


def note(programs: list[str]) -> str:
    """The note of a step that started ``programs``."""
    names = ", ".join(f"`{p}`" for p in programs)
    return (
        f"runs {names} in a process incr does not follow: what it reads is an input only when "
        "listed in deps=[...]"
    )
