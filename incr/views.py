"""Library calls behind ``incr dag --status``, ``incr report``, ``incr diff``, ``incr params``
and ``incr metrics``: they open the project, gather states, locks and metric values, and hand
them to ``render``, ``htmlreport``, ``history`` and ``metrics`` for words and pictures."""

from __future__ import annotations

from collections.abc import Iterable

from incr import dag, history, leftovers, metrics, render, runlog
from incr.errors import IncrError
from incr.model import LockEntry, PipelineGraph, StepNode, TracedPipeline
from incr.opening import open_pipelines
from incr.plan import Verdict
from incr.project import Project
from incr.session import Workspace
from incr.valueclass import valueclass


@valueclass
class Picture:
    """The pipelines a ``dag`` command draws, in run order, with their states (when asked)."""

    graphs: list[tuple[PipelineGraph, list[StepNode]]]
    states: dict[str, render.StepState] | None
    verdicts: list[Verdict]


def picture(project: Project, names: Iterable[str] = (), status: bool = False) -> Picture:
    """The graphs of the named pipelines (every one without names), with each step's state
    when ``status``. Raises GraphError for an unknown name."""
    workspace, pipelines = open_pipelines(project, executable=False)
    chosen = _chosen(pipelines, tuple(names))
    graphs = [(t.graph, dag.order(t.graph)) for t in chosen]
    if not status:
        return Picture(graphs, None, [])
    verdicts = workspace.status(chosen)
    return Picture(graphs, step_states(workspace, verdicts), verdicts)


def _chosen(pipelines: list[TracedPipeline], names: tuple[str, ...]) -> list[TracedPipeline]:
    known = {t.graph.name for t in pipelines}
    for name in names:
        if name not in known:
            dag.resolve_targets(pipelines, [name])  # names the closest pipeline
            raise IncrError(f"{name!r} is a step, not a pipeline", hint="name its pipeline")
    return [t for t in pipelines if not names or t.graph.name in names]


def step_states(workspace: Workspace, verdicts: list[Verdict]) -> dict[str, render.StepState]:
    """Each step's drawn state, by key (failed: its last run failed and it is still dirty)."""
    failed = runlog.failed(workspace.project.cache / runlog.FILE)
    return {v.node.key: render.state_of(v.reasons, v.node.key in failed) for v in verdicts}


def dag_text(pic: Picture, fmt: str) -> str:
    """``incr dag --format dot|mermaid`` with states: the text to print."""
    if fmt == "mermaid":
        blocks = [render.mermaid_lines(g, order, pic.states) for g, order in pic.graphs]
        return "\n\n".join("\n".join(block) for block in blocks)
    return "\n".join(render.dot_document(pic.graphs, pic.states))


def dag_bytes(project: Project, names: Iterable[str], fmt: str, status: bool) -> bytes:
    """What ``incr dag`` prints: ``text``, ``dot`` or ``mermaid`` text (coloured with
    ``status``), or an ``svg``/``png`` picture."""
    from incr.report import dag_lines

    pic = picture(project, names, status)
    if fmt in ("svg", "png"):
        return dag_image(pic, fmt)
    if pic.states is not None and fmt != "text":
        return (dag_text(pic, fmt) + "\n").encode()
    lines = []
    for graph, order in pic.graphs:
        drawn = dag_lines(graph, order, fmt)
        if pic.states is not None:  # text: each step's line ends with its state
            keys = ["", *(n.key for n in order)]
            drawn = [
                f"{t}  [{pic.states[k].state}]" if k else t
                for t, k in zip(drawn, keys, strict=True)
            ]
        lines += drawn
    return "".join(line + "\n" for line in lines).encode()


def dag_image(pic: Picture, fmt: str) -> bytes:
    """``incr dag --format svg|png``: the picture drawn by Graphviz."""
    return render.draw(dag_text(pic, "dot"), fmt)


