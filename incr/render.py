"""Pictures of pipelines: DOT and Mermaid text coloured by each step's state, and images drawn
by Graphviz's ``dot`` program (run as a child process; no Python binding).

A step's state is one of ``STATES``: clean, dirty, waiting (on a dirty upstream step), failed
(in the last run, and not rerun since) or cache disabled. With states, the files a step lists
in ``deps``/``outs`` are drawn as nodes of their own, and the reasons become tooltips.
Every list comes out in a fixed order (steps in run order, files and edges sorted), so the
same project gives the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Mapping

from incr.errors import IncrError
from incr.model import PipelineGraph, Reason, StepNode
from incr.valueclass import valueclass

CLEAN, DIRTY, WAITING, FAILED, DISABLED = "clean", "dirty", "waiting", "failed", "disabled"
STATES = (CLEAN, DIRTY, WAITING, FAILED, DISABLED)
#: Fill colours (and the Mermaid class of the same name).
COLOURS = {
    CLEAN: "#b7e4c7",
    DIRTY: "#ffb4a2",
    WAITING: "#ffe8a3",
    FAILED: "#ef6461",
    DISABLED: "#d5dbe0",
}
LEGEND = {
    CLEAN: "clean",
    DIRTY: "dirty",
    WAITING: "waiting on upstream",
    FAILED: "failed in the last run",
    DISABLED: "cache disabled",
}
FILE_COLOUR = "#f4f4f4"
INSTALL_DOT = (
    "Graphviz's `dot` program is needed for --format svg/png: install Graphviz "
    "(apt-get install graphviz, brew install graphviz, conda install graphviz)"
)


@valueclass(frozen=True)
class StepState:
    """How a step is drawn: its state and the reasons behind it, as text."""

    state: str
    reasons: tuple[str, ...] = ()

    @property
    def tooltip(self) -> str:
        if not self.reasons:
            return LEGEND[self.state]
        said = "; ".join(self.reasons)
        return said if said.startswith(LEGEND[self.state]) else f"{LEGEND[self.state]}: {said}"


def state_of(reasons: Iterable[Reason], failed: bool) -> StepState:
    """The drawn state of a step with these status reasons; ``failed``: its last run failed."""
    reasons = tuple(reasons)
    words = tuple(str(r) for r in reasons)
    if not reasons:
        return StepState(CLEAN)
    if failed:
        return StepState(FAILED, words)
    if any(r.kind == Reason.CACHE_DISABLED for r in reasons):
        return StepState(DISABLED, words)
    if all(r.kind == Reason.UPSTREAM for r in reasons):
        return StepState(WAITING, words)
    return StepState(DIRTY, words)


def _q(text: str) -> str:
    return json.dumps(text)


def _file_edges(graph: PipelineGraph) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """(file, step) and (step, file) edges for deps/outs, and the step pairs they wire."""
    edges: set[tuple[str, str]] = set()
    producers = {out: n.name for n in graph.steps for out in n.outs}
    wired: set[tuple[str, str]] = set()
    for node in graph.steps:
        edges.update((f"file:{dep}", node.name) for dep in node.deps)
        edges.update((node.name, f"file:{out}") for out in node.outs)
        wired.update((producers[d], node.name) for d in node.deps if d in producers)
    return sorted(edges), wired


def _steps_and_edges(
    graph: PipelineGraph, order: list[StepNode], files: bool
) -> tuple[list[str], list[tuple[str, str]]]:
    """Node names (steps in run order, then ``file:PATH`` sorted) and edges in drawing order."""
    position = {n.name: i for i, n in enumerate(order)}
    pairs = graph.edges()
    names = [n.name for n in order]
    if files:
        file_edges, wired = _file_edges(graph)
        pairs = [p for p in pairs if p not in wired] + file_edges
        names += sorted({x for edge in file_edges for x in edge if x.startswith("file:")})

    index = {name: i for i, name in enumerate(names)}  # steps in run order, then files

    def rank(edge: tuple[str, str]) -> tuple[float, int, int]:
        # by the step it touches: a file read just before its reader, one written just after
        a, b = edge
        at = position[a] + 0.5 if a in position else position[b] - 0.5
        return (at, index[a], index[b])

    return names, sorted(pairs, key=rank)


# --------------------------------------------------------------------------- dot


def dot_document(
    graphs: list[tuple[PipelineGraph, list[StepNode]]],
    states: Mapping[str, StepState] | None = None,
) -> list[str]:
    """One DOT graph holding each pipeline as a cluster; with ``states`` (by step key) the
    steps are coloured, carry their reasons as tooltips, files are nodes and a legend
    follows."""
    lines = [
        "digraph incr {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=12];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [color="#555555"];',
    ]
    for i, (graph, order) in enumerate(graphs):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_q(graph.name)};")
        lines.append('    style="rounded"; color="#999999";')
        names, edges = _steps_and_edges(graph, order, files=states is not None)
        ids = {name: f"{graph.name}.{name}" for name in names}
        for name in names:
            lines.append(f"    {_q(ids[name])} [{_dot_attrs(graph, name, states)}];")
        lines.append("  }")
        lines += [f"  {_q(ids[a])} -> {_q(ids[b])};" for a, b in edges]
    if states is not None:
        lines += _dot_legend()
    return [*lines, "}"]


def _dot_attrs(graph: PipelineGraph, name: str, states: Mapping[str, StepState] | None) -> str:
    if name.startswith("file:"):
        path = name[len("file:") :]
        return (
            f'label={_q(path)}, shape=note, style=filled, fillcolor="{FILE_COLOUR}", '
            f"fontsize=10, tooltip={_q('file ' + path)}"
        )
    if states is None:
        return f"label={_q(name)}"
    state = states.get(f"{graph.name}.{name}", StepState(CLEAN))
    return (
        f'label={_q(name)}, fillcolor="{COLOURS[state.state]}", '
        f"tooltip={_q(state.tooltip)}, class={_q(state.state)}"
    )


def _dot_legend() -> list[str]:
    lines = [
        "  subgraph cluster_legend {",
        '    label="legend"; style="rounded"; color="#999999"; fontsize=10;',
    ]
    for state in STATES:
        lines.append(
            f'    "legend.{state}" [label={_q(LEGEND[state])}, fillcolor="{COLOURS[state]}", '
            f"fontsize=10, tooltip={_q(LEGEND[state])}];"
        )
    chain = " -> ".join(f'"legend.{s}"' for s in STATES)
    return [*lines, f"    {chain} [style=invis];", "  }"]


# --------------------------------------------------------------------------- mermaid


def mermaid_lines(
    graph: PipelineGraph,
    order: list[StepNode],
    states: Mapping[str, StepState] | None = None,
) -> list[str]:
    """A Mermaid flowchart; with ``states`` each step gets the class of its state (colours
    as ``classDef``) and files are nodes."""
    names, edges = _steps_and_edges(graph, order, files=states is not None)
    ids = {n: f"s{i}" for i, n in enumerate(names) if not n.startswith("file:")}
    files = [n for n in names if n.startswith("file:")]
    ids.update({n: f"f{i}" for i, n in enumerate(files)})
    lines = ["flowchart LR"]
    for name in names:
        if name.startswith("file:"):
            lines.append(f'  {ids[name]}[/"{name[len("file:") :]}"/]')
        else:
            lines.append(f'  {ids[name]}["{name}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    if states is None:
        return lines
    for state in STATES:
        lines.append(f"  classDef {state} fill:{COLOURS[state]},stroke:#555555,color:#000000")
    lines.append(f"  classDef file fill:{FILE_COLOUR},stroke:#999999,color:#000000")
    by_state: dict[str, list[str]] = {}
    for node in order:
        state = states.get(node.key, StepState(CLEAN)).state
        by_state.setdefault(state, []).append(ids[node.name])
    for state in STATES:
        if state in by_state:
            lines.append(f"  class {','.join(by_state[state])} {state}")
    if files:
        lines.append(f"  class {','.join(ids[f] for f in files)} file")
    return lines


# --------------------------------------------------------------------------- images


def dot_program() -> str | None:
    """The path of Graphviz's ``dot``, or None when it is not installed."""
    return shutil.which("dot")


def draw(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` drawn by Graphviz as ``svg`` or ``png`` bytes.

    Raises IncrError when ``dot`` is not installed (saying how to install it) or fails.
    """
    program = dot_program()
    if program is None:
        raise IncrError(INSTALL_DOT, hint="`incr dag --format dot` works without it")
    done = subprocess.run(
        [program, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip().splitlines()
        raise IncrError(f"dot failed: {text[0] if text else done.returncode}")
    return done.stdout
