"""Functional tests: each test writes a real project in a temporary folder and drives the real
``incr`` command line (or ``python script.py``) in a subprocess.

Steps in these projects append their own name to ``ran.txt`` (via ``pipelines/mark.py``), so a
test asserts on what really executed, not on log text alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from incr import lockfile
from incr.model import LockEntry
from incr.store import Store

from . import forkserver

# A test process started as a background job (``cmd &`` in a script, ``nohup``) ignores SIGINT,
# and every command it starts inherits that: the tests that interrupt incr (Ctrl-C of a repro,
# of a watch) need it as a terminal sends it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PYPROJECT = """\
[project]
name = "demo"
version = "0.0.0"
"""

MARK = '''\
"""Test support: every step appends its own name to ran.txt (a real side effect)."""


def mark(name):
    with open("ran.txt", "a", encoding="utf-8") as fh:
        fh.write(name + "\\n")
'''

#: The standard project: a file dep, a config, helpers in the same and in another module,
#: constants used and unused, and a diamond:  load -> double -> shift -> total <- scaled <- load
FLOW_FILES = {
    "data/raw.csv": """\
        1
        2
        3
        """,
    "pipelines/helpers.py": '''\
        """Helpers in another local module."""

        OTHER_UNUSED = 7


        def scale(value, factor):
            return value * factor


        def unused(value):
            return value - 1
        ''',
    "pipelines/flow.py": '''\
        """The pipeline under test."""

        from incr import StepConfig, pipeline, step
        from pipelines.helpers import scale
        from pipelines.mark import mark

        SHIFT = 10
        UNUSED_CONSTANT = 3


        class DoubleConfig(StepConfig):
            factor: int = 2


        def add_shift(values):
            return [v + SHIFT for v in values]


        def unused_helper(values):
            return list(values)


        @step(deps=["data/raw.csv"])
        def load() -> list:
            """Read the numbers."""
            mark("load")
            with open("data/raw.csv", encoding="utf-8") as fh:
                return [int(line) for line in fh if line.strip()]


        @step
        def double(config: DoubleConfig, values: list) -> list:
            mark("double")
            return [v * config.factor for v in values]


        @step
        def shift(values: list) -> list:
            mark("shift")
            return add_shift(values)


        @step
        def scaled(values: list) -> list:
            mark("scaled")
            return [scale(v, 3) for v in values]


        @step
        def total(left: list, right: list) -> int:
            mark("total")
            return sum(left) + sum(right)


        @pipeline
        def flow():
            values = load()
            doubled = double(values, config=DoubleConfig(factor=2))
            total(shift(doubled), scaled(values))
        ''',
}
FLOW_ORDER = ["load", "double", "shift", "scaled", "total"]


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def user_error(self) -> str:
        """The message line of a command that must fail with a one-line error, no traceback.

        Such an error is ``error: ...`` on stderr, optionally followed by ``  hint: ...``.
        """
        assert self.returncode != 0, self.output
        assert "Traceback" not in self.output, self.output
        lines = self.stderr.strip().splitlines()
        assert lines, self.output
        assert lines[0].startswith("error: "), self.output
        assert all(line.startswith("  hint: ") for line in lines[1:]), self.output
        return lines[0]


def run_command(args: list[str], cwd: Path, timeout: float = 120, bytecode: bool = False) -> Result:
    """Run a command; ``bytecode=False`` keeps Python from writing ``.pyc`` files.

    Python trusts a ``.pyc`` whose source has the same size and mtime second, and tests edit
    within a second of the previous run, so by default no ``.pyc`` is written (see
    test_discovery.py for what happens when one is).

    ``python -m incr.cli ...`` is started as a fork of a Python that has imported the CLI's
    modules, when nothing that Python reads at start differs (see ``forkserver.py``).
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    reply = forkserver.servers().run(args, cwd, env, bytecode, timeout)
    if reply is not None:
        return Result(*reply)
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Project:
    """A project folder on disk and the commands a user would run in it."""

    def __init__(self, root: Path, bytecode: bool = False) -> None:
        self.root = root
        self.bytecode = bytecode

    # ------------------------------------------------------------------ files

    def write(self, files: dict[str, str]) -> None:
        """Write each relative path with its (dedented) text."""
        for rel, text in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace the one occurrence of ``old`` in ``rel`` with ``new``."""
        text = self.read(rel)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        (self.root / rel).write_text(text.replace(old, new), encoding="utf-8")

    # ------------------------------------------------------------------ commands

    def incr(self, *args: str) -> Result:
        return run_command(
            [sys.executable, "-m", "incr.cli", *args], self.root, bytecode=self.bytecode
        )

    def python(self, *args: str) -> Result:
        return run_command([sys.executable, *args], self.root, bytecode=self.bytecode)

    def repro(self, *args: str) -> Result:
        """``incr repro ARGS`` that must succeed."""
        result = self.incr("repro", *args)
        assert result.returncode == 0, result.output
        assert "Traceback" not in result.output, result.output
        return result

    def status(self, *args: str) -> dict[str, Any]:
        """``incr status --json ARGS``, parsed."""
        result = self.incr("status", "--json", *args)
        assert result.returncode == 0, result.output
        return json.loads(result.stdout)

    def reasons(self, *args: str) -> dict[str, list[tuple[str, str]]]:
        """Step name -> its (kind, detail) reasons, for every step ``status`` lists."""
        steps = self.status(*args)["steps"]
        names = [s["step"] for s in steps]
        assert len(names) == len(set(names)), "use status() when step names repeat"
        return {s["step"]: [(r["kind"], r["detail"]) for r in s["reasons"]] for s in steps}

    def dirty(self, *args: str) -> dict[str, list[tuple[str, str]]]:
        """Like ``reasons``, for the dirty steps only."""
        return {name: why for name, why in self.reasons(*args).items() if why}

    def take_ran(self) -> list[str]:
        """The steps that executed since the last call, in order (and forget them)."""
        path = self.root / "ran.txt"
        if not path.exists():
            return []
        names = path.read_text(encoding="utf-8").split()
        path.unlink()
        return names

    # ------------------------------------------------------------------ lockfile

    @property
    def lockfile(self) -> Path:
        return self.root / "pipeline.lock"

    def lock(self) -> dict[str, LockEntry]:
        return lockfile.read(self.lockfile)

    def lock_bytes(self) -> bytes:
        return self.lockfile.read_bytes()

    # ------------------------------------------------------------------ cache objects

    def object_bytes(self, digest: str) -> bytes:
        """The bytes of cache object ``digest``, loose (``objects/``) or packed (``packs/``),
        as they are on disk (unchecked)."""
        path = self.object_file(digest)
        if path.is_file():
            return path.read_bytes()
        data = Store(self.root / ".pipecache").packed_bytes(digest)
        assert data is not None, f"cache object {digest} is not stored"
        return data

    def object_file(self, digest: str) -> Path:
        """Where cache object ``digest`` has a file of its own (when it is not packed)."""
        return self.root / ".pipecache" / "objects" / digest[:2] / digest[2:]

    def damage_object(self, digest: str, data: bytes = b"damaged") -> None:
        """Overwrite cache object ``digest`` where it is stored: its file with ``data``, or its
        bytes in its pack with each bit flipped."""
        path = self.object_file(digest)
        if path.is_file():
            path.write_bytes(data)
            return
        place = Store(self.root / ".pipecache").packed(digest)
        assert place is not None, f"cache object {digest} is not stored"
        name, offset, size = place
        assert size > 0, "an empty object cannot be damaged in place"
        with open(self.root / ".pipecache" / "packs" / name, "r+b") as fh:
            fh.seek(offset)
            flipped = bytes(b ^ 0xFF for b in fh.read(size))
            fh.seek(offset)
            fh.write(flipped)

    def remove_object(self, digest: str) -> None:
        """Remove cache object ``digest``, wherever it is stored."""
        Store(self.root / ".pipecache").discard(digest)


MakeProject = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project (pyproject.toml, the pipelines package, mark.py, plus ``files``)."""

    def make(files: dict[str, str], where: str = "project") -> Project:
        project = Project(tmp_path / where)
        project.write(
            {
                "pyproject.toml": PYPROJECT,
                "pipelines/__init__.py": "",
                "pipelines/mark.py": MARK,
                **files,
            }
        )
        return project

    return make


@pytest.fixture
def flow(make_project: MakeProject) -> Project:
    """The standard project, brought up to date once (``ran.txt`` cleared)."""
    project = make_project(FLOW_FILES)
    project.repro()
    assert project.take_ran() == FLOW_ORDER
    return project
