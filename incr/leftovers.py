"""Files left on disk by steps that no longer exist: the ``outs`` of a removed step stay where
it wrote them. ``incr status`` says so, and ``incr gc --outs`` removes them.

When a run drops the lock entries of removed steps, their recorded outs are kept in
``.pipecache/removed-outs.json`` (a failed write loses only this note); lock entries of steps
that are gone but not dropped yet count too. A path that a step of the project lists in its
``outs`` now is never a leftover.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from incr.model import LockEntry, TracedPipeline
from incr.project import LEFTOVERS, Project
from incr.storage import atomic_write
from incr.valueclass import valueclass

FILE = LEFTOVERS
OUT_KINDS = ("file", "dir")


@valueclass(frozen=True)
class Leftover:
    """A file in the outs of a step removed from the lockfile."""

    path: str  # project-relative, POSIX
    step: str  # the key of the removed step that wrote it


def remember(cache: Path, entries: Iterable[LockEntry]) -> None:
    """Note the ``outs`` of lock entries about to be dropped."""
    found = {
        path: entry.key
        for entry in entries
        for path, artifact in entry.outputs.items()
        if artifact.kind in OUT_KINDS
    }
    if not found:
        return
    noted = {**_load(cache), **found}
    with contextlib.suppress(OSError):
        atomic_write(cache / FILE, json.dumps(noted, indent=1, sort_keys=True).encode(), False)


def _load(cache: Path) -> dict[str, str]:
    try:
        data = json.loads((cache / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def find(
    root: Path, cache: Path, locks: Mapping[str, LockEntry], live: Iterable[str], outs: set[str]
) -> list[Leftover]:
    """The leftovers still on disk, by path: noted ones, and the outs of lock entries whose
    step (key) is not in ``live``; none of ``outs`` (what current steps write)."""
    noted = _load(cache)
    alive = set(live)
    for key, entry in locks.items():
        if key not in alive:
            noted.update({p: key for p, a in entry.outputs.items() if a.kind in OUT_KINDS})
    kept = {o.rstrip("/") for o in outs}
    return [
        Leftover(path, step)
        for path, step in sorted(noted.items())
        if path.rstrip("/") not in kept and (root / path).exists()
    ]


def of_project(
    project: Project, locks: Mapping[str, LockEntry], pipelines: list[TracedPipeline]
) -> list[Leftover]:
    """The leftovers of a project whose pipelines are these."""
    steps = [n for t in pipelines for n in t.graph.steps]
    outs = {out for n in steps for out in n.outs}
    return find(project.root, project.cache, locks, (n.key for n in steps), outs)


def remove(root: Path, cache: Path, items: list[Leftover]) -> None:
    """Delete the leftovers (files and folders) and forget them."""
    for item in items:
        target = root / item.path
        if target.is_dir() and not target.is_symlink():
            import shutil  # here: a run that leaves nothing behind deletes nothing

            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (cache / FILE).unlink(missing_ok=True)


def notes(items: list[Leftover]) -> list[str]:
    """The ``note:`` lines of ``incr status``."""
    by_step: dict[str, list[str]] = {}
    for item in items:
        by_step.setdefault(item.step, []).append(item.path)
    return [
        f"note: removed step {step} left {', '.join(paths)} on disk; "
        "`incr gc --outs` removes " + ("it" if len(paths) == 1 else "them")
        for step, paths in sorted(by_step.items())
    ]
