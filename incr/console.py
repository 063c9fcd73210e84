"""The calmer console of ``incr repro``: steps that execute keep the seed's lines, steps that
are only reused are summed up in one line per pipeline (every line with ``verbose``), and on
a terminal a live progress line (steps done of total, the running step, elapsed time) shows
once a run has lasted a second. Scripts calling ``.run()`` keep ``report.Console``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from incr import dag
from incr.events import (
    Event,
    Note,
    PipelineFinished,
    PipelineStarted,
    StepCached,
    StepFailed,
    StepFinished,
    StepsSkipped,
    StepStarted,
)
from incr.model import TracedPipeline
from incr.report import Console

#: Seconds a run lasts before the progress line shows, and between two redraws.
DELAY = 1.0
EVERY = 0.2
CLEAR = "\r\033[K"


def plural(n: int, word: str) -> str:
    """``1 step``, ``2 steps``, ``3 run-cache entries``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def totals(pipelines: list[TracedPipeline], targets: Iterable[str]) -> dict[str, int]:
    """Steps each pipeline of a ``repro`` will go through, by pipeline name."""
    return {
        traced.graph.name: len(traced.graph.steps)
        if only is None
        else len(dag.ancestors(traced.graph, only))
        for traced, only in dag.select(pipelines, targets)
    }


class Progress:
    """The live line: drawn on ``stream`` (a terminal) by a thread, cleared before any other
    line is written."""

    def __init__(
        self,
        stream: TextIO,
        counts: dict[str, int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.counts = counts
        self.clock = clock
        self.lock = threading.RLock()
        self.began = clock()
        self.pipeline = ""
        self.done = 0
        self.running: str | None = None
        self.shown = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._tick, name="incr-progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        with self.lock:
            self.clear()

    def note(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, PipelineStarted):
                self.pipeline, self.done, self.running = event.pipeline, 0, None
            elif isinstance(event, StepStarted):
                self.running = event.step
            elif isinstance(event, StepFinished | StepFailed):
                self.done += 1
                self.running = None
            elif isinstance(event, StepsSkipped):
                self.done += len(event.steps)

    def text(self) -> str:
        total = self.counts.get(self.pipeline)
        of = f" of {total}" if total is not None else ""
        running = f", running {self.running}" if self.running else ""
        elapsed = self.clock() - self.began
        return f"{self.pipeline}: {self.done}{of} steps done{running}, {elapsed:.1f}s"

    def draw(self) -> None:
        with self.lock:
            late = self.clock() - self.began >= DELAY
            if self.pipeline and late and not self.stopped.is_set():
                self.stream.write(CLEAR + self.text())
                self.stream.flush()
                self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False

    def _tick(self) -> None:
        while not self.stopped.wait(EVERY):
            self.draw()


class CalmConsole(Console):
    """``report.Console`` for ``incr repro``; use it as a context manager (the progress line
    stops with it)."""

    def __init__(
        self,
        out: TextIO | None = None,
        verbose: bool = False,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(out, explain=True)
        self.verbose = verbose
        self.progress = progress
        self.held: set[str] = set()  # started without reasons: reused, unless it runs
        self.quiet: set[str] = set()  # reused: its StepFinished says nothing either
        self.reused = 0

    def __enter__(self) -> CalmConsole:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def line(self, text: str, err: bool = False) -> None:
        if self.progress is None:
            super().line(text, err)
            return
        with self.progress.lock:
            self.progress.clear()
            super().line(text, err)
        self.progress.draw()

    def emit(self, event: Event) -> None:
        if self.progress is not None:
            self.progress.note(event)
        if self.verbose:
            super().emit(event)
            return
        step = getattr(event, "step", None)
        if isinstance(event, StepStarted) and not event.reasons:
            self.held.add(event.step)
            return
        if isinstance(event, StepCached) and event.step in self.held:
            self.held.discard(event.step)
            self.quiet.add(event.step)
            self.reused += 1
            return
        if isinstance(event, StepFinished) and event.step in self.quiet:
            self.quiet.discard(event.step)
            return
        if step in self.held and not isinstance(event, Note):  # it did not reuse a result
            self.held.discard(step)
            super().emit(StepStarted(event.pipeline, step, ()))  # type: ignore[union-attr]
        if isinstance(event, PipelineFinished) and self.reused:
            self.line(f"{plural(self.reused, 'step')} reused from the cache")
            self.reused = 0
        super().emit(event)
