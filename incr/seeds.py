"""A step seeding a global random generator for the steps after it.

A step that seeds a global generator (``np.random.seed(config.seed)``, ``random.seed``,
``np.random.set_state``, in its body or a function it calls) and draws nothing from it sets
that generator's state for the steps run after it in the same process that draw from it:
``set_seed(config)`` then ``draw()`` calling ``np.random.rand(3)``. Such a drawer counts the
setter's fingerprint (a ``value:np.random:seed`` code part, ``plan.with_values``: ``code
changed (value of seed in np.random)``): a change
of the setter's code or config reruns it, and a revert puts it back from the cache. A step
that seeds and draws itself (a ``train`` calling ``np.random.seed(0)`` first) sets nothing
for the others: its own draws start from its seed (``randomdraws.unseeded``).

The setter is reused like any step; when a drawer after it executes and the setter was
reused, the setter runs again first in the same process, so that the draws start from its
seed as in a run from scratch (``scheduler.Loop``). Steps run in other processes (``--jobs``)
do not see the seed at all, in a run from scratch either.

Pure: what a step seeds and draws comes from its closure's notes (``randomdraws``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from incr.model import StepNode
from incr.randomdraws import generators

#: How the part a seed setter is noted under in ``RunState.set_by`` ends (``np.random:seed``).
SEED = ":seed"


def seeded_parts(notes: Iterable[str]) -> list[str]:
    """The parts (``np.random:seed``) of the generators a step whose closure has ``notes``
    seeds for the steps after it (none for most steps)."""
    notes = tuple(notes)
    return [f"{g}{SEED}" for g in generators(notes)[0]] if notes else []


def drawn_after(set_by: Mapping[str, str], key: str, notes: Iterable[str]) -> list[str]:
    """The parts of the generators that step ``key`` (with ``notes``) draws from unseeded and
    a step before it seeds (``set_by``: each part to its setter's key)."""
    notes = tuple(notes)
    if not set_by or not notes:
        return []
    drawn = generators(notes)[1]
    return [p for g in drawn if set_by.get(p := f"{g}{SEED}", key) != key]


def setters_to_run(
    set_by: Mapping[str, str],
    node: StepNode,
    notes: Iterable[str],
    executed: Collection[str],
) -> list[str]:
    """The setters (by name) of the generators step ``node`` draws from, of its own pipeline,
    that did not execute in this run (``executed``: by name): they run again before it."""
    own = f"{node.pipeline}."
    found = {set_by[p] for p in drawn_after(set_by, node.key, notes)}
    names = (s[len(own) :] for s in found if s.startswith(own))
    return sorted(n for n in names if n not in executed)


def is_seed_part(part: str) -> bool:
    """True for a part ``seeded_parts`` makes."""
    return part.endswith(SEED) and not part.partition(":")[0].endswith(".py")
