"""Opening a project's pipelines: from the graph cache when it holds them (``load_graphs``), else
by importing and tracing the pipeline modules (``open_pipelines``), and for ``incr repro``
only as far as a step may have to run (``open_for_repro``).

A no-op ``status`` imports no pipeline module: ``discovery`` is imported here only when a
trace is needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from incr import dag, envreads
from incr.envreads import env_value
from incr.learned import own_paths
from incr.model import PipelineGraph, TracedPipeline
from incr.project import Project
from incr.session import Workspace

if TYPE_CHECKING:
    from incr.deferred import Deferred
    from incr.graphcache import Saved
    from incr.importreads import ImportFacts
    from incr.plan import Verdict


def open_pipelines(
    project: Project,
    *,
    executable: bool = True,
    workspace: Workspace | None = None,
    saved: Saved | None = None,
    deferred: Deferred | None = None,
) -> tuple[Workspace, list[TracedPipeline]]:
    """Open the project's workspace (lockfile errors first; or take ``workspace``, opened
    by this command already) and its pipelines.

    With ``executable=False`` the graphs may come from the graph cache without importing any
    pipeline module: good for deciding, not for running. Otherwise the modules are imported
    and traced, and the graph cache is refreshed. ``saved``, graphs this command loaded from
    the graph cache, stand for the trace of their pipelines while what they were accepted by
    is unchanged once the modules are imported (``discovery.rebound``). A module failing on
    a file a step writes, not there yet, is left out when ``deferred`` takes it: the graph
    cache is then left as it was (``incr.deferred``).
    """
    from incr import graphcache

    workspace = workspace or Workspace(project)
    if not executable:
        saved = load_graphs(project, workspace)
        if saved is not None:
            return workspace, saved.pipelines
    from incr import discovery, importreads  # here: the graph cache spares a no-op these
    from incr.reads import recording, unrecorded

    def known() -> dict[str, TracedPipeline]:
        with unrecorded():  # incr's own reads, not the modules'
            if saved is None or not graphcache.unchanged(project, workspace.stats, saved.key):
                return {}  # a module or a file read while importing changed since: trace
        return {t.graph.name: t for t in saved.pipelines}

    # Files the pipeline modules read while imported (a params.yaml feeding a config) decide
    # the wiring too: the graph cache is keyed by them as well, by the environment variables
    # project code read meanwhile, and by the folders it listed and the paths it tested (one
    # step per file of data/parts/).
    exclude = own_paths(project)
    with (
        recording(project.root, exclude) as seen,
        importreads.recording(project.root, exclude) as imported,
    ):
        orders = graphcache.known_orders(project)
        pipelines = discovery.discover(project, orders, known, deferred)
    shell = workspace.learned.shell  # the environment as the command found it
    env_set = envreads.changes(shell, os.environ)  # and as the modules left it: the steps see it
    envreads.overlay(workspace.environ, shell, env_set)
    workspace.learned.discovery_set, workspace.learned.instance_env = env_set, ()
    workspace.imports = imported.facts(workspace.stats.digest, workspace.environ, exclude)
    env = {name: env_value(name, shell) for name in imported.env_names}  # what keys the cache
    learned = seen.learned()
    if deferred is not None and deferred.errors:  # not all of them: nothing saved
        deferred.check(pipelines)
        read = sorted({*graphcache.project_modules(project), *seen.paths(), *deferred.files()})
        workspace.discovered = {**{p: workspace.stats.digest(p) for p in read}, **learned}
        workspace.deferred = deferred
        return workspace, pipelines
    workspace.discovered = graphcache.save(
        project,
        workspace.stats,
        pipelines,
        seen.paths(),
        workspace.imports,
        env,
        learned,
        saved,
        env_set,
    )
    return workspace, pipelines


def load_graphs(project: Project, workspace: Workspace) -> Saved | None:
    """The graphs of the graph cache when it is valid (see ``graphcache``), with what the
    modules read while imported noted on ``workspace``."""
    from incr import graphcache

    saved = graphcache.load_with_imports(project, workspace.stats)
    if saved is not None:
        dag.check_shared_outs(t.graph for t in saved.pipelines)  # cached by an older incr
        workspace.imports = saved.imports
        # what discovery would set
        envreads.overlay(workspace.environ, workspace.learned.shell, saved.env_set)
        workspace.learned.discovery_set = saved.env_set
        workspace.discovered = graphcache.valued(saved.key)
        workspace.facts.local.added = saved.paths  # sys.path as the modules left it
    return saved


def open_for_repro(
    project: Project, targets: Iterable[str] = (), force: bool = False
) -> tuple[Workspace, list[TracedPipeline]]:
    """Like ``open_pipelines``, importing the pipelines only when a step may have to run."""
    workspace = Workspace(project)
    saved = load_graphs(project, workspace)
    if saved is None:
        from incr.deferred import Deferred

        deferred = None if targets else Deferred(project.root, project.lockfile)
        return open_pipelines(project, workspace=workspace, deferred=deferred)
    pipelines = saved.pipelines
    if targets:  # with the steps of other pipelines that write what they read
        from incr.knownreads import with_writers

        targets = with_writers(workspace, pipelines, targets)
    kept = None if force or targets else kept_clean(project, workspace, pipelines)
    verdicts = kept or ([] if force else workspace.status(pipelines, targets, save=False))
    if not force and not any(v.dirty for v in verdicts):
        workspace.clean = {v.node.key: v for v in verdicts}
        return workspace, pipelines  # every step is clean: nothing will execute
    code = {n.key: t.code.get(n.name) for t in pipelines for n in t.graph.steps}
    workspace.clean_before = {
        v.node.key: (v, found)
        for v in verdicts
        if not v.own_reasons and (found := code.get(v.node.key)) is not None
    }
    from incr import discovery  # here: a status never imports a pipeline module

    wanted = {v.node.pipeline for v in verdicts if v.dirty}
    if not force and (bound := discovery.bind_some(project, saved, wanted, workspace.stats)):
        workspace.bind = bound[1]  # a pipeline left as saved may have a step to run after all
        return workspace, bound[0]
    return open_pipelines(project, workspace=workspace, saved=saved)


def kept_clean(
    project: Project, workspace: Workspace, pipelines: list[TracedPipeline]
) -> list[Verdict] | None:
    """Every step clean, as its lock entry records it, when the answer ``incr status`` kept
    still holds (``incr.statusmemo``: nothing it depends on moved since, and it kept only an
    answer where every step is clean): a no-op ``repro`` then decides no step again. None
    when there is no such answer, or a step has no lock entry."""
    from incr import statusmemo
    from incr.plan import Verdict

    if not statusmemo.enabled() or not (project.cache / statusmemo.FILE).is_file():
        return None
    if statusmemo.StatusMemo(project, "text").answer() is None:
        return None
    verdicts = []
    for traced in pipelines:
        graph, _ = workspace.learned_graph(traced)  # the nodes the runner judges
        for node in graph.steps:
            locked = workspace.locks.get(node.key)
            if locked is None:
                return None
            verdicts.append(Verdict(node, (), locked.fingerprint, locked.facts))
    return verdicts


def script_imports(
    project: Project, workspace: Workspace
) -> tuple[ImportFacts, list[PipelineGraph]]:
    """What the project modules read while imported, for a ``.run()`` made by a script: as
    recorded in this process since ``import incr``, completed by the graph cache when it is
    up to date (a module imported before incr was is known there); with the graphs of the
    project's pipelines that cache holds (none when it is not up to date)."""
    from incr import graphcache, importreads

    recorder = importreads.script_recorder(project.root)
    exclude = (project.cache_dir, ".git")
    live = recorder.facts(workspace.stats.digest, workspace.environ, exclude) if recorder else {}
    cached = graphcache.load_with_imports(project, workspace.stats)
    if cached is None:
        return live, []
    return importreads.merged(cached[1], live), [t.graph for t in cached.pipelines]
