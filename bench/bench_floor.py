"""incr against the interpreter's own floor: every speed target as a ratio to `python -c pass`.

Usage: python bench/bench_floor.py [--runs 5] [--big 10000] [--dag 500] [--dvc-max 100]

Each figure is measured in this one run, beside `python -c pass` measured in the same run, so
the ratios hold on any machine of one kind. Rows:

- `import incr` (timed inside a fresh interpreter, median of --runs);
- no-op `incr status` on a 100-step chain, no-op `incr status` and `incr repro` on a 1,000-step
  chain, and `incr status` on --big steps; each status twice: deciding (the kept answer turned
  off, as on the first status after a change) and once an earlier status kept its answer
  (files older than two seconds, nothing changed since);
- on --big steps: the first `incr repro`, whose engine overhead per step is (first repro less a
  no-op status) / N, and `incr repro` after one step's code edit (one step executes);
- a layered DAG of --dag steps (layers of 10, each step taking two inputs from the layer
  before): an edit in the middle layer that changes every downstream result, and the engine
  overhead per executed step, (repro after the edit less a no-op status) / executed steps;
- `.run()` of a 101-step chain in a script, run again in the same process: cost per cached
  step.

Where DVC is installed beside this Python, the 100- and 1,000-step chains (no-op status) and the
DAG (at most --dvc-max stages) get DVC's figures from the same run as a ratio. With --before
CHECKOUT (a worktree of an earlier commit), every incr row is measured for that incr too, in the
same run, each side through `python -m incr.cli` with its checkout first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gen
from bench_status import dvc_command, incr_command
from measure import checked, median_run, run, seconds, table

WIDTH = 10  # steps per layer of the layered DAG
#: incr keeps a status answer only once every file is older than this (see incr/statusmemo.py).
RACY_SECONDS = 2.5


def dag_module(n: int, bump: int | None = None) -> str:
    """``n`` steps in layers of WIDTH; step ``d{i}`` of layer L > 0 takes two outputs of layer
    L - 1. ``bump`` adds 1 to step ``d{bump}``'s result, which changes every result after it."""
    lines = ["from incr import pipeline, step", ""]
    for i in range(n):
        extra = " + 1" if i == bump else ""
        if i < WIDTH:
            lines += ["", "@step", f"def d{i}() -> int:", f"    return {i}{extra}", ""]
        else:
            lines += ["", "@step", f"def d{i}(a: int, b: int) -> int:"]
            lines += [f"    return (a + b + {i}{extra}) % 1000003", ""]
    lines += ["", "@pipeline", "def layered():"]
    for i in range(n):
        if i < WIDTH:
            lines.append(f"    v{i} = d{i}()")
        else:
            base = (i // WIDTH - 1) * WIDTH
            a, b = base + i % WIDTH, base + (i + 1) % WIDTH
            lines.append(f"    v{i} = d{i}(v{a}, v{b})")
    return "\n".join(lines) + "\n"


def dvc_dag_yaml(n: int, bump: int | None = None) -> str:
    """The same DAG as DVC stages passing values through files."""
    stages = ["stages:"]
    for i in range(n):
        extra = " + 1" if i == bump else ""
        if i < WIDTH:  # (not expr: it exits with 1 when the result is 0)
            cmd, deps = f"echo $(( {i}{extra} )) > o{i}.txt", ""
        else:
            base = (i // WIDTH - 1) * WIDTH
            a, b = base + i % WIDTH, base + (i + 1) % WIDTH
            total = f"$(cat o{a}.txt) + $(cat o{b}.txt) + {i}{extra}"
            cmd = f"echo $(( ({total}) % 1000003 )) > o{i}.txt"
            deps = f"\n    deps: [o{a}.txt, o{b}.txt]"
        stages.append(f"  d{i}:\n    cmd: {cmd}{deps}\n    outs: [o{i}.txt]")
    return "\n".join(stages) + "\n"


def executed(output: str) -> int:
    finished = output.count(" has finished in ") - output.count("Pipeline run ")
    return finished - output.count("Using cached version of ")


INPROCESS = """
import sys, time
sys.path.insert(0, {root!r})
from pipelines.chain import chain
chain().run()
start = time.perf_counter()
chain().run()
print("SECONDS", time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Engine:
    """One incr to measure: its name in the tables, how to start its CLI, and the environment
    (``PYTHONPATH`` naming its checkout, or the installed one)."""

    name: str
    command: list[str]
    env: dict[str, str] | None = None


def engine(name: str, checkout: Path | None) -> Engine:
    """The installed incr, or the one in ``checkout``. Either is compiled first: with
    ``PYTHONDONTWRITEBYTECODE`` set, a fresh checkout would otherwise compile every module it
    imports in every command (a 1,000-step no-op status measured 0.74 of such a checkout's
    time, and 1.03 once both were compiled)."""
    if checkout is None:
        import incr

        compileall.compile_dir(Path(incr.__file__).parent, quiet=1)
        return Engine(name, incr_command())
    compileall.compile_dir(checkout / "incr", quiet=1)
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    return Engine(name, [sys.executable, "-m", "incr.cli"], env)


def floor(runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return median_run([sys.executable, "-c", "pass"], Path(tmp), runs)[0]


def import_seconds(runs: int, env: dict[str, str] | None) -> float:
    code = "import time; t = time.perf_counter(); import incr; print(time.perf_counter() - t)"
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        values.append(float(out.stdout.strip()))
    return statistics.median(values)


def chain_figures(eng: Engine, n: int, runs: int, with_repro: bool) -> dict[str, float]:
    incr, env = eng.command, eng.env
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, n)
        figures["first"] = checked(run([*incr, "repro"], root, env), "first repro").seconds
        figures["status"], _, _ = median_run([*incr, "status"], root, runs, deciding(env))
        figures["status kept"] = kept_status(incr, root, runs, env)
        if with_repro:
            figures["repro"], _, _ = median_run([*incr, "repro"], root, runs, env)
        gen.edit_incr_step(root, n // 2)
        edited = checked(run([*incr, "repro"], root, env), "repro after the edit")
        figures["edited repro"] = edited.seconds
        figures["edited executed"] = executed(edited.output)
    return figures


def deciding(env: dict[str, str] | None) -> dict[str, str]:
    """``env`` with the kept answer of ``incr status`` turned off: every status decides."""
    return {**(os.environ if env is None else env), "INCR_NO_STATUS_MEMO": "1"}


def kept_status(incr: list[str], root: Path, runs: int, env: dict[str, str] | None) -> float:
    """A no-op ``incr status`` once an earlier one kept its answer: the files are left to age
    past the racy window (two seconds), one status keeps, then ``runs`` are timed. (An incr
    without the kept answer decides each time.)"""
    time.sleep(RACY_SECONDS)
    checked(run([*incr, "status"], root, env), "status that keeps its answer")
    return median_run([*incr, "status"], root, runs, env)[0]


def status_seconds(eng: Engine, n: int, runs: int) -> tuple[float, float]:
    """A no-op status of an ``n``-step chain: deciding, and with an answer kept."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, n)
        checked(run([*eng.command, "repro"], root, eng.env), "first repro")
        decided = median_run([*eng.command, "status"], root, runs, deciding(eng.env))[0]
        return decided, kept_status(eng.command, root, runs, eng.env)


def dag_figures(eng: Engine, n: int, runs: int) -> dict[str, float]:
    incr, env = eng.command, eng.env
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, 1)
        (root / "pipelines" / "chain.py").unlink()
        module = root / "pipelines" / "layered.py"
        module.write_text(dag_module(n))
        checked(run([*incr, "repro"], root, env), "first repro of the DAG")
        figures["status"], _, _ = median_run([*incr, "status"], root, runs, deciding(env))
        module.write_text(dag_module(n, bump=n // 2))
        edited = checked(run([*incr, "repro"], root, env), "repro of the DAG after the edit")
        figures["edited repro"] = edited.seconds
        figures["executed"] = executed(edited.output)
    return figures


def dvc_chain(
    n: int, dvc: str, keep: Path | None
) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """A reproduced DVC chain of ``n`` stages: in ``keep``/chain-N, made once and reused by
    later runs (DVC's first ``repro`` of 1,000 stages takes about half an hour here), or in a
    temporary folder."""
    tmp = None
    if keep is not None:
        root = keep / f"chain-{n}"
        if (root / "dvc.lock").is_file() and (root / "reproduced").is_file():
            return root, None
        shutil.rmtree(root, ignore_errors=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
    gen.make_dvc_project(root, n, dvc)
    checked(run([dvc, "repro", "-q"], root, gen.PEER_ENV), f"dvc repro of {n} stages")
    (root / "reproduced").write_text("")
    return root, tmp


def dvc_figures(chain_sizes: list[int], dag: int, runs: int, keep: Path | None) -> dict[str, float]:
    """DVC's no-op ``status`` on the chains, and its time per stage run after the DAG's
    middle edit; a part DVC fails is left out, with the reason on stderr."""
    dvc = dvc_command()
    figures: dict[str, float] = {}
    if dvc is None:
        return figures
    env = gen.PEER_ENV
    for n in chain_sizes:
        try:
            root, tmp = dvc_chain(n, dvc, keep)
            figures[f"chain {n} status"], _, _ = median_run([dvc, "status"], root, runs, env)
            if tmp is not None:
                tmp.cleanup()
        except RuntimeError as exc:
            print(f"DVC, {n}-stage chain: {exc}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp_dag:
        root = Path(tmp_dag)
        gen.make_dvc_project(root, 0, dvc)
        (root / "dvc.yaml").write_text(dvc_dag_yaml(dag))
        try:
            checked(run([dvc, "repro", "-q"], root, env), "dvc repro of the DAG")
            (root / "dvc.yaml").write_text(dvc_dag_yaml(dag, bump=dag // 2))
            edited = checked(run([dvc, "repro"], root, env), "dvc repro of the DAG after the edit")
            stages = edited.output.count("Running stage ")
            figures["dag per executed"] = edited.seconds / max(stages, 1)
        except RuntimeError as exc:
            print(f"DVC, DAG: {exc}", file=sys.stderr)
    return figures


def inprocess_per_step(runs: int, env: dict[str, str] | None) -> float:
    values = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, 101)
        script = INPROCESS.format(root=str(root))
        for _ in range(runs):
            out = checked(run([sys.executable, "-c", script], root, env), "script .run()")
            line = next(x for x in out.output.splitlines() if x.startswith("SECONDS"))
            values.append(float(line.split()[1]) / 101)
    return statistics.median(values)


def measure(eng: Engine, args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, float]:
    """Every incr row of the table for one engine."""
    say(f"{eng.name}: import incr")
    imp = import_seconds(args.runs, eng.env)
    say(f"{eng.name}: 100-step chain")
    tiny = status_seconds(eng, 100, args.runs)
    say(f"{eng.name}: 1,000-step chain")
    small = chain_figures(eng, 1000, args.runs, with_repro=True)
    say(f"{eng.name}: {args.big}-step chain")
    big = chain_figures(eng, args.big, max(1, args.runs // 2), with_repro=False)
    say(f"{eng.name}: {args.dag}-step layered DAG")
    dag = dag_figures(eng, args.dag, args.runs)
    say(f"{eng.name}: .run() in a script")
    inproc = inprocess_per_step(args.runs, eng.env)
    return {
        "import": imp,
        "status 100": tiny[0],
        "status 100 kept": tiny[1],
        "status 1000": small["status"],
        "status 1000 kept": small["status kept"],
        "status big": big["status"],
        "status big kept": big["status kept"],
        "repro 1000": small["repro"],
        "edited big": big["edited repro"],
        "edited big executed": big["edited executed"],
        "first per step": (big["first"] - big["status"]) / args.big,
        "dag per step": (dag["edited repro"] - dag["status"]) / max(dag["executed"], 1),
        "dag executed": dag["executed"],
        "run per step": inproc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=10000, help="steps of the big chain")
    parser.add_argument("--dag", type=int, default=500, help="steps of the layered DAG")
    parser.add_argument("--dvc-max", type=int, default=100, help="DVC stages of the DAG")
    parser.add_argument("--no-dvc", action="store_true")
    parser.add_argument(
        "--dvc-projects",
        type=Path,
        help="a folder keeping DVC's reproduced chains between runs (made once)",
    )
    parser.add_argument(
        "--only-dvc-setup", action="store_true", help="make the --dvc-projects chains and stop"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of an earlier incr, measured in the same run (before / after ratios)",
    )
    args = parser.parse_args()

    def say(what: str) -> None:
        print(f"measuring {what} ...", file=sys.stderr, flush=True)

    if args.only_dvc_setup:
        dvc = dvc_command()
        if dvc is None or args.dvc_projects is None:
            sys.exit("--only-dvc-setup needs DVC and --dvc-projects")
        for n in (100, 1000):
            say(f"(setting up) DVC's {n}-stage chain")
            dvc_chain(n, dvc, args.dvc_projects)
        return

    say("python -c pass")
    py = floor(args.runs)
    here = Path(__file__).resolve().parents[1] if args.before else None
    after = measure(engine("incr", here), args, say)
    before = measure(engine("before", args.before), args, say) if args.before else None
    print(json.dumps({"python": py, "incr": after, "before": before}), file=sys.stderr, flush=True)
    theirs: dict[str, float] = {}
    if not args.no_dvc:
        say("DVC")
        dag = min(args.dag, args.dvc_max)
        theirs = dvc_figures([100, 1000], dag, args.runs, args.dvc_projects)

    def x(value: float) -> str:
        return f"{value / py:.1f} x"

    def ms(value: float) -> str:
        return f"{value * 1000:.2f} ms"

    def vs(key: str, mine: float) -> str:
        return f"{mine / theirs[key]:.2f}" if key in theirs else "n/a"

    big = f"{args.big:,}"
    rows: list[tuple[str, str, Callable[[float], str], str, str]] = [
        ("`import incr`", "import", ms, "at most 15 ms", ""),
        ("no-op status, 100-step chain, deciding", "status 100", seconds, "",
         "chain 100 status"),
        ("no-op status, 100-step chain, answer kept", "status 100 kept", seconds, "",
         "chain 100 status"),
        ("no-op status, 1,000-step chain, deciding", "status 1000", seconds, "at most 4 x",
         "chain 1000 status"),
        ("no-op status, 1,000-step chain, answer kept", "status 1000 kept", seconds,
         "at most 4 x", "chain 1000 status"),
        (f"no-op status, {big} steps, deciding", "status big", seconds, "at most 10 x", ""),
        (f"no-op status, {big} steps, answer kept", "status big kept", seconds, "at most 10 x",
         ""),
        ("no-op repro, 1,000-step chain", "repro 1000", seconds, "at most 5 x", ""),
        (f"repro after one edit, {big} steps ({after['edited big executed']:.0f} executed)",
         "edited big", seconds, "at most 1 s", ""),
        (f"first repro, {big} steps: overhead per step", "first per step", ms,
         "at most 0.3 ms", ""),
        (f"{args.dag}-step DAG, middle edit ({after['dag executed']:.0f} executed): per step",
         "dag per step", ms, "at most 1 ms", "dag per executed"),
        ("`.run()` again in-process, 101-step chain: per step", "run per step", ms,
         "at most 0.2 ms", ""),
    ]  # fmt: skip
    header = ["what", "incr", "x python start", "target", "incr / DVC"]
    if before is not None:
        header[2:2] = ["before", "after / before"]
    table_rows = [["`python -c pass`", seconds(py), *([""] * (len(header) - 2))]]
    for label, key, shown, target, peer in rows:
        mine = after[key]
        row = [label, shown(mine), x(mine) if shown is seconds else "", target]
        row.append(vs(peer, mine) if peer else "")
        if before is not None:
            row[2:2] = [shown(before[key]), f"{mine / before[key]:.2f}"]
        table_rows.append(row)
    print(table(header, table_rows))
    if theirs:
        print()
        print(
            "DVC in the same run: "
            + ", ".join(f"{key} {seconds(value)}" for key, value in sorted(theirs.items()))
            + f" (DAG of {min(args.dag, args.dvc_max)} stages)"
        )


if __name__ == "__main__":
    main()
