"""Start ``python -m incr.cli`` commands, and ``python FILE.py`` scripts, as forks of a Python
that has loaded what they load first.

Every functional test runs the command line in a process of its own. Started with ``exec``,
each such process first pays for Python's start (``site`` and the ``.pth`` files of the
environment) and for importing click and incr's CLI: about 60 ms of CPU on the test
machines, some two thousand times a run. A *fork server* pays that once: it is a Python
started like a command, with the same interpreter and environment, that imports what
``incr/cli.py`` imports and then forks one child per command. The child sets up what
``python -m incr.cli ARGS`` would have had from the start, then runs ``incr/cli.py`` as
``__main__``, and ends as the interpreter ends (threads waited for, ``atexit`` handlers run,
streams flushed) without tearing its modules down, which would copy every page it shares with
the server (``forkmain.end``). It is a real process with its own pid, files and exit status,
running the real command line.

A script (``python FILE.py ARGS``, as the scripts of ZenML's era are run) has servers of its
own, which load nothing of incr: the child runs the file as Python does, in a new ``__main__``
module with the file's path, its folder first on ``sys.path``, and an error no code caught
printed with the file's frames alone, ending the process with status 1.

What a fork would share, and how each is kept apart:

- **The hash seed** (``str`` and ``bytes`` hashes, and so the order of sets). Each worker has two
  servers for projects that import no slow library (most of them), each started with its own
  random seed, and commands alternate between them, so that two commands in a row never share
  a seed, as two fresh processes would not. The servers with slow libraries loaded cost seconds
  each to start and serve a few dozen commands: one is started, and a second only when two
  commands run at once, so commands in a row there share a seed.
- **The ``random`` module's state**: a child seeds it again from the OS.
- **What Python reads only at start** (``PYTHON*`` variables such as ``PYTHONPATH``, ``HOME`` for
  the user site, the locale, ``TMPDIR``): a command whose environment differs from the
  server's in any of these is started with ``exec`` as before, and so is any other command
  line, a command that writes bytecode, and every command when ``INCR_TESTS_EXEC=1`` is set.
- **Modules**: the child's ``sys.modules`` holds what ``incr/cli.py`` imports and ``incr.cli``
  itself is dropped, so ``python -m`` runs the file as ``__main__`` alone, as it does with exec.
  More is loaded on purpose, each module once per server rather than once per command:

  - networkx, which a command imports whenever it orders a graph of a new shape (the first
    ``repro`` of every test project);
  - ``ENGINE``, the modules of incr that a ``status`` or ``repro`` imports once its arguments
    are parsed. No module of incr reads the environment, the clock, the working folder or the
    terminal as it is imported (``incr.storage`` reads the umask, which the server has from the
    worker as a command would), so a module loaded in the server is the one the command would
    have loaded;
  - in a project whose Python files import one of ``LIBRARIES`` (numpy, pandas, scikit-learn...),
    that library, from a server of its own: scikit-learn alone takes 1.5 s of CPU to import.

  What that could hide is kept apart. A command in a folder where a project module takes the
  name of a module its server loaded (``logging.py``, which breaks networkx's own imports once
  the project leads ``sys.path``; ``pandas.py``) is started with exec; the tests of what a
  command loads and of how networkx loads start theirs with exec (``python -c``, or
  ``INCR_TESTS_EXEC=1``).

A command can also be started in the background (``start``, for the tests that read its output
as it comes and kill it at some point): its streams are then named pipes that the test reads,
and the object returned stands for a ``subprocess.Popen``.

A server runs one command at a time: when a test's threads keep both busy, a further command is
started with exec.
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from threading import Lock
from typing import IO

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


#: incr's modules that a ``status`` or ``repro`` imports once its arguments are parsed (each
#: brings what it imports): every server loads them.
ENGINE = (
    "incr.clickcli",
    "incr.clirun",
    "incr.runner",
    "incr.commands",
    "incr.statusmemo",
    "incr.discovery",
    "incr.codeindex",
    "incr.api",
    "incr.remotecli",
    "incr.report",
    "incr.captures",
    "incr.console",
    "incr.daskconf",
    "incr.graphcache",
    "incr.keptsources",
    "incr.objectcode",
    "incr.registries",
    "incr.volatile",
    "incr.wiring",
)
#: Libraries slow to import, by the top-level name a project imports, and what a server for such
#: projects loads for them. Each names the slow libraries that importing it loads anyway (pandas
#: loads numpy and pyarrow; scikit-learn loads pandas), so that a project importing numpy and
#: scikit-learn shares the servers of one importing scikit-learn alone; skops.io, which incr
#: loads to store a scikit-learn model, loads most of scikit-learn.
LIBRARIES = {
    "numpy": ("numpy",),
    "pandas": ("numpy", "pandas", "pyarrow"),
    "pyarrow": ("numpy", "pyarrow"),
    "polars": ("polars",),
    "sklearn": ("numpy", "pandas", "pyarrow", "sklearn", "skops.io"),
}
_IMPORT = re.compile(rb"^[ \t]*(?:import|from)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)


def _is_script(arg: str, cwd: Path) -> bool:
    """Whether ``python ARG ...`` in ``cwd`` runs a Python file (not an option, nor a folder
    or zip file with a ``__main__``)."""
    return arg.endswith(".py") and not arg.startswith("-") and (cwd / arg).is_file()


def _up_to_root(cwd: Path) -> tuple[list[Path], Path]:
    """``cwd`` and the folders above it up to the project root (the first that holds a marker:
    incr puts no folder above it on ``sys.path``), every one when none does; and the project
    root, ``cwd`` when none."""
    from incr.project import MARKERS

    folders = []
    for folder in (cwd, *cwd.parents):
        folders.append(folder)
        if any((folder / marker).exists() for marker in MARKERS):
            return folders, folder
    return folders, cwd


def _libraries(root: Path) -> tuple[str, ...]:
    """What a server loads for the ``LIBRARIES`` that the Python files under ``root`` import."""
    wanted: set[str] = set()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith((".", "__"))]
        for name in files:
            if name.endswith(".py"):
                try:
                    text = Path(folder, name).read_bytes()
                except OSError:
                    continue
                for top in _IMPORT.findall(text):
                    wanted.update(LIBRARIES.get(top.decode(), ()))
    return tuple(sorted(wanted))


def _shadows(folders: list[Path], loaded: frozenset[str]) -> bool:
    """True when a module or package in one of ``folders`` (or in their ``src`` folders) takes
    one of the ``loaded`` top-level names."""
    for folder in folders:
        for place in (folder, folder / "src"):
            try:
                names = os.listdir(place)
            except OSError:
                continue
            if any(n.removesuffix(".py") in loaded for n in names):
                return True
    return False


def _startup_view(env: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if key in _READ_AT_START or key.startswith(_READ_AT_START_PREFIXES)
    }


class _Server:
    """One fork server: its process, the pipe it reads requests from and the one it answers on."""

    def __init__(self, env: dict[str, str], folder: Path, mode: tuple[str, ...]) -> None:
        self.folder = folder
        self.mode = mode  # ("-m" or "script", the modules loaded on purpose...)
        self.busy = Lock()  # held while a command of one thread runs
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM, *mode],
            env=env,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self.replies = b""
        self.tops: frozenset[str] | None = None
        self.ready = Lock()  # held while one thread reads the first line

    def loaded(self) -> frozenset[str]:
        """The top-level names of the modules the server has loaded (waits until it is ready)."""
        with self.ready:
            if self.tops is None:
                line = self.line(None)
                assert line is not None
                self.tops = frozenset(line.decode().split())
        return self.tops

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of ``python -m incr.cli ARGS`` (mode ``-m``) or of
        ``python ARGS`` (mode ``script``) run in ``cwd``."""
        out, err = self.folder / "stdout", self.folder / "stderr"
        pid = self.send(args, cwd, env, out, err)
        returncode = self.reply(timeout)
        if returncode is None:
            # Not answered, so not reaped by the server either: the pid is still the command's.
            os.kill(pid, signal.SIGKILL)
            self.reply(None)
            raise subprocess.TimeoutExpired(["python", *args], timeout)
        return returncode, out.read_text(), err.read_text()

    def start(self, args: list[str], cwd: Path, env: dict[str, str]) -> Forked:
        """``python -m incr.cli ARGS`` or ``python ARGS`` started in ``cwd``, its output read
        through named pipes as it comes."""
        fifos = [self.folder / "stdout.fifo", self.folder / "stderr.fifo"]
        for fifo in fifos:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
        pid = self.send(args, cwd, env, *fifos)
        # The child opens its stdout, then its stderr, each waiting for this reader.
        stdout, stderr = (open(fifo, encoding=None) for fifo in fifos)  # noqa: SIM115
        return Forked(self, pid, ["python", *args], stdout, stderr)

    def send(self, args: list[str], cwd: Path, env: dict[str, str], out: Path, err: Path) -> int:
        """Ask for a command whose streams go to ``out`` and ``err``; the child's pid."""
        self.loaded()
        request = {"args": args, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err)}
        data = marshal.dumps(request)
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"%d\n" % len(data) + data)
        pid = self.reply(None)  # without a timeout: always a number
        assert pid is not None
        return pid

    def reply(self, timeout: float | None) -> int | None:
        """The number on the server's next line; None if none came within ``timeout`` seconds."""
        line = self.line(timeout)
        return None if line is None else int(line)

    def line(self, timeout: float | None) -> bytes | None:
        """The server's next line; None if none came within ``timeout`` seconds."""
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
        return line

    def stop(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class Forked:
    """A command started in the background by a server, used as a ``subprocess.Popen`` with
    text streams is: ``pid``, ``stdout``, ``stderr``, ``poll``, ``wait``, ``send_signal``,
    ``communicate``, ``returncode``. The server is busy until the command's end is seen."""

    def __init__(
        self, server: _Server, pid: int, args: list[str], stdout: IO[str], stderr: IO[str]
    ) -> None:
        self.server, self.pid, self.args = server, pid, args
        self.stdout, self.stderr = stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._ended(self.server.reply(0))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._ended(self.server.reply(timeout))
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def _ended(self, code: int | None) -> None:
        if code is not None:
            self.returncode = code
            self.server.busy.release()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # not reaped yet, so the pid is still the command's
            with contextlib.suppress(ProcessLookupError):  # it ended since: reaped, no reply yet
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Both streams read to their end, then the exit status waited for."""
        texts: dict[int, str] = {}
        readers = [
            threading.Thread(target=lambda i=i, s=s: texts.__setitem__(i, s.read()))
            for i, s in enumerate((self.stdout, self.stderr))
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
        self.wait(timeout)
        return texts.get(0, ""), texts.get(1, "")


class _Pair:
    """Up to two servers of one mode that load the same modules, each with its own hash seed:
    both started and used in turn (``alternate``), or the second started only when the first
    is busy."""

    def __init__(self, folder: Path, mode: tuple[str, ...], alternate: bool) -> None:
        self.folder, self.mode = folder, mode
        self.servers: list[_Server] = []
        for _ in range(2 if alternate else 1):
            self._add()
        self.turn = 0

    def _add(self) -> _Server:
        folder = self.folder / str(len(self.servers))
        folder.mkdir(parents=True)
        self.servers.append(_Server(_BASE_ENV, folder, self.mode))
        return self.servers[-1]

    def take(self) -> _Server | None:
        """The next server not busy with another thread's command, marked busy; None if both
        are (the caller holds the choosing lock)."""
        self.turn = (self.turn + 1) % len(self.servers)
        turns = [self.turn, *(i for i in range(len(self.servers)) if i != self.turn)]
        index = next((i for i in turns if self.servers[i].busy.acquire(blocking=False)), None)
        if index is None and len(self.servers) < 2:
            index = self.servers.index(self._add())
            self.servers[index].busy.acquire()
        if index is None:
            return None
        server = self.servers[index]
        if not server.alive():
            server.stop()
            busy, server = server.busy, _Server(_BASE_ENV, server.folder, server.mode)
            server.busy = busy  # held: taken above
            self.servers[index] = server
        return server


class _Servers:
    """A worker's servers, a pair for each set of libraries the projects import: started on first
    use, stopped when the worker exits."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, ...], _Pair] = {}
        self.choosing = Lock()  # threads of one test may run commands at the same time
        self.folder = Path(tempfile.mkdtemp(prefix="incr-forkserver-"))
        atexit.register(self.stop)

    def serves(self, args: list[str], env: dict[str, str], bytecode: bool, cwd: Path) -> bool:
        """Whether a server can start this command as exec would."""
        return self.pair(args, env, bytecode, cwd) is not None

    def pair(self, args: list[str], env: dict[str, str], bytecode: bool, cwd: Path) -> _Pair | None:
        """The pair of servers for a command in ``cwd``; None when none can start it as exec
        would."""
        if args[:3] == [sys.executable, "-m", "incr.cli"]:
            mode: tuple[str, ...] = ("-m", *ENGINE)
        elif args[:1] == [sys.executable] and len(args) > 1 and _is_script(args[1], cwd):
            mode = ("script",)
        else:
            return None
        if (
            bytecode
            or not hasattr(os, "fork")
            or os.environ.get(ALWAYS_EXEC) == "1"
            or _startup_view(env) != _startup_view(_BASE_ENV)
        ):
            return None
        folders, root = _up_to_root(cwd)
        libraries = _libraries(root)
        mode += libraries
        with self.choosing:
            if mode not in self.pairs:
                folder = self.folder / str(len(self.pairs))
                self.pairs[mode] = _Pair(folder, mode, alternate=not libraries)
            pair = self.pairs[mode]
        loaded = frozenset().union(*(server.loaded() for server in pair.servers))
        return None if _shadows(folders, loaded) else pair

    def run(
        self, args: list[str], cwd: Path, env: dict[str, str], bytecode: bool, timeout: float
    ) -> tuple[int, str, str] | None:
        """Run ``args`` (as given to ``subprocess``) in ``cwd`` when it is ``python -m incr.cli
        ...`` or ``python FILE.py ...``; None when no server can start it as exec would, or
        when both are busy with other threads' commands (start it with exec)."""
        taken = self.take(args, env, bytecode, cwd)
        if taken is None:
            return None
        server, words = taken
        try:
            return server.run(words, cwd, env, timeout)
        finally:
            server.busy.release()

    def start(self, args: list[str], cwd: Path, env: dict[str, str]) -> Forked | None:
        """Start ``args`` in the background as ``run`` would run it; None when it cannot be.
        The server stays busy until the ``Forked`` sees the command end."""
        taken = self.take(args, env, False, cwd)
        if taken is None:
            return None
        server, words = taken
        try:
            return server.start(words, cwd, env)
        except BaseException:
            server.busy.release()
            raise

    def take(
        self, args: list[str], env: dict[str, str], bytecode: bool, cwd: Path
    ) -> tuple[_Server, list[str]] | None:
        """A server for the command, marked busy, and the words it is given (what follows
        ``python -m incr.cli`` or ``python``); None when no server can start it as exec would
        or both are busy."""
        pair = self.pair(args, env, bytecode, cwd)
        if pair is None:
            return None
        with self.choosing:
            server = pair.take()
        if server is None:
            return None
        return server, args[3:] if server.mode[0] == "-m" else args[1:]

    def stop(self) -> None:
        for pair in self.pairs.values():
            for server in pair.servers:
                server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


_servers: _Servers | None = None


def servers() -> _Servers:
    """This worker's fork servers."""
    global _servers
    if _servers is None:
        _servers = _Servers()
    return _servers
