"""Shared support for the reliability tests (``test_crash_safety`` to ``test_gc``): ``incr`` run
in the background with its output read as it comes, a full disk or a kill at a rename injected
into it, the cache's objects, test pipelines, and the ``writer`` project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from blake3 import blake3

from incr.store import Store

from . import forkserver
from .conftest import MakeProject, Project

INCR = [sys.executable, "-m", "incr.cli"]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def _start(
    project: Project, *args: str, extra: dict[str, str] | None = None
) -> subprocess.Popen[str] | forkserver.Forked:
    """``incr ARGS`` in the background, its output captured as text: forked by a server when
    one can start it as exec would (see ``forkserver.py``)."""
    env = _env(extra)
    forked = forkserver.servers().start([*INCR, *args], project.root, env)
    if forked is not None:
        return forked
    return subprocess.Popen(
        [*INCR, *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _objects(root: Path) -> dict[str, Path]:
    """Every published cache object by its digest: its file (the digest its path names; temp
    files start with '.'), or for a packed one the pack that holds it."""
    folder = root / ".pipecache" / "objects"
    found = {}
    for path in folder.glob("*/*") if folder.is_dir() else ():
        if not path.name.startswith("."):
            found[path.parent.name + path.name] = path
    for digest, (pack, _, _) in Store(root / ".pipecache").packed_objects().items():
        found.setdefault(digest, root / ".pipecache" / "packs" / pack)
    return found


def _digest(path: Path) -> str:
    return blake3(path.read_bytes()).hexdigest()


def _damaged(root: Path) -> list[str]:
    """The digests of the stored objects (``_objects``) whose bytes do not match them."""
    store = Store(root / ".pipecache")
    bad = []
    for digest, path in _objects(root).items():
        data = store.packed_bytes(digest) if path.suffix == ".pack" else path.read_bytes()
        if data is None or blake3(data).hexdigest() != digest:
            bad.append(digest)
    return bad


#: Loaded from PYTHONPATH by an ``incr`` subprocess (see ``_injected``): with
#: $INCR_TEST_ENOSPC, ``os.replace`` onto a path containing it fails as on a full disk (root
#: ignores permission bits, so no read-only tricks), and so does ``os.writev`` (the appends
#: to a pack) to a file opened at such a path; with $INCR_TEST_KILL_AT_RENAME=N, the
#: process SIGKILLs itself just before its N-th ``os.replace``: a kill exactly between a
#: finished temp file and its rename.
SITECUSTOMIZE = """\
import errno
import os
import signal

_full = os.environ.get("INCR_TEST_ENOSPC")
_errno = getattr(errno, os.environ.get("INCR_TEST_ERRNO") or "ENOSPC")
_kill_at = int(os.environ.get("INCR_TEST_KILL_AT_RENAME") or 0)
if _full or _kill_at:
    _replace = os.replace
    _renames = [0]

    def _injected_replace(src, dst, *args, **kwargs):
        if _full and _full in os.fspath(dst):
            raise OSError(_errno, os.strerror(_errno))
        _renames[0] += 1
        if _renames[0] == _kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(src, dst, *args, **kwargs)

    os.replace = _injected_replace
    _open, _close, _writev, _full_fds = os.open, os.close, os.writev, set()

    def _injected_open(path, flags, *args, **kwargs):
        fd = _open(path, flags, *args, **kwargs)
        if _full and _full in os.fspath(path):
            _full_fds.add(fd)
        return fd

    def _injected_close(fd):
        _full_fds.discard(fd)
        return _close(fd)

    def _injected_writev(fd, buffers):
        if fd in _full_fds:
            raise OSError(_errno, os.strerror(_errno))
        return _writev(fd, buffers)

    os.open, os.close, os.writev = _injected_open, _injected_close, _injected_writev
"""


def _injected(project: Project, **variables: str) -> dict[str, str]:
    """Extra environment for an ``incr`` subprocess that loads SITECUSTOMIZE."""
    inject = project.root.parent / f"inject-{project.root.name}"
    inject.mkdir(exist_ok=True)
    (inject / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(inject), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **variables}


class _Lines:
    """Reads one stream of a process in the background, noting when each line came."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def when(self, text: str, timeout: float = 30) -> float:
        """When the first line containing ``text`` came (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = not self._thread.is_alive()
            for at, line in list(self.lines):
                if text in line:
                    return at
            if ended:
                break
            time.sleep(0.01)
        raise AssertionError(f"no line with {text!r} in:\n{self.text()}")

    def join(self) -> None:
        self._thread.join(timeout=5)

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


class _Running:
    """An ``incr`` command started in the background, with both streams read as they come."""

    def __init__(self, project: Project, *args: str) -> None:
        self.started = time.monotonic()
        self.proc = _start(project, *args)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = _Lines(self.proc.stdout)
        self.err = _Lines(self.proc.stderr)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self.out.join()
        self.err.join()
        return code


def _pipeline(body: str) -> dict[str, str]:
    """A pipelines/bad.py module: the imports every test pipeline needs, then ``body``."""
    imports = "from pathlib import Path\n\nfrom incr import Output, pipeline, step\n"
    imports += "from pipelines.mark import mark\n\n\n"
    return {"pipelines/bad.py": imports + textwrap.dedent(body)}


def _object_of(project: Project, key: str, output: str = "output") -> Path:
    digest = project.lock()[key].outputs[output].digest
    return project.root / ".pipecache" / "objects" / digest[:2] / digest[2:]


WRITER = """\
    VALUE = 1


    @step(outs=["reports/out.txt"])
    def write() -> list:
        mark("write")
        Path("reports").mkdir(exist_ok=True)
        Path("reports/out.txt").write_text(f"value {VALUE}\\n")
        return [VALUE] * 10


    @step
    def count(values: list) -> int:
        mark("count")
        return len(values)


    @pipeline
    def disk():
        count(write())
    """


@pytest.fixture
def writer(make_project: MakeProject) -> Project:
    project = make_project(_pipeline(WRITER))
    project.repro()
    assert project.take_ran() == ["write", "count"]
    return project
