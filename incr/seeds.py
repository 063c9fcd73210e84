"""A step seeding a global random generator for the steps after it.

A step that seeds a global generator (``np.random.seed(config.seed)``, ``random.seed``,
``np.random.set_state``, in its body or a function it calls) sets that generator's state for
the steps run after it in the same process that draw from it: ``set_seed(config)`` then
``draw()`` calling ``np.random.rand(3)``. So does a step that seeds and draws itself (a
``train`` calling ``np.random.seed(0)`` first): its own draws start from its seed, and the
steps drawing after it start where it left off.

The state a drawer starts from is made by the seeding step and by every step that drew from
the generator after it, in the order the steps run (``draws``, the generator's chain): a
``make_data`` drawing five numbers between ``seed_everything`` and ``noise`` moves ``noise``'s
draws. A drawer counts the chain before it, each step by its fingerprint (a
``value:np.random:seed`` code part, ``plan.with_values``: ``code changed (state of np.random
the steps before it seed and draw from)``): a change of the seeder's code or config, or of a
drawer before it, reruns it, and a revert puts it back from the cache.

The chain's steps are reused like any step; when a drawer executes and this process does not
hold the state the chain before it leaves (one of its steps was reused, or a step seeded or
drew since), the chain's steps of its pipeline run again first, in order, in the same process,
so that its draws start where they do in a run from scratch (``scheduler.Loop``). Steps run in
other processes (``--jobs``) do not see the seed at all, in a run from scratch either.

Pure: what a step seeds and draws comes from its closure's notes (``randomdraws``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from incr.digests import digest_bytes
from incr.randomdraws import generators

#: How the part a seed setter is noted under in ``RunState.set_by`` ends (``np.random:seed``).
SEED = ":seed"

#: A generator's chain: each step (by key) that made its state, its seeder first, with the
#: digest of the state it left.
Chain = list[tuple[str, str]]


def seeded_parts(notes: Iterable[str]) -> list[str]:
    """The parts (``np.random:seed``) of the generators a step whose closure has ``notes``
    seeds for the steps after it (none for most steps)."""
    notes = tuple(notes)
    return [f"{g}{SEED}" for g in generators(notes)[0]] if notes else []


def drawn_after(set_by: Mapping[str, str], key: str, notes: Iterable[str]) -> list[str]:
    """The parts of the generators that step ``key`` (with ``notes``) draws from unseeded and
    a step before it seeds (``set_by``: each part to the key of the last step of its chain)."""
    notes = tuple(notes)
    if not set_by or not notes:
        return []
    drawn = generators(notes)[1]
    return [p for g in drawn if set_by.get(p := f"{g}{SEED}", key) != key]


def state_after(before: str, fingerprint: str) -> str:
    """The digest of a generator's state after a step (by its ``fingerprint``) drew from it,
    starting from the state of digest ``before``."""
    return digest_bytes(f"{before}\0{fingerprint}".encode(), 32)


def chain_before(draws: Mapping[str, Chain], key: str) -> dict[str, list[str]]:
    """For each generator part step ``key`` draws from after a step seeded it (it is in the
    part's chain, not first), the steps of the chain before it, by key."""
    found = {}
    for part, chain in draws.items():
        keys = [k for k, _ in chain]
        if key in keys[1:]:
            found[part] = keys[: keys.index(key, 1)]
    return found


def to_run_again(
    draws: Mapping[str, Chain], key: str, live: Mapping[str, Sequence[str]]
) -> list[str]:
    """The steps (by key) to run again before step ``key`` executes: each chain before it
    whose state this process does not hold (``live``: for each part, the steps that made its
    state in this process, its seeder first)."""
    found: list[str] = []
    for part, keys in chain_before(draws, key).items():
        if list(live.get(part, ())) != keys:
            found += [k for k in keys if k not in found]
    return found


def ran_here(
    live: dict[str, list[str]],
    key: str,
    seeded: Mapping[str, Sequence[str]],
    drew: Mapping[str, Sequence[str]],
) -> None:
    """Step ``key`` starts in this process: the generators it seeds (``seeded``: by key) hold
    its state, and it adds to those it draws from (``drew``)."""
    for part in seeded.get(key, ()):
        live[part] = [key]
    for part in drew.get(key, ()):
        live.setdefault(part, []).append(key)


def is_seed_part(part: str) -> bool:
    """True for a part ``seeded_parts`` makes."""
    return part.endswith(SEED) and not part.partition(":")[0].endswith(".py")
