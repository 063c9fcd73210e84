"""Pipeline graphs, and the only module that imports networkx (inside its functions:
importing this module costs nothing until networkx is needed).

Used wherever incr builds, checks or queries a graph after importing user code: the checks of
a traced pipeline and the run order they store in ``PipelineGraph.order`` (``check``),
re-ordering a graph whose learned edges contradict its order (``ordered``, ``with_learned``),
ancestors and descendants: all without networkx, which serves a cycle's report, ``incr dag``
and ``to_networkx`` for users. The no-op ``status``/``repro`` path reads the stored order
through ``incr.dag`` instead.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from incr import hooks
from incr.dag import check_outs, has_order, shape
from incr.dag import check_shared_outs as check_shared_outs
from incr.dag import resolve_targets as resolve_targets
from incr.dag import select as select
from incr.errors import GraphError
from incr.model import LockEntry, PipelineGraph, StepNode, TracedPipeline
from incr.overlaps import Overlap, learned_graph

if TYPE_CHECKING:
    import networkx as nx

    #: What ``to_networkx`` returns, for annotations elsewhere (networkx is imported here only).
    DiGraph = nx.DiGraph


def _networkx() -> Any:
    """networkx. As it loads, networkx reads the entry points of every installed distribution
    (looking for backends): its first import runs under ``hooks.entry_points_memory`` when a
    workspace has set one, which answers those lookups from remembered entry points."""
    memory = hooks.entry_points_memory
    if memory is not None and "networkx" not in sys.modules:
        with memory():
            import networkx
    import networkx

    return networkx


def to_networkx(pipeline: PipelineGraph | TracedPipeline) -> nx.DiGraph:
    """The pipeline as a ``networkx.DiGraph``: a node per step (its name) carrying its
    ``StepNode`` as ``step`` and its place in the pipeline body as ``index``, an edge per
    dependency (data, files, learned)."""
    nx = _networkx()

    graph = pipeline.graph if isinstance(pipeline, TracedPipeline) else pipeline
    g = nx.DiGraph(name=graph.name)
    for index, node in enumerate(graph.steps):
        g.add_node(node.name, step=node, index=index)
    g.add_edges_from(graph.edges())
    return g


def check(graph: PipelineGraph, orders: Mapping[str, Sequence[str]] | None = None) -> PipelineGraph:
    """``graph`` with its run order (``ordered``), once checked: raises GraphError for
    overlapping outs and for a cycle (naming its steps).

    ``orders`` holds the orders networkx gave graphs of other runs, by their ``dag.shape``:
    a graph of one of those shapes takes that order (it has no cycle) without networkx."""
    check_outs(graph)
    if orders and not graph.order:
        known = orders.get(shape(graph))
        if known is not None and len(known) == len(graph.steps):
            return replace(graph, order=tuple(known))
    return ordered(graph)


def ordered(graph: PipelineGraph) -> PipelineGraph:
    """``graph`` with ``order`` holding its steps in run order (kept when still valid).
    Raises GraphError naming the steps of a cycle."""
    if has_order(graph):
        return graph
    return replace(graph, order=tuple(n.name for n in order(graph)))


def order(graph: PipelineGraph) -> list[StepNode]:
    """Steps in dependency order, ties kept in the order the pipeline body called them (the
    earliest-called ready step first: networkx's ``lexicographical_topological_sort`` keyed
    by that order, computed here without building a networkx graph). Raises GraphError naming
    the steps of a cycle."""
    steps = graph.steps
    index = {node.name: i for i, node in enumerate(steps)}
    downs: list[list[int]] = [[] for _ in steps]
    waiting = [0] * len(steps)
    for up, down in graph.edges():
        a, b = index.get(up), index.get(down)
        if a is not None and b is not None:
            downs[a].append(b)
            waiting[b] += 1
    ready = [i for i, n in enumerate(waiting) if n == 0]  # ascending: already a heap
    found: list[StepNode] = []
    while ready:
        i = heapq.heappop(ready)
        found.append(steps[i])
        for j in downs[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(found) < len(steps):
        nx = _networkx()
        cycle = [a for a, _ in nx.find_cycle(to_networkx(graph))]
        raise GraphError(
            f"pipeline {graph.name} has a cycle: {' -> '.join([*cycle, cycle[0]])}",
            hint="a step cannot depend, through files or data, on its own output",
        )
    return found


def ancestors(graph: PipelineGraph, names: Iterable[str]) -> set[str]:
    """The named steps and every step they depend on (any graph, cycles included)."""
    found = set(names)
    return found | _reached(graph, found, up=True)


def descendants(graph: PipelineGraph, name: str) -> set[str]:
    """Every step that depends, directly or not, on ``name`` (any graph, cycles included)."""
    return _reached(graph, {name}, up=False) - {name}


def _reached(graph: PipelineGraph, starts: set[str], up: bool) -> set[str]:
    """The steps reached from ``starts`` along the edges, up or down (a start among them only
    when an edge leads back to it)."""
    links: dict[str, list[str]] = {}
    for a, b in graph.edges():
        links.setdefault(b if up else a, []).append(a if up else b)
    seen, todo, found = set(starts), list(starts), set()
    while todo:
        for other in links.get(todo.pop(), ()):
            found.add(other)
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return found


def with_learned(
    graph: PipelineGraph,
    locks: Mapping[str, LockEntry],
    writes: Mapping[str, Sequence[str]],
    native: Callable[[StepNode], Sequence[str]] | None = None,
) -> tuple[PipelineGraph, list[Overlap]]:
    """``overlaps.learned_graph`` with a valid run order: the graph is ordered again only when
    a learned edge puts a step before one it ran after so far."""
    learned, found = learned_graph(graph, locks, writes, native)
    return (learned if learned is graph else ordered(learned)), found
