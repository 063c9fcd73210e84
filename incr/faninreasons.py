"""Why a step's inputs changed, in words: the reason ``plan.decide`` gives when the values
a step receives differ from those it ran with. A fan-in list or dict (``combine(parts=[...])``)
that grew, shrank or was reordered is named by what came or went, not by every place that
moved.

Pure: it compares the digests of the inputs recorded and received.
"""

from __future__ import annotations

from collections import Counter

from incr.model import Facts, Reason, StepNode


def changed_inputs(node: StepNode, old: Facts, facts: Facts) -> list[Reason]:
    # Dirty if an input it receives now differs from the one it ran with, or one it no longer
    # receives (a fan-in list that shrank). A fan-in list that grew or shrank shifts the
    # places of the inputs after the change: they are named by what came or went (an input
    # whose value it had before, in another place, is not named), by place otherwise.
    changed = [p for p, d in facts.inputs.items() if old.inputs.get(p) != d]
    gone = [p for p in old.inputs.keys() - facts.inputs.keys() if p not in node.inputs]
    if not changed and not gone:
        return []
    if not gone and _replaced_in_place(node, old, facts, changed):  # most changes: quicker
        sources = sorted({node.inputs[p].step for p in changed})
        return [Reason(Reason.INPUT, ", ".join(f"from {s}" for s in sources))]
    return _moved_inputs(node, old, facts, changed, gone)


def _replaced_in_place(node: StepNode, old: Facts, facts: Facts, changed: list[str]) -> bool:
    """True when the step has its inputs in the places it had them, and each changed one is
    a place of its parameters holding a value that was in no place before: nothing moved,
    and ``_moved_inputs`` names each by its source (a value that went is in no place now, or
    only where it was before)."""
    if old.inputs.keys() != facts.inputs.keys() or any(p not in node.inputs for p in changed):
        return False
    before = set(old.inputs.values())
    return all(facts.inputs[p] not in before for p in changed)


def _moved_inputs(
    node: StepNode, old: Facts, facts: Facts, changed: list[str], gone: list[str]
) -> list[Reason]:
    """``changed_inputs`` when inputs may have moved, come or gone."""
    waiting = any(p not in facts.inputs for p in node.inputs)  # its upstream step is dirty
    came = Counter(facts.inputs.values()) - Counter(old.inputs.values())
    went = Counter(old.inputs.values()) - Counter(facts.inputs.values())
    new = []
    for p in changed:
        if p in node.inputs and _take(came, facts.inputs[p]):
            new.append(p)
            if p in old.inputs:
                _take(went, old.inputs[p])  # replaced in its place
    # (what went may be what an input not known yet will give: not named while one waits)
    dropped = [] if waiting else [p for p in sorted(old.inputs) if _take(went, old.inputs[p])]
    if not new and not dropped:
        if waiting:  # the same values in other places, moved by the one it waits on
            return []
        moved = [*changed, *gone]
        if all("[" in p for p in moved) and Counter(facts.inputs.values()) == Counter(
            old.inputs.values()
        ):  # a fan-in list or dict reordered: the same values, in other places
            lists = sorted({p.partition("[")[0] for p in moved})
            return [Reason(Reason.INPUT, ", ".join(f"order of {name}" for name in lists))]
        new, dropped = [p for p in changed if p in node.inputs], sorted(gone)  # by place
    sources = sorted({node.inputs[p].step for p in new})
    words = [f"from {s}" for s in sources] + list(dict.fromkeys(_went(old, p) for p in dropped))
    return [Reason(Reason.INPUT, ", ".join(words))]


def _went(old: Facts, place: str) -> str:
    """How ``place``, an input no longer given, is named: by its place, but when other places
    of its list held the same value (which of them went cannot be told), by its list."""
    alike = sum(d == old.inputs[place] for d in old.inputs.values())
    if alike < 2 or "[" not in place:
        return f"{place} no longer given"
    return f"one of {alike} equal inputs of {place.partition('[')[0]} no longer given"


def _take(counts: Counter[str], digest: str) -> bool:
    """True (and one fewer left) when ``counts`` still holds ``digest``."""
    if counts[digest] <= 0:
        return False
    counts[digest] -= 1
    return True
