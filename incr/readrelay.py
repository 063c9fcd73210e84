"""What processes forked by a step read: relayed to the step's recorder (``incr.reads``).

A step that reads its files in forked workers (``multiprocessing`` with the ``fork`` start
method, Linux's default up to Python 3.13; a PyTorch ``DataLoader`` with ``num_workers``; a
``Pool.map`` over files) depends on those files as much as on the ones it opens itself. A
forked child inherits the audit hook and the recorder, but what it records stays in its own
memory and is gone when it exits (``os._exit``, without ``atexit``).

So a child forked while a step's reads are recorded writes each file it opens, each folder it
lists, each path it tests, each entry it changes and each environment variable its project
code reads as a line of JSON to a file of its own, in one folder per incr process
(``Relay``; the process makes it when it first starts one). When a step ends, its process
takes in the lines written since the last step ended: a pool a helper keeps in a module
global, forked during one step and used again by the next, reports what it reads for the next
step to that step. A child of a child does the same. A Python process started afresh (the
``spawn`` and ``forkserver`` start methods, joblib's loky workers, ``python script.py``)
reports to the same folder once ``incr.childreads`` has started its recorder (``child_env``);
other programs run no recorder: declare what they read in ``deps=[...]`` (``incr.processes``
says so in a note).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any


class Relay:
    """The folder where forked children of an incr process report what they read: named
    and made when the process first forks or starts a process while recording (``forking``),
    so that steps that start none cost no folder and no look for one. Kept while the process
    lives (``for_this_process``): a child forked by one step may read for the next. A child
    never makes it: one that starts after the process that named it ended reports nothing,
    and leaves no folder behind."""

    def __init__(self) -> None:
        #: The folder, once the process is about to fork; None while it has not.
        self.folder: str | None = None
        #: In a forked child: the file it reports to (a descriptor), else None.
        self.fd: int | None = None
        #: How far each child's file was taken in (``events``), by file name.
        self.taken: dict[str, int] = {}
        self.pid = os.getpid()

    def forking(self) -> None:
        """In the recording process, about to fork (``os.register_at_fork(before=...)``,
        which runs wherever a child can run Python: ``os.fork``, ``multiprocessing``)."""
        if self.folder is None:
            name = f"incr-reads-{os.getpid()}-{os.urandom(8).hex()}"
            folder = os.path.join(tempfile.gettempdir(), name)
            try:
                os.mkdir(folder, mode=0o700)
            except OSError:
                return  # nothing can be relayed
            self.folder = folder
            atexit.register(self.close)
            from multiprocessing import util  # here: only a step that starts processes

            # A worker of a multiprocessing pool (``--jobs``) ends by ``os._exit`` after these.
            util.Finalize(None, self.close, exitpriority=0)

    def child_env(self, root: str, exclude: tuple[str, ...]) -> dict[str, str] | None:
        """The variables that make a Python process started afresh record what it reads under
        ``root`` (but not ``exclude``) and report it here: a folder holding a
        ``sitecustomize`` module, put first on its ``PYTHONPATH`` (see ``incr.childreads``)."""
        self.forking()
        if self.folder is None or not os.path.isdir(self.folder):
            return None  # the process that named it has ended: nothing is taken in
        start = self.folder + ".start"
        if not os.path.isfile(os.path.join(start, "sitecustomize.py")):
            try:
                os.makedirs(start, mode=0o700, exist_ok=True)
                with open(os.path.join(start, "sitecustomize.py"), "w", encoding="utf-8") as fh:
                    fh.write(_SITECUSTOMIZE)
            except OSError:
                return None
        spec = {"folder": self.folder, "root": root, "exclude": exclude, "prefix": sys.prefix}
        return {"PYTHONPATH": start, CHILD_ENV: json.dumps(spec)}

    def start_child(self) -> None:
        """In a child just forked: open its own report file. (The caller keeps this open from
        being recorded.)"""
        if self.folder is None:
            return  # forked without the hook before it: nothing can be relayed
        path = os.path.join(self.folder, str(os.getpid()))
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            self.fd = os.open(path, flags, 0o600)  # the folder is there while its maker lives
        except OSError:
            self.fd = None  # nothing can be relayed

    def send(self, *event: Any) -> None:
        """Report one event: ``("open", path, mode, flags, when)`` (``when``: the monotonic
        clock's nanoseconds, which Linux keeps for the whole system), ``("ls", folder, value)``,
        ``("test", path, value)``, ``("change", path)`` or ``("env", name)``."""
        if self.fd is not None:
            os.write(self.fd, (json.dumps(event) + "\n").encode("utf-8", "surrogatepass"))

    def events(self) -> Iterator[list[Any]]:
        """Every event the children reported since the last call (a line cut short by a
        killed child left out)."""
        if self.folder is None:
            return  # the process forked no child
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return  # no child was forked
        for name in names:
            try:
                with open(os.path.join(self.folder, name), "rb") as fh:
                    fh.seek(self.taken.get(name, 0))
                    data = fh.read()
            except OSError:
                continue
            whole = data.rfind(b"\n") + 1  # a line still being written is taken next time
            self.taken[name] = self.taken.get(name, 0) + whole
            try:
                lines = data[:whole].decode("utf-8", "surrogatepass").splitlines()
            except UnicodeDecodeError:
                continue
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, list) and event and isinstance(event[0], str):
                    yield event

    def close(self) -> None:
        """Remove the folder (in the process that named it: a forked child leaves it)."""
        if self.folder is not None and os.getpid() == self.pid:
            shutil.rmtree(self.folder, ignore_errors=True)
            shutil.rmtree(self.folder + ".start", ignore_errors=True)
            self.folder, self.taken = None, {}


#: What a Python process started afresh by a step needs to record its reads (JSON): the
#: relay folder, the project root and its left-out folders, and ``sys.prefix`` (another
#: Python does not start incr's recorder).
CHILD_ENV = "INCR_READS_RELAY"

#: The ``sitecustomize`` module of the folder ``child_env`` puts first on ``PYTHONPATH``: it
#: puts the path back as it was given, runs the ``sitecustomize`` module it hid, if any, and
#: starts the recorder (``incr.childreads``) in the Python that started the step.
_SITECUSTOMIZE = """\
# Written by incr: this Python process was started by a step whose reads incr records.
import os
import sys


def _incr_start():
    import importlib.machinery
    import importlib.util
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    given = os.environ.pop("INCR_READS_PYTHONPATH", None)
    if given is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = given
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    hidden = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if hidden is not None and hidden.loader is not None:  # run it, as Python would have
        module = importlib.util.module_from_spec(hidden)
        sys.modules["sitecustomize"] = module
        hidden.loader.exec_module(module)
    try:
        spec = json.loads(os.environ.pop("INCR_READS_RELAY", "") or "{}")
    except ValueError:
        return
    if not isinstance(spec, dict) or spec.get("prefix") != sys.prefix:
        return  # another Python than the step's: its incr, if any, is not this one
    try:
        from incr.childreads import start

        start(spec)
    except Exception:
        pass  # nothing is reported: the step notes the process as not followed


_incr_start()
del _incr_start
"""

_relay: Relay | None = None


def inherited() -> Relay | None:
    """The relay of this process, or of the process it was forked from; None when neither
    has named one."""
    return _relay if _relay is not None and _relay.folder is not None else None


def for_this_process() -> Relay:
    """The relay of this process (a worker forked by ``--jobs`` gets its own)."""
    global _relay
    if _relay is None or _relay.pid != os.getpid():
        _relay = Relay()
    return _relay
