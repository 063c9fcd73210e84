"""`incr status` and `incr repro` on generated chains of N steps, with DVC beside it.

Usage: python bench/bench_status.py [N ...]   (default: 100 1000)

For each N, a temporary project holds one pipeline module with a chain of N trivial steps
(bench/gen.py). The benchmark times, each run a fresh subprocess, medians of --runs runs:

- the first `incr repro` (one run; stopped after --timeout seconds),
- `incr status` and `incr repro` with nothing changed, and the peak RSS of `incr status`,
- `incr status` after the code of the middle step was edited (its result unchanged),
- the `incr repro` that follows (one run) and how many steps it executed: early cutoff should
  make that exactly one.

When `dvc` is installed beside this Python (bench/run.sh puts it in bench/.venv/main), the same
chain as DVC stages gets the same treatment (for N up to --dvc-max) and incr/DVC ratios.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gen
from measure import checked, median_run, run, seconds, table


def incr_command() -> list[str]:
    script = Path(sys.executable).parent / "incr"
    return [str(script)] if script.exists() else [sys.executable, "-m", "incr.cli"]


def dvc_command() -> str | None:
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else shutil.which("dvc")


@dataclass
class Figures:
    """One tool's figures for one N; None where not measured."""

    first: float | None = None
    status: float | None = None
    repro: float | None = None
    edited_status: float | None = None
    edited_repro: float | None = None
    executed: int | None = None
    status_rss: float | None = None
    note: str = ""


