"""Programs a step starts in processes that no recorder follows: ``subprocess``, ``os.system``,
``os.posix_spawn``, the ``os.exec`` and ``os.spawn`` functions, and Python workers started
afresh (``multiprocessing``'s ``spawn`` and ``forkserver`` start methods, joblib's loky
workers), which raise no audit event of their own: ``follow_launches`` has every process
``_posixsubprocess.fork_exec`` starts raise ``incr.launch``, and runs ``os.system``'s command
through ``subprocess`` while a step records (the C library's ``system`` would pass by).

A Python process started afresh while a step's reads are recorded (a worker of
``multiprocessing``, ``concurrent.futures`` or joblib, or ``python script.py``) is followed when
it runs the same Python as the step: ``fork_exec`` hands it what it needs to record its reads
and report them to the step (``incr.childreads``), and it says so once it does. What another
program reads is not seen (``incr.reads`` follows the step's own process and the processes it
forks), so its inputs are inputs of the step only when the step lists them in ``deps=[...]``.
When the project's code starts such a program (directly, or through ``multiprocessing``,
``concurrent.futures`` or joblib) and the step lists no ``deps``, the run says so in a note,
once per run of the step.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
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


def follow_launches(relay_env: Callable[[], dict[str, str] | None]) -> None:
    """Have each process ``_posixsubprocess.fork_exec`` starts raise the ``incr.launch``
    audit event first, with its program (``multiprocessing`` and joblib start Python workers
    through it without an event of their own), and ``incr.launched`` once started, with its
    process id. ``relay_env`` gives the variables that let a Python process report what it
    reads (``incr.childreads``), or None while no step records. Once per process."""
    try:
        import _posixsubprocess
    except ImportError:  # not a POSIX system
        return
    real = _posixsubprocess.fork_exec
    if getattr(real, "__wrapped__", None) is not None:
        return

    def fork_exec(args: Any, *rest: Any, **kw: Any) -> Any:
        if any("resource_tracker" in str(arg) for arg in args):  # multiprocessing's own
            return real(args, *rest, **kw)
        with contextlib.suppress(TypeError, IndexError):
            sys.audit("incr.launch", args[0])
        variables = relay_env() if len(rest) > 4 and not kw and not _no_site(args) else None
        if variables is not None:
            env = with_variables(rest[4], variables)
            rest = rest if env is None else (*rest[:4], env, *rest[5:])
        pid = real(args, *rest, **kw)
        with contextlib.suppress(TypeError, IndexError):
            sys.audit("incr.launched", args[0], pid)
        return pid

    fork_exec.__wrapped__ = real  # type: ignore[attr-defined]
    _posixsubprocess.fork_exec = fork_exec
    real_system = os.system

    def system(command: Any) -> int:
        """``os.system`` (the C library's ``system``, past ``fork_exec``): while a step
        records, the same ``/bin/sh -c COMMAND`` started through ``subprocess``, so that a
        Python process the command runs reports what it reads; its wait status as
        ``os.system`` gives it."""
        if relay_env() is None:
            return real_system(command)
        import subprocess

        code = subprocess.call(os.fsdecode(command), shell=True)
        return code << 8 if code >= 0 else -code

    system.__wrapped__ = real_system  # type: ignore[attr-defined]
    os.system = system
    import subprocess

    if getattr(subprocess, "_fork_exec", None) is real:  # bound as subprocess was imported
        subprocess._fork_exec = fork_exec  # type: ignore[attr-defined]
    # ``close_fds=False`` would start the process by ``os.posix_spawn``, past the wrapper.
    subprocess._USE_POSIX_SPAWN = False  # type: ignore[misc]


def _no_site(args: Any) -> bool:
    """Whether a Python command line runs no ``sitecustomize`` from ``PYTHONPATH`` (``-I``,
    ``-E``, ``-S``, in its options before the script or ``-c``/``-m``)."""
    for arg in list(args)[1:]:
        text = os.fsdecode(arg) if isinstance(arg, bytes | str) else ""
        if not text.startswith("-") or text.startswith("--") or text in ("-c", "-m"):
            return False
        if {"I", "E", "S"} & set(text[1:]):
            return True
    return False


#: The variable naming (JSON) the variables the step gave a process other values than its own,
#: or removed: what the process reads of them is the step's choice (see ``incr.childreads``).
CHOSEN = "INCR_READS_CHOSEN"

#: The variable under which a process started afresh finds the ``PYTHONPATH`` it was given,
#: while incr's start folder is put first (see ``incr.childreads``).
GIVEN_PATH = "INCR_READS_PYTHONPATH"


def with_variables(env: list[bytes] | None, variables: dict[str, str]) -> list[bytes] | None:
    """The environment ``fork_exec`` gives a process (``env``: a list of ``NAME=value``
    bytes; None for this process's own), with ``variables`` set. ``PYTHONPATH`` among them
    names a folder put first on the path the process was given (kept as ``GIVEN_PATH``).
    None when ``env`` is not such a list."""
    if env is None:
        env = [name + b"=" + value for name, value in os.environb.items()]
    if not all(isinstance(item, bytes) for item in env):
        return None
    first = os.fsencode(variables.get("PYTHONPATH", ""))
    keys = {os.fsencode(name) for name in (*variables, GIVEN_PATH, CHOSEN)}
    kept, given = [], None
    for item in env:
        name, _, value = item.partition(b"=")
        if name == b"PYTHONPATH":
            given = value
        if name not in keys:
            kept.append(item)
    for key, text in variables.items():
        encoded = os.fsencode(text)
        if key == "PYTHONPATH" and given:
            encoded = first + os.pathsep.encode() + given
        kept.append(os.fsencode(key) + b"=" + encoded)
    if "PYTHONPATH" in variables and given is not None:
        kept.append(os.fsencode(GIVEN_PATH) + b"=" + given)
    mine = {name + b"=" + value for name, value in os.environb.items()}
    chosen = {item.partition(b"=")[0] for item in env} ^ set(os.environb)
    chosen |= {item.partition(b"=")[0] for item in env if item not in mine}
    chosen -= keys | {b"PYTHONPATH"}
    names = sorted(os.fsdecode(name) for name in chosen)
    kept.append(os.fsencode(CHOSEN) + b"=" + os.fsencode(json.dumps(names)))
    return kept


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


def arguments(event: str, args: tuple[Any, ...]) -> tuple[list[str], str | None]:
    """The words of the command line an audit event of ``STARTS`` starts (a shell command
    split as the shell would, its redirections left out), and the folder it starts in (None:
    the current one)."""
    given: Any = ()
    cwd = None
    with contextlib.suppress(TypeError, ValueError, IndexError):
        if event == "subprocess.Popen":
            given, cwd = args[1], args[2]
        elif event == "os.system":
            given = args[0]
        elif event in ("os.posix_spawn", "os.exec"):
            given = args[1]
        elif event == "os.spawn":
            given = args[2]
    words: list[str] = []
    for item in [given] if isinstance(given, str | bytes | os.PathLike) else list(given or ()):
        with contextlib.suppress(TypeError, ValueError):
            text = os.fsdecode(item)
            words += _shell_words(text) if any(c.isspace() for c in text) else [text]
    where = os.fsdecode(cwd) if isinstance(cwd, str | bytes | os.PathLike) else None
    return words, where


def _shell_words(line: str) -> list[str]:
    import shlex  # here: only a step that starts a command line needs it

    try:
        split = shlex.split(line)
    except ValueError:
        return []
    words, skip = [], False
    for word in split:
        bare = word.lstrip("0123456789&")
        if skip:  # the file an output is redirected to: written, not read
            skip = False
        elif bare.startswith(">"):
            skip = bare in (">", ">>", ">|")
        elif bare.startswith("<"):  # ``< data/in.txt``: the next word, or what follows
            words += [bare.lstrip("<")] if bare.lstrip("<") else []
        else:
            words.append(word)
    return words


def status_note(programs: list[str]) -> str:
    """What ``incr status`` says of a step that started ``programs`` as it last ran."""
    names = ", ".join(f"`{p}`" for p in programs)
    return (
        f"ran {names} in a process incr does not follow: what it reads beyond the files its "
        "command line names is an input only when listed in deps=[...]"
    )


def note(programs: list[str], named: list[str] | None = None) -> str:
    """The note of a step that started ``programs`` (``named``: the project files their
    command lines name, which count as read)."""
    names = ", ".join(f"`{p}`" for p in programs)
    counted = ""
    if named:
        files = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        counted = f"the files its command line names count as read ({files}); what else "
    what = counted or "what "
    if any(p.startswith("python") for p in programs):
        return (
            f"runs {names} in a process incr does not follow (a Python process that did not "
            "report what it read before the step ended: another Python than the step's, one "
            f"started with -I, -E or -S, or one still starting): {what}it reads is an input "
            "only when listed in deps=[...]"
        )
    return (
        f"runs {names} in a process incr does not follow: {what}it reads is an input only "
        "when listed in deps=[...]"
    )
