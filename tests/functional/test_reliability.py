"""Reliability: SIGKILL at many points, concurrent runs, damaged cache and lockfile, bad input,
failed writes, safe loading, and ``incr gc``: what incr guarantees when things go wrong."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest
from blake3 import blake3

from incr import lockfile, materializers
from incr.store import Store, UnsafePath, canonical_listing

from .conftest import MakeProject, Project, Result

INCR = [sys.executable, "-m", "incr.cli"]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def _start(project: Project, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen:
    """``incr ARGS`` in the background, its output captured as text."""
    return subprocess.Popen(
        [*INCR, *args],
        cwd=project.root,
        env=_env(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _objects(root: Path) -> dict[str, Path]:
    """Every published cache object (temp files start with '.') by the digest its path names."""
    folder = root / ".pipecache" / "objects"
    found = {}
    for path in folder.glob("*/*") if folder.is_dir() else ():
        if not path.name.startswith("."):
            found[path.parent.name + path.name] = path
    return found


def _digest(path: Path) -> str:
    return blake3(path.read_bytes()).hexdigest()


#: Loaded from PYTHONPATH by an ``incr`` subprocess (see ``_injected``): with
#: $INCR_TEST_ENOSPC, ``os.replace`` onto a path containing it fails as on a full disk (root
#: ignores permission bits, so no read-only tricks); with $INCR_TEST_KILL_AT_RENAME=N, the
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


# --------------------------------------------------------------------------- 1. crash safety

CRASH = """\
    import time
    from pathlib import Path

    import numpy as np

    from incr import Output, pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.csv"])
    def load() -> list:
        mark("load")
        return [int(x) for x in Path("data/raw.csv").read_text().split()]


    @step
    def slow(values: list) -> list:
        mark("slow")
        time.sleep(0.2)
        return [v * 2 for v in values]


    @step
    def big(values: list) -> np.ndarray:
        mark("big")
        return np.arange(2_500_000, dtype=np.float64) * sum(values)  # 20 MB


    @step(outs=["reports/summary.txt"])
    def report(doubled: list, array: np.ndarray) -> None:
        mark("report")
        Path("reports").mkdir(exist_ok=True)
        Path("reports/summary.txt").write_text(f"{sum(doubled)} {array[-1]}\\n")


    @step
    def total(doubled: list, array: np.ndarray) -> Output(count=int, mean=float):
        mark("total")
        return len(doubled), float(array.mean())


    @pipeline
    def crash():
        values = load()
        doubled = slow(values)
        array = big(values)
        report(doubled, array)
        total(doubled, array)
    """
CRASH_FILES = {"pipelines/crash.py": CRASH, "data/raw.csv": "1\n2\n3\n"}
CRASH_STEPS = ["load", "slow", "big", "report", "total"]
SUMMARY = "reports/summary.txt"
#: Per project copy (two run side by side): kills after a delay, and kills at a rename.
TIMED_KILLS, RENAME_KILLS = 25, 6
AT_START = (0.0, 0.005, 0.02, 0.05)

Outputs = tuple[dict[str, dict[str, str]], bytes]


class _Outcome:
    """What one project copy went through: kills, finished runs, status checks."""

    def __init__(self) -> None:
        self.timed = self.renames = self.completed = self.statuses = 0
        self.partial = 0  # kills after which some, not all, steps were in the lockfile
        self.hashed: dict[Path, tuple[int, int, int]] = {}
        self.states: set[tuple[bytes, frozenset[str], bytes]] = set()


def _outputs(project: Project) -> Outputs:
    """The lockfile's output digests and the outs file's bytes."""
    outputs = {
        key: {name: a.encode() for name, a in entry.outputs.items()}
        for key, entry in project.lock().items()
    }
    return outputs, (project.root / SUMMARY).read_bytes()


def _reset(project: Project) -> None:
    for rel in ("pipeline.lock", "ran.txt", SUMMARY):
        (project.root / rel).unlink(missing_ok=True)
    shutil.rmtree(project.root / ".pipecache", ignore_errors=True)


def _check_objects(project: Project, outcome: _Outcome) -> None:
    """Every published object's bytes match the digest its path names (each file is hashed
    once: objects are write-once)."""
    for digest, path in _objects(project.root).items():
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if outcome.hashed.get(path) != key:
            assert _digest(path) == digest, f"partial or wrong object under a final name: {path}"
            outcome.hashed[path] = key


def _check_status(project: Project, outcome: _Outcome) -> None:
    """``incr status --json`` runs, and each step it calls clean has its outputs in the cache
    (and its outs file on disk) with the recorded digests."""
    summary = project.root / SUMMARY
    state = (
        project.lock_bytes() if project.lockfile.exists() else b"",
        frozenset(_objects(project.root)),
        summary.read_bytes() if summary.exists() else b"-",
    )
    if state in outcome.states:  # the same files give the same answer
        return
    outcome.states.add(state)
    outcome.statuses += 1
    result = project.incr("status", "--json")
    assert result.returncode == 0 and "Traceback" not in result.output, result.output
    lock, objects = project.lock(), _objects(project.root)
    for step in json.loads(result.stdout)["steps"]:
        if step["dirty"]:
            continue
        entry = lock[step["key"]]
        assert step["fingerprint"] == entry.fingerprint
        for name, artifact in entry.outputs.items():
            assert artifact.digest in objects, f"{step['key']} is called clean without {name}"
            if artifact.kind == "file":
                assert _digest(project.root / name) == artifact.digest


def _timeline(project: Project) -> tuple[float, float]:
    """One full run: (seconds until its first step started, seconds until it ended)."""
    started = time.monotonic()
    run = _Running(project, "repro")
    first = run.out.when("has started.") - started
    assert run.finish() == 0, run.err.text()
    return first, time.monotonic() - started


def _kill_once(project: Project, kind: str, when: float) -> bool:
    """Run ``incr repro`` and SIGKILL it ``when`` seconds after it started ("start") or after
    its first step started ("step"), or have it kill itself just before its rename number
    ``when`` ("rename"). False when it finished first."""
    if kind == "rename":
        extra = _injected(project, INCR_TEST_KILL_AT_RENAME=str(int(when)))
        proc = _start(project, "repro", extra=extra)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, -signal.SIGKILL), out + err
        return proc.returncode != 0
    run = _Running(project, "repro")
    began = run.out.when("has started.") if kind == "step" else run.started
    time.sleep(max(0.0, began + when - time.monotonic()))
    if run.proc.poll() is None:
        run.proc.send_signal(signal.SIGKILL)
    code = run.finish()
    assert code in (0, -signal.SIGKILL), run.out.text() + run.err.text()
    return code != 0


def _next_kill(index: int, rng: random.Random, work: float, outcome: _Outcome) -> tuple[str, float]:
    """Kills right at the start; then kills spread over the steps' work (``work`` seconds in
    an uninterrupted run), and every third time one at a random rename."""
    if index < len(AT_START):
        return "start", AT_START[index]
    if index % 3 == 0 and outcome.renames < RENAME_KILLS:
        return "rename", rng.randint(1, 10)
    return "step", rng.uniform(0.0, work)


def _kill_round(project: Project, reference: Outputs, work: float, seed: int) -> _Outcome:
    """SIGKILL ``incr repro`` again and again in one project copy and check what each kill
    left. Each run goes on from what the last one left; once every step is done, the outputs
    must equal ``reference`` and the copy starts over."""
    outcome, rng = _Outcome(), random.Random(seed)
    for index in range(300):
        if outcome.timed >= TIMED_KILLS and outcome.renames >= RENAME_KILLS:
            break
        kind, when = _next_kill(index, rng, work, outcome)
        locked = {key.split(".", 1)[1] for key in project.lock()}
        killed = _kill_once(project, kind, when)
        ran = project.take_ran()
        assert not set(ran) & locked, f"reran finished steps {ran} (locked: {locked})"
        lockfile.read(project.lockfile)  # parses, or does not exist
        _check_objects(project, outcome)
        if killed:
            outcome.timed += kind != "rename"
            outcome.renames += kind == "rename"
            outcome.partial += 0 < len(project.lock()) < len(CRASH_STEPS)
            _check_status(project, outcome)
        if len(project.lock()) == len(CRASH_STEPS):
            outcome.completed += 1
            assert _outputs(project) == reference
            _reset(project)
    _finish(project, reference)
    return outcome


def _finish(project: Project, reference: Outputs) -> None:
    """One run to the end completes what the last kill left, and only that."""
    locked = {key.split(".", 1)[1] for key in project.lock()}
    project.repro()
    assert not set(project.take_ran()) & locked
    assert _outputs(project) == reference
    assert sorted(project.lock()) == sorted(f"crash.{name}" for name in CRASH_STEPS)


def test_sigkill_at_many_points_never_loses_or_corrupts_work(make_project: MakeProject) -> None:
    reference_project = make_project(CRASH_FILES, where="reference")
    first, end = _timeline(reference_project)
    assert reference_project.take_ran() == CRASH_STEPS
    reference = _outputs(reference_project)
    copies = [make_project(CRASH_FILES, where=f"copy{n}") for n in range(2)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        args = (copies, [reference] * 2, [end - first] * 2, [6, 7])
        outcomes = list(pool.map(_kill_round, *args))

    assert sum(o.timed for o in outcomes) >= 2 * TIMED_KILLS
    assert sum(o.renames for o in outcomes) >= 2 * RENAME_KILLS
    assert sum(o.partial for o in outcomes) >= 5, "few kills landed between two steps"
    assert sum(o.statuses for o in outcomes) >= 5, "few kills left anything to check"
    assert copies[0].lock_bytes() == reference_project.lock_bytes()


# --------------------------------------------------------------------------- 2. concurrent runs

QUEUE = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark

    PAUSE = 3.0


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def slow(value: int) -> int:
        mark("slow")
        time.sleep(PAUSE)
        return value + 1


    @pipeline
    def queue():
        slow(first())
    """


