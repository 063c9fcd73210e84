"""The whole benchmark suite: pipelines at N = 100, 1,000, 10,000 (with DVC), hashing and
artifacts, ZenML on the digits example and a 20-step chain, and a verdict per speed target.

Usage: bash bench/run.sh [options]   (or bench/.venv/main/bin/python bench/suite.py [options])

Prints markdown: copy it to bench/RESULTS.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import bench_hashing
import bench_status
import gen
from bench_status import Figures, incr_command
from measure import checked, median_run, run, seconds, table

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
OTHERS_LINES = 8


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(zenml_python: Path | None) -> str:
    zenml = "not installed"
    if zenml_python is not None and zenml_python.exists():
        code = "from importlib.metadata import version; print(version('zenml'))"
        done = subprocess.run([zenml_python, "-c", code], capture_output=True, text=True)
        zenml = done.stdout.strip() if done.returncode == 0 else "not installed"
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"blake3 {version('blake3')}, numpy {version('numpy')}, dvc {version('dvc')}, "
        f"zenml {zenml}; load average at the start {load}"
    )


def incr_peer_figures(runs: int, steps: int) -> dict[str, float]:
    """incr on the pipelines bench_zenml.py runs under ZenML."""
    incr = incr_command()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        digits, chain = Path(tmp) / "digits", Path(tmp) / "chain"
        gen.make_digits_project(digits, REPO)
        gen.make_incr_project(chain, steps)
        for name, root in (("digits", digits), ("chain", chain)):
            figures[f"{name} first run"] = checked(run([*incr, "repro"], root), name).seconds
            figures[f"{name} cached run"], _, _ = median_run([*incr, "repro"], root, runs)
            figures[f"{name} status"], _, _ = median_run([*incr, "status"], root, runs)
        gen.edit_digits_step(digits)  # inside a step's body: no import of scikit-learn
        edited = checked(run([*incr, "status"], digits), "digits status after the edit")
        assert "code changed" in edited.output, edited.output
        figures["digits edited status"] = edited.seconds
    return figures


def zenml_section(zenml_python: Path | None, runs: int, steps: int) -> tuple[str, float | None]:
    """The ZenML table, and incr's no-op status on the digits example."""
    if zenml_python is None or not zenml_python.exists():
        return "ZenML: not installed in the benchmark's environment; not measured.", None
    print("measuring zenml ...", file=sys.stderr, flush=True)
    cmd = [str(zenml_python), str(BENCH / "bench_zenml.py"), "--runs", str(runs)]
    done = subprocess.run([*cmd, "--steps", str(steps)], capture_output=True, text=True)
    try:
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        theirs = {"error": (done.stderr or done.stdout)[-2000:]}
    print("measuring incr on the same pipelines ...", file=sys.stderr, flush=True)
    mine = incr_peer_figures(runs, steps)
    if "error" in theirs:
        return f"ZenML: installed, but its run failed:\n\n```\n{theirs['error']}\n```", mine[
            "digits status"
        ]
    rows = [
        ["import zenml", seconds(theirs["import zenml"]), "", ""],
        ["zenml init (new repository, local store)", seconds(theirs["zenml init"]), "", ""],
    ]
    for name, label in (("digits", "digits example"), ("chain", f"{steps}-step chain")):
        for when in ("first run", "cached run"):
            key = f"{name} {when}"
            ratio = f"{mine[key] / theirs[key]:.2f}x"
            rows.append([f"{label}, {when}", seconds(theirs[key]), seconds(mine[key]), ratio])
        rows.append([f"{label}, `incr status`", "", seconds(mine[f"{name} status"]), ""])
        if name == "digits":
            edited = seconds(mine["digits edited status"])
            rows.append([f"{label}, `incr status` after editing a step's body", "", edited, ""])
    text = (
        f"ZenML, each run a fresh `python script.py` (median of {runs}), beside `incr repro` "
        "on the same pipelines:\n\n"
    )
    return text + table(["what", "ZenML", "incr", "incr / ZenML"], rows), mine["digits status"]


def others_section() -> str:
    """The other benchmarks in bench/ (parallel jobs, watch, memory, modules), each with its
    own output."""
    parts = []
    for name in ("bench_jobs.py", "bench_watch.py", "bench_memory.py", "bench_modules.py"):
        script = BENCH / name
        if not script.exists():
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            sample = run([sys.executable, str(script)], Path(tmp), timeout=900)
        status = "" if sample.returncode == 0 else f" (exit {sample.returncode})"
        tail = "\n".join(sample.output.strip().splitlines()[-OTHERS_LINES:])
        parts.append(f"`{name}`{status}, its last lines:\n\n```\n{tail}\n```")
    return "\n\n".join(parts) or "No other benchmarks in bench/."


