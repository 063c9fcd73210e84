"""What one pipeline run knows while the scheduling loop runs it, and the clocks it reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import field
from datetime import datetime
from typing import Any

from incr.consumers import Consumers
from incr.events import RunResult
from incr.model import PROCESS_WIDE, UNSET, Artifact, Facts, Reason, TracedPipeline
from incr.overlaps import Overlap, RunOverlaps
from incr.plan import Verdict, values_set
from incr.seeds import Chain, drawn_after, is_seed_part, seeded_parts, state_after
from incr.valueclass import valueclass


@valueclass(frozen=True)
class Clock:
    """The run's clocks, injected so that tests control them."""

    perf: Callable[[], float] = time.perf_counter  # durations
    now: Callable[[], datetime] = datetime.now  # run names, folders of files moved aside
    wall: Callable[[], float] = time.time  # cache expiry, run records


@valueclass(frozen=True)
class Held:
    """A step that cannot run in this process: a module its code uses read ``files`` as it
    was imported, and they changed since. It runs once the modules are imported again."""

    files: tuple[str, ...]


@valueclass
class RunState:
    """What one pipeline run knows as it goes: the traced pipeline and the run's options,
    each finished step's outputs and facts, and the steps that must run again."""

    traced: TracedPipeline
    run_override: bool | None
    force: set[str]
    result: RunResult
    outputs: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    facts: dict[str, tuple[Facts, str]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    #: Which outputs a step of the run still has to start with.
    consumers: Consumers = field(default_factory=Consumers)
    overlaps: RunOverlaps = field(default_factory=RunOverlaps)
    #: Steps found to have read a file too early, with why, until they are prepared again.
    reruns: dict[str, list[Reason]] = field(default_factory=dict)
    #: Those of them the scheduling loop has not put back in its queue yet.
    requeue: list[str] = field(default_factory=list)
    #: The names in ``result.executed``, to ask in constant time.
    executed: set[str] = field(default_factory=set)
    #: A dry run: the keys of the steps whose outputs are not known (they would run, or wait
    #: on one that would), and the verdict of every step decided.
    unknown: set[str] = field(default_factory=set)
    verdicts: list[Verdict] = field(default_factory=list)
    #: The step writing each ``outs`` path, and the overlaps learned from earlier runs that
    #: the graph does not order (a dry run's waits and notes, as in ``incr status``).
    producers: dict[str, str] = field(default_factory=dict)
    order_found: list[Overlap] = field(default_factory=list)
    #: The module values (``path:name`` code parts) that steps decided so far set as they
    #: run (recorded, or seen as it ran): each to the key of the step that sets it, of this
    #: pipeline or of one the same command ran before. A step after it whose code uses one
    #: is decided on its value (``plan.values_set``).
    set_by: dict[str, str] = field(default_factory=dict)
    #: Their values as the last step setting each left them, for a step run in another
    #: process (``StepJob.values``).
    values: dict[str, Any] = field(default_factory=dict)
    #: The digests of those that are not plain values (``StepOutcome.value_digests``).
    value_digests: dict[str, str] = field(default_factory=dict)
    #: How many steps of the pipeline use each code part (``StepJob.used_elsewhere``), counted
    #: when the first job is made.
    part_users: dict[str, int] | None = None
    #: ``set_before`` of each step decided to execute or be reused (by key), as it was then.
    before: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The chain of each global generator a step of this run seeded (``incr.seeds``), and
    #: which parts each step seeds and draws from after a seeder (by key).
    draws: dict[str, Chain] = field(default_factory=dict)
    seeded: dict[str, list[str]] = field(default_factory=dict)
    drew: dict[str, list[str]] = field(default_factory=dict)

    def set_before(self, key: str) -> dict[str, str]:
        """The digests of the module values that steps decided before step ``key`` set as
        they ran, as those steps left them (``globalvalues.set_values_now``): what code the
        step runs but its own code facts do not hold reads (an input's methods, a class it
        unpickles). Not those they left unset: what their module holds counts for them.
        Once the step is decided (``decide``), as they were then: a step drawing from a
        generator that steps before it draw from too is its setter from then on, and its
        job, its process and its record still need the state those steps left."""
        known = self.before.get(key)
        return known if known is not None else self._set_before(key)

    def note_set(self, parts: Iterable[str], key: str, fingerprint: str | None) -> None:
        """Step ``key`` sets ``parts`` as it runs (``set_by``). A library's process-wide
        setting, and a global generator's seed (``incr.seeds``), count, for the steps after
        it, by that step's fingerprint: its code and config say what it sets
        (``np.set_printoptions(precision=config.p)``, ``np.random.seed(config.seed)``)."""
        for part in parts:
            self.set_by[part] = key
            if fingerprint is not None and (part.startswith(PROCESS_WIDE) or is_seed_part(part)):
                self.value_digests[part] = fingerprint

    def forget_unset(self, key: str, parts: Collection[str]) -> None:
        """Step ``key`` executed and sets ``parts`` now: those its lock entry said it set
        (noted before it ran, ``Preparer.prepare``) which it no longer sets are set by no step
        for the steps after it (``plt.style.use`` turned into ``plt.rcParams[...]``)."""
        gone = [p for p, k in self.set_by.items() if k == key and p not in parts]
        for part in (p for p in gone if not is_seed_part(p)):
            del self.set_by[part]
            self.value_digests.pop(part, None)

    def note_seeds(self, key: str, notes: Iterable[str], fingerprint: str | None) -> None:
        """Step ``key``, whose closure has ``notes``, seeds global generators for the steps
        drawing after it, or draws from one a step before it seeded: the state it leaves
        counts for them by its fingerprint and the state it started from (``incr.seeds``)."""
        notes = tuple(notes)
        if not notes:
            return
        seeded, drawn = seeded_parts(notes), drawn_after(self.set_by, key, notes)
        self.note_set(seeded, key, fingerprint)
        for part in seeded:
            self.draws[part] = [(key, self.value_digests.get(part, ""))]
        for part in drawn:
            before = self.value_digests.get(part, "")
            state = state_after(before, fingerprint or "")
            # (a chain a pipeline run before this one began: its last step, as its head)
            self.draws.setdefault(part, [(self.set_by[part], before)]).append((key, state))
            self.set_by[part], self.value_digests[part] = key, state
        self.seeded[key], self.drew[key] = seeded, drawn

    def used(self, key: str, code: Mapping[str, str], notes: Iterable[str]) -> list[str]:
        """``values_set`` of step ``key``'s ``code``, with the seeds of the global generators
        that its closure's ``notes`` say it draws from, set by a step before it."""
        return sorted({*values_set(self.set_by, key, code), *drawn_after(self.set_by, key, notes)})

    def values_for(self, key: str, code: Collection[str]) -> dict[str, Any]:
        """The module values that steps set as they ran, for step ``key``'s job run in another
        process: those of the steps before it, which this process would hold for its own code
        (``code``: its parts), the methods of its inputs and the code it unpickles alike."""
        if not self.values:
            return {}
        before = self.set_before(key)
        return {p: v for p, v in self.values.items() if p in code or p in before}

    def decide(self, key: str) -> None:
        """Take ``set_before`` of step ``key`` anew, as it is decided (again): a generator's
        chain as it was before the step drew from it."""
        for part, chain in self.draws.items():
            at = next((i for i, (k, _) in enumerate(chain) if k == key), 0)
            if at:
                del chain[at:]
                self.set_by[part], self.value_digests[part] = chain[-1]
        self.before.pop(key, None)
        self.before[key] = self._set_before(key)

    def _set_before(self, key: str) -> dict[str, str]:
        parts = values_set(self.set_by, key, self.set_by)
        if not parts:
            return {}
        from incr.globalvalues import set_values_now  # here: most runs set no module value

        now = set_values_now(self.values, parts, self.value_digests)
        return {part: digest for part, digest in now.items() if digest != UNSET}
