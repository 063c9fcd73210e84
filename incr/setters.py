"""Which module values a step sets as it runs still make it execute on every run.

A step that sets a module value another step uses (draws from a shared generator, bumps a
class attribute: ``objectstates``, ``globalvalues``) is recorded with a ``sets:`` read
(``model.SETS_PREFIX``) and executes on every run, so that the steps after it see the value
as a fresh run leaves it. Only the steps *after* it need that. The last step of a pipeline
drawing from a shared generator gets the state the steps before it left, and is decided on
that value (``plan.values_set``) like any input: it executes again when that state, its code
or its inputs change, not on every run.

A step "uses" a value when its code facts hold it, or when its last run read it through code
it reached at run time (an input's methods: a ``value:`` key). A step after the setter that
is new, or whose code changed since its last run, may reach any value: the setter executes.
So does a setter of a value a step of another pipeline uses (the order between pipelines is
not this module's to judge), or may use (new or edited, there too).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from incr.dag import ancestors, order
from incr.errors import IncrError
from incr.model import (
    PROCESS_WIDE,
    SETS_PREFIX,
    VALUE_PREFIX,
    LockEntry,
    PipelineGraph,
    StepNode,
    TracedPipeline,
    set_parts,
    value_name,
)

if TYPE_CHECKING:
    from incr.facts import StepFacts

#: What ``used_parts`` gives for a step that may use any value.
EVERYTHING = None


class LaterUsers:
    """For the steps of ``graph``: which module values a step after each one may use.
    ``code_of`` gives a step's parts (``EVERYTHING`` when it may use any); ``elsewhere`` the
    parts steps of other pipelines may use (``EVERYTHING``: any)."""

    def __init__(
        self,
        graph: PipelineGraph,
        code_of: Callable[[StepNode], Collection[str] | None],
        elsewhere: Collection[str] | None,
    ) -> None:
        self._elsewhere = elsewhere
        self._position: dict[str, int] = {}
        self._last: dict[str, int] = {}  # part -> the position of the last step using it
        self._unknown = -1  # the position of the last step that may use any
        for i, node in enumerate(order(graph)):
            self._position[node.name] = i
            parts = code_of(node)
            if parts is EVERYTHING:
                self._unknown = i
                continue
            for part in parts:
                self._last[part] = i

    def idle(self, step: str, parts: Iterable[str]) -> set[str]:
        """The ``parts`` step ``step`` sets that no step after it uses: setting them is no
        reason to execute it. A library's process-wide setting (``PROCESS_WIDE``) reaches
        every step run after it: idle for the last step of the only pipeline alone."""
        at, elsewhere = self._position.get(step), self._elsewhere
        if at is None or self._unknown > at or elsewhere is EVERYTHING:
            return set()
        last = at == len(self._position) - 1 and not elsewhere
        return {
            p
            for p in parts
            if (last if p.startswith(PROCESS_WIDE) else p not in elsewhere)
            and self._last.get(p, -1) <= at
        }


def without_idle(reads: dict[str, str], idle: Collection[str]) -> dict[str, str]:
    """``reads`` (a lock entry's) without the ``sets:`` keys of the ``idle`` parts."""
    if not idle:
        return reads
    return {k: v for k, v in reads.items() if not _sets_idle(k, idle)}


def _sets_idle(key: str, idle: Collection[str]) -> bool:
    return key.startswith(SETS_PREFIX) and key[len(SETS_PREFIX) :] in idle


def later_users(
    graph: PipelineGraph,
    traced: TracedPipeline,
    others: Iterable[TracedPipeline],
    facts: StepFacts,
    locks: Mapping[str, LockEntry],
) -> LaterUsers:
    """``LaterUsers`` of ``graph`` (``traced``'s, with learned edges), the ``others`` being the
    other pipelines of the command."""

    def code_of(node: StepNode, where: TracedPipeline = traced) -> set[str] | None:
        return used_parts(where, node, facts, locks.get(node.key))

    return LaterUsers(graph, code_of, _elsewhere(graph, others, code_of, locks))


def _elsewhere(
    graph: PipelineGraph,
    others: Iterable[TracedPipeline],
    code_of: Callable[[StepNode, TracedPipeline], set[str] | None],
    locks: Mapping[str, LockEntry],
) -> set[str] | None:
    """The parts the steps of pipelines other than ``graph``'s may use (``EVERYTHING``: any):
    those of ``others`` by ``code_of``, those of the lockfile's other pipelines by their lock
    entries (a pipeline this command does not run)."""
    found: set[str] = set()
    for other in others:
        for node in other.graph.steps:
            parts = code_of(node, other)
            if parts is EVERYTHING:
                return EVERYTHING
            found |= parts
    own = f"{graph.name}."
    return found | {p for k, e in locks.items() if not k.startswith(own) for p in e.facts.code}


def used_parts(
    traced: TracedPipeline, node: StepNode, facts: StepFacts, locked: LockEntry | None
) -> set[str] | None:
    """The module values and definitions (code parts) step ``node`` uses: by its code facts,
    and the values its last run read through the code it reached at run time (an input's
    methods: ``value:`` keys). ``EVERYTHING`` when that run is not known or ran other code
    (a new step, an edited one: what it reaches at run time is not known yet)."""
    try:
        code = facts.code_facts(traced, node)
    except IncrError:  # its own decision says why
        return EVERYTHING
    if locked is None or _without_values(locked.facts.code) != _without_values(code):
        return EVERYTHING
    values = [k for k in (*locked.facts.code, *locked.reads) if k.startswith(VALUE_PREFIX)]
    return {*code, *(k[len(VALUE_PREFIX) :] for k in values)}


def _without_values(code: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in code.items() if not k.startswith(VALUE_PREFIX)}


def part_users(traced: TracedPipeline, facts: StepFacts) -> dict[str, int]:
    """How many steps of ``traced`` use each code part (their code facts now): the parts used
    by more than one are those whose state ``objectstates`` watches."""
    users: Counter[str] = Counter()
    for node in traced.graph.steps:
        with contextlib.suppress(IncrError):  # its own decision says why
            users.update(facts.code_facts(traced, node).keys())
    return dict(users)


def left_out(
    pipelines: Sequence[TracedPipeline],
    selected: Iterable[tuple[TracedPipeline, set[str] | None]],
    locks: Mapping[str, LockEntry],
) -> dict[str, str]:
    """For the steps a target list selects (``selected``: ``dag.select`` of ``pipelines``,
    in the order ``incr repro`` runs them) that use a module value a step of a pipeline run
    before theirs sets as it runs, which the targets leave out (``incr repro beta`` without
    ``alpha``): the note saying they are decided on the value the module's import leaves, by
    step key. By their lock entries: the values used (code parts), and set (``sets:``)."""
    selected = list(selected)
    place = {t.graph.name: i for i, t in enumerate(pipelines)}
    runs = set()
    for traced, only in selected:
        names = ancestors(traced.graph, only) if only is not None else None
        runs |= {n.key for n in traced.graph.steps if names is None or n.name in names}
    setters: dict[str, tuple[str, str]] = {}  # part -> (setter's key, its pipeline)
    for traced in pipelines:
        for node in traced.graph.steps:
            if node.key not in runs and (entry := locks.get(node.key)) is not None:
                setters.update(dict.fromkeys(set_parts(entry.reads), (node.key, traced.graph.name)))
    notes: dict[str, str] = {}
    for traced, _ in selected if setters else ():
        name = traced.graph.name
        for node in traced.graph.steps:
            entry = locks.get(node.key)
            used = [
                (part, *setters[part])
                for part in (entry.facts.code if node.key in runs and entry else ())
                if part in setters and place[setters[part][1]] < place[name]
            ]
            if used:
                notes[node.key] = _left_out_note(node.key, name, used)
    return notes


def _left_out_note(key: str, pipeline: str, used: list[tuple[str, str, str]]) -> str:
    part, setter, other = used[0]
    more = f" (and {len(used) - 1} more value{'s' * (len(used) > 2)})" if len(used) > 1 else ""
    return (
        f"step {key} uses {value_name(part)}{more}, which step {setter} sets as it runs, but "
        f"this command leaves {setter} out: {key} is decided on the value the module's "
        f"import leaves; incr repro (all pipelines) or incr repro {other} {pipeline} has it "
        f"decided on the value {setter} sets"
    )
