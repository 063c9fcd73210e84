"""The scheduling loop, run in this process with a scripted executor and a clock the test
moves: ordering, capacity, failures, keep-going, early cutoff, durations, recomputed inputs,
and a dry run deciding as ``status`` does. No subprocess, no pipeline module imported."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from incr import graph as graphs
from incr.events import Recorder, StepFailed, StepFinished, StepsSkipped, Warning_
from incr.executors import StepJob, StepOutcome, load_inputs
from incr.jobrun import encode_outputs, store_outputs
from incr.model import CodeRef, InputRef, PipelineGraph, StepCode, StepNode, TracedPipeline
from incr.project import Project
from incr.runner import Runner
from incr.session import Workspace
from incr.store import Store

SOURCE = "pipelines/flow.py"


@dataclass
class FakeClock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


class FakeStep:
    """Stands for an ``api.Step``: never called by the fake executor's loop itself."""

    def __init__(self, name: str) -> None:
        self.name = name

        def func() -> None: ...

        self.func = func

    def run_function(self, config: Any, inputs: dict[str, Any]) -> Any:
        raise AssertionError("the fake executor runs the script instead")


@dataclass
class FakeExecutor:
    """Runs each started job by its script (inputs -> value, or an exception), first started
    first done, storing outputs in the real store; moves the clock by the step's seconds."""

    ws: Workspace
    clock: FakeClock
    script: dict[str, Callable[..., Any]]
    slots: int = 1
    seconds: dict[str, float] = field(default_factory=dict)
    executes: bool = True
    started: list[str] = field(default_factory=list)
    jobs: list[StepJob] = field(default_factory=list)
    running: list[StepJob] = field(default_factory=list)
    most: int = 0  # jobs in flight at once, at most
    released: list[str] = field(default_factory=list)
    closed: bool = False
    #: Time a job waits on the executor before it runs (a cluster starting), by step.
    queued: dict[str, float] = field(default_factory=dict)

    def capacity(self) -> int:
        return self.slots - len(self.running)

    def start(self, job: StepJob) -> None:
        self.started.append(job.step)
        self.jobs.append(job)
        self.running.append(job)
        self.most = max(self.most, len(self.running))

    def wait(self) -> tuple[StepJob, StepOutcome]:
        job = self.running.pop(0)
        values, damaged = load_inputs(self.ws.store, job, {})
        if damaged is not None:
            return job, damaged
        seconds = self.seconds.get(job.step, 1.0)
        self.clock.t += self.queued.get(job.step, 0.0) + seconds
        try:
            value = self.script[job.step](**values)
        except Exception as exc:
            return job, StepOutcome(seconds=seconds, failure=f"{type(exc).__name__}: {exc}")
        artifacts = store_outputs(job, encode_outputs(job, {"out": value}), self.ws)
        return job, StepOutcome(artifacts, seconds)

    def release(self, digests: Iterable[str]) -> None:
        self.released.extend(digests)

    def close(self) -> None:
        self.closed = True


def node(name: str, *ups: str) -> StepNode:
    inputs = {up: InputRef(up, "out") for up in ups}
    return StepNode("flow", name, name, SOURCE, {}, inputs, ("out",))


def traced_of(*nodes: StepNode, code: dict[str, str] | None = None) -> TracedPipeline:
    versions = code or {}
    graph = graphs.check(PipelineGraph("flow", SOURCE, tuple(nodes)))
    refs = {
        n.name: StepCode(CodeRef("pipelines.flow", n.name, SOURCE, versions.get(n.name, "v1")))
        for n in nodes
    }
    steps: dict[str, Any] = {n.name: FakeStep(n.name) for n in nodes}
    return TracedPipeline(graph, steps, dict.fromkeys(steps), refs)


