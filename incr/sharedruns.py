"""The files steps of several pipelines write, or that a step appends to after other writers,
which a step reads (``sharedwrites.across``), in one ``incr repro`` (or one ``.run()``): each
pipeline's run is told which of its writers execute for them before it starts.

A writer whose earlier writer in a pipeline run before executed in this command writes the
file anew after it (``shared file rewritten``). The writers a step appends after execute
before it when it executes (``shared file appended``): that is known before the run starts,
as ``incr status`` knows it (a status pass, made only when some step appends to such a file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from incr.errors import IncrError
from incr.model import Reason, StepNode, TracedPipeline
from incr.runstate import RunState
from incr.sharedwrites import Across

if TYPE_CHECKING:
    from incr.session import Workspace


class SharedRuns:
    """What the runs of one command hand on to each other for shared files (see above)."""

    def __init__(
        self,
        across: Across | None = None,
        appended: Mapping[str, Sequence[Reason]] = {},
        unknown: Mapping[str, Sequence[Reason]] = {},
    ) -> None:
        self.across = across or Across()
        self.appended = appended  # by key: why a writer a dirty step appends after runs
        self.unknown = unknown  # by key: why it runs (``appendbase.unknown``)
        self.executed: set[str] = set()  # the steps (by key) executed so far

    @classmethod
    def of(
        cls,
        ws: Workspace,
        ordered: list[TracedPipeline],
        targets: Iterable[str],
        force: bool = False,
    ) -> SharedRuns:
        """For ``ordered`` (in run order) and ``targets`` (forced, with ``force``): as
        ``incr status`` judges them."""
        ws.writes.written_now.clear()  # (a new command: see ``appendbase``)
        ws.writes.locks_then = dict(ws.locks)
        ws.writes.written_then = {p for paths in ws.writes.steps.values() for p in paths}
        across = ws.written.across([t.graph for t in ordered])
        if not across.earlier and not across.onto:
            return cls(unknown=ws.written.unknown)  # most projects: no status pass
        appended: dict[str, list[Reason]] = {}
        judge = across.onto and not ws.clean  # (clean: the status pass found every step so)
        try:
            verdicts = ws.status(ordered, list(targets), force=force, save=False) if judge else []
        except IncrError:  # a step that cannot be judged: the run says why, at its turn
            verdicts = []
        for verdict in verdicts:
            if found := [r for r in verdict.reasons if r.kind == Reason.APPENDED]:
                appended[verdict.node.key] = found
        return cls(across, appended, ws.written.unknown)

    @classmethod
    def started(
        cls,
        shared: SharedRuns | None,
        ws: Workspace,
        run: RunState,
        steps: Iterable[StepNode],
        force: bool = False,
    ) -> SharedRuns:
        """``shared`` started for ``run`` (``start``); without it (a ``.run()``), one made
        for ``run``'s pipeline alone."""
        shared = shared or cls.of(ws, [run.traced], [], force)
        shared.start(run, steps)
        return shared

    def start(self, run: RunState, steps: Iterable[StepNode]) -> None:
        """Before ``run`` starts: the reasons its steps ``steps`` have to execute."""
        for node in steps:
            reasons = [*self.appended.get(node.key, ()), *self.unknown.get(node.key, ())]
            for writer, path in self.across.earlier.get(node.key, ()):
                if writer in self.executed:
                    reasons.append(Reason(Reason.REWRITTEN, f"{path}, by {writer}"))
            if reasons:
                known = run.reruns.setdefault(node.name, [])
                known += [r for r in reasons if r not in known]

    def done(self, run: RunState) -> None:
        """``run`` has ended: the steps it executed."""
        graph = run.traced.graph.name
        self.executed.update(f"{graph}.{name}" for name in run.result.executed)
