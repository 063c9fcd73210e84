"""Test support: compare what ``incr repro`` left with a from-scratch run of the same files.

``fresh_copy`` copies a project as it is now, without incr's state (cache, lockfile) and
without ``ran.txt``; ``assert_same_as_scratch`` runs ``incr repro`` in the copy and compares
the outputs both lockfiles record (content digests) and the files named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import Project

IGNORED = (".pipecache", "pipeline.lock", "ran.txt", "__pycache__", "imported.txt")


def fresh_copy(project: Project, dest: Path) -> Project:
    shutil.copytree(project.root, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    return Project(dest)


def outputs(project: Project) -> dict[str, dict[str, str]]:
    """Step key -> output name -> ``KIND:DIGEST``, as the lockfile records them."""
    return {k: {n: a.encode() for n, a in e.outputs.items()} for k, e in project.lock().items()}


def assert_same_as_scratch(project: Project, fresh: Project, files: tuple[str, ...] = ()) -> None:
    """Run ``fresh`` from scratch; its outputs and ``files`` must equal ``project``'s."""
    fresh.repro()
    assert outputs(project) == outputs(fresh)
    for rel in files:
        assert project.read(rel) == fresh.read(rel), rel


def unsealed(text: str) -> str:
    """A lockfile's text without its entries' ``seal`` lines, as an incr that wrote none left
    it: for tests that edit an entry by hand (an edit of a sealed entry is refused)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("seal = ")
    )
