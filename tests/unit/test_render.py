"""render: DOT and Mermaid text coloured by state, in a fixed order (golden text)."""

from __future__ import annotations

from incr import render
from incr.model import InputRef, PipelineGraph, Reason, StepNode
from incr.render import StepState, state_of


def node(name: str, inputs: dict[str, str] | None = None, **more: tuple[str, ...]) -> StepNode:
    refs = {p: InputRef(step, "output") for p, step in (inputs or {}).items()}
    return StepNode("flow", name, name, "pipelines/flow.py", {}, refs, ("output",), **more)


LOAD = node("load", deps=("data/raw.csv",))
TRAIN = node("train", {"rows": "load"}, outs=("reports/m.json",))
SCORE = node("score", {"rows": "load"}, deps=("reports/m.json",))
GRAPH = PipelineGraph("flow", "pipelines/flow.py", (LOAD, TRAIN, SCORE))
ORDER = [LOAD, TRAIN, SCORE]
STATES = {
    "flow.load": StepState("clean"),
    "flow.train": StepState("dirty", ("config changed (lr: 0.1 -> 0.2)",)),
    "flow.score": StepState("waiting", ("after train",)),
}


def test_state_of_a_step_follows_its_reasons_and_its_last_run() -> None:
    upstream = Reason(Reason.UPSTREAM, "train")
    assert state_of([], failed=True) == StepState("clean")
    assert state_of([upstream], failed=False).state == "waiting"
    assert state_of([Reason(Reason.CODE, "f in a.py"), upstream], failed=False).state == "dirty"
    assert state_of([Reason(Reason.CACHE_DISABLED)], failed=False).state == "disabled"
    assert state_of([Reason(Reason.DEP, "a.csv")], failed=True).state == "failed"
    assert StepState("disabled", ("cache disabled",)).tooltip == "cache disabled"
    assert StepState("failed", ("dep changed (a)",)).tooltip == (
        "failed in the last run: dep changed (a)"
    )


def test_dot_golden_with_states_files_and_legend() -> None:
    assert render.dot_document([(GRAPH, ORDER)], STATES) == [
        "digraph incr {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=12];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [color="#555555"];',
        "  subgraph cluster_0 {",
        '    label="flow";',
        '    style="rounded"; color="#999999";',
        '    "flow.load" [label="load", fillcolor="#b7e4c7", tooltip="clean", class="clean"];',
        '    "flow.train" [label="train", fillcolor="#ffb4a2", '
        'tooltip="dirty: config changed (lr: 0.1 -> 0.2)", class="dirty"];',
        '    "flow.score" [label="score", fillcolor="#ffe8a3", '
        'tooltip="waiting on upstream: after train", class="waiting"];',
        '    "flow.file:data/raw.csv" [label="data/raw.csv", shape=note, style=filled, '
        'fillcolor="#f4f4f4", fontsize=10, tooltip="file data/raw.csv"];',
        '    "flow.file:reports/m.json" [label="reports/m.json", shape=note, style=filled, '
        'fillcolor="#f4f4f4", fontsize=10, tooltip="file reports/m.json"];',
        "  }",
        '  "flow.file:data/raw.csv" -> "flow.load";',
        '  "flow.load" -> "flow.train";',
        '  "flow.load" -> "flow.score";',
        '  "flow.train" -> "flow.file:reports/m.json";',
        '  "flow.file:reports/m.json" -> "flow.score";',
        "  subgraph cluster_legend {",
        '    label="legend"; style="rounded"; color="#999999"; fontsize=10;',
        '    "legend.clean" [label="clean", fillcolor="#b7e4c7", fontsize=10, tooltip="clean"];',
        '    "legend.dirty" [label="dirty", fillcolor="#ffb4a2", fontsize=10, tooltip="dirty"];',
        '    "legend.waiting" [label="waiting on upstream", fillcolor="#ffe8a3", fontsize=10, '
        'tooltip="waiting on upstream"];',
        '    "legend.failed" [label="failed in the last run", fillcolor="#ef6461", fontsize=10, '
        'tooltip="failed in the last run"];',
        '    "legend.disabled" [label="cache disabled", fillcolor="#d5dbe0", fontsize=10, '
        'tooltip="cache disabled"];',
        '    "legend.clean" -> "legend.dirty" -> "legend.waiting" -> "legend.failed" -> '
        '"legend.disabled" [style=invis];',
        "  }",
        "}",
    ]


def test_mermaid_golden_with_classes() -> None:
    assert render.mermaid_lines(GRAPH, ORDER, STATES) == [
        "flowchart LR",
        '  s0["load"]',
        '  s1["train"]',
        '  s2["score"]',
        '  f0[/"data/raw.csv"/]',
        '  f1[/"reports/m.json"/]',
        "  f0 --> s0",
        "  s0 --> s1",
        "  s0 --> s2",
        "  s1 --> f1",
        "  f1 --> s2",
        "  classDef clean fill:#b7e4c7,stroke:#555555,color:#000000",
        "  classDef dirty fill:#ffb4a2,stroke:#555555,color:#000000",
        "  classDef waiting fill:#ffe8a3,stroke:#555555,color:#000000",
        "  classDef failed fill:#ef6461,stroke:#555555,color:#000000",
        "  classDef disabled fill:#d5dbe0,stroke:#555555,color:#000000",
        "  classDef file fill:#f4f4f4,stroke:#999999,color:#000000",
        "  class s0 clean",
        "  class s1 dirty",
        "  class s2 waiting",
        "  class f0,f1 file",
    ]


def test_plain_mermaid_edges_follow_the_run_order() -> None:
    # graph.edges() sorts by name, (alpha, mid) before (zeta, alpha); ids follow run order
    zeta = node("zeta")
    alpha = node("alpha", {"rows": "zeta"})
    mid = node("mid", {"rows": "alpha"})
    graph = PipelineGraph("p", "p.py", (zeta, alpha, mid))
    lines = render.mermaid_lines(graph, [zeta, alpha, mid])
    assert [line for line in lines if "-->" in line] == ["  s0 --> s1", "  s1 --> s2"]
