"""incr against the interpreter's own floor: every speed target as a ratio to `python -c pass`.

Usage: python bench/bench_floor.py [--runs 5] [--big 10000] [--dag 500] [--dvc-max 100]

Each figure is measured in this one run, beside `python -c pass` measured in the same run, so
the ratios hold on any machine of one kind. Rows:

- `import incr` (timed inside a fresh interpreter, median of --runs);
- no-op `incr status` and `incr repro` on a 1,000-step chain, and `incr status` on --big steps;
- on --big steps: the first `incr repro`, whose engine overhead per step is (first repro less a
  no-op status) / N, and `incr repro` after one step's code edit (one step executes);
- a layered DAG of --dag steps (layers of 10, each step taking two inputs from the layer
  before): an edit in the middle layer that changes every downstream result, and the engine
  overhead per executed step, (repro after the edit less a no-op status) / executed steps;
- `.run()` of a 101-step chain in a script, run again in the same process: cost per cached
  step.

Where DVC is installed beside this Python, the 100- and 1,000-step chains (no-op status) and the
DAG (at most --dvc-max stages) get DVC's figures from the same run as a ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import gen
from bench_status import dvc_command, incr_command
from measure import checked, median_run, run, seconds, table

WIDTH = 10  # steps per layer of the layered DAG


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
        if i < WIDTH:
            cmd, deps = f"expr {i}{extra} > o{i}.txt", ""
        else:
            base = (i // WIDTH - 1) * WIDTH
            a, b = base + i % WIDTH, base + (i + 1) % WIDTH
            cmd = (
                f"expr \\( $(cat o{a}.txt) + $(cat o{b}.txt) + {i}{extra} \\) % 1000003 > o{i}.txt"
            )
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


def floor(runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return median_run([sys.executable, "-c", "pass"], Path(tmp), runs)[0]


def import_seconds(runs: int) -> float:
    code = "import time; t = time.perf_counter(); import incr; print(time.perf_counter() - t)"
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        values.append(float(out.stdout.strip()))
    return statistics.median(values)


def chain_figures(n: int, runs: int, with_repro: bool) -> dict[str, float]:
    incr = incr_command()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, n)
        figures["first"] = checked(run([*incr, "repro"], root), "first repro").seconds
        figures["status"], _, _ = median_run([*incr, "status"], root, runs)
        if with_repro:
            figures["repro"], _, _ = median_run([*incr, "repro"], root, runs)
        gen.edit_incr_step(root, n // 2)
        edited = checked(run([*incr, "repro"], root), "repro after the edit")
        figures["edited repro"] = edited.seconds
        figures["edited executed"] = executed(edited.output)
    return figures


def dag_figures(n: int, runs: int) -> dict[str, float]:
    incr = incr_command()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, 1)
        (root / "pipelines" / "chain.py").unlink()
        module = root / "pipelines" / "layered.py"
        module.write_text(dag_module(n))
        checked(run([*incr, "repro"], root), "first repro of the DAG")
        figures["status"], _, _ = median_run([*incr, "status"], root, runs)
        module.write_text(dag_module(n, bump=n // 2))
        edited = checked(run([*incr, "repro"], root), "repro of the DAG after the edit")
        figures["edited repro"] = edited.seconds
        figures["executed"] = executed(edited.output)
    return figures


def dvc_figures(chain_sizes: list[int], dag: int, runs: int) -> dict[str, float]:
    dvc = dvc_command()
    figures: dict[str, float] = {}
    if dvc is None:
        return figures
    env = gen.PEER_ENV
    for n in chain_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            gen.make_dvc_project(root, n, dvc)
            checked(run([dvc, "repro", "-q"], root, env), "dvc repro")
            figures[f"chain {n} status"], _, _ = median_run([dvc, "status"], root, runs, env)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_dvc_project(root, 0, dvc)
        (root / "dvc.yaml").write_text(dvc_dag_yaml(dag))
        checked(run([dvc, "repro", "-q"], root, env), "dvc repro of the DAG")
        (root / "dvc.yaml").write_text(dvc_dag_yaml(dag, bump=dag // 2))
        edited = checked(run([dvc, "repro"], root, env), "dvc repro of the DAG after the edit")
        stages = edited.output.count("Running stage ")
        figures["dag per executed"] = edited.seconds / max(stages, 1)
    return figures


def inprocess_per_step(runs: int) -> float:
    values = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.make_incr_project(root, 101)
        script = INPROCESS.format(root=str(root))
        for _ in range(runs):
            out = checked(run([sys.executable, "-c", script], root), "script .run()")
            line = next(x for x in out.output.splitlines() if x.startswith("SECONDS"))
            values.append(float(line.split()[1]) / 101)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=10000, help="steps of the big chain")
    parser.add_argument("--dag", type=int, default=500, help="steps of the layered DAG")
    parser.add_argument("--dvc-max", type=int, default=100, help="DVC stages of the DAG")
    parser.add_argument("--no-dvc", action="store_true")
    args = parser.parse_args()

    def say(what: str) -> None:
        print(f"measuring {what} ...", file=sys.stderr, flush=True)

    say("python -c pass")
    py = floor(args.runs)
    say("import incr")
    imp = import_seconds(args.runs)
    say("1,000-step chain")
    small = chain_figures(1000, args.runs, with_repro=True)
    say(f"{args.big}-step chain")
    big = chain_figures(args.big, max(1, args.runs // 2), with_repro=False)
    say(f"{args.dag}-step layered DAG")
    dag = dag_figures(args.dag, args.runs)
    say(".run() in a script")
    inproc = inprocess_per_step(args.runs)
    theirs: dict[str, float] = {}
    if not args.no_dvc:
        say("DVC")
        theirs = dvc_figures([100, 1000], min(args.dag, args.dvc_max), args.runs)

    first_per_step = (big["first"] - big["status"]) / args.big
    dag_per_step = (dag["edited repro"] - dag["status"]) / max(dag["executed"], 1)

    def x(value: float) -> str:
        return f"{value / py:.1f} x"

    def ms(value: float) -> str:
        return f"{value * 1000:.2f} ms"

    def vs(key: str, mine: float) -> str:
        return f"{mine / theirs[key]:.2f}" if key in theirs else "n/a"

    rows = [
        ["`python -c pass`", seconds(py), "1.0 x", "", ""],
        ["`import incr`", ms(imp), x(imp), "at most 15 ms", ""],
        ["no-op status, 1,000-step chain", seconds(small["status"]), x(small["status"]),
         "at most 4 x", vs("chain 1000 status", small["status"])],
        [f"no-op status, {args.big:,} steps", seconds(big["status"]), x(big["status"]),
         "at most 10 x", ""],
        ["no-op repro, 1,000-step chain", seconds(small["repro"]), x(small["repro"]),
         "at most 5 x", ""],
        [f"repro after one edit, {args.big:,} steps ({big['edited executed']:.0f} executed)",
         seconds(big["edited repro"]), x(big["edited repro"]), "at most 1 s", ""],
        [f"first repro, {args.big:,} steps: overhead per step", ms(first_per_step), "",
         "at most 0.3 ms", ""],
        [f"{args.dag}-step DAG, middle edit ({dag['executed']:.0f} executed): per step",
         ms(dag_per_step), "", "at most 1 ms", vs("dag per executed", dag_per_step)],
        ["`.run()` again in-process, 101-step chain: per step", ms(inproc), "",
         "at most 0.2 ms", ""],
    ]  # fmt: skip
    print(table(["what", "incr", "x python start", "target", "incr / DVC"], rows))
    if theirs:
        print()
        print(
            "DVC in the same run: "
            + ", ".join(f"{key} {seconds(value)}" for key, value in sorted(theirs.items()))
        )


if __name__ == "__main__":
    main()
