"""Start ``python -m incr.cli`` commands as forks of a Python that has imported the CLI's modules.

Every functional test runs the command line in a process of its own. Started with ``exec``,
each such process first pays for Python's start (``site`` and the ``.pth`` files of the
environment) and for importing click and incr's CLI: about 60 ms of CPU on the test
machines, some two thousand times a run. A *fork server* pays that once: it is a Python
started like a command, with the same interpreter and environment, that imports what
``incr/cli.py`` imports and then forks one child per command. The child sets up what
``python -m incr.cli ARGS`` would have had from the start, then runs ``incr/cli.py`` as
``__main__``, and exits through the interpreter's normal shutdown (``atexit`` included). It is
a real process with its own pid, files and exit status, running the real command line.

What a fork would share, and how each is kept apart:

- **The hash seed** (``str`` and ``bytes`` hashes, and so the order of sets). Each worker has two
  servers, each started with its own random seed, and commands alternate between them, so that
  two commands in a row never share a seed, as two fresh processes would not.
- **The ``random`` module's state**: a child seeds it again from the OS.
- **What Python reads only at start** (``PYTHON*`` variables such as ``PYTHONPATH``, ``HOME`` for
  the user site, the locale, ``TMPDIR``): a command whose environment differs from the
  server's in any of these is started with ``exec`` as before, and so is any other command
  line, a command that writes bytecode, and every command when ``INCR_TESTS_EXEC=1`` is set.
- **Modules**: the child's ``sys.modules`` holds what ``incr/cli.py`` imports and ``incr.cli``
  itself is dropped, so ``python -m`` runs the file as ``__main__`` alone, as it does with exec.
  One module more is loaded on purpose: networkx, which a command imports whenever it orders a
  graph of a new shape (the first ``repro`` of every test project: about 0.12 s of CPU each,
  hundreds of times a run). What that could hide is kept apart: a command in a folder where a
  project module takes a standard module's name (``logging.py``, which breaks networkx's own
  imports once the project leads ``sys.path``) is started with exec, and so are the tests of
  how networkx loads (they set ``INCR_TESTS_EXEC=1``).

A server runs one command at a time: when a test's threads keep both busy, a further command is
started with exec.
"""

from __future__ import annotations

import atexit
import marshal
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from threading import Lock

#: Environment variables that Python (or the environment's ``.pth`` files) reads at start, or
#: that decide what a module computed at import: a command with other values than its server's
#: is started with exec.
_READ_AT_START = ("HOME", "LANG", "TMPDIR", "TEMP", "TMP", "TZ")
_READ_AT_START_PREFIXES = ("PYTHON", "LC_")
#: Set to 1 to start every command with exec, as a user's shell does.
ALWAYS_EXEC = "INCR_TESTS_EXEC"


#: The server's program, given with ``-c`` as a command's own start has no ``__main__`` file:
#: ``import incr`` treats a ``__main__`` file inside a project as a user's script.
_PROGRAM = Path(__file__).with_name("forkmain.py").read_text(encoding="utf-8")


#: The environment the servers start with: the worker's, as commands get it by default.
_BASE_ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _shadows_standard_modules(cwd: Path) -> bool:
    """True when a module or package in ``cwd`` or a parent of it up to the project root (or
    in their ``src`` folders) takes the name of a standard module."""
    from incr.project import MARKERS

    for folder in (cwd, *cwd.parents):
        for place in (folder, folder / "src"):
            try:
                names = os.listdir(place)
            except OSError:
                continue
            if any(n.removesuffix(".py") in sys.stdlib_module_names for n in names):
                return True
        if any((folder / marker).exists() for marker in MARKERS):
            return False  # the project root: incr puts no folder above it on sys.path
    return False


def _startup_view(env: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if key in _READ_AT_START or key.startswith(_READ_AT_START_PREFIXES)
    }


class _Server:
    """One fork server: its process, the pipe it reads requests from and the one it answers on."""

    def __init__(self, env: dict[str, str], folder: Path, busy: Lock | None = None) -> None:
        self.folder = folder
        self.busy = busy or Lock()  # held while a command of one thread runs
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM],
            env=env,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self.replies = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of ``python -m incr.cli ARGS`` run in ``cwd``."""
        out, err = self.folder / "stdout", self.folder / "stderr"
        request = {"args": args, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err)}
        data = marshal.dumps(request)
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"%d\n" % len(data) + data)
        pid = self.reply(None)  # without a timeout: always a number
        assert pid is not None
        returncode = self.reply(timeout)
        if returncode is None:
            # Not answered, so not reaped by the server either: the pid is still the command's.
            os.kill(pid, signal.SIGKILL)
            self.reply(None)
            raise subprocess.TimeoutExpired(["python", "-m", "incr.cli", *args], timeout)
        return returncode, out.read_text(), err.read_text()

    def reply(self, timeout: float | None) -> int | None:
        """The number on the server's next line; None if none came within ``timeout`` seconds."""
        assert self.proc.stdout is not None
        while b"\n" not in self.replies:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the fork server {self.proc.pid} stopped")
            self.replies += chunk
        line, self.replies = self.replies.split(b"\n", 1)
        return int(line)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class _Servers:
    """A worker's two servers, used in turn: started on first use, stopped when it exits."""

    def __init__(self) -> None:
        self.servers: list[_Server] = []
        self.turn = 0
        self.choosing = Lock()  # threads of one test may run commands at the same time
        self.folder = Path(tempfile.mkdtemp(prefix="incr-forkserver-"))
        atexit.register(self.stop)

    def serves(self, args: list[str], env: dict[str, str], bytecode: bool, cwd: Path) -> bool:
        """Whether a server can start this command as exec would."""
        return (
            not bytecode
            and hasattr(os, "fork")
            and os.environ.get(ALWAYS_EXEC) != "1"
            and args[:3] == [sys.executable, "-m", "incr.cli"]
            and _startup_view(env) == _startup_view(_BASE_ENV)
            and not _shadows_standard_modules(cwd)
        )

    def run(
        self, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, str, str] | None:
        """Run ``python -m incr.cli ARGS`` (``args`` as given to ``subprocess``) in ``cwd``;
        None when both servers are busy with other threads' commands (start it with exec)."""
        with self.choosing:
            if not self.servers:
                for number in range(2):  # two hash seeds, taken in turn
                    folder = self.folder / str(number)
                    folder.mkdir()
                    self.servers.append(_Server(_BASE_ENV, folder))
            self.turn = (self.turn + 1) % len(self.servers)
            turns = [self.turn, *(i for i in range(len(self.servers)) if i != self.turn)]
            index = next((i for i in turns if self.servers[i].busy.acquire(blocking=False)), None)
        if index is None:
            return None
        server = self.servers[index]
        try:
            if not server.alive():
                server.stop()
                server = self.servers[index] = _Server(_BASE_ENV, server.folder, server.busy)
            return server.run(args[3:], cwd, env, timeout)
        finally:
            server.busy.release()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


_servers: _Servers | None = None


def servers() -> _Servers:
    """This worker's fork servers."""
    global _servers
    if _servers is None:
        _servers = _Servers()
    return _servers
