"""The import contract: layers import only downward, no cycle, no private name crosses.

``KNOWN`` lists the problems the package still has, keyed without line numbers. The test fails
on a new problem and on a ``KNOWN`` entry that no longer occurs, so the list only shrinks and
always says exactly what is left to move.
"""

from __future__ import annotations

import re
from pathlib import Path

import incr

from .import_contract import check

KNOWN = {
    "overlaps.py: imports storage (module), a layer up (core -> edges)",
    "overlaps.py: the pure core imports pathlib",
    "cli.py: lines over 450",
}


def _key(problem: str) -> str:
    """A problem without line numbers or line counts, stable across unrelated edits."""
    problem = re.sub(r"^(\w+\.py):\d+", r"\1", problem)
    return re.sub(r"^(\w+\.py): \d+ lines,", r"\1: lines", problem)


def current() -> set[str]:
    return {_key(p) for p in check(Path(incr.__file__).parent)}


def test_no_new_problem() -> None:
    new = sorted(current() - KNOWN)
    assert new == [], "import contract broken:\n" + "\n".join(new)


def test_known_problems_still_occur() -> None:
    fixed = sorted(KNOWN - current())
    assert fixed == [], "fixed, remove from KNOWN:\n" + "\n".join(fixed)
