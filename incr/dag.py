"""The pipeline graph as plain data, for the paths that import no pipeline module: the
outs checks, the run order kept in ``PipelineGraph.order``, ancestors and descendants read off
that order, and which steps a target list selects.

Pure and networkx-free. The order is computed once, with networkx, when a traced graph is
checked (``incr.graph.check``), then kept in the graph cache, so a no-op ``status`` or
``repro`` never imports networkx; ``incr.graph`` also re-orders a graph whose learned edges
(``incr.overlaps``) contradict it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from incr.digests import digest_bytes
from incr.errors import GraphError
from incr.model import PipelineGraph, StepNode, TracedPipeline, paths_overlap


def check_outs(graph: PipelineGraph) -> None:
    """Raise GraphError when two steps of ``graph`` write the same path, or one inside the
    other (naming both)."""
    outs = [(out, node.name) for node in graph.steps for out in node.outs]
    for i, (a, step_a) in enumerate(outs):
        for b, step_b in outs[i + 1 :]:
            if paths_overlap(a, b):
                raise GraphError(
                    f"pipeline {graph.name}: steps {step_a} and {step_b} both write "
                    f"{a if len(a) <= len(b) else b} (outs {a!r} and {b!r})",
                    hint="give each file or folder one producing step",
                )


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


def shape(graph: PipelineGraph) -> str:
    """The digest of what a graph's run order is computed from: its step names in body order
    and its edges. Two graphs of one shape have one order (``incr.graph.order``)."""
    names = [node.name for node in graph.steps]
    return digest_bytes(json.dumps([names, graph.edges()]).encode(), 32)


def has_order(graph: PipelineGraph) -> bool:
    """True when ``graph.order`` holds every step once and puts each learned writer before
    its reader (traced edges always agree with it: it was computed from them)."""
    if len(graph.order) != len(graph.steps):
        return False
    if not graph.learned:
        return True
    position = {name: i for i, name in enumerate(graph.order)}
    return all(position[w] < position[r] for w, r in graph.learned)


def order(graph: PipelineGraph) -> list[StepNode]:
    """Steps in dependency order, ties kept in the order the pipeline body called them, as
    ``graph.order`` holds them. Raises ValueError when the graph carries no valid order (it
    was not checked, or learned edges contradict it: see ``incr.graph.ordered``)."""
    if not has_order(graph):
        raise ValueError(f"pipeline {graph.name}: no run order (see incr.graph.ordered)")
    if all(name == node.name for name, node in zip(graph.order, graph.steps, strict=True)):
        return list(graph.steps)
    index = {node.name: node for node in graph.steps}
    return [index[name] for name in graph.order]


def ancestors(graph: PipelineGraph, names: Iterable[str]) -> set[str]:
    """The named steps and every step they depend on: one pass up the run order."""
    found = set(names)
    ups = _ups(graph)
    for node in reversed(order(graph)):
        if node.name in found:
            found.update(ups.get(node.name, ()))
    return found


def descendants(graph: PipelineGraph, name: str) -> set[str]:
    """Every step that depends, directly or not, on ``name``: one pass down the run order."""
    reached = {name}
    ups = _ups(graph)
    for node in order(graph):
        if node.name != name and not reached.isdisjoint(ups.get(node.name, ())):
            reached.add(node.name)
    return reached - {name}


def _ups(graph: PipelineGraph) -> dict[str, list[str]]:
    up: dict[str, list[str]] = {}
    for a, b in graph.edges():
        up.setdefault(b, []).append(a)
    return up


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
    """``PIPELINE.STEP`` (a pipeline's name may hold dots: ``tp@train.gamma=0.5``), else a
    step's own name."""
    for at in (i for i, char in enumerate(target) if char == "."):
        pipe, name = target[:at], target[at + 1 :]
        if pipe in by_name and any(n.name == name for n in by_name[pipe].steps):
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
