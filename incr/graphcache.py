"""The traced graphs, kept in ``.pipecache/graph.json``: a no-op ``status`` runs no user code.

Discovery imports every pipeline module (and, through them, scikit-learn and friends), which
costs far more than deciding what is dirty. The graphs it traces depend only on the project's own
Python sources, so they are saved with the digests of every project module that was imported
(read through the stat cache: unchanged files are not even read). When none of those files
changed, no pipeline module was added or removed, and ``pyproject.toml`` is the same, the saved
graphs are used and nothing is imported. Code fingerprints never need the import: they come
from the files' ASTs.

Project files the modules read while imported (a ``params.yaml`` feeding a config) are part of
the key too. A pipeline whose wiring depends on something else (environment variables, files
outside the project, data read by C code) should be rediscovered each time: set
``INCR_NO_GRAPH_CACHE=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from incr import __version__
from incr.api import TracedPipeline
from incr.coderef import CodeRef, StepCode
from incr.hashing import MISSING, StatCache
from incr.model import InputRef, PipelineGraph, StepNode
from incr.project import Project
from incr.storage import atomic_write

FORMAT = 1
DISABLE_ENV = "INCR_NO_GRAPH_CACHE"


def _path(project: Project) -> Path:
    return project.cache / "graph.json"


def _key(project: Project, stats: StatCache, modules: list[str]) -> dict[str, Any]:
    from incr.graph import pipeline_modules

    listing = sorted(p.relative_to(project.root).as_posix() for p in pipeline_modules(project))
    return {
        "format": FORMAT,
        "incr": __version__,
        "python": list(sys.version_info[:2]),
        "pyproject": stats.digest("pyproject.toml"),
        "pipeline_modules": listing,
        "modules": {rel: stats.digest(rel) for rel in sorted(set(modules) | set(listing))},
    }


def project_modules(project: Project) -> list[str]:
    """Project files of the modules imported so far (not incr's, not hidden or installed)."""
    root = os.path.join(str(project.root), "")
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not file.startswith(root) or not file.endswith(".py"):
            continue
        rel = Path(file[len(root) :])
        top = rel.parts[0]
        if top == "incr" or any(p.startswith(".") or p == "site-packages" for p in rel.parts):
            continue
        found.append(rel.as_posix())
    return sorted(found)


def save(
    project: Project,
    stats: StatCache,
    pipelines: list[TracedPipeline],
    read: Sequence[str] = (),
) -> None:
    """Remember ``pipelines``, keyed by the project modules imported to trace them and the
    project files ``read`` while they were imported."""
    if os.environ.get(DISABLE_ENV):
        return
    data = {
        "key": _key(project, stats, [*project_modules(project), *read]),
        "pipelines": [_encode(t) for t in pipelines],
    }
    with contextlib.suppress(OSError):  # the graph cache only saves imports
        atomic_write(_path(project), json.dumps(data, separators=(",", ":")).encode())


def load(project: Project, stats: StatCache) -> list[TracedPipeline] | None:
    """The saved graphs when every source they were traced from is unchanged, else None.

    The pipelines returned can be fingerprinted and checked, not executed (no step objects).
    """
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        data = json.loads(_path(project).read_text(encoding="utf-8"))
        key = data["key"]
        if key.get("format") != FORMAT or MISSING in key["modules"].values():
            return None
        if _key(project, stats, list(key["modules"])) != key:
            return None
        return [_decode(item) for item in data["pipelines"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _encode(traced: TracedPipeline) -> dict[str, Any]:
    return {
        "graph": asdict(traced.graph),
        "code": {name: asdict(code) for name, code in traced.code.items()},
    }


def _decode(item: dict[str, Any]) -> TracedPipeline:
    graph = item["graph"]
    steps = tuple(
        StepNode(
            **{
                **node,
                "inputs": {p: InputRef(**ref) for p, ref in node["inputs"].items()},
                "outputs": tuple(node["outputs"]),
                "deps": tuple(node["deps"]),
                "outs": tuple(node["outs"]),
            }
        )
        for node in graph["steps"]
    )
    code = {
        name: StepCode(
            func=CodeRef(**c["func"]),
            deps=tuple(CodeRef(**d) for d in c["deps"]),
            version=c["version"],
        )
        for name, c in item["code"].items()
    }
    pipeline = PipelineGraph(
        name=graph["name"],
        source_file=graph["source_file"],
        steps=steps,
        enable_cache=graph["enable_cache"],
    )
    return TracedPipeline(pipeline, {}, {}, code)
