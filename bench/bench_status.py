"""No-op `incr status` and `incr repro` on generated chains of N steps, with DVC beside it.

Usage: python bench/bench_status.py [N ...]   (default: 10 100 1000)

For each N, a temporary project holds one pipeline module with a chain of N trivial steps; after
a first `incr repro`, the benchmark times (median of 5 runs, wall clock, in a subprocess each):

- `python -c pass` (the floor for any Python CLI),
- `incr status` with nothing changed,
- `incr repro` with nothing changed,
- `incr status` after one step in the middle of the chain was edited.

When `dvc` is on PATH, the same chain as DVC stages is timed with `dvc status` and the ratio is
printed. Figures go to stdout; copy them to bench/RESULTS.md with the machine noted.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5


def chain_module(n: int) -> str:
    lines = ["from incr import pipeline, step", ""]
    for i in range(n):
        arg = "x: int" if i else ""
        body = f"return {'x + ' if i else ''}{i}"
        lines += ["", "@step", f"def s{i}({arg}) -> int:", f"    {body}", ""]
    lines += ["", "@pipeline", "def chain():", "    x = s0()"]
    lines += [f"    x = s{i}(x)" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def make_project(root: Path, n: int) -> None:
    (root / "pipelines").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "chain.py").write_text(chain_module(n))


def timed(cmd: list[str], cwd: Path) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=False, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def incr(*args: str) -> list[str]:
    return [sys.executable, "-m", "incr.cli", *args]


def dvc_status(n: int) -> float | None:
    if shutil.which("dvc") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        subprocess.run(["dvc", "init", "-q"], cwd=root, check=True)
        stages = ["stages:"]
        for i in range(n):
            dep = f"\n    deps: [out{i - 1}.txt]" if i else ""
            stages.append(f"  s{i}:\n    cmd: echo {i} > out{i}.txt{dep}\n    outs: [out{i}.txt]")
        (root / "dvc.yaml").write_text("\n".join(stages) + "\n")
        subprocess.run(["dvc", "repro", "-q"], cwd=root, check=True, capture_output=True)
        return timed(["dvc", "status"], root)


def main(sizes: list[int]) -> None:
    print(f"python {sys.version.split()[0]}, {RUNS} runs each, median wall seconds")
    with tempfile.TemporaryDirectory() as tmp:
        floor = timed([sys.executable, "-c", "pass"], Path(tmp))
    print(f"python -c pass: {floor:.3f}s")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, n)
            start = time.perf_counter()
            subprocess.run(incr("repro"), cwd=root, check=True, capture_output=True)
            first = time.perf_counter() - start
            status = timed(incr("status"), root)
            repro = timed(incr("repro"), root)
            module = root / "pipelines" / "chain.py"
            mid = n // 2
            module.write_text(
                module.read_text().replace(f"return x + {mid}\n", f"return x + {mid} + 0\n")
            )
            edited = timed(incr("status"), root)
        line = (
            f"N={n}: first repro {first:.2f}s; no-op status {status:.3f}s; "
            f"no-op repro {repro:.3f}s; status after one edit {edited:.3f}s"
        )
        dvc = dvc_status(n)
        if dvc is not None:
            line += f"; dvc status {dvc:.3f}s (incr/dvc {status / dvc:.2f}x)"
        else:
            line += "; dvc not installed"
        print(line, flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 1000])