def lock_diff(project: Project, revs: tuple[str, ...], as_json: bool) -> str:
    """``incr diff [REV [REV]]``: the steps whose lock entries differ, and why."""
    old, new = history.revisions(revs)
    before, after = history.locks_at(project, old), history.locks_at(project, new)
    changes = history.diff_locks(before, after, _nodes(project))
    if as_json:
        return history.diff_json(changes, old, new)
    return "\n".join(history.diff_lines(changes, old, new))


def params_diff(project: Project, revs: tuple[str, ...], as_json: bool) -> str:
    """``incr params diff [REV [REV]]``: config values that differ, per step."""
    old, new = history.revisions(revs)
    before, after = history.locks_at(project, old), history.locks_at(project, new)
    changes = history.diff_params(before, after)
    if as_json:
        return history.params_json(changes, old, new)
    return "\n".join(history.params_lines(changes, old, new))


def metrics_show(project: Project, as_json: bool) -> str:
    """``incr metrics show``."""
    return metrics_table(project, None, as_json)


def metrics_diff(project: Project, revs: tuple[str, ...], as_json: bool) -> str:
    """``incr metrics diff [REV [REV]]``."""
    return metrics_table(project, revs, as_json)


def metrics_table(project: Project, revs: tuple[str, ...] | None, as_json: bool) -> str:
    """``incr metrics show`` (``revs`` None: the working tree's values) or ``incr metrics diff
    [REV [REV]]`` (only the values that differ)."""
    from incr.store import Store

    workspace, pipelines = open_pipelines(project, executable=False)
    declared = {n.key: n.metrics for t in pipelines for n in t.graph.steps if n.metrics}
    if revs is None:
        old = new = None
        before = after = workspace.locks
    else:
        old, new = history.revisions(revs)
        before, after = history.locks_at(project, old), history.locks_at(project, new)
    rows = metrics.metric_rows(Store(project.cache), declared, before, after, revs is not None)
    if as_json:
        return metrics.rows_json(rows, old, new, show=revs is None)
    lines = metrics.rows_lines(rows, old, new, show=revs is None, declared=bool(declared))
    return "\n".join(lines)


def report(project: Project, output: str) -> str:
    """``incr report``: write the HTML report to ``output``; the line saying so."""
    from pathlib import Path

    from incr import htmlreport
    from incr.store import Store

    pic = picture(project, (), status=True)
    states = pic.states or {}
    note = ""
    try:
        svg: str | None = dag_image(pic, "svg").decode("utf-8")
    except IncrError as exc:  # no Graphviz: the table alone, and how to get the picture
        svg, note = None, f"No picture: {exc.message}."
    store = Store(project.cache)
    locks = history.locks_at(project, None)
    runs = runlog.load(project.cache / runlog.FILE)
    rows = [
        htmlreport.step_row(
            store,
            v.node.key,
            states[v.node.key],
            locks.get(v.node.key),
            runs.get(v.node.key, {}).get("seconds"),
            v.node.metrics,
            v.node.config,
        )
        for v in pic.verdicts
    ]
    title = f"incr report: {project.root.name}"
    Path(output).write_text(htmlreport.page(title, svg, rows, note), encoding="utf-8")
    dirty = sum(r.state.state != render.CLEAN for r in rows)
    return f"wrote {output}: {_count(len(rows), 'step')}, {dirty} not clean"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def leftovers_of(project: Project, locks: dict[str, LockEntry]) -> list[leftovers.Leftover]:
    """The outs of removed steps still on disk (for ``incr gc --outs``)."""
    _, pipelines = open_pipelines(project, executable=False)
    return leftovers.of_project(project, locks, pipelines)


def _nodes(project: Project) -> dict[str, StepNode]:
    try:
        _, pipelines = open_pipelines(project, executable=False)
    except IncrError:  # a broken pipeline module: inputs are named by parameter
        return {}
    return {n.key: n for t in pipelines for n in t.graph.steps}


__all__ = [
    "Picture",
    "dag_bytes",
    "dag_image",
    "dag_text",
    "leftovers_of",
    "lock_diff",
    "metrics_diff",
    "metrics_show",
    "metrics_table",
    "params_diff",
    "picture",
    "report",
    "step_states",
]
