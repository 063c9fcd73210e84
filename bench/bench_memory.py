"""Peak memory of `incr repro` on four independent steps that each return a large numpy array,
plus a consumer of one of them.

Usage: python bench/bench_memory.py [--mib 256] [--runs 2] [--before REV]

A serial run keeps an output's value only until every step of the run that takes it has
started, so its peak is about the largest values alive at once, not their sum. Two shapes:

- the consumer takes the last array: one array is alive at a time;
- the consumer takes the first array: it is held while the three others are made (two alive).

Each figure is the highest peak RSS (``wait4`` of the `incr repro --force` process) and the
median wall time over --runs forced runs, after a first run that fills the cache (a forced run
finds its objects stored already, so the disk hardly counts). The baseline is the same
project with 1 MiB arrays (one run): Python, numpy and incr themselves. About 40 s on 2 cores.

``--before REV`` also runs the same projects with that git revision of incr (exported with
``git archive`` into a temporary folder and put first on PYTHONPATH), to compare with the code
before values were let go. incr itself comes from this checkout (its root first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import checked, run, seconds, table

REPO = Path(__file__).resolve().parent.parent

MODULE = """\
import numpy as np

from incr import pipeline, step

SIZE = {mib} << 20


def make(seed):
    return np.full(SIZE // 8, seed, dtype=np.float64)


@step
def a() -> np.ndarray:
    return make(1)


@step
def b() -> np.ndarray:
    return make(2)


@step
def c() -> np.ndarray:
    return make(3)


@step
def d() -> np.ndarray:
    return make(4)


@step
def total(x: np.ndarray) -> float:
    return float(x.sum())


@pipeline
def big():
    first = a()
    b()
    c()
    last = d()
    total({taken})
"""


def project(root: Path, mib: int, taken: str) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "big.py").write_text(MODULE.format(mib=mib, taken=taken))
    return root


def repro(root: Path, code: Path, force: bool) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one `incr repro` with ``code`` first on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "incr.cli", "repro", *(["--force"] if force else [])]
    sample = checked(run(cmd, root, env), f"incr repro in {root}")
    return sample.seconds, sample.max_rss_mib


def measure(root: Path, code: Path, runs: int) -> tuple[float, float]:
    """(median seconds, highest peak RSS in MiB) over ``runs`` forced runs."""
    samples = [repro(root, code, force=True) for _ in range(runs)]
    return statistics.median(s for s, _ in samples), max(m for _, m in samples)


def export(rev: str, folder: Path) -> Path:
    """The incr package of git revision ``rev``, unpacked into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "incr"], check=True, capture_output=True
    ).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="size of each array")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--before", help="a git revision of incr to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        versions = [("this checkout", REPO)]
        if args.before:
            before = export(args.before, folder / "before")
            versions.insert(0, (f"before ({args.before})", before))
        base_root = project(folder / "base", 1, "last")
        repro(base_root, REPO, force=False)
        base = {name: measure(base_root, code, 1)[1] for name, code in versions}
        rows = []
        for taken, label in (("last", "the last array"), ("first", "the first array")):
            root = project(folder / taken, args.mib, taken)
            repro(root, REPO, force=False)  # fills the cache
            for name, code in versions:
                wall, peak = measure(root, code, args.runs)
                above = peak - base[name]
                rows.append(
                    [
                        name,
                        label,
                        f"{peak:.0f} MiB",
                        f"{above:.0f} MiB",
                        f"{above / args.mib:.1f}",
                        seconds(wall),
                    ]
                )
    print(
        f"Four independent steps of {args.mib} MiB each and a consumer of one of them; "
        f"`incr repro --force`, highest peak RSS and median time of {args.runs} runs "
        f"(baseline, the same steps with 1 MiB arrays: "
        + ", ".join(f"{n} {m:.0f} MiB" for n, m in base.items())
        + f"). {os.cpu_count()} cores, Python {platform.python_version()}.\n"
    )
    header = ["incr", "consumer takes", "peak RSS", "above baseline", "arrays' worth", "time"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
