"""console: the calm console's lines for reused and executed steps, the progress line's
words, plurals."""

from __future__ import annotations

import io

from incr.console import CalmConsole, Progress, plural
from incr.events import (
    PipelineFinished,
    PipelineStarted,
    StepCached,
    StepFinished,
    StepStarted,
)
from incr.model import Reason

RUN = [
    PipelineStarted("flow", True, None),
    StepStarted("flow", "load", ()),
    StepCached("flow", "load", False),
    StepFinished("flow", "load", 0.0, False),
    StepStarted("flow", "train", (Reason(Reason.CONFIG, "lr: 0.1 -> 0.2"),)),
    StepFinished("flow", "train", 1.25, True),
    StepStarted("flow", "score", ()),
    StepCached("flow", "score", False),
    StepFinished("flow", "score", 0.0, False),
    PipelineFinished("flow", "flow-1", 1.5, False),
]


def test_reused_steps_are_summed_and_executed_ones_keep_their_lines() -> None:
    out = io.StringIO()
    console = CalmConsole(out)
    for event in RUN:
        console.emit(event)

    assert out.getvalue().splitlines()[3:] == [
        "Step train has started.",
        "  because: config changed (lr: 0.1 -> 0.2)",
        "Step train has finished in 1.250s.",
        "2 steps reused from the cache",
        "Pipeline run flow-1 has finished in 1.500s.",
    ]


def test_verbose_keeps_every_line() -> None:
    out = io.StringIO()
    console = CalmConsole(out, verbose=True)
    for event in RUN:
        console.emit(event)

    assert "Using cached version of load." in out.getvalue()
    assert "reused" not in out.getvalue()


def test_progress_says_steps_done_of_total_the_running_step_and_time() -> None:
    now = [100.0]
    progress = Progress(io.StringIO(), {"flow": 3}, clock=lambda: now[0])
    for event in RUN[:5]:
        progress.note(event)
    now[0] = 102.5

    assert progress.text() == "flow: 1 of 3 steps done, running train, 2.5s"
    progress.draw()
    assert progress.stream.getvalue() == "\r\x1b[Kflow: 1 of 3 steps done, running train, 2.5s"  # type: ignore[attr-defined]


def test_plurals() -> None:
    assert [plural(1, "step"), plural(2, "step"), plural(0, "object")] == [
        "1 step",
        "2 steps",
        "0 objects",
    ]
    assert plural(3, "run-cache entry") == "3 run-cache entries"
