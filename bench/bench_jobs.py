"""`incr repro --jobs 2` against `--jobs 1` on two independent CPU-bound steps.

Usage: python bench/bench_jobs.py [SECONDS_OF_WORK_PER_STEP]   (default 2; roughly calibrated)

The target is a speed-up of at least 1.8x on 2 cores. Each figure is the
median of 3 forced runs, wall clock, each a fresh `incr` process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE = """\
from incr import pipeline, step


def burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


@step
def left() -> int:
    return burn({n})


@step
def right() -> int:
    return burn({n})


@step
def join(a: int, b: int) -> int:
    return a + b


@pipeline
def par():
    join(left(), right())
"""


def timed(root: Path, jobs: int) -> float:
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "incr.cli", "repro", "--force", "--jobs", str(jobs)]
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipelines").mkdir()
        (root / "pyproject.toml").write_text("[tool.incr]\n")
        (root / "pipelines" / "__init__.py").write_text("")
        n = int(seconds * 10_000_000)  # about a second of work per 10 M loop turns here
        (root / "pipelines" / "par.py").write_text(MODULE.format(n=n))
        subprocess.run([sys.executable, "-m", "incr.cli", "repro"], cwd=root, check=True)
        one = timed(root, 1)
        two = timed(root, 2)
    print(f"two independent CPU-bound steps: --jobs 1 {one:.2f}s, --jobs 2 {two:.2f}s")
    print(f"speed-up {one / two:.2f}x (target: 1.8x or more on 2 cores)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
