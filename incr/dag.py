"""The pipeline graph as plain data: checks (overlapping outs, cycles), the order steps run
in, ancestors and descendants, and which steps a target list selects.

Pure and networkx-free, so the no-op ``status`` path can use it without importing networkx.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from incr.errors import GraphError
from incr.model import PipelineGraph, StepNode, TracedPipeline, paths_overlap


def check(graph: PipelineGraph) -> None:
    """Raise GraphError for overlapping outs and for cycles (naming the steps in them)."""
    outs = [(out, node.name) for node in graph.steps for out in node.outs]
    for i, (a, step_a) in enumerate(outs):
        for b, step_b in outs[i + 1 :]:
            if paths_overlap(a, b):
                raise GraphError(
                    f"pipeline {graph.name}: steps {step_a} and {step_b} both write "
                    f"{a if len(a) <= len(b) else b} (outs {a!r} and {b!r})",
                    hint="give each file or folder one producing step",
                )
    order(graph)


def check_shared_outs(graphs: Iterable[PipelineGraph]) -> None:
    """Raise GraphError when steps of two pipelines list the same ``outs`` path, or one inside
    the other: each ``repro`` would restore its own version of it and status would never
    settle. (Inside one pipeline, ``check`` says so first.) Linear in the number of outs."""
    exact: dict[str, tuple[str, str]] = {}  # out -> (step key, out)
    within: dict[str, tuple[str, str]] = {}  # a folder holding an out -> (step key, out)
    for graph in graphs:
        for node in graph.steps:
            for out in node.outs:
                path = out.rstrip("/")
                parts = path.split("/")
                folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
                other = exact.get(path) or within.get(path)
                other = other or next((exact[f] for f in folders if f in exact), None)
                if other is not None and other[0] != node.key:
                    _shared_out(other, (node.key, out))
                exact.setdefault(path, (node.key, out))
                for folder in folders:
                    within.setdefault(folder, (node.key, out))


def _shared_out(first: tuple[str, str], second: tuple[str, str]) -> None:
    (step_a, a), (step_b, b) = first, second
    raise GraphError(
        f"steps {step_a} and {step_b} both write {a if len(a) <= len(b) else b} "
        f"(outs {a!r} and {b!r})",
        hint="give each file or folder one producing step (a step used in two pipelines "
        "writes its outs twice: keep it in one of them)",
    )


def order(graph: PipelineGraph) -> list[StepNode]:
    """Steps in dependency order, ties kept in the order the pipeline body called them.

    Kahn's algorithm with the call order as tie-break (what networkx's
    ``lexicographical_topological_sort`` does), in plain Python: the no-op ``status`` path
    stays free of the networkx import. Raises GraphError naming the steps of a cycle.
    """
    index = {node.name: i for i, node in enumerate(graph.steps)}
    down: dict[str, list[str]] = {name: [] for name in index}
    waiting = dict.fromkeys(index, 0)
    for up, below in graph.edges():
        down[up].append(below)
        waiting[below] += 1
    ready = [(index[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        names.append(name)
        for below in down[name]:
            waiting[below] -= 1
            if waiting[below] == 0:
                heapq.heappush(ready, (index[below], below))
    if len(names) < len(index):
        cycle = _find_cycle(down, {n for n, c in waiting.items() if c > 0})
        raise GraphError(
            f"pipeline {graph.name} has a cycle: {' -> '.join([*cycle, cycle[0]])}",
            hint="a step cannot depend, through files or data, on its own output",
        )
    return [graph.steps[index[n]] for n in names]


def _find_cycle(down: dict[str, list[str]], stuck: set[str]) -> list[str]:
    """One cycle among the steps Kahn's algorithm could not order.

    Each of them still waits on another of them, so walking to a waited-on step never ends
    before it repeats itself.
    """
    up: dict[str, list[str]] = {}
    for a, belows in down.items():
        for b in belows:
            if a in stuck and b in stuck:
                up.setdefault(b, []).append(a)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = min(stuck)
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = up[node][0]
    return list(reversed(path[seen[node] :]))


def _walk(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        for other in edges.get(name, ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def ancestors(graph: PipelineGraph, names: Iterable[str]) -> set[str]:
    """The named steps and every step they depend on."""
    up: dict[str, list[str]] = {}
    for a, b in graph.edges():
        up.setdefault(b, []).append(a)
    names = set(names)
    return names | _walk(names, up)


def descendants(graph: PipelineGraph, name: str) -> set[str]:
    """Every step that depends, directly or not, on ``name``."""
    down: dict[str, list[str]] = {}
    for a, b in graph.edges():
        down.setdefault(a, []).append(b)
    return _walk([name], down)


def select(
    pipelines: list[TracedPipeline], targets: Iterable[str]
) -> list[tuple[TracedPipeline, set[str] | None]]:
    """The pipelines a target list selects (all without targets), each with the step names
    it targets (None: the whole pipeline)."""
    targets = list(targets)
    selection = resolve_targets(pipelines, targets) if targets else None
    if selection is None:
        return [(traced, None) for traced in pipelines]
    return [(t, selection[t.graph.name]) for t in pipelines if t.graph.name in selection]


def resolve_targets(
    pipelines: list[TracedPipeline], targets: Iterable[str]
) -> dict[str, set[str] | None]:
    """Map pipeline name -> the step names a target list selects (None: the whole pipeline).

    A target is ``PIPELINE``, ``PIPELINE.STEP`` or a step name unique across pipelines.
    """
    by_name = {t.graph.name: t.graph for t in pipelines}
    selected: dict[str, set[str] | None] = {}
    for target in targets:
        if target in by_name:
            selected[target] = None
            continue
        matches = _step_matches(by_name, target)
        if len(matches) > 1:
            raise GraphError(
                f"step name {target!r} is ambiguous",
                hint="use one of " + ", ".join(f"{p}.{s}" for p, s in matches),
            )
        if not matches:
            raise GraphError(f"unknown target {target!r}", hint=_suggest(by_name, target))
        pipe, name = matches[0]
        if selected.get(pipe, set()) is not None:
            selected.setdefault(pipe, set()).add(name)  # type: ignore[union-attr]
    return selected


def _step_matches(by_name: dict[str, PipelineGraph], target: str) -> list[tuple[str, str]]:
    pipe, dot, name = target.partition(".")
    if dot and pipe in by_name and any(n.name == name for n in by_name[pipe].steps):
        return [(pipe, name)]
    return [(g.name, n.name) for g in by_name.values() for n in g.steps if n.name == target]


def _suggest(by_name: dict[str, PipelineGraph], target: str) -> str:
    """Close names, each once: a step by its own name where that is unique, else as
    ``PIPELINE.STEP`` (a bare name two pipelines share would be ambiguous)."""
    owners: dict[str, list[str]] = {}
    for g in by_name.values():
        for n in g.steps:
            owners.setdefault(n.name, []).append(g.name)
    known = list(dict.fromkeys(by_name))
    for name, pipes in owners.items():
        known += [name] if len(pipes) == 1 else [f"{p}.{name}" for p in dict.fromkeys(pipes)]
    if "." in target:  # written qualified: offer qualified names too
        known += [f"{p}.{name}" for name, pipes in owners.items() if len(pipes) == 1 for p in pipes]
    known = list(dict.fromkeys(known))
    import difflib  # here only: imports on the quick path are kept few

    close = difflib.get_close_matches(target, known, n=3)
    if close:
        return "did you mean " + ", ".join(close) + "?"
    return "known pipelines: " + (", ".join(sorted(by_name)) or "none")
