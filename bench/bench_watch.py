"""Latency of `incr watch`: from a save to the start of the rerun.

Usage: python bench/bench_watch.py [SAVES]   (default: 20)

A temporary project holds one pipeline `load -> transform` (load reads data/raw.txt). One
`incr watch` runs in a subprocess with the default debounce (200 ms). Each save is timed from
just before the file is written to the moment the watcher prints `Step load has started.` for
the rerun (timestamped by a reader thread as the line arrives); the watcher is then left to
finish and go idle before the next save. Two kinds of save are timed: a code edit of `load` in
pipelines/flow.py (written in place) and a content change of data/raw.txt.

The figure includes the debounce itself, so the target (under 300 ms) leaves 100 ms for
re-importing the pipeline modules, fingerprinting and starting the run.
"""

from __future__ import annotations

import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

TARGET = 0.300
TIMEOUT = 30.0

FLOW = """\
from incr import pipeline, step

VALUE = {value}


@step(deps=["data/raw.txt"])
def load() -> str:
    with open("data/raw.txt", encoding="utf-8") as fh:
        return fh.read() + str({value})


@step
def transform(text: str) -> str:
    return text.upper()


@pipeline
def flow():
    transform(load())
"""


def make_project(root: Path) -> None:
    (root / "pipelines").mkdir()
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "flow.py").write_text(FLOW.format(value=0))
    (root / "data" / "raw.txt").write_text("start\n")


class Watcher:
    """`incr watch` in a subprocess; each output line arrives with its time of arrival."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "incr.cli", "watch"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def wait_for(self, text: str) -> float:
        """The arrival time of the next line that contains ``text``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            arrived, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if text in line:
                return arrived

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


def time_saves(watcher: Watcher, save: Callable[[int], None], saves: int) -> list[float]:
    samples = []
    for i in range(1, saves + 1):
        time.sleep(0.1)  # let the previous run's last events settle
        started = time.perf_counter()
        save(i)
        samples.append(watcher.wait_for("Step load has started.") - started)
        watcher.wait_for("waiting for changes")
    return samples


def report(name: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    median = statistics.median(ms)
    verdict = "ok" if median < TARGET * 1000 else "over target"
    print(
        f"{name:<22} median {median:6.1f} ms   min {ms[0]:6.1f}   p90 {p90:6.1f}   "
        f"max {ms[-1]:6.1f}   ({len(ms)} saves; target {TARGET * 1000:.0f} ms: {verdict})"
    )


def main(saves: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root)
        watcher = Watcher(root)
        try:
            watcher.wait_for("waiting for changes")
            flow, raw = root / "pipelines" / "flow.py", root / "data" / "raw.txt"
            code = time_saves(watcher, lambda i: flow.write_text(FLOW.format(value=i)), saves)
            data = time_saves(watcher, lambda i: raw.write_text(f"data {i}\n"), saves)
        finally:
            watcher.stop()
    print("incr watch: save -> `Step load has started.`, default debounce 200 ms")
    report("code save (flow.py)", code)
    report("data save (raw.txt)", data)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
