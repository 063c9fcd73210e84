"""incr/graph.py on random pipeline shapes: ``order``, ``ancestors`` and ``check`` against a
plain reference, for DAGs and for graphs with cycles (through files) and overlapping outs."""

from __future__ import annotations

import contextlib
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incr import graph as graphs
from incr.errors import GraphError
from incr.model import InputRef, PipelineGraph, StepNode

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Paths that nest ("d", "d/x", "d/x/y") so that deps and outs overlap in every way.
PATHS = ["d", "d/x", "d/x/y", "d/z", "e", "e/x", "f.txt"]
#: Step names in a random order, so that the body order and the name order disagree.
NAMES = st.permutations(
    ["load", "split", "train", "eval", "a", "b", "c", "z", "s_2", "s_10", "x", "m"]
)


def _within(a: str, b: str) -> bool:
    """The reference meaning of overlap: the same path, or one folder holds the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _disjoint(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for path in paths:
        if not any(_within(path, other) for other in kept):
            kept.append(path)
    return kept


@st.composite
def pipelines(draw: st.DrawFn) -> PipelineGraph:
    """1 to 12 steps in body order; data inputs come from steps called earlier (a handle exists
    only once its step was called); file deps and outs wire any way, cycles included."""
    count = draw(st.integers(1, 12))
    names = draw(NAMES)[:count]
    nodes = []
    for i, name in enumerate(names):
        sources = draw(st.lists(st.sampled_from(names[:i]), max_size=3)) if i else []
        outputs = tuple(f"o{k}" for k in range(draw(st.integers(1, 2))))
        writes = draw(st.lists(st.sampled_from(PATHS), max_size=2)) if draw(st.booleans()) else []
        nodes.append(
            StepNode(
                pipeline="shape",
                name=name,
                func_name=name,
                source_file="pipelines/shape.py",
                config={},
                inputs={f"p{k}": InputRef(src, "o0") for k, src in enumerate(sources)},
                outputs=outputs,
                deps=tuple(draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True))),
                outs=tuple(_disjoint(writes)),
            )
        )
    return PipelineGraph("shape", "pipelines/shape.py", tuple(nodes))


def _edges(graph: PipelineGraph) -> set[tuple[str, str]]:
    edges = {(ref.step, n.name) for n in graph.steps for ref in n.inputs.values()}
    for consumer in graph.steps:
        for producer in graph.steps:
            if producer is not consumer and any(
                _within(dep, out) for dep in consumer.deps for out in producer.outs
            ):
                edges.add((producer.name, consumer.name))
    return edges


def _has_cycle(names: list[str], edges: set[tuple[str, str]]) -> bool:
    indegree = {n: 0 for n in names}
    for _, v in edges:
        indegree[v] += 1
    ready = [n for n in names if indegree[n] == 0]
    seen = 0
    while ready:
        u = ready.pop()
        seen += 1
        for a, v in edges:
            if a == u:
                indegree[v] -= 1
                if indegree[v] == 0:
                    ready.append(v)
    return seen < len(names)


def _outs_clash(graph: PipelineGraph) -> bool:
    outs = [(out, n.name) for n in graph.steps for out in n.outs]
    return any(
        _within(a, b) and sa != sb for i, (a, sa) in enumerate(outs) for b, sb in outs[i + 1 :]
    )


def _smallest_order(names: list[str], edges: set[tuple[str, str]]) -> list[str]:
    """The topological order that always takes the earliest-called ready step."""
    done: list[str] = []
    while len(done) < len(names):
        ready = [n for n in names if n not in done and all(u in done for u, v in edges if v == n)]
        done.append(ready[0])
    return done


@SETTINGS
@given(pipelines())
def test_check_accepts_exactly_the_graphs_without_cycles_or_clashing_outs(graph) -> None:
    names = [n.name for n in graph.steps]
    edges = _edges(graph)
    bad = _outs_clash(graph) or _has_cycle(names, edges)

    try:
        graphs.check(graph)
    except GraphError as exc:
        assert bad, exc.message
        assert exc.message.startswith("pipeline shape")
        return
    assert not bad


@SETTINGS
@given(pipelines())
def test_order_keeps_every_edge_and_the_body_order_between_ties(graph) -> None:
    """On graphs ``check`` accepts; for the others, only a GraphError is allowed."""
    names = [n.name for n in graph.steps]
    edges = _edges(graph)
    if _outs_clash(graph):  # one path, two producers: check refuses before anything orders
        with contextlib.suppress(GraphError):
            graphs.order(graph)
        return
    assert set(graph.edges()) == edges
    try:
        steps = graphs.order(graph)
    except GraphError as exc:
        assert _has_cycle(names, edges)
        _assert_names_a_real_cycle(exc.message, edges)
        return

    order = [n.name for n in steps]
    assert sorted(order) == sorted(names)
    position = {name: i for i, name in enumerate(order)}
    assert all(position[u] < position[v] for u, v in edges)
    assert order == _smallest_order(names, edges)
    assert steps == [graph.step(name) for name in order]


def _assert_names_a_real_cycle(message: str, edges: set[tuple[str, str]]) -> None:
    match = re.search(r"has a cycle: (.*)$", message)
    assert match, message
    path = match.group(1).split(" -> ")
    assert path[0] == path[-1] and len(path) >= 3
    assert all((u, v) in edges for u, v in itertools.pairwise(path)), message


@SETTINGS
@given(pipelines(), st.data())
def test_ancestors_are_closed_under_edges_and_nothing_more(graph, data) -> None:
    names = [n.name for n in graph.steps]
    wanted = data.draw(st.sets(st.sampled_from(names), min_size=1))
    edges = set(graph.edges()) if _outs_clash(graph) else _edges(graph)

    found = graphs.ancestors(graph, wanted)

    assert wanted <= found <= set(names)
    assert all(u in found for u, v in edges if v in found)
    reaches = set(wanted)
    grew = True
    while grew:
        before = len(reaches)
        reaches |= {u for u, v in edges if v in reaches}
        grew = len(reaches) > before
    assert found == reaches


def test_a_cycle_through_files_is_found() -> None:
    def node(name: str, deps: tuple[str, ...], outs: tuple[str, ...]) -> StepNode:
        return StepNode("shape", name, name, "pipelines/shape.py", {}, {}, ("o0",), deps, outs)

    graph = PipelineGraph(
        "shape",
        "pipelines/shape.py",
        (node("a", ("d/x/y",), ("e",)), node("b", ("e/x",), ("d",))),
    )

    with pytest.raises(GraphError) as error:
        graphs.check(graph)

    _assert_names_a_real_cycle(error.value.message, {("a", "b"), ("b", "a")})
