"""What ``incr status``, ``incr show``, ``incr commit`` and ``incr dag`` do, as library calls.

Each call opens the project (the nearest one up from ``root``, the current folder by default;
or a ``Project`` already found), decides, and returns values: the CLI only parses its options
and prints them through ``incr.report``. The graphs come from the graph cache when it is up to
date, so no pipeline module is imported by a call on an unchanged project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from incr import dag as dags
from incr.errors import IncrError
from incr.keptlocks import kept_pipelines
from incr.model import LockEntry, PipelineGraph, Reason, TracedPipeline
from incr.opening import open_pipelines
from incr.plan import Verdict
from incr.project import Project
from incr.session import Workspace
from incr.valueclass import valueclass

if TYPE_CHECKING:
    from incr.api import PipelineInstance
    from incr.graph import DiGraph

#: A project, or a folder inside one (None: the current folder).
Where = Project | Path | str | None


@valueclass(frozen=True)
class StepReport:
    """What ``incr show STEP`` shows: the step's verdict (state, reasons, fingerprint and
    facts now), its lock entry (None: it never ran), and, for each code part that changed
    since that run, (part, normalised source then, source now; None where unknown)."""

    verdict: Verdict
    locked: LockEntry | None
    diffs: list[tuple[str, str | None, str | None]]


@valueclass(frozen=True)
class Commit:
    """One target of ``incr commit``: the step's key and the reasons it was dirty (recorded
    as done without rerunning). No reasons: it was clean, nothing was written."""

    key: str
    reasons: tuple[Reason, ...]

    @property
    def committed(self) -> bool:
        return bool(self.reasons)


def find_project(where: Where = None) -> Project:
    """The project at or above ``where`` (a ``Project`` is returned as it is).

    Raises ProjectError when there is none."""
    return where if isinstance(where, Project) else Project.find(where)


def status(
    targets: Iterable[str] = (),
    *,
    root: Where = None,
    check: bool = False,
    force: bool = False,
    kept: dict[str, tuple[str, int, list[str], bool]] | None = None,
    outside: set[str] | None = None,
    left_out: list[str] | None = None,
) -> list[Verdict]:
    """Each step of the targeted pipelines (all without targets), in run order, with the
    reasons it is dirty (none: clean): what ``incr repro`` would run, running nothing.

    A TARGET is ``PIPELINE``, ``PIPELINE.STEP`` or a step name unique across pipelines; a step
    target brings the steps it needs along. ``check`` judges every step against
    ``pipeline.lock`` as ``incr status --check`` does (``incr.gate.stale_steps`` of the result
    lists the steps whose lock entry is out of date); ``force`` marks the targeted steps forced,
    as ``incr repro --force --dry-run`` does. ``kept``, when given, receives the pipelines
    whose lock entries stay although discovery does not find them (see
    ``keptlocks.kept_pipelines``). ``outside``, when given, receives the keys of the files and
    folders outside the project that the answer depends on (``incr.outside``). ``left_out``,
    when given (and without targets or ``check``), lets a module failing on a file a step
    writes, not there yet, be left out (``incr.deferred``), and receives a note on each.
    Raises IncrError (DiscoveryError, GraphError, LockfileError...) with a one-line message.
    """
    project = find_project(root)
    deferred = None
    if left_out is not None and not targets and not check:
        from incr.deferred import Deferred

        deferred = Deferred(project.root, project.lockfile)
    workspace, pipelines = open_pipelines(project, executable=False, deferred=deferred)
    waiting = set(deferred.errors) if deferred is not None else set()
    if kept is not None or waiting:  # lock entries kept for pipelines a script runs
        live = [t.graph.name for t in pipelines]  # (``incr.keptlocks``)
        found = kept_pipelines(workspace.project, workspace.locks, live)
        if kept is not None:
            kept.update({name: about for name, about in found.items() if about[0] not in waiting})
        if deferred is not None and left_out is not None:
            for module in sorted(waiting):
                entries = sum(about[1] for about in found.values() if about[0] == module)
                left_out.append(deferred.status_note(module, entries))
    if targets:  # with the steps of other pipelines writing what they read, as repro does
        from incr.knownreads import with_writers

        targets = with_writers(workspace, pipelines, targets)
    verdicts = workspace.status(pipelines, targets, force=force, lock_view=check)
    if targets:  # steps using a value a step the targets leave out sets: as repro says
        verdicts = _left_out(workspace, pipelines, targets, verdicts)
    if outside is not None:
        from incr.learned import outside_keys

        outside.update(outside_keys(workspace.discovered))
        for module_reads in workspace.imports.values():
            outside.update(outside_keys(module_reads))
        for entry in workspace.locks.values():  # what steps read, and their deps outside
            if entry.reads:
                outside.update(outside_keys(entry.reads))
            if entry.facts.deps:
                outside.update(outside_keys(entry.facts.deps))
        outside.update(workspace.facts.local.paths)  # the local packages' code, as read
    return verdicts


def _left_out(
    workspace: Workspace,
    pipelines: list[TracedPipeline],
    targets: Iterable[str],
    verdicts: list[Verdict],
) -> list[Verdict]:
    """``verdicts`` with a note on each step that uses a module value a step of a pipeline
    run before its own sets, which ``targets`` leave out (``setters.left_out``)."""
    from incr import setters  # here: most statuses have no target

    ordered = workspace.run_order(pipelines)
    notes = setters.left_out(ordered, dags.select(ordered, targets), workspace.locks)
    return [
        replace(v, order_notes=(*v.order_notes, notes[v.node.key])) if v.node.key in notes else v
        for v in verdicts
    ]


def show(target: str, *, root: Where = None) -> StepReport:
    """One step explained (``incr show STEP``): its verdict, lock entry and code diffs.

    ``target`` is ``PIPELINE.STEP`` or a step name unique across pipelines; naming a
    pipeline raises IncrError."""
    workspace, pipelines = open_pipelines(find_project(root), executable=False)
    verdict = _verdict(workspace, pipelines, target)
    locked = workspace.locks.get(verdict.node.key)
    return StepReport(verdict, locked, workspace.code_diffs(verdict))


def commit(
    targets: Iterable[str],
    *,
    root: Where = None,
    on_wait: Callable[[str], None] | None = None,
    each: Callable[[Commit], None] | None = None,
) -> list[Commit]:
    """Record each target step's current fingerprint for the outputs it has, without rerunning
    it or anything downstream (``incr commit``); one ``Commit`` per target, in order (``each``
    is called with it as soon as it is written).

    Waits for another incr writing to the project (``on_wait`` is told for whom). Raises
    IncrError when a step never ran, waits on a dirty upstream step, what it reads changed
    (``COMMITTED``), or its outputs are missing or modified; the targets before it stay
    committed.
    """
    from incr.locking import project_lock

    project = find_project(root)
    done: list[Commit] = []
    with project_lock(project.cache, "incr commit", on_wait=on_wait):
        workspace, pipelines = open_pipelines(project, executable=False)
        for target in targets:
            verdict = _verdict(workspace, pipelines, target)
            if verdict.dirty:
                _refuse_data(verdict)
                workspace.commit(verdict)
            done.append(Commit(verdict.node.key, verdict.reasons))
            if each is not None:
                each(done[-1])
    return done


def dag(pipelines: Iterable[str] = (), *, root: Where = None) -> list[PipelineGraph]:
    """The graph of each named pipeline (every one without names), in discovery order.

    ``incr.dag.order(graph)`` gives its steps in run order (``graph.order`` their names),
    ``incr.to_networkx(graph)`` a ``networkx.DiGraph``. Raises IncrError for a name that
    is not a pipeline."""
    _, traced = open_pipelines(find_project(root), executable=False)
    return pick_graphs(traced, tuple(pipelines))


def to_networkx(pipeline: PipelineInstance | TracedPipeline | PipelineGraph) -> DiGraph:
    """A pipeline as a ``networkx.DiGraph`` (see ``incr.graph.to_networkx``: a node per step
    with its ``StepNode`` as ``step``, an edge per dependency). A pipeline instance is traced
    first, in its project (no step runs); raises GraphError when it cannot be.

    >>> g = incr.to_networkx(my_pipeline())
    >>> list(networkx.topological_sort(g))
    """
    import inspect

    from incr import discovery, graph
    from incr.api import PipelineInstance
    from incr.notebook import project_for

    if isinstance(pipeline, PipelineInstance):
        func = pipeline.definition.func
        project = project_for(inspect.getsourcefile(func) or func.__code__.co_filename)
        pipeline = discovery.trace(pipeline, project.root)
    return graph.to_networkx(pipeline)


def pick_graphs(traced: list[TracedPipeline], names: tuple[str, ...]) -> list[PipelineGraph]:
    """The graphs of ``traced`` that ``names`` name (all without names); a name that is not
    a pipeline raises IncrError naming the closest one."""
    known = {t.graph.name: t.graph for t in traced}
    for name in names:
        if name not in known:
            dags.resolve_targets(traced, [name])  # names the closest pipeline
            raise IncrError(f"{name!r} is a step, not a pipeline", hint="name its pipeline")
    return [graph for name, graph in known.items() if not names or name in names]


def one_step(pipelines: list[TracedPipeline], target: str) -> tuple[str, str]:
    """(pipeline, step) for a TARGET that must name one step."""
    selection = dags.resolve_targets(pipelines, [target])
    (pipeline, steps), *_ = selection.items()
    if steps is None:
        raise IncrError(
            f"{target!r} is a pipeline; name one of its steps",
            hint=f"for example {target}.STEP; `incr status {target}` lists them",
        )
    return pipeline, next(iter(steps))


#: The reasons ``incr commit`` accepts: a change of the step's code (its packages' versions
#: too) or config, which the user checked does not change its results (a refactor). A change
#: of what it reads (deps, files, inputs, environment, the time zone) is not a refactor:
#: recorded, the outputs made from the old data would stand for the new in the run cache too,
#: for every later run here and every clone pulling from the remote. (A step that never ran,
#: waits on a dirty one or lacks outputs is refused by ``Workspace.commit``, saying so.)
COMMITTED = frozenset({Reason.CODE, Reason.CONFIG, Reason.FINGERPRINT, Reason.EXPIRED})
_SAID_LATER = frozenset(
    {Reason.NEW, Reason.UPSTREAM, Reason.MISSING, Reason.OUT_MISSING, Reason.MODIFIED}
)


def _refuse_data(verdict: Verdict) -> None:
    """Raise IncrError when a reason the step is dirty for is not one ``COMMITTED`` takes."""
    data = [r for r in verdict.reasons if r.kind not in COMMITTED | _SAID_LATER]
    if data:
        key = verdict.node.key
        raise IncrError(
            f"{key}: {'; '.join(map(str, data))}: not a change of its code or config, which "
            "is all commit accepts (its outputs were made from what it read then)",
            hint=f"run `incr repro {key}`",
        )


def _verdict(workspace: Workspace, pipelines: list[TracedPipeline], target: str) -> Verdict:
    from incr.knownreads import with_writers  # the steps of other pipelines it waits after

    pipeline, name = one_step(pipelines, target)
    key = f"{pipeline}.{name}"
    judged = with_writers(workspace, pipelines, [key])
    return next(v for v in workspace.status(pipelines, judged) if v.node.key == key)
