"""Comparing an incremental result with a from-scratch run of the same project."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import Project
from .scratch import outputs

#: What a from-scratch copy leaves behind: incr's state and the test's record of runs.
NOT_COPIED = (".pipecache", "pipeline.lock", "ran.txt", "__pycache__")


def fresh_outputs(project: Project, where: Path) -> dict[str, dict[str, str]]:
    """The outputs a from-scratch ``incr repro`` of a copy of ``project`` (in ``where``, without
    its cache and lockfile) records."""
    shutil.copytree(project.root, where, ignore=shutil.ignore_patterns(*NOT_COPIED))
    copy = Project(where)
    copy.repro()
    return outputs(copy)


def assert_same_as_fresh(project: Project, where: Path, unseen: tuple[str, ...] = ()) -> None:
    """Every step's outputs are those of a from-scratch run, but for the ``unseen`` step keys
    (steps that ``incr status`` says read what incr cannot see)."""
    now, fresh = outputs(project), fresh_outputs(project, where)
    for key in unseen:
        now.pop(key, None)
        fresh.pop(key, None)
    assert now == fresh, f"incremental {now} != from scratch {fresh}"
