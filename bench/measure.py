"""Timing helpers: wall clock and peak RSS of one child process, medians, table printing."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    seconds: float
    max_rss_mib: float
    returncode: int
    output: str


def run(
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Sample:
    """Run ``cmd`` once: its wall time and its own peak RSS (``wait4`` gives that child's
    rusage alone). A run past ``timeout`` is killed and reported with returncode -9."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        killer = threading.Timer(timeout, proc.kill) if timeout is not None else None
        if killer is not None:
            killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if killer is not None:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Sample(seconds, usage.ru_maxrss / 1024, proc.returncode, text)


def median_run(
    cmd: Sequence[str], cwd: Path, runs: int, env: Mapping[str, str] | None = None
) -> tuple[float, float, Sample]:
    """(median seconds, highest peak RSS in MiB, the last sample) over ``runs`` runs."""
    samples = [run(cmd, cwd, env) for _ in range(runs)]
    return (
        statistics.median(s.seconds for s in samples),
        max(s.max_rss_mib for s in samples),
        samples[-1],
    )


def checked(sample: Sample, what: str) -> Sample:
    if sample.returncode != 0:
        tail = "\n".join(sample.output.splitlines()[-15:])
        raise RuntimeError(f"{what} exited with {sample.returncode}:\n{tail}")
    return sample


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
