"""Programs a step starts in processes that no recorder follows: ``subprocess``, ``os.system``,
``os.posix_spawn``, the ``os.exec`` and ``os.spawn`` functions, and Python workers started
afresh (``multiprocessing``'s ``spawn`` and ``forkserver`` start methods, joblib's loky
workers), which raise no audit event of their own: ``follow_launches`` has every process
``_posixsubprocess.fork_exec`` starts raise ``incr.launch``.

What such a program reads is not seen (``incr.reads`` follows the step's own process and the
processes it forks), so its inputs are inputs of the step only when the step lists them in
``deps=[...]``. When the project's code starts one (directly, or through ``multiprocessing``,
``concurrent.futures`` or joblib) and the step lists no ``deps``, the run says so in a note,
once per run of the step.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

#: Audit events that start a process running another program.
STARTS = frozenset(
    {"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "incr.launch"}
)
#: Modules between the project's code and the start of a process (see ``launched_by``).
LAUNCHERS = ("subprocess", "os", "multiprocessing", "concurrent", "joblib", "loky", __name__)


def launched_by(frame: Any) -> Any:
    """The first frame, from ``frame`` up, of code that is not a module starting processes on
    its caller's behalf (``subprocess``, ``multiprocessing``, joblib...)."""
    while frame is not None:
        name = str(frame.f_globals.get("__name__"))
        if name not in LAUNCHERS and not name.startswith(_INSIDE):
            return frame
        frame = frame.f_back
    return None


_INSIDE = tuple(f"{name}." for name in LAUNCHERS)


def follow_launches() -> None:
    """Have each process ``_posixsubprocess.fork_exec`` starts raise the ``incr.launch``
    audit event first, with its program: ``multiprocessing`` and joblib start Python workers
    through it without an event of their own. Once per process."""
    try:
        import _posixsubprocess
    except ImportError:  # not a POSIX system
        return
    real = _posixsubprocess.fork_exec
    if getattr(real, "__wrapped__", None) is not None:
        return

    def fork_exec(args: Any, *rest: Any, **kw: Any) -> Any:
        with contextlib.suppress(TypeError, IndexError):
            sys.audit("incr.launch", args[0])
        return real(args, *rest, **kw)

    fork_exec.__wrapped__ = real  # type: ignore[attr-defined]
    _posixsubprocess.fork_exec = fork_exec


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
    if any(p.startswith("python") for p in programs):
        return (
            f"runs {names} in a process incr does not follow (Python workers started afresh: "
            "multiprocessing's spawn or forkserver, joblib): what it reads is an input only "
            "when listed in deps=[...]; workers forked (the fork start method) are followed"
        )
    return (
        f"runs {names} in a process incr does not follow: what it reads is an input only when "
        "listed in deps=[...]"
    )
