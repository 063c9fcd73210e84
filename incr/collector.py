"""How ``incr repro`` paces Python's cyclic garbage collector while steps run.

A run keeps what it learns of each step (facts, lock entries, outputs) to its end, so the
objects the collector tracks grow with the steps run, and each full collection walks all of
them: with Python's thresholds (700, 10, 10), 8 full collections, 0.7 s of the first ``repro``
of 10,000 trivial steps. Between a step's own code, full collections come ten times rarer
(``FULL_EVERY``): one, 0.16 s there. While a step's own code runs, the collector runs at the
pace it had before the run (``in_step``), counting only the collections the steps' own code
made (those between steps would bring full collections inside steps: three, 0.4 s, of that
first ``repro``), so garbage a step leaves in cycles is let go as soon as it was before: a
step that keeps 50 MB in a cycle while making many objects, then drops it, peaks at the same
memory in a run of 20 such steps (0.22 GB), where rarer full collections throughout would
reach 1 GB.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: How many collections of the middle generation come before a full one, outside steps' code.
FULL_EVERY = 100

#: The thresholds before the run (``gc.get_threshold``) while ``paced`` is in force.
_before: tuple[int, int, int] | None = None
#: The collections of the middle generation the steps' own code made since the last full
#: collection, and their count (``gc.get_count()[2]``) when the last step's code ended.
_owed = 0
_left = 0


@contextlib.contextmanager
def paced() -> Iterator[None]:
    """Full collections ``FULL_EVERY`` times rarer inside the block, except inside ``in_step``
    blocks; the thresholds are put back after."""
    global _before
    thresholds = gc.get_threshold()
    outer, _before = _before, thresholds
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], FULL_EVERY))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        _before = outer


@contextlib.contextmanager
def in_step() -> Iterator[None]:
    """The collector at the pace it had before the run (``paced``), while a step's code runs:
    a full collection once the steps' own code made ``before[2]`` collections of the middle
    generation since the last full one (``_owed``). Those the run made between them do not
    count: they left the steps' garbage as it was."""
    global _owed, _left
    before = _before
    if before is None:
        yield
        return
    thresholds = gc.get_threshold()
    entry = gc.get_count()[2]  # middle collections since the last full one, all code's
    if entry < _left:  # a full collection since the last step's code ended
        _owed = 0
    gc.set_threshold(before[0], before[1], entry + max(before[2] - _owed, 0))
    try:
        yield
    finally:
        now = gc.get_count()[2]
        _owed = now if now < entry else _owed + now - entry  # (a full one made: from 0)
        _left = now
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def uncollected() -> Iterator[None]:
    """No cyclic collection inside the block: for code that makes many objects holding no
    cycles (a cache file's entries encoded), which a collection there walks with all the
    objects a run kept, to find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle_for_exit() -> None:
    """Collect once, then freeze what is left (``gc.freeze``), for a command about to exit
    once its steps ran. The garbage the run left in cycles is let go here as Python would
    let it go at exit, and Python's own collections at exit then skip the objects the run
    kept, as they skip those frozen after deciding (``clihelp.few_collections``): they
    found nothing to collect there and cost 0.7 s after the first ``repro`` of 10,000
    trivial steps, against 0.17 s for the one collection here."""
    gc.collect()
    gc.freeze()