@dataclass
class Bench:
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)

    def workspace(self) -> Workspace:
        return Workspace(Project(self.root))

    def run(
        self,
        traced: TracedPipeline,
        script: dict[str, Callable[..., Any]],
        slots: int = 1,
        **options: Any,
    ) -> tuple[Any, FakeExecutor, Recorder]:
        ws = self.workspace()
        executor = FakeExecutor(ws, self.clock, script, slots, options.pop("seconds", {}))
        executor.queued = options.pop("queued", {})
        reporter = Recorder()
        runner = Runner(ws, reporter, clock=self.clock, wall=lambda: 1e9)
        result = runner.run(traced, executor=executor, **options)
        return result, executor, reporter


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def one() -> int:
    return 1


def plus(**inputs: int) -> int:
    return sum(inputs.values()) + 1


def boom(**inputs: int) -> int:
    raise ValueError("boom")


CHAIN = (node("a"), node("b", "a"), node("c", "b"), node("d"))


def test_steps_start_in_dependency_order_then_body_order(bench: Bench) -> None:
    traced = traced_of(node("c", "b"), node("a"), node("b", "a"), node("d"))
    result, executor, reporter = bench.run(traced, dict(a=one, b=plus, c=plus, d=one))
    assert executor.started == ["a", "b", "c", "d"]
    assert result.executed == ["a", "b", "c", "d"]
    assert reporter.executed == ["a", "b", "c", "d"]
    assert executor.closed


def test_at_most_capacity_steps_run_at_once(bench: Bench) -> None:
    traced = traced_of(node("a"), node("b", "a"), node("c", "a"), node("d", "a"), node("e"))
    script = dict(a=one, b=plus, c=plus, d=plus, e=one)
    result, executor, _ = bench.run(traced, script, slots=2)
    assert executor.most == 2
    assert executor.started == ["a", "e", "b", "c", "d"]
    assert sorted(result.executed) == ["a", "b", "c", "d", "e"]


def test_a_second_run_starts_nothing(bench: Bench) -> None:
    traced = traced_of(*CHAIN)
    bench.run(traced, dict(a=one, b=plus, c=plus, d=one))
    result, executor, _ = bench.run(traced, {})
    assert executor.started == []
    assert result.cached == ["a", "b", "c", "d"]


def test_a_failure_stops_the_run_and_skips_the_rest(bench: Bench) -> None:
    result, executor, reporter = bench.run(traced_of(*CHAIN), dict(a=one, b=boom, c=plus, d=one))
    assert executor.started == ["a", "b"]
    assert result.failed == ["b"]
    assert result.skipped == ["c", "d"]
    failed = [e for e in reporter.events if isinstance(e, StepFailed)]
    assert [(e.step, e.traceback) for e in failed] == [("b", "ValueError: boom")]
    skipped = [(e.steps, e.because) for e in reporter.events if isinstance(e, StepsSkipped)]
    assert skipped == [  # c below the failure, d stopped by it
        (("c",), "b failed"),
        (("d",), "the run stops at the first failure (--keep-going runs them)"),
    ]
    assert set(bench.workspace().locks) == {"flow.a"}  # what finished is recorded


def test_keep_going_runs_what_does_not_depend_on_the_failure(bench: Bench) -> None:
    script = dict(a=one, b=boom, c=plus, d=one)
    result, executor, _ = bench.run(traced_of(*CHAIN), script, keep_going=True)
    assert executor.started == ["a", "b", "d"]
    assert result.failed == ["b"]
    assert result.skipped == ["c"]


def test_a_failure_under_capacity_lets_running_steps_finish(bench: Bench) -> None:
    traced = traced_of(node("a"), node("b"), node("c", "a"), node("d", "b"))
    script = dict(a=boom, b=one, c=plus, d=plus)
    result, executor, _ = bench.run(traced, script, slots=2)
    assert executor.started == ["a", "b"]
    assert result.executed == ["b"]
    assert result.failed == ["a"]
    assert result.skipped == ["c", "d"]


def test_early_cutoff_an_upstream_rerun_with_the_same_output_starts_nothing_below(
    bench: Bench,
) -> None:
    bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    changed = traced_of(*CHAIN, code={"a": "v2"})  # a's code changed, its value did not
    result, executor, _ = bench.run(changed, dict(a=one))
    assert executor.started == ["a"]
    assert result.cached == ["b", "c", "d"]