def verdicts(
    pipelines: list[tuple[int, Figures, Figures | None]],
    hashing: dict[str, str],
    digits_status: float | None,
) -> str:
    by_n = {n: mine for n, mine, _ in pipelines}

    def fig(n: int, attr: str) -> float | None:
        return getattr(by_n[n], attr) if n in by_n else None

    def check(value: float | None, limit: float, shown: str) -> tuple[str, str]:
        if value is None:
            return "n/a", "not measured"
        return shown, "met" if value <= limit else "not met"

    def gibs(label: str) -> float | None:
        figure = next((f for k, f in hashing.items() if k.startswith(label)), None)
        return None if figure is None else float(figure.split()[0])

    rows = []

    def add(target: str, value: float | None, limit: float, shown: str | None = None) -> None:
        text = shown if shown is not None else seconds(value)
        rows.append([target, *check(value, limit, text)])

    add("1. no-op status, 1,000 steps <= 150 ms", fig(1000, "status"), 0.150)
    add("1. no-op status, 10,000 steps <= 1 s", fig(10000, "status"), 1.0)
    add("1. no-op status, digits example <= 150 ms", digits_status, 0.150)
    add("2. no-op repro, 1,000 steps <= 300 ms", fig(1000, "repro"), 0.300)
    add("2. status after 1 edit, 1,000 steps <= 400 ms", fig(1000, "edited_status"), 0.400)
    executed = fig(1000, "executed")
    add("2. repro after 1 edit runs exactly 1 step", executed, 1, str(executed))
    edited = fig(1000, "edited_repro")
    per_step = None if edited is None else edited / 1000
    shown = None if per_step is None else f"{per_step * 1000:.2f} ms (whole run / N)"
    add("2. engine overhead per cached step < 1 ms", per_step, 0.001, shown)
    faster = "3. changed 1 GiB dep hashed >= 3 GiB/s"
    changed = gibs("changed ")
    add(faster, None if changed is None else -changed, -3.0, f"{changed} GiB/s")
    unchanged = next((f for k, f in hashing.items() if k.startswith("unchanged ")), None)
    if unchanged is None:
        rows.append(["3. unchanged dep never read", "n/a", "not measured"])
    else:
        verdict = "met" if unchanged.startswith("not read") else "not met"
        rows.append(["3. unchanged dep never read", unchanged, verdict])
    folder = next((f for k, f in hashing.items() if "files, unchanged" in k), None)
    folder_s = None if folder is None else float(folder.split()[0]) / 1000
    add("3. 10,000 unchanged files well under 1 s (<= 250 ms)", folder_s, 0.250, folder)
    for what in ("store", "load"):
        value = gibs(f"numpy 1024 MiB {what}, disk: dump_parts")
        target = f"4. numpy 1 GiB {what} >= 1 GiB/s (disk)"
        add(target, None if value is None else -value, -1.0, f"{value} GiB/s")
    rows.append(["5. parallel jobs, 2 steps on 2 cores >= 1.8x", "see bench_jobs.py above", ""])
    rss = fig(10000, "status_rss")
    shown = None if rss is None else f"{rss:.0f} MiB"
    add("6. peak RSS of status, 10,000 steps <= 200 MB", rss, 200 / 1.048576, shown)
    return table(["target", "measured", "verdict"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated step counts")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800.0, help="for one first repro")
    parser.add_argument("--dvc-max", type=int, default=1000)
    parser.add_argument("--no-dvc", action="store_true")
    parser.add_argument("--size-mib", type=int, default=1024, help="for the hashing figures")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--zenml-python", type=Path, default=None)
    parser.add_argument("--zenml-steps", type=int, default=20)
    parser.add_argument("--skip", default="", help="any of pipelines,hashing,zenml,others")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    skip = set(args.skip.split(","))

    print(f"Machine: {machine(args.zenml_python)}\n")
    with tempfile.TemporaryDirectory() as tmp:
        floor, _, _ = median_run([sys.executable, "-c", "pass"], Path(tmp), args.runs)
    print(f"`python -c pass`: {seconds(floor)}\n")
    pipelines: list[tuple[int, Figures, Figures | None]] = []
    if "pipelines" not in skip:
        with_dvc = not args.no_dvc
        pipelines = bench_status.measure_pipelines(
            sizes, args.runs, args.timeout, args.dvc_max, with_dvc
        )
        note = bench_status.dvc_note(with_dvc, args.dvc_max, sizes)
        print(bench_status.render_pipelines(pipelines, args.runs, note) + "\n", flush=True)
    hashing: dict[str, str] = {}
    if "hashing" not in skip:
        text, hashing = bench_hashing.hashing_table(args.size_mib, args.files, 3)
        print("Hashing and artifacts (median of 3, in one process):\n\n" + text + "\n", flush=True)
    digits_status = None
    if "zenml" not in skip:
        text, digits_status = zenml_section(args.zenml_python, args.runs, args.zenml_steps)
        print(text + "\n", flush=True)
    if "others" not in skip:
        print(others_section() + "\n", flush=True)
    print("Targets:\n\n" + verdicts(pipelines, hashing, digits_status))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nLoad average at the end: {load}")


if __name__ == "__main__":
    main()
