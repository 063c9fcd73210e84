"""incr/statuswalk.py: the status walk as a pure function of what is known of each step."""

from __future__ import annotations

from dataclasses import replace

from incr import graph as graphs
from incr import statuswalk
from incr.fingerprint import fingerprint
from incr.model import Artifact, Facts, InputRef, LockEntry, PipelineGraph, Reason, StepNode
from incr.statuswalk import Observed, PipelineFacts


def node(name: str, *inputs: str, deps: tuple[str, ...] = (), outs: tuple[str, ...] = ()):
    refs = {f"in_{s}": InputRef(s, "output") for s in inputs}
    return StepNode("p", name, name, "pipelines/p.py", {}, refs, ("output",), deps, outs)


#: a -> b -> c, and d reads the file c writes.
GRAPH = graphs.check(
    PipelineGraph(
        "p",
        "pipelines/p.py",
        (
            node("a"),
            node("b", "a"),
            node("c", "b", outs=("out.txt",)),
            node("d", deps=("out.txt",)),
        ),
    )
)


def facts(step: StepNode, code: str = "v1") -> Facts:
    inputs = {p: f"digest-of-{r.step}" for p, r in step.inputs.items()}
    deps = dict.fromkeys(step.deps, "file-digest")
    return Facts({f"pipelines/p.py:{step.name}": code}, {}, inputs, deps)


def entry(step: StepNode) -> LockEntry:
    now = facts(step)
    outputs = {"output": Artifact("json", f"digest-of-{step.name}")}
    return LockEntry(step.key, fingerprint(now), now, outputs, {})


def observed(**changed: Observed) -> dict[str, Observed]:
    seen = {n.name: Observed(facts(n), entry(n), checked=True) for n in GRAPH.steps}
    return {**seen, **changed}


def walk(seen: dict[str, Observed], wanted: set[str] | None = None, **options: bool):
    judged = statuswalk.judged_steps(GRAPH, wanted)
    verdicts = statuswalk.walk([PipelineFacts(GRAPH, judged, wanted, seen)], **options)
    return {v.node.name: [(r.kind, r.detail) for r in v.reasons] for v in verdicts}


def _verdicts(seen: dict[str, Observed], **options: bool):
    judged = statuswalk.judged_steps(GRAPH, None)
    return statuswalk.walk([PipelineFacts(GRAPH, judged, None, seen)], **options)


def test_clean_steps_take_their_fingerprint_from_the_lock_entry() -> None:
    judged = statuswalk.judged_steps(GRAPH, None)
    (verdict, *_) = statuswalk.walk([PipelineFacts(GRAPH, judged, None, observed())])

    assert walk(observed()) == {"a": [], "b": [], "c": [], "d": []}
    assert verdict.fingerprint == entry(GRAPH.steps[0]).fingerprint


def test_a_dirty_step_makes_the_steps_after_it_wait_through_data_and_files() -> None:
    b = GRAPH.step("b")
    seen = observed(b=Observed(facts(b, "v2"), entry(b), checked=True))

    verdicts = walk(seen)

    assert verdicts["b"] == [(Reason.CODE, "b in pipelines/p.py")]
    assert verdicts["c"] == [(Reason.UPSTREAM, "b")]
    assert verdicts["d"] == [(Reason.UPSTREAM, "c")]


def test_a_waiting_step_keeps_only_the_inputs_known_and_no_fingerprint() -> None:
    b = GRAPH.step("b")
    seen = observed(b=Observed(facts(b, "v2"), entry(b), checked=True))
    judged = statuswalk.judged_steps(GRAPH, None)

    verdicts = statuswalk.walk([PipelineFacts(GRAPH, judged, None, seen)])

    c = next(v for v in verdicts if v.node.name == "c")
    assert c.fingerprint is None and c.facts is not None and c.facts.inputs == {}


def test_targets_judge_what_they_need_and_force_only_them() -> None:
    assert walk(observed(), {"b"}, force=True) == {"a": [], "b": [(Reason.FORCED, "")]}


def test_missing_results_wait_downstream_unless_judged_against_the_lockfile() -> None:
    seen = observed(a=replace(observed()["a"], missing=("output",)))

    assert walk(seen)["b"] == [(Reason.UPSTREAM, "a")]
    judged = walk(seen, lock_view=True)
    assert judged["a"] == [(Reason.MISSING, "output")]
    assert judged["b"] == [(Reason.UPSTREAM, "a")]  # shown waiting, judged on its own facts
    assert judged["c"] == [(Reason.UPSTREAM, "b")]  # each step after it is judged too
    assert [v.fingerprint is not None for v in _verdicts(seen, lock_view=True)] == [True] * 4


def test_what_the_workspace_saw_reaches_the_verdict() -> None:
    seen = observed(
        d=replace(
            observed()["d"],
            reads=(Reason(Reason.READ, "notes.txt"),),
            expired=True,
            uncached=(("lock", "threading.Lock"),),
            notes=("looks a name up at run time",),
        )
    )
    judged = statuswalk.judged_steps(GRAPH, None)

    *_, verdict = statuswalk.walk([PipelineFacts(GRAPH, judged, None, seen)])

    assert [r.kind for r in verdict.reasons] == [Reason.CACHE_DISABLED, Reason.READ, Reason.EXPIRED]
    assert verdict.notes == ("looks a name up at run time",)
    assert verdict.uncached == (("lock", "threading.Lock"),)