def test_an_upstream_output_that_changes_reruns_the_steps_below(bench: Bench) -> None:
    bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    changed = traced_of(*CHAIN, code={"a": "v2"})
    result, executor, _ = bench.run(changed, dict(a=lambda: 5, b=plus, c=plus))
    assert executor.started == ["a", "b", "c"]
    assert result.cached == ["d"]


def test_durations_come_from_the_clock(bench: Bench) -> None:
    seconds = {"a": 2.5, "b": 0.25}
    _, _, reporter = bench.run(
        traced_of(node("a"), node("b", "a")), dict(a=one, b=plus), seconds=seconds
    )
    finished = {e.step: e.seconds for e in reporter.events if isinstance(e, StepFinished)}
    assert finished == seconds


def test_durations_are_the_steps_own_run_times(bench: Bench) -> None:
    """A step that waited on its executor (a Dask cluster starting) is shown with the time
    it ran, finished or failed, not the time since it was started."""
    seconds, queued = {"a": 0.5, "b": 0.25}, {"a": 3.0, "b": 4.0}
    _, _, reporter = bench.run(
        traced_of(node("a"), node("b", "a")),
        dict(a=one, b=boom),
        seconds=seconds,
        queued=queued,
    )
    ended = {e.step: e.seconds for e in reporter.events if isinstance(e, StepFinished | StepFailed)}
    assert ended == seconds


def test_values_are_released_once_no_step_still_has_to_start_with_them(bench: Bench) -> None:
    _, executor, _ = bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    lock = bench.workspace().locks
    assert executor.released == [
        lock["flow.a"].outputs["out"].digest,
        lock["flow.b"].outputs["out"].digest,
    ]


def test_a_missing_input_object_recomputes_its_producer_first(bench: Bench) -> None:
    traced = traced_of(node("a"), node("b", "a"))
    bench.run(traced, dict(a=one, b=plus))
    digest = bench.workspace().locks["flow.a"].outputs["out"].digest
    name, offset, size = Store(bench.root / ".pipecache").packed(digest) or ("", 0, 0)
    assert size, "a run packs a small object"
    with open(bench.root / ".pipecache" / "packs" / name, "r+b") as pack:
        pack.seek(offset)
        pack.write(b"\xff" * size)
    result, executor, reporter = bench.run(traced, dict(a=one, b=plus), force={"b"})
    assert executor.started == ["b", "a", "b"]
    assert result.cached == ["a"] and result.executed == ["a", "b"]
    warnings = [e.text for e in reporter.events if isinstance(e, Warning_)]
    assert len(warnings) == 1 and warnings[0].endswith("; recomputing a")
    assert reporter.executed == ["b"]  # a was recomputed silently


def test_a_dry_run_decides_as_status_does_and_writes_nothing(bench: Bench) -> None:
    bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    changed = traced_of(*CHAIN, code={"b": "v2"})
    lock = (bench.root / "pipeline.lock").read_bytes()
    ws = bench.workspace()
    status = ws.status([changed])
    runner = Runner(ws, Recorder(), clock=bench.clock)
    result = runner.run(changed, dry_run=True)
    assert runner.verdicts == status
    assert [v.node.name for v in runner.verdicts if v.dirty] == ["b", "c"]
    assert result.executed == [] and result.failed == []
    assert (bench.root / "pipeline.lock").read_bytes() == lock


def test_a_dry_run_of_a_forced_target(bench: Bench) -> None:
    bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    ws = bench.workspace()
    runner = Runner(ws, Recorder(), clock=bench.clock)
    runner.run(traced_of(*CHAIN), dry_run=True, only={"b"}, force={"b"})
    assert runner.verdicts == ws.status([traced_of(*CHAIN)], ["b"], force=True)
    assert [(v.node.name, v.dirty) for v in runner.verdicts] == [("a", False), ("b", True)]


