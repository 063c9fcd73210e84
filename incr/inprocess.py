"""Today's serial run: one step at a time, in this process. Values a later step of the run
takes stay in memory (by digest) until the loop says no step still has to start with them;
any other input is loaded from the verified store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from incr.executors import StepJob, StepOutcome, StepTools, load_inputs
from incr.model import StepFunction


class InProcessExecutor:
    executes = True
    shares_process = True  # the steps run one after another in one process (``incr.seeds``)

    def __init__(
        self,
        functions: Mapping[str, StepFunction],
        tools: StepTools,
        clock: Callable[[], float],
    ) -> None:
        self.functions = functions  # the traced steps, by name
        self.tools = tools
        self.clock = clock
        self.values: dict[str, Any] = {}  # digest -> value returned in this run
        self.queued: list[tuple[StepJob, dict[str, Any], StepOutcome | None]] = []

    def capacity(self) -> int:
        return 0 if self.queued else 1

    def start(self, job: StepJob) -> None:
        # The inputs are taken now: the loop may release them before ``wait`` runs the step.
        values, damaged = load_inputs(self.tools.store, job, self.values)
        self.queued.append((job, values, damaged))

    def wait(self) -> tuple[StepJob, StepOutcome]:
        job, values, damaged = self.queued.pop(0)
        if damaged is not None:
            return job, damaged
        from incr.jobrun import run_job  # here: a run whose steps are all clean runs none

        outcome, outputs = run_job(job, self.functions[job.step], values, self.tools, self.clock)
        for name in job.keep:
            if name in outputs:
                self.values[outcome.artifacts[name].digest] = outputs[name]
        return job, outcome

    def release(self, digests: Iterable[str]) -> None:
        for digest in digests:
            self.values.pop(digest, None)

    def close(self) -> None:
        self.queued.clear()
        self.values.clear()
