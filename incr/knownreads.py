"""The files a step reads before its code runs, as they order it after their writers.

``LABELS = json.load(open("data/labels.json"))`` at the top of a module (or ``CON =
sqlite3.connect("data/l.db")``, or ``if os.path.exists("data/m.json"):`` finding nothing) makes
what a step using ``LABELS`` computes depend on that file as the module was imported. When
another step writes it (its ``outs``, or seen writing it), the step counts it as a file it
reads: it runs after the writer (``step_reads``), and its pipeline after the writer's
(``run_order``); ``incr repro TARGET`` and ``incr status TARGET`` bring the writer along
(``with_writers``); a status shows the step waiting after the writer while that one is dirty
(``statuswalk``). Once the writer has run, the step waits for the modules to be imported
again (``incr.passes``).

Known without importing anything: what the modules read as they were imported, by the import
facts (``Workspace.imports``, kept in the graph cache) through the step's code parts, or as its
lock entry recorded (``import:`` keys); and the files its code opens through readers written in
C at paths known before it runs (``incr.creaders``), at the top of a module as in its body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from incr.model import (
    IMPORT_PREFIX,
    LockEntry,
    StepNode,
    TracedPipeline,
    paths_overlap,
    split_import_key,
)
from incr.overlaps import pipeline_order


class Workspace(Protocol):
    """What these functions ask of a workspace (``session.Workspace``)."""

    locks: dict[str, LockEntry]

    @property
    def imports(self) -> Mapping[str, Mapping[str, str]]: ...

    def step_writes(self, pipelines: list[TracedPipeline]) -> dict[str, list[str]]: ...

    def code_facts(self, traced: TracedPipeline, node: StepNode) -> dict[str, str]: ...

    def native_reads(
        self, traced: TracedPipeline, node: StepNode
    ) -> tuple[list[str], list[str]]: ...


def known_reads(
    workspace: Workspace, pipelines: list[TracedPipeline], writes: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """By step key, the files of ``writes`` (by step key: seen writing, or in ``outs``) that
    a step of ``pipelines`` reads before its code runs (see above), when there are any."""
    written = sorted({path for paths in writes.values() for path in paths})
    if not written:
        return {}  # nothing is written: nothing to order

    def wanted(path: str) -> bool:
        return any(paths_overlap(path, w) for w in written)

    owners: dict[str, dict[str, str]] = {}  # the import facts of the files some step writes
    for owner, facts in workspace.imports.items():
        keys = {k: v for k, v in facts.items() if k[:7] == IMPORT_PREFIX and wanted(_path(k))}
        if keys:
            owners[owner] = keys
    if owners:
        from incr.importreads import step_facts  # here: few projects have such reads
    found: dict[str, list[str]] = {}
    for traced in pipelines:
        for node in traced.graph.steps:
            paths = [p for p in workspace.native_reads(traced, node)[0] if wanted(p)]
            entry = workspace.locks.get(node.key)
            if entry is not None and entry.reads:
                paths += [_path(k) for k in entry.reads if k[:7] == IMPORT_PREFIX]
            if owners:
                paths += map(_path, step_facts(owners, workspace.code_facts(traced, node)))
            if paths := [p for p in dict.fromkeys(paths) if wanted(p)]:
                found[node.key] = paths
    return found


def step_reads(workspace: Workspace, traced: TracedPipeline) -> Callable[[StepNode], list[str]]:
    """The files each step of ``traced`` reads before its code runs, as they order it after
    their writer within its pipeline (``graph.with_learned``): those its code opens through
    readers written in C, and those of ``known_reads``."""
    own = {node.key for node in traced.graph.steps}
    writes = {k: v for k, v in workspace.step_writes([traced]).items() if k in own}
    known = known_reads(workspace, [traced], writes)
    return lambda node: list(
        dict.fromkeys([*workspace.native_reads(traced, node)[0], *known.get(node.key, ())])
    )


def _path(key: str) -> str:
    return split_import_key(key)[1]


def run_order(
    workspace: Workspace,
    pipelines: list[TracedPipeline],
    writes: Mapping[str, Iterable[str]] | None = None,
    known: Mapping[str, list[str]] | None = None,
) -> list[TracedPipeline]:
    """``pipelines`` in the order ``incr repro`` runs them: one reading a file another
    writes after that one (``overlaps.pipeline_order``), a file its modules read as they
    were imported too (``known_reads``). ``writes`` and ``known``: as the caller has them."""
    if len(pipelines) < 2:
        return pipelines
    writes = workspace.step_writes(pipelines) if writes is None else writes
    if known is None:
        known = known_reads(workspace, pipelines, writes)
    pipeline_of = {n.key: t.graph.name for t in pipelines for n in t.graph.steps}
    names = [t.graph.name for t in pipelines]
    by_name = {t.graph.name: t for t in pipelines}
    deps = {n.key: list(n.deps) for t in pipelines for n in t.graph.steps if n.deps}
    for key, paths in known.items():
        deps[key] = [*deps.get(key, ()), *paths]
    order = pipeline_order(names, pipeline_of, writes, workspace.locks, deps)
    return [by_name[name] for name in order]


def with_writers(
    workspace: Workspace, pipelines: list[TracedPipeline], targets: Iterable[str]
) -> list[str]:
    """``targets`` with the steps of other pipelines writing what they read, a file their
    modules read as they were imported too (``crossreads.writers_of``)."""
    from incr.crossreads import writers_of

    writes = workspace.step_writes(pipelines)
    known = known_reads(workspace, pipelines, writes)
    return writers_of(pipelines, list(targets), writes, workspace.locks, known)