def test_a_step_that_cannot_be_fingerprinted_fails_without_starting(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incr.errors import IncrError
    from incr.session import Workspace as Ws

    real = Ws.static_facts

    def facts(self: Ws, traced: Any, n: StepNode, *args: Any) -> Any:
        if n.name == "b":
            raise IncrError("cannot read b")
        return real(self, traced, n, *args)

    monkeypatch.setattr(Ws, "static_facts", facts)
    result, executor, _ = bench.run(traced_of(*CHAIN), dict(a=one, b=plus, c=plus, d=one))
    assert executor.started == ["a"]
    assert result.failed == ["b"] and result.skipped == ["c", "d"]


def test_the_jobs_are_plain_data(bench: Bench) -> None:
    import pickle

    _, executor, _ = bench.run(traced_of(node("a"), node("b", "a")), dict(a=one, b=plus))
    a = bench.workspace().locks["flow.a"].outputs["out"]
    job = executor.jobs[1]
    assert pickle.loads(pickle.dumps(job)) == job
    assert (job.key, job.inputs, job.outputs) == ("flow.b", {"a": (a.digest, a.kind)}, ("out",))
    assert (job.root, job.track_reads) == (str(bench.root), True)


class ScriptStep(FakeStep):
    def __init__(self, name: str, script: Callable[..., Any]) -> None:
        super().__init__(name)
        self.script = script

    def run_function(self, config: Any, inputs: dict[str, Any]) -> Any:
        return self.script(**inputs)


def test_in_process_a_value_reaches_the_next_step_in_memory(bench: Bench) -> None:
    made: list[list[int]] = []

    def a() -> list[int]:
        made.append([1, 2])
        return made[-1]

    def b(a: list[int]) -> bool:
        return a is made[0]  # the very object a returned, not a copy loaded from the cache

    quiet = (replace(node("a"), track_reads=False), replace(node("b", "a"), track_reads=False))
    traced = traced_of(*quiet)
    traced.steps.update(a=ScriptStep("a", a), b=ScriptStep("b", b))
    ws = bench.workspace()
    result = Runner(ws, Recorder(), clock=bench.clock).run(traced)
    assert result.executed == ["a", "b"]
    assert ws.store.get_view(ws.locks["flow.b"].outputs["out"].digest).tobytes() == b"true"


def _clean_run(
    bench: Bench, traced: TracedPipeline, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[Any, list[str], Recorder]:
    """A run after a status pass that found every step clean, as ``open_for_repro`` hands it
    over; the steps whose facts the run computed again."""
    ws = bench.workspace()
    verdicts = ws.status([traced])
    assert not any(v.dirty for v in verdicts)
    ws.clean = {v.node.key: v for v in verdicts}
    decided: list[str] = []
    real = ws.static_facts
    monkeypatch.setattr(
        ws, "static_facts", lambda t, n, *a: (decided.append(n.name), real(t, n, *a))[1]
    )
    reporter = Recorder()
    executor = FakeExecutor(ws, bench.clock, {}, 1, {})
    runner = Runner(ws, reporter, clock=bench.clock, wall=lambda: 1e9)
    return runner.run(traced, executor=executor, **options), decided, reporter


def test_a_run_after_an_all_clean_status_pass_reuses_its_verdicts(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = traced_of(*CHAIN)
    bench.run(traced, dict(a=one, b=plus, c=plus, d=one))
    _, _, usual = bench.run(traced, {})
    result, decided, reporter = _clean_run(bench, traced, monkeypatch)
    assert decided == [] and result.executed == []
    assert result.cached == ["a", "b", "c", "d"]
    assert [type(e).__name__ for e in reporter.events] == [type(e).__name__ for e in usual.events]


def test_a_forced_step_is_decided_again_after_a_clean_status_pass(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = traced_of(*CHAIN)
    bench.run(traced, dict(a=one, b=plus, c=plus, d=one))
    _, decided, _ = _clean_run(bench, traced, monkeypatch, force={"d"})
    assert decided == ["d"]
