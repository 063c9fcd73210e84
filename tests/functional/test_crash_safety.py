"""Reliability, crash safety: SIGKILL at many points, between steps and between a finished temp
file and its rename, never loses or corrupts work."""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blake3 import blake3

from incr import lockfile
from incr.store import Store

from .conftest import MakeProject, Project
from .reliability import _digest, _injected, _objects, _Running, _start

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
    once: objects are write-once), and so do the bytes of every packed object."""
    store = Store(project.root / ".pipecache")
    for digest, path in _objects(project.root).items():
        if path.suffix == ".pack":
            data = store.packed_bytes(digest)
            assert data is not None and blake3(data).hexdigest() == digest, f"{digest} in {path}"
            continue
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
