"""A workspace: one project's lockfile, cache, stat cache and code index, opened together.

This is the seam between the pure core and the disk: it reads sources and files, asks
``fingerprint`` and ``plan`` for decisions, and hands execution to ``runner``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
from collections.abc import Iterable
from typing import Any

from incr import graph as graphs
from incr import lockfile
from incr.api import PipelineInstance, TracedPipeline
from incr.errors import DefinitionError
from incr.fingerprint import (
    CodeIndex,
    ModuleSource,
    canonical_json,
    fingerprint,
    function_closure,
)
from incr.hashing import MISSING, StatCache
from incr.model import Facts, LockEntry, StepNode
from incr.plan import Verdict, cache_enabled, decide, file_upstreams, upstream_inputs
from incr.project import Project
from incr.report import Console, Reporter
from incr.store import Store


class Workspace:
    """Everything incr knows about one project on disk, loaded once per command."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.store = Store(project.cache)
        self.stats = StatCache(project.root, project.cache / "stat.json")
        self.locks: dict[str, LockEntry] = lockfile.read(project.lockfile)
        self.code = CodeIndex(self._load_source)

    # ------------------------------------------------------------------ sources

    def _load_source(self, name: str) -> ModuleSource | None:
        if not name or name.startswith("."):
            return None
        base = self.project.root.joinpath(*name.split("."))
        for path, is_package in ((base.with_suffix(".py"), False), (base / "__init__.py", True)):
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                rel = path.relative_to(self.project.root).as_posix()
                return ModuleSource(name=name, path=rel, text=text, is_package=is_package)
        return None

    def code_facts(self, traced: TracedPipeline, node: StepNode) -> dict[str, str]:
        """Code parts of a step: its closure's digests plus third-party package versions."""
        func = traced.steps[node.name].func
        module = graphs.module_name(self.project.root, self.project.root / node.source_file)
        if func.__qualname__ == func.__name__ and self.code.is_local(module):
            closure = self.code.closure(module, func.__name__)
            parts = dict(closure.parts)
            packages = closure.packages
        else:  # defined inside a function or outside the project: its own source only
            text = inspect.getsource(func)
            parts = {
                f"{node.source_file}:{func.__qualname__}": function_closure(text, node.source_file)
            }
            packages = frozenset()
        for package in packages:
            parts[f"pkg:{_distribution(package)}"] = _version(package)
        return parts

    def static_facts(self, traced: TracedPipeline, node: StepNode, inputs: dict[str, str]) -> Facts:
        """A step's facts with the given input digests: code, config and deps read now."""
        try:
            canonical_json(node.config)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(
                f"step {node.key}: config is not JSON-serialisable ({exc})",
                hint="use str, int, float, bool, None, lists and dicts in StepConfig fields",
            ) from None
        deps = {path: self.stats.digest(path) for path in node.deps}
        return Facts(
            code=self.code_facts(traced, node), config=node.config, inputs=inputs, deps=deps
        )

    def output_problems(self, entry: LockEntry | None) -> tuple[list[str], list[str]]:
        """Recorded outputs that are (missing, modified): objects gone from the cache, and
        ``outs`` files that are gone or whose bytes differ from the recorded digest."""
        missing: list[str] = []
        modified: list[str] = []
        for name, artifact in (entry.outputs if entry else {}).items():
            if artifact.kind not in ("file", "dir"):
                if not self.store.has(artifact.digest):
                    missing.append(name)
                continue
            digest = self.stats.digest(name)
            if digest == MISSING:
                missing.append(name)
            elif digest != artifact.digest:
                modified.append(name)
        return missing, modified

    # ------------------------------------------------------------------ status

    def status(
        self,
        pipelines: list[TracedPipeline],
        targets: Iterable[str] = (),
        run_override: bool | None = None,
        force: bool = False,
    ) -> list[Verdict]:
        """What a ``repro`` of ``targets`` would do, step by step, without running anything.

        ``force`` marks the targeted steps (every step, without targets) as forced.
        """
        selection = graphs.resolve_targets(pipelines, targets) if targets else None
        verdicts: list[Verdict] = []
        for traced in pipelines:
            graph = traced.graph
            if selection is not None and graph.name not in selection:
                continue
            wanted = selection.get(graph.name) if selection else None
            keep = graphs.ancestors(graph, wanted) if wanted else None
            producers = {out: n.name for n in graph.steps for out in n.outs}
            dirty: set[str] = set()
            for node in graphs.order(graph):
                if keep is not None and node.name not in keep:
                    continue
                inputs, waiting = upstream_inputs(node, self.locks, dirty)
                waiting = sorted({*waiting, *file_upstreams(node, producers, dirty)})
                facts = self.static_facts(traced, node, inputs)
                locked = self.locks.get(node.key)
                missing, modified = self.output_problems(locked)
                reasons = decide(
                    node,
                    locked,
                    facts,
                    enabled=cache_enabled(node, graph.enable_cache, run_override),
                    forced=force and (wanted is None or node.name in wanted),
                    missing=missing,
                    modified=modified,
                    waiting_on=waiting,
                )
                if reasons:
                    dirty.add(node.key)
                fp = None if waiting else fingerprint(facts)
                verdicts.append(Verdict(node, tuple(reasons), fp))
        self.save_stats()
        return verdicts

    def save_stats(self) -> None:
        """Persist the stat cache (creating the cache folder with its .gitignore)."""
        if self.stats.dirty:
            self.store.ensure()
            self.stats.save()

    def prune(self, pipelines: Iterable[str]) -> None:
        """Drop lock entries of pipelines that no longer exist (after a full, successful run)."""
        prefixes = tuple(f"{name}." for name in pipelines)
        stale = [key for key in self.locks if not key.startswith(prefixes)]
        for key in stale:
            del self.locks[key]
        if stale:
            self.write_lock()

    def write_lock(self) -> None:
        lockfile.write(self.project.lockfile, self.locks.values())


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distribution(package: str) -> str:
    dists = _distributions().get(package)
    return dists[0] if dists else package


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(_distribution(package))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def open_pipelines(project: Project) -> tuple[Workspace, list[TracedPipeline]]:
    """Discover the project's pipelines and open its workspace (lockfile errors first)."""
    workspace = Workspace(project)
    return workspace, graphs.discover(project)


def run_instance(project: Project, instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """``PipelineInstance.run()``: trace it, then run it with the seed's console lines."""
    from incr.runner import Runner

    workspace = Workspace(project)
    traced = graphs.trace(instance, project.root)
    reporter: Reporter = Console()
    result = Runner(workspace, reporter).run(traced, run_override=enable_cache)
    if result.failed:
        raise RuntimeError(f"pipeline {instance.name}: step {', '.join(result.failed)} failed")
    return result
