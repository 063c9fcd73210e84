"""`incr repro --executor dask` against a serial run.

Usage: python bench/bench_dask.py [STEPS] [SECONDS_PER_STEP] [TRIVIAL_STEPS]
       (defaults: 40 steps of about 0.5 s, then 200 trivial steps)

1. STEPS independent CPU-bound steps and a join, forced: serial (`incr repro`) against a
   LocalCluster of 2 workers (`--executor dask`). Timed from the first step's start to the
   last step's end (each step returns its own start and end times; the join's output holds
   them), so the client's start-up (imports, discovery, cluster start) is reported apart: it
   is the rest of the command's wall time. Target: a speed-up of at least 1.7x.
2. TRIVIAL_STEPS independent steps that return a constant, on the same cluster (started
   once, outside the timing: `--scheduler`): the overhead per step is the time from the first
   step's start to the last one's end, divided by the number of steps. Target: at most 15 ms
   (a bare Dask task round trip is measured beside it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BURN = """\
import time

from incr import pipeline, step


def burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""

STEP = """

@step
def work_{i}() -> tuple:
    start = time.time()
    value = burn({n}) + {i}
    return (start, time.time(), value)
"""

JOIN = """

@step
def join({params}) -> tuple:
    start = time.time()
    parts = [{params}]
    return (min(p[0] for p in parts), time.time(), sum(p[2] for p in parts))


@pipeline
def wide():
    join({calls})
"""


def write_project(root: Path, steps: int, n: int) -> None:
    (root / "pipelines").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    params = ", ".join(f"p{i}" for i in range(steps))
    calls = ", ".join(f"work_{i}()" for i in range(steps))
    body = BURN + "".join(STEP.format(i=i, n=n) for i in range(steps))
    body += JOIN.format(params=params, calls=calls)
    (root / "pipelines" / "wide.py").write_text(body)


def calibrate(seconds: float) -> int:
    """Loop turns of ``burn`` that take about ``seconds`` here."""
    n = 200_000
    while True:
        start = time.perf_counter()
        total = 0
        for i in range(n):
            total += i * i % 7
        took = time.perf_counter() - start
        if took > 0.1:
            return int(n * seconds / took)
        n *= 2


def repro(root: Path, *args: str) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "incr.cli", "repro", "--force", *args]
    subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return time.perf_counter() - start


def span(root: Path) -> float:
    """From the first step's start to the join's end, read from the join's output."""
    from incr import lockfile
    from incr.executors import load_artifact
    from incr.store import Store

    entry = lockfile.read(root / "pipeline.lock")["wide.join"]
    start, end, _ = load_artifact(Store(root / ".pipecache"), entry.outputs["output"])
    return float(end - start)


def bare_task_ms(address: str) -> float:
    import distributed

    with distributed.Client(address) as client:
        client.submit(int, 0, pure=False).result()
        start = time.perf_counter()
        for i in range(50):
            client.submit(int, i, pure=False).result()
        return (time.perf_counter() - start) / 50 * 1000


def main(steps: int, seconds: float, trivial: int) -> None:
    import dask
    import distributed

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "wide"
        write_project(root, steps, calibrate(seconds))
        subprocess.run(
            [sys.executable, "-m", "incr.cli", "repro"], cwd=root, check=True, capture_output=True
        )
        serial_wall = repro(root)
        serial = span(root)
        dask_wall = repro(root, "--executor", "dask")
        on_dask = span(root)
        print(
            f"{steps} CPU-bound steps of ~{seconds}s + a join, first step start to last end: "
            f"serial {serial:.2f}s, dask (2 workers) {on_dask:.2f}s, "
            f"speed-up {serial / on_dask:.2f}x (target >= 1.7x)"
        )
        print(
            f"  whole command: serial {serial_wall:.2f}s, dask {dask_wall:.2f}s; client "
            f"start-up and shut-down (imports, discovery, LocalCluster): serial "
            f"{serial_wall - serial:.2f}s, dask {dask_wall - on_dask:.2f}s"
        )

        small = Path(tmp) / "small"
        write_project(small, trivial, 0)
        subprocess.run(
            [sys.executable, "-m", "incr.cli", "repro"], cwd=small, check=True, capture_output=True
        )
        serial_small = span_per_step(small, trivial, ())
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            )
        try:
            address = cluster.scheduler_address
            repro(small, "--scheduler", address)  # workers import the project once
            per_step = span_per_step(small, trivial, ("--scheduler", address))
            bare = bare_task_ms(address)
        finally:
            cluster.close()
        print(
            f"{trivial} trivial steps, first start to last end per step: dask {per_step:.1f} ms "
            f"(target <= 15 ms), serial {serial_small:.1f} ms, bare Dask task {bare:.1f} ms"
        )


def span_per_step(root: Path, steps: int, args: tuple[str, ...]) -> float:
    repro(root, *args)
    return span(root) / (steps + 1) * 1000


if __name__ == "__main__":
    argv = sys.argv[1:]
    main(
        int(argv[0]) if argv else 40,
        float(argv[1]) if len(argv) > 1 else 0.5,
        int(argv[2]) if len(argv) > 2 else 200,
    )
