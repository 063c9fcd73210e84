"""incr/graph.py ``check_shared_outs``: two pipelines that write one path (or one inside the
other) are refused, against a plain pairwise reference."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr import graph as graphs
from incr.errors import GraphError
from incr.model import PipelineGraph, StepNode, paths_overlap

PATHS = ["d", "d/x", "d/x/y", "d/z", "e", "e/x", "f.txt", "dx", "d-x"]


def pipeline(name: str, outs: list[tuple[str, ...]]) -> PipelineGraph:
    steps = tuple(
        StepNode(name, f"s{i}", f"s{i}", "pipelines/p.py", {}, {}, (), outs=step_outs)
        for i, step_outs in enumerate(outs)
    )
    return PipelineGraph(name, "pipelines/p.py", steps)


def clashes(pipelines: list[PipelineGraph]) -> bool:
    """The reference: two outs of steps of different pipelines overlap."""
    outs = [(g.name, out) for g in pipelines for n in g.steps for out in n.outs]
    return any(
        a[0] != b[0] and paths_overlap(a[1], b[1]) for a, b in itertools.combinations(outs, 2)
    )


def disjoint(paths: list[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for path in paths:
        if not any(paths_overlap(path, other) for other in kept):
            kept.append(path)
    return tuple(kept)


# Inside each pipeline outs never overlap (``check`` refuses that first).
PIPELINE_OUTS = st.lists(st.lists(st.sampled_from(PATHS), max_size=3), max_size=3).map(
    lambda steps: [disjoint(s) for s in steps]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIPELINE_OUTS, min_size=1, max_size=3))
def test_refuses_exactly_the_overlaps_across_pipelines(outs) -> None:
    pipelines = [pipeline(f"p{i}", step_outs) for i, step_outs in enumerate(outs)]
    for graph in pipelines:  # one pipeline's own outs are disjoint across its steps too
        flat = [o for n in graph.steps for o in n.outs]
        if disjoint(flat) != tuple(flat):
            return
    if clashes(pipelines):
        with pytest.raises(GraphError, match=r"^steps p\d\.s\d and p\d\.s\d both write "):
            graphs.check_shared_outs(pipelines)
    else:
        graphs.check_shared_outs(pipelines)


def test_the_error_names_both_steps_and_the_shorter_path() -> None:
    first = pipeline("train", [("models",)])
    second = pipeline("report", [(), ("models/m.pkl",)])

    with pytest.raises(GraphError) as caught:
        graphs.check_shared_outs([first, second])

    assert caught.value.message == (
        "steps train.s0 and report.s1 both write models (outs 'models' and 'models/m.pkl')"
    )
    assert caught.value.hint is not None
    assert "one producing step" in caught.value.hint
