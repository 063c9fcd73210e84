"""``repro --dry-run``: an executor that runs nothing, so a dry run decides every step through
the same loop and code as a real run; a step it would run leaves its outputs unknown."""

from __future__ import annotations

from collections.abc import Iterable

from incr.executors import StepJob, StepOutcome


class DryRunExecutor:
    """Takes one job at a time (the verdicts come in the order ``status`` gives them)."""

    executes = False

    def __init__(self) -> None:
        self.job: StepJob | None = None

    def capacity(self) -> int:
        return 0 if self.job is not None else 1

    def start(self, job: StepJob) -> None:
        self.job = job

    def wait(self) -> tuple[StepJob, StepOutcome]:
        job, self.job = self.job, None
        assert job is not None, "wait() without a started job"
        return job, StepOutcome(ran=False)

    def release(self, digests: Iterable[str]) -> None:
        pass

    def close(self) -> None:
        self.job = None
