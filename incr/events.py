"""What the runner and ``verify --rerun`` report, as plain values.

The runner emits these events; only ``report.py`` turns them into words (console lines,
tables, JSON). ``Reporter`` is the seam: anything with ``emit(event)``. The events are named
tuples: a command that runs steps makes this module's classes first, and a named tuple is made
in a sixth of a frozen dataclass's time.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, NamedTuple, Protocol

from incr.model import Reason
from incr.valueclass import valueclass


class PipelineStarted(NamedTuple):
    """A pipeline run begins (with its cache setting and the run-level override)."""

    pipeline: str
    enable_cache: bool
    run_override: bool | None


class StepStarted(NamedTuple):
    """A step is decided: ``reasons`` says why it runs (empty: it may be reused)."""

    pipeline: str
    step: str
    reasons: tuple[Reason, ...]


class StepCached(NamedTuple):
    """A step's result is reused."""

    pipeline: str
    step: str
    restored: bool  # True: from the run cache (an earlier fingerprint), not the lockfile's
    remote: bool = False  # True: fetched from the remote cache (``incr repro --pull``)


class StepFinished(NamedTuple):
    """A step is done, executed or reused, after ``seconds``."""

    pipeline: str
    step: str
    seconds: float
    executed: bool


class StepFailed(NamedTuple):
    """A step raised: its traceback."""

    pipeline: str
    step: str
    seconds: float
    traceback: str


class StepsSkipped(NamedTuple):
    """Steps not run, and why (a step they wait on failed)."""

    pipeline: str
    steps: tuple[str, ...]
    because: str


class Warning_(NamedTuple):
    """Something a user should look at."""

    text: str


class Note(NamedTuple):
    """Something a user should know that is not a problem (an output stored as pickle).
    ``step``: the step it ends the lines of for now (one that waits to run again)."""

    text: str
    step: str | None = None


class PipelineFinished(NamedTuple):
    """A pipeline run ends: its name, how long it took, whether a step failed."""

    pipeline: str
    run_name: str
    seconds: float
    failed: bool


Event = (
    PipelineStarted
    | StepStarted
    | StepCached
    | StepFinished
    | StepFailed
    | StepsSkipped
    | Warning_
    | Note
    | PipelineFinished
)


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


@valueclass
class Recorder:
    """Keeps events; ``executed`` lists the steps that really ran (for tests and the API)."""

    events: list[Any] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    @property
    def executed(self) -> list[str]:
        return [e.step for e in self.events if isinstance(e, StepFinished) and e.executed]


#: What running a clean step again showed (``incr verify --rerun``).
SAME = "same"
DIFFERS = "differs"
FAILED = "failed"
SKIPPED = "skipped"

#: Why outputs differ.
NON_DETERMINISTIC = "non-deterministic"
HIDDEN_INPUT = "changed when run again: reads something incr does not track"


@valueclass(frozen=True)
class Rerun:
    """What running one step again showed.

    ``state`` is SAME, DIFFERS, FAILED or SKIPPED; ``cause`` says why (NON_DETERMINISTIC or
    HIDDEN_INPUT when outputs differ, the error when it failed, the reasons it is dirty when
    skipped); ``outputs`` names the outputs that differ; ``notes`` the places where it draws
    from a global random generator.
    """

    key: str
    state: str
    cause: str = ""
    outputs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0


@valueclass
class RunResult:
    """What happened to each step of one pipeline run, by step name."""

    pipeline: str
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Failed steps that failed to find a project file, with that file (root-relative).
    missing: dict[str, str] = field(default_factory=dict)
    #: Those of them not reported yet (pipelines after this one may write the file): their
    #: run time and failure, for the runner to report when the pipeline does not run again.
    unreported: dict[str, tuple[float, str]] = field(default_factory=dict)
    #: Steps not run because a module their code uses read, as it was imported, a file that
    #: changed since (a step of this run wrote it): each with those files. They run once the
    #: modules are imported again (``incr.passes``).
    held: dict[str, tuple[str, ...]] = field(default_factory=dict)


@valueclass
class Grouped:
    """Holds each step's console events until the step is done, then passes them on at once,
    so that steps running side by side do not interleave their lines."""

    reporter: Reporter
    held: dict[str, list[Event]] = field(default_factory=dict)

    def emit(self, event: Event) -> None:
        step = getattr(event, "step", None)
        if isinstance(event, Note) and step is not None:  # a step that waits: its lines so far
            for held in self.held.pop(step, []):
                self.reporter.emit(held)
        if step is None or isinstance(event, Warning_ | Note):
            self.reporter.emit(event)
            return
        self.held.setdefault(step, []).append(event)
        if isinstance(event, StepFinished | StepFailed):
            for held in self.held.pop(step):
                self.reporter.emit(held)