def measure_incr(n: int, runs: int, timeout: float) -> Figures:
    incr = incr_command()
    figures = Figures()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, n)
        first = run([*incr, "repro"], root, timeout=timeout)
        if first.returncode == -9:
            figures.note = f"first repro stopped after {timeout:.0f} s"
            return figures
        figures.first = checked(first, "incr repro").seconds
        figures.status, figures.status_rss, _ = median_run([*incr, "status"], root, runs)
        figures.repro, _, _ = median_run([*incr, "repro"], root, runs)
        gen.edit_incr_step(root, n // 2)
        figures.edited_status, _, sample = median_run([*incr, "status"], root, runs)
        if "dirty: code changed" not in sample.output:
            figures.note = "status after the edit did not report it"
        edited = checked(run([*incr, "repro"], root), "incr repro after the edit")
        figures.edited_repro = edited.seconds
        finished = edited.output.count(" has finished in ") - 1  # less the pipeline's line
        figures.executed = finished - edited.output.count("Using cached version of ")
    return figures


def measure_dvc(n: int, runs: int, timeout: float) -> Figures:
    dvc = dvc_command()
    assert dvc is not None
    figures = Figures()
    env = gen.PEER_ENV
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_dvc_project(root, n, dvc)
        first = run([dvc, "repro", "-q"], root, env, timeout=timeout)
        if first.returncode == -9:
            figures.note = f"first dvc repro stopped after {timeout:.0f} s"
            return figures
        figures.first = checked(first, "dvc repro").seconds
        figures.status, figures.status_rss, _ = median_run([dvc, "status"], root, runs, env)
        figures.repro, _, _ = median_run([dvc, "repro"], root, runs, env)
        gen.edit_dvc_stage(root, n // 2)
        figures.edited_status, _, _ = median_run([dvc, "status"], root, runs, env)
        edited = checked(run([dvc, "repro"], root, env), "dvc repro after the edit")
        figures.edited_repro = edited.seconds
        figures.executed = edited.output.count("Running stage ")
    return figures


def ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None:
        return "n/a"
    return f"{mine / theirs:.2f}x"


def measure_pipelines(
    sizes: list[int], runs: int, timeout: float, dvc_max: int, with_dvc: bool
) -> list[tuple[int, Figures, Figures | None]]:
    """incr's figures for every N and, where DVC is here and N <= dvc_max, DVC's."""
    have_dvc = with_dvc and dvc_command() is not None
    results: list[tuple[int, Figures, Figures | None]] = []
    for n in sizes:
        print(f"measuring incr, N={n} ...", file=sys.stderr, flush=True)
        mine = measure_incr(n, runs, timeout)
        theirs = None
        if have_dvc and n <= dvc_max:
            print(f"measuring dvc, N={n} ...", file=sys.stderr, flush=True)
            theirs = measure_dvc(n, runs, timeout)
        results.append((n, mine, theirs))
    return results


def render_pipelines(
    results: list[tuple[int, Figures, Figures | None]], runs: int, dvc_note: str
) -> str:
    incr_rows, dvc_rows = [], []
    for n, mine, theirs in results:
        per_step = None if mine.edited_repro is None else mine.edited_repro / n
        incr_rows.append(
            [
                str(n),
                seconds(mine.first),
                seconds(mine.status),
                seconds(mine.repro),
                seconds(mine.edited_status),
                seconds(mine.edited_repro),
                "n/a" if mine.executed is None else str(mine.executed),
                "n/a" if per_step is None else f"{per_step * 1000:.2f} ms",
                "n/a" if mine.status_rss is None else f"{mine.status_rss:.0f} MiB",
                mine.note,
            ]
        )
        if theirs is None:
            continue
        dvc_rows.append(
            [
                str(n),
                f"{seconds(theirs.first)} ({ratio(mine.first, theirs.first)})",
                f"{seconds(theirs.status)} ({ratio(mine.status, theirs.status)})",
                f"{seconds(theirs.repro)} ({ratio(mine.repro, theirs.repro)})",
                f"{seconds(theirs.edited_status)} "
                f"({ratio(mine.edited_status, theirs.edited_status)})",
                f"{seconds(theirs.edited_repro)} ({ratio(mine.edited_repro, theirs.edited_repro)})",
                "n/a" if theirs.executed is None else str(theirs.executed),
                "n/a" if theirs.status_rss is None else f"{theirs.status_rss:.0f} MiB",
                theirs.note,
            ]
        )
    header = [
        "N steps",
        "first repro",
        "no-op status",
        "no-op repro",
        "status after 1 edit",
        "repro after 1 edit",
        "steps executed",
        "repro after edit / N",
        "status peak RSS",
        "note",
    ]
    text = f"incr, chain of N steps (median of {runs} runs, wall clock):\n\n"
    text += table(header, incr_rows)
    if not dvc_rows:
        return text + f"\n\nDVC: {dvc_note}"
    text += "\n\nDVC, the same chain as N stages (in brackets: incr's time / DVC's)"
    text += f"; {dvc_note}:\n\n" if dvc_note else ":\n\n"
    text += table(
        [
            "N stages",
            "first `dvc repro`",
            "no-op `dvc status`",
            "no-op `dvc repro`",
            "`dvc status` after 1 edit",
            "`dvc repro` after 1 edit",
            "stages executed",
            "`dvc status` peak RSS",
            "note",
        ],
        dvc_rows,
    )
    return text


def dvc_note(with_dvc: bool, dvc_max: int, sizes: list[int]) -> str:
    if not with_dvc:
        return "not run (--no-dvc)"
    if dvc_command() is None:
        return "not installed in this environment (bench/run.sh installs it)"
    skipped = [str(n) for n in sizes if n > dvc_max]
    return f"not run for N = {', '.join(skipped)} (over --dvc-max {dvc_max})" if skipped else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--dvc-max", type=int, default=1000)
    parser.add_argument("--no-dvc", action="store_true")
    args = parser.parse_args()
    with_dvc = not args.no_dvc
    results = measure_pipelines(args.sizes, args.runs, args.timeout, args.dvc_max, with_dvc)
    print(render_pipelines(results, args.runs, dvc_note(with_dvc, args.dvc_max, args.sizes)))


if __name__ == "__main__":
    main()
