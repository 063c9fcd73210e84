"""Which outputs the steps of a run still wait for, so that a run lets go of the others.

A serial run keeps an output's value in memory only while a step of the run that takes it has
not started yet: the peak is about the largest values alive at once, not their sum. A step that
needs a value again after that (a producer recomputed, a reader rerun) loads it back from the
verified cache (a large array as a private memory map: no copy).
"""

from __future__ import annotations

from collections.abc import Iterable

from incr.model import StepNode

#: (step, output): one output of one step.
OutputKey = tuple[str, str]


class Consumers:
    """How many steps of a run still have to start that take each output."""

    def __init__(self, steps: Iterable[StepNode] = ()) -> None:
        self.waiting: dict[OutputKey, int] = {}
        self.takes: dict[str, set[OutputKey]] = {}
        for node in steps:
            refs = {(ref.step, ref.output) for ref in node.inputs.values()}
            self.takes[node.name] = refs
            for ref in refs:
                self.waiting[ref] = self.waiting.get(ref, 0) + 1

    def needed(self, output: OutputKey) -> bool:
        """True while a step of the run that takes ``output`` has not started."""
        return self.waiting.get(output, 0) > 0

    def shared(self, output: OutputKey) -> bool:
        """True while more than one step of the run that takes ``output`` has not started:
        asked for a step about to start, another one still takes it after this one."""
        return self.waiting.get(output, 0) > 1

    def started(self, step: str) -> list[OutputKey]:
        """Count ``step`` as started (or as never going to: cached, failed, skipped); the
        outputs that no step of the run waits for any more. Only the first call counts."""
        gone = []
        for ref in sorted(self.takes.pop(step, ())):
            self.waiting[ref] -= 1
            if not self.waiting[ref]:
                del self.waiting[ref]
                gone.append(ref)
        return gone