def test_a_second_repro_waits_for_the_first_and_says_for_whom(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": QUEUE})
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    waiter = _Running(project, "repro")
    said = waiter.err.when("waiting for another incr")
    assert holder.proc.poll() is None, "the waiter must say so while the holder runs"
    assert holder.finish() == 0
    assert waiter.finish() == 0

    assert f"pid {holder.proc.pid}" in waiter.err.text()
    assert "`incr repro`" in waiter.err.text()
    finished = holder.out.when("Pipeline run queue-")
    assert said < finished
    assert waiter.out.when("Creating run for pipeline") > finished, "started before the holder"
    assert "Using cached version of slow." in waiter.out.text()
    assert project.take_ran() == ["first", "slow"], "slow ran once"
    assert sorted(project.lock()) == ["queue.first", "queue.slow"]


def test_no_wait_fails_at_once_and_status_does_not_wait(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": QUEUE})
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    busy = project.incr("repro", "--no-wait")
    status = project.incr("status")
    still_running = holder.proc.poll() is None
    assert holder.finish() == 0

    assert still_running, "--no-wait and status must not wait for the holder"
    line = busy.user_error()
    assert "another incr is running" in line
    assert f"pid {holder.proc.pid}" in line and "`incr repro`" in line
    assert status.returncode == 0, status.output
    assert "slow" in status.stdout and "waiting for" not in status.output
    assert project.take_ran() == ["first", "slow"]


def test_a_killed_holder_leaves_no_stale_lock(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": QUEUE})
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")
    holder.proc.send_signal(signal.SIGKILL)
    holder.finish()
    assert project.take_ran() == ["first", "slow"]

    result = project.incr("repro", "--no-wait")  # would fail at once if the lock were held

    assert result.returncode == 0, result.output
    assert "waiting for" not in result.output
    assert project.take_ran() == ["slow"], "first had finished before the kill"


def test_commit_during_a_run_is_not_lost(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": QUEUE.replace("PAUSE = 3.0", "PAUSE = 0.0")})
    project.repro()
    assert project.take_ran() == ["first", "slow"]
    project.edit("pipelines/queue.py", "PAUSE = 0.0", "PAUSE = 3.0")
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    project.edit("pipelines/queue.py", "    return 1\n", "    one = 1\n    return one\n")
    committed = project.incr("commit", "first")
    assert committed.returncode == 0, committed.output
    assert holder.finish() == 0

    assert project.take_ran() == ["slow"]
    assert project.dirty() == {}, "the run wrote its stale view of first over the commit"


PAIR = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def left() -> int:
        mark("left")
        time.sleep(1.0)
        return 1


    @step
    def right() -> int:
        mark("right")
        time.sleep(1.0)
        return 2


    @pipeline
    def pair():
        left()
        right()
    """


def test_a_killed_parallel_repro_leaves_nothing_holding_the_lock(make_project: MakeProject) -> None:
    project = make_project({"pipelines/pair.py": PAIR})
    parent = subprocess.Popen(
        [*INCR, "repro", "-j", "2"],
        cwd=project.root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers stay in this process group, to clean up by id
    )
    try:
        deadline = time.monotonic() + 30
        while _ran(project) < 2:
            assert time.monotonic() < deadline, "the two steps never started"
            time.sleep(0.02)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        result = project.incr("repro", "--no-wait")
        leftovers = _alive(parent.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)

    assert result.returncode == 0, result.output
    assert not leftovers, "workers of the killed run are still alive"


def _ran(project: Project) -> int:
    """How many steps have started so far (without taking ``ran.txt`` away)."""
    path = project.root / "ran.txt"
    return len(path.read_text(encoding="utf-8").split()) if path.exists() else 0


def _alive(group: int) -> bool:
    """True while any process of the process group ``group`` lives."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------- 3. corruption

ARRAYS = """\
    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def base() -> np.ndarray:
        mark("base")
        return np.arange(1000, dtype=np.int64)


    @step
    def other() -> np.ndarray:
        mark("other")
        return np.linspace(0.0, 1.0, 500)


    @step
    def combine(a: np.ndarray, b: np.ndarray) -> float:
        mark("combine")
        return float(a.sum() + b.sum())


    @pipeline
    def arrays():
        combine(base(), other())
    """


@pytest.fixture
def arrays(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/arrays.py": ARRAYS})
    project.repro()
    assert project.take_ran() == ["base", "other", "combine"]
    return project


def _object_of(project: Project, key: str, output: str = "output") -> Path:
    digest = project.lock()[key].outputs[output].digest
    return project.root / ".pipecache" / "objects" / digest[:2] / digest[2:]


def _damage(project: Project) -> tuple[Path, Path]:
    """Flip a byte of base's array and cut other's in half; the two object paths."""
    flipped, cut = _object_of(project, "arrays.base"), _object_of(project, "arrays.other")
    data = bytearray(flipped.read_bytes())
    data[-3] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    return flipped, cut


def test_verify_names_damaged_objects_and_repro_recomputes_their_producers(
    arrays: Project,
) -> None:
    before = arrays.lock_bytes()
    flipped, cut = _damage(arrays)

    result = arrays.incr("verify")

    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert any(
        "arrays.base" in line and "output" in line and str(flipped) in line for line in lines
    )
    assert any("arrays.other" in line and str(cut) in line for line in lines)
    assert not any("arrays.combine" in line for line in lines)
    arrays.repro()
    assert arrays.take_ran() == ["base", "other"], "combine gets the same bytes: cut off"
    assert arrays.lock_bytes() == before
    again = arrays.incr("verify")
    assert again.returncode == 0, again.output
    assert arrays.dirty() == {}


def test_repro_detects_damaged_objects_it_reads_and_recomputes_them(arrays: Project) -> None:
    before = arrays.lock()
    flipped, cut = _damage(arrays)
    arrays.edit("pipelines/arrays.py", "a.sum() + b.sum()", "b.sum() + a.sum()")

    result = arrays.repro()

    assert arrays.take_ran() == ["base", "other", "combine"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    assert str(flipped) in warnings[0] and "base" in warnings[0]
    assert str(cut) in warnings[1] and "other" in warnings[1]
    after = arrays.lock()
    for key in ("arrays.base", "arrays.other"):
        assert after[key].outputs == before[key].outputs
    assert arrays.incr("verify").returncode == 0


def _conflicted(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("fingerprint = "))
    lines[at:at] = ["<<<<<<< HEAD\n"]
    lines[at + 2 : at + 2] = ["=======\n", 'fingerprint = "' + "0" * 32 + '"\n', ">>>>>>> b\n"]
    return "".join(lines), at + 1


def _truncated(text: str) -> tuple[str, int]:
    cut = text[: text.index("[steps", len(text) // 2) + len("[steps")]
    return cut, len(cut.splitlines())


def _unknown_schema(text: str) -> tuple[str, int]:
    line = text.splitlines().index("schema = 1") + 1
    return text.replace("schema = 1\n", "schema = 7\n"), line


def _nonsense(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("fingerprint = "))
    lines[at] = "fingerprint = [1, 2, 3]\n"
    return "".join(lines), at + 1


@pytest.mark.parametrize("damage", [_conflicted, _truncated, _unknown_schema, _nonsense])
def test_a_damaged_lockfile_is_reported_and_never_overwritten(arrays: Project, damage) -> None:
    text, line = damage(arrays.lock_bytes().decode())
    arrays.lockfile.write_text(text, encoding="utf-8")
    objects = set(_objects(arrays.root))

    commands = [["status"], ["repro"], ["repro", "--force"], ["commit", "base"], ["verify"], ["gc"]]
    for command in commands:
        result = arrays.incr(*command)
        assert result.user_error().startswith(f"error: pipeline.lock:{line}: "), command
        assert "  hint: " in result.stderr, command  # the way out
        assert arrays.lockfile.read_text(encoding="utf-8") == text, command

    assert arrays.take_ran() == []
    assert set(_objects(arrays.root)) == objects


def _edit_output_kind(project: Project, kind: str) -> int:
    """Hand-edit the kind of disk.write's value output in the lockfile; the line edited."""
    lines = project.lock_bytes().decode().splitlines(keepends=True)
    at = lines.index('[steps."disk.write".outputs]\n') + 1
    while not lines[at].startswith("output = "):
        at += 1
    lines[at] = lines[at].replace('"json:', f'"{kind}:')
    project.lockfile.write_text("".join(lines), encoding="utf-8")
    return at + 1


def test_an_unknown_output_kind_in_the_lockfile_names_its_line(writer: Project) -> None:
    line = _edit_output_kind(writer, "foo")
    text = writer.lock_bytes()
    writer.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    for command in ("status", "repro"):
        error = writer.incr(command).user_error()
        assert error.startswith(f"error: pipeline.lock:{line}: "), error
    assert writer.lock_bytes() == text
    assert writer.take_ran() == []


@pytest.mark.parametrize("kind", ["npy", "pickle"])
def test_an_output_of_the_wrong_kind_is_recomputed_or_reported(writer: Project, kind: str) -> None:
    _edit_output_kind(writer, kind)
    writer.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    result = writer.incr("repro")

    assert "Traceback" not in result.output, result.output
    assert result.returncode == 0 or "pipeline.lock" in result.user_error()


# --------------------------------------------------------------------------- 4. bad input


def _pipeline(body: str) -> dict[str, str]:
    """A pipelines/bad.py module: the imports every test pipeline needs, then ``body``."""
    imports = "from pathlib import Path\n\nfrom incr import Output, pipeline, step\n"
    imports += "from pipelines.mark import mark\n\n\n"
    return {"pipelines/bad.py": imports + textwrap.dedent(body)}


def _step_error(result: Result) -> str:
    """The one error line of a run whose step failed: no traceback, a hint under it."""
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "  hint: " in result.stderr, result.stderr
    return errors[0]


def test_two_different_steps_with_one_name(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step(name="x")
            def one() -> int:
                mark("one")
                return 1


            @step(name="x")
            def two() -> int:
                mark("two")
                return 2


            @pipeline
            def dup():
                one()
                two()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "'x'" in line, line
        assert "pipelines/bad.py:7" in line and "pipelines/bad.py:13" in line, line
        assert "name=" in result.stderr  # the fix
    assert project.take_ran() == []


def test_a_step_returning_fewer_values_than_it_declares(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step
            def split() -> Output(a=int, b=int, c=int):
                mark("split")
                return 1, 2


            @step
            def after(a: int) -> int:
                mark("after")
                return a


            @pipeline
            def bad():
                a, b, c = split()
                after(a)
            """)
    )

    line = _step_error(project.incr("repro"))

    assert "bad.split" in line and "2 values" in line and "3 outputs (a, b, c)" in line, line
    assert project.take_ran() == ["split"]
    assert project.lock() == {}
    assert _objects(project.root) == {}


def test_an_output_no_materializer_can_store(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step
            def numbers() -> object:
                mark("numbers")
                return (n * n for n in range(3))


            @pipeline
            def bad():
                numbers()
            """)
    )

    line = _step_error(project.incr("repro"))

    assert "bad.numbers" in line and "generator" in line, line
    assert project.take_ran() == ["numbers"]
    assert project.lock() == {}


def test_a_deps_path_that_does_not_exist(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step(deps=["data/missing.csv"])
            def load() -> int:
                mark("load")
                return 1


            @pipeline
            def bad():
                load()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "bad.load" in line and "'data/missing.csv'" in line, line
        assert "deps=[...]" in result.stderr  # the fix
    assert project.take_ran() == []


@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("deps", "../data.csv"),
        ("deps", "/tmp/incr-abs.csv"),
        ("outs", "../out.txt"),
        ("outs", "/tmp/incr-abs-out.txt"),
        ("outs", "data/../../out.txt"),
    ],
)
def test_paths_outside_the_root_are_refused_before_anything_runs(
    make_project: MakeProject, what: str, path: str
) -> None:
    project = make_project(
        _pipeline(f"""\
            @step
            def fine() -> int:
                mark("fine")
                return 1


            @step({what}=["{path}"])
            def escape() -> None:
                mark("escape")
                Path("{path}").write_text("escaped")


            @pipeline
            def bad():
                fine()
                escape()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "escape" in line and repr(path) in line and "outside the project root" in line
        assert "relative to the project root" in result.stderr
    assert project.take_ran() == []


# --------------------------------------------------------------------------- 5. failed writes

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


def _full_disk(project: Project, pattern: str, *args: str, error: str = "ENOSPC") -> Result:
    """``incr ARGS`` with every rename onto a path containing ``pattern`` failing (ENOSPC, or
    the errno named by ``error``)."""
    env = _env(_injected(project, INCR_TEST_ENOSPC=pattern, INCR_TEST_ERRNO=error))
    proc = subprocess.run(
        [*INCR, *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*.tmp"))


@pytest.fixture
def writer(make_project: MakeProject) -> Project:
    project = make_project(_pipeline(WRITER))
    project.repro()
    assert project.take_ran() == ["write", "count"]
    return project


@pytest.mark.parametrize(
    ("pattern", "then_ran"),
    [
        (".pipecache/objects", ["write", "count"]),  # nothing was stored: run again
        (".pipecache/runs", ["write", "count"]),
        ("pipeline.lock", ["count"]),  # write is in the run cache: restored for free
    ],
)
def test_a_full_disk_leaves_lockfile_and_cache_as_they_were(
    writer: Project, pattern: str, then_ran: list[str]
) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")
    lock, objects = writer.lock_bytes(), _objects(writer.root)

    result = _full_disk(writer, pattern, "repro")

    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left" in errors[0], result.stderr
    assert writer.lock_bytes() == lock
    if pattern == ".pipecache/objects":
        assert _objects(writer.root) == objects
    assert objects.items() <= _objects(writer.root).items()
    assert all(_digest(path) == digest for digest, path in _objects(writer.root).items())
    assert _temp_files(writer.root) == []
    assert writer.take_ran() == ["write"]

    writer.repro()
    assert writer.take_ran() == then_ran
    assert writer.read("reports/out.txt") == "value 2\n"
    assert writer.dirty() == {}


def test_a_write_refused_for_permissions_leaves_everything_as_it_was(writer: Project) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")
    lock, objects = writer.lock_bytes(), _objects(writer.root)

    result = _full_disk(writer, "pipeline.lock", "repro", error="EACCES")

    assert "Permission denied" in result.user_error()
    assert "pipeline.lock" in result.stderr
    assert writer.lock_bytes() == lock
    assert objects.items() <= _objects(writer.root).items()
    assert _temp_files(writer.root) == []
    writer.repro()
    assert writer.dirty() == {}


def test_a_full_disk_while_restoring_an_out_file(writer: Project) -> None:
    (writer.root / "reports/out.txt").unlink()
    lock = writer.lock_bytes()

    result = _full_disk(writer, "reports/out.txt", "repro")

    assert "No space left" in result.user_error()
    assert writer.lock_bytes() == lock
    assert _temp_files(writer.root) == []
    writer.repro()
    assert writer.take_ran() == []
    assert writer.read("reports/out.txt") == "value 1\n"


@pytest.mark.parametrize("pattern", ["pipeline.lock", "reports/out.txt"])
def test_a_failed_write_says_which_file(writer: Project, pattern: str) -> None:
    if pattern == "pipeline.lock":
        writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")  # a rerun rewrites it
    else:
        (writer.root / pattern).unlink()  # repro restores it from the cache

    line = _full_disk(writer, pattern, "repro").user_error()

    assert pattern in line, line


def test_a_full_disk_for_the_stat_cache_does_not_fail_the_run(writer: Project) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")

    result = _full_disk(writer, "stat.json", "repro")

    assert result.returncode == 0, result.output
    assert writer.take_ran() == ["write", "count"]
    assert writer.dirty() == {}


# --------------------------------------------------------------------------- 6. safe loading


class _Evil:
    """Unpickling this creates ``marker``: proof that the bytes were unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


PICKLED = """\
    @step
    def make() -> set:
        mark("make")
        return {1, 2, 3}


    @step
    def use(values: set) -> int:
        mark("use")
        return len(values)


    @pipeline
    def safe():
        use(make())
    """


def test_a_pickle_that_does_not_match_its_digest_is_never_unpickled(
    make_project: MakeProject,
) -> None:
    project = make_project(_pipeline(PICKLED))
    project.repro()
    assert project.take_ran() == ["make", "use"]
    artifact = project.lock()["safe.make"].outputs["output"]
    assert artifact.kind == "pickle"
    marker = project.root.parent / "unpickled.marker"
    stored = _object_of(project, "safe.make")
    stored.write_bytes(pickle.dumps(_Evil(marker)))
    project.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    result = project.repro()

    assert not marker.exists(), "a pickle that failed its digest check was loaded"
    assert project.take_ran() == ["make", "use"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(stored) in warnings[0], result.stderr
    assert project.lock()["safe.make"].outputs["output"] == artifact
    assert project.incr("verify").returncode == 0


@pytest.mark.parametrize("size", [10, 1_100_000])
def test_an_npy_object_never_runs_code(tmp_path: Path, size: int) -> None:
    import numpy as np

    marker = tmp_path / "unpickled.marker"
    array = np.zeros(size, dtype=object)
    array[0] = _Evil(marker)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    data = buffer.getvalue()

    with pytest.raises(ValueError):
        materializers.load("npy", data)

    assert not marker.exists()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store in ``tmp_path/root``, the project root of these tests."""
    (tmp_path / "root").mkdir()
    return Store(tmp_path / "root" / ".pipecache")


def _manifest(store: Store, files: dict[str, bytes]) -> str:
    listing = [[rel, store.put(data)] for rel, data in sorted(files.items())]
    return store.put(canonical_listing(listing))


@pytest.mark.parametrize("rel", ["../evil.txt", "sub/../../evil.txt", "ABSOLUTE"])
def test_restore_tree_refuses_a_manifest_naming_a_path_outside(store: Store, rel: str) -> None:
    root = store.dir.parent
    evil = root.parent / "evil.txt"
    rel = str(evil) if rel == "ABSOLUTE" else rel
    digest = _manifest(store, {"fine.txt": b"fine", rel: b"evil"})
    (root / "out").mkdir()
    (root / "out" / "keep.txt").write_bytes(b"mine")

    with pytest.raises(UnsafePath):
        store.restore_tree(digest, root / "out", root)

    assert not evil.exists()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["keep.txt"], "wrote or removed"


def test_restore_file_refuses_a_symlinked_folder_that_leads_outside(store: Store) -> None:
    root = store.dir.parent
    outside = root.parent / "outside"
    outside.mkdir()
    (root / "data").symlink_to(outside, target_is_directory=True)
    digest = store.put(b"payload")

    with pytest.raises(UnsafePath):
        store.restore_file(digest, root / "data" / "x.txt", root)

    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("existing", [True, False])
def test_restore_file_refuses_a_symlink_that_leads_outside(store: Store, existing: bool) -> None:
    root = store.dir.parent
    target = root.parent / "target.txt"
    if existing:
        target.write_bytes(b"theirs")
    (root / "out.txt").symlink_to(target)
    digest = store.put(b"payload")

    with pytest.raises(UnsafePath):
        store.restore_file(digest, root / "out.txt", root)

    assert target.read_bytes() == b"theirs" if existing else not target.exists()


def test_restore_tree_refuses_a_folder_symlinked_outside(store: Store) -> None:
    root = store.dir.parent
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "theirs.txt").write_bytes(b"theirs")
    (root / "out").symlink_to(outside, target_is_directory=True)
    digest = _manifest(store, {"fine.txt": b"fine"})

    with pytest.raises(UnsafePath):
        store.restore_tree(digest, root / "out", root)

    assert sorted(p.name for p in outside.iterdir()) == ["theirs.txt"]


def test_restore_inside_the_root_still_works(store: Store) -> None:
    root = store.dir.parent
    digest = _manifest(store, {"a.txt": b"a", "sub/b.txt": b"b"})

    store.restore_tree(digest, root / "out", root)

    assert (root / "out" / "a.txt").read_bytes() == b"a"
    assert (root / "out" / "sub" / "b.txt").read_bytes() == b"b"


# --------------------------------------------------------------------------- 7. incr gc

GROW = """\
    VERSION = 1


    @step(outs=["reports/out.txt"])
    def make() -> list:
        mark("make")
        Path("reports").mkdir(exist_ok=True)
        Path("reports/out.txt").write_text(f"version {VERSION}\\n")
        return [VERSION] * 100


    @step
    def use(values: list) -> int:
        mark("use")
        return len(values)


    @pipeline
    def grow():
        use(make())
    """


def _set_version(project: Project, old: int, new: int) -> None:
    project.edit("pipelines/bad.py", f"VERSION = {old}", f"VERSION = {new}")


@pytest.fixture
def grown(make_project: MakeProject) -> tuple[Project, dict[int, dict]]:
    """Versions 1 to 5 run one after the other, then a revert to 1 (restored for free): the
    lockfile needs the oldest run-cache entries; version 4 is the newest but one."""
    project = make_project(_pipeline(GROW))
    versions = {}
    for version in range(1, 6):
        if version > 1:
            _set_version(project, version - 1, version)
        project.repro()
        assert project.take_ran() == ["make", "use"]
        versions[version] = project.lock()
    _set_version(project, 5, 1)
    project.repro()
    assert project.take_ran() == []
    assert project.lock() == versions[1]
    return project, versions


def _garbage(versions: dict[int, dict], gone: tuple[int, ...]) -> set[str]:
    """The cache paths that only the run-cache entries of versions ``gone`` need."""
    paths = set()
    for version in gone:
        for entry in versions[version].values():
            fp = entry.fingerprint
            paths.add(f".pipecache/runs/{fp[:2]}/{fp[2:]}")
        for artifact in versions[version]["grow.make"].outputs.values():
            paths.add(f".pipecache/objects/{artifact.digest[:2]}/{artifact.digest[2:]}")
    return paths


def _cache_files(project: Project) -> set[str]:
    cache = project.root / ".pipecache"
    return {p.relative_to(project.root).as_posix() for p in cache.rglob("*") if p.is_file()}


def test_gc_dry_run_lists_and_gc_removes_only_what_nothing_needs(grown) -> None:
    project, versions = grown
    before = _cache_files(project)
    garbage = _garbage(versions, gone=(2, 3, 4))
    assert garbage <= before

    dry = project.incr("gc", "--keep", "1", "--dry-run")

    assert dry.returncode == 0, dry.output
    listed = {line.strip() for line in dry.stdout.splitlines() if line.startswith("  ")}
    assert listed == garbage
    assert "would remove 6 objects, 6 run-cache entries and 0 leftover temp files" in dry.stdout
    assert _cache_files(project) == before

    result = project.incr("gc", "--keep", "1")

    assert result.returncode == 0, result.output
    assert "removed 6 objects, 6 run-cache entries and 0 leftover temp files" in result.stdout
    assert _cache_files(project) == before - garbage
    verify = project.incr("verify")
    assert verify.returncode == 0, verify.output
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_gc_keep_decides_which_reverts_stay_free(grown, tmp_path: Path) -> None:
    one, versions = grown
    shutil.copytree(one.root, tmp_path / "keep3")
    three = Project(tmp_path / "keep3")

    assert "removed 6 objects, 6 run-cache entries" in one.incr("gc", "--keep", "1").stdout
    assert "removed 2 objects, 2 run-cache entries" in three.incr("gc").stdout
    for project in (one, three):
        _set_version(project, 1, 4)
        project.repro()
        assert project.read("reports/out.txt") == "version 4\n"
        assert project.lock() == versions[4]

    assert one.take_ran() == ["make", "use"], "keep 1 dropped version 4's results"
    assert three.take_ran() == [], "keep 3 keeps the newest three: 5, 4 and 3"
    _set_version(three, 4, 2)
    three.repro()
    assert three.take_ran() == ["make", "use"]


@pytest.mark.parametrize(
    "folder",
    ["objects", "runs"],
)
def test_gc_removes_stale_temp_files_only(writer: Project, folder: str) -> None:
    where = writer.root / ".pipecache" / folder / "ab"
    where.mkdir(parents=True, exist_ok=True)
    stale, fresh = where / ".cdef.x1y2.tmp", where / ".cdef.z3w4.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    result = writer.incr("gc")

    assert result.returncode == 0, result.output
    assert "1 leftover temp files" in result.stdout
    assert not stale.exists()
    assert fresh.exists()
    assert writer.incr("verify").returncode == 0
