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
  no-op status) / N, and `incr repro` after one step's code edit (one step executes); each
  the mean of two fresh projects, the engines taken in turn and then in the opposite turn;
- on the 1,000-step and --big chains, after that edit, `incr repro` after a comment put above
  the steps (outside every step's body; nothing executes), measured the same way;
- a layered DAG of --dag steps (layers of 10, each step taking two inputs from the layer
  before): an edit in the middle layer that changes every downstream result, and the engine
  overhead per executed step, (repro after the edit less a no-op status) / executed steps
  (the edit timed in six fresh projects, the engines in turn, the median of each); and
  that figure's two parts, from the same kind
  of edit made next to the last step (one step executes): what such an edit costs over the
  no-op status, and what each further executed step adds;
- `.run()` of a 101-step chain in a script, run again in the same process: cost per cached
  step.

Where DVC is installed beside this Python, the 100- and 1,000-step chains (no-op status) and the
DAG (at most --dvc-max stages) get DVC's figures from the same run as a ratio. With --before
CHECKOUT (a worktree of an earlier commit), every incr row is measured for that incr too, in the
same run, each side through `python -m incr.cli` with its checkout first on PYTHONPATH, the
runs of each figure alternating between the two (A B A B ...).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gen
from bench_status import dvc_command, incr_command
from measure import checked, median_run, run, seconds, table

WIDTH = 10  # steps per layer of the layered DAG
#: incr keeps a status answer only once every file is older than this (see incr/statusmemo.py).
RACY_SECONDS = 2.5


def dag_module(n: int, bump: int | None = None, also: int | None = None) -> str:
    """``n`` steps in layers of WIDTH; step ``d{i}`` of layer L > 0 takes two outputs of layer
    L - 1. ``bump`` adds 1 to step ``d{bump}``'s result, which changes every result after it;
    so does ``also``, to a second step."""
    lines = ["from incr import pipeline, step", ""]
    for i in range(n):
        extra = " + 1" if i in (bump, also) else ""
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


def turns(engines: list[Engine], runs: int, sample: Callable[[int, Engine], float]) -> list[float]:
    """The median of ``runs`` samples for each engine, taken in turns (A B A B ...): a machine
    whose speed drifts during the run weighs on every engine alike. ``sample(i, engine)``
    takes one sample of the ``i``-th engine."""
    values: list[list[float]] = [[] for _ in engines]
    for _ in range(runs):
        for i, eng in enumerate(engines):
            values[i].append(sample(i, eng))
    return [statistics.median(v) for v in values]


def import_seconds(engines: list[Engine], runs: int) -> list[float]:
    code = "import time; t = time.perf_counter(); import incr; print(time.perf_counter() - t)"

    def sample(_: int, eng: Engine) -> float:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=eng.env
        )
        return float(out.stdout.strip())

    return turns(engines, runs, sample)


def projects(engines: list[Engine], n: int, stack: contextlib.ExitStack) -> list[Path]:
    """An ``n``-step chain for each engine, each in its own temporary folder."""
    roots = []
    for _ in engines:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        gen.make_incr_project(root, n)
        roots.append(root)
    return roots


def timed(
    engines: list[Engine], roots: list[Path], runs: int, *args: str, decide: bool = False
) -> list[float]:
    """The median seconds of ``incr ARGS`` in each engine's project, taken in turns."""

    def sample(i: int, eng: Engine) -> float:
        env = deciding(eng.env) if decide else eng.env
        return checked(run([*eng.command, *args], roots[i], env), " ".join(args)).seconds

    return turns(engines, runs, sample)


#: Figures taken once per project (a first repro, a repro after an edit) are taken in two
#: rounds, the engines in turn and then in the opposite turn, and averaged: the engine that
#: goes first in such a pair was measured up to a third slower, whichever engine it was.
ROUNDS = 2
#: The DAG's repros after an edit take half a second, which the host's noise moved by a
#: quarter or more, either way, between runs of two rounds: its figures are the median of more.
DAG_ROUNDS = 6


def in_turn(engines: list[Engine], round_: int) -> Iterator[tuple[int, Engine]]:
    """The engines with their indices, in turn for even rounds and the other way for odd.
    Before each, the disk is given the writes and deletions pending (``os.sync``): a first
    repro that ran just after the previous chain's projects were deleted spent twice as long
    creating its files (``open`` of new files: 3.1 s against 1.1 s at 10,000 steps, the same
    20,000 files)."""
    turn = list(enumerate(engines))
    for item in turn if round_ % 2 == 0 else turn[::-1]:
        os.sync()
        yield item


def chain_figures(
    engines: list[Engine], n: int, runs: int, with_repro: bool
) -> list[dict[str, float]]:
    with contextlib.ExitStack() as stack:
        rounds = [projects(engines, n, stack) for _ in range(ROUNDS)]
        figures: list[dict[str, float]] = [{} for _ in engines]
        for r, roots in enumerate(rounds):
            for i, eng in in_turn(engines, r):
                first = checked(run([*eng.command, "repro"], roots[i], eng.env), "first repro")
                figures[i]["first"] = figures[i].get("first", 0.0) + first.seconds / ROUNDS
        roots = rounds[0]
        for i, value in enumerate(timed(engines, roots, runs, "status", decide=True)):
            figures[i]["status"] = value
        for i, value in enumerate(kept_status(engines, roots, runs)):
            figures[i]["status kept"] = value
        if with_repro:
            for i, value in enumerate(timed(engines, roots, runs, "repro")):
                figures[i]["repro"] = value
        for r, roots in enumerate(rounds):
            for i, eng in in_turn(engines, r):
                gen.edit_incr_step(roots[i], n // 2)
                edited = checked(
                    run([*eng.command, "repro"], roots[i], eng.env), "repro after edit"
                )
                share = edited.seconds / ROUNDS
                figures[i]["edited repro"] = figures[i].get("edited repro", 0.0) + share
                figures[i]["edited executed"] = executed(edited.output)
        for r, roots in enumerate(rounds):  # then a comment above the steps: nothing runs
            for i, eng in in_turn(engines, r):
                gen.comment_incr_chain(roots[i], "the chain, commented")
                commented = checked(
                    run([*eng.command, "repro"], roots[i], eng.env), "repro after a comment"
                )
                share = commented.seconds / ROUNDS
                figures[i]["commented repro"] = figures[i].get("commented repro", 0.0) + share
        return figures


def deciding(env: dict[str, str] | None) -> dict[str, str]:
    """``env`` with the kept answer of ``incr status`` turned off: every status decides."""
    return {**(os.environ if env is None else env), "INCR_NO_STATUS_MEMO": "1"}


def kept_status(engines: list[Engine], roots: list[Path], runs: int) -> list[float]:
    """A no-op ``incr status`` once an earlier one kept its answer: the files are left to age
    past the racy window (two seconds), one status keeps, then ``runs`` are timed. (An incr
    without the kept answer decides each time.)"""
    time.sleep(RACY_SECONDS)
    for i, eng in enumerate(engines):
        checked(run([*eng.command, "status"], roots[i], eng.env), "status that keeps its answer")
    return timed(engines, roots, runs, "status")


def status_seconds(engines: list[Engine], n: int, runs: int) -> list[tuple[float, float]]:
    """A no-op status of an ``n``-step chain: deciding, and with an answer kept."""
    with contextlib.ExitStack() as stack:
        roots = projects(engines, n, stack)
        for i, eng in enumerate(engines):
            checked(run([*eng.command, "repro"], roots[i], eng.env), "first repro")
        decided = timed(engines, roots, runs, "status", decide=True)
        return list(zip(decided, kept_status(engines, roots, runs), strict=True))


def dag_figures(engines: list[Engine], n: int, runs: int) -> list[dict[str, float]]:
    """The DAG's deciding status, and its repro after an edit of the middle step ("edited
    repro", "executed"), then after one more edit, of the last step ("last"): each the median
    of DAG_ROUNDS fresh projects, the engines in turn."""
    with contextlib.ExitStack() as stack:
        rounds = [projects(engines, 1, stack) for _ in range(DAG_ROUNDS)]
        figures: list[dict[str, float]] = [{} for _ in engines]
        samples: list[dict[str, list[float]]] = [{} for _ in engines]
        for roots in rounds:
            for i, eng in enumerate(engines):
                (roots[i] / "pipelines" / "chain.py").unlink()
                (roots[i] / "pipelines" / "layered.py").write_text(dag_module(n))
                checked(run([*eng.command, "repro"], roots[i], eng.env), "first repro of the DAG")
        for i, value in enumerate(timed(engines, rounds[0], runs, "status", decide=True)):
            figures[i]["status"] = value
        for r, roots in enumerate(rounds):
            for i, eng in in_turn(engines, r):
                for also, key in ((None, "edited repro"), (n - 1, "last")):
                    module = dag_module(n, bump=n // 2, also=also)
                    (roots[i] / "pipelines" / "layered.py").write_text(module)
                    os.sync()
                    edited = checked(
                        run([*eng.command, "repro"], roots[i], eng.env), "DAG after the edit"
                    )
                    samples[i].setdefault(key, []).append(edited.seconds)
                    if key == "edited repro":
                        figures[i]["executed"] = executed(edited.output)
        for i, taken in enumerate(samples):
            figures[i].update({key: statistics.median(values) for key, values in taken.items()})
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


def inprocess_per_step(engines: list[Engine], runs: int) -> list[float]:
    with contextlib.ExitStack() as stack:
        roots = projects(engines, 101, stack)

        def sample(i: int, eng: Engine) -> float:
            script = INPROCESS.format(root=str(roots[i]))
            out = checked(run([sys.executable, "-c", script], roots[i], eng.env), "script .run()")
            line = next(x for x in out.output.splitlines() if x.startswith("SECONDS"))
            return float(line.split()[1]) / 101

        return turns(engines, runs, sample)


def measure(
    engines: list[Engine], args: argparse.Namespace, say: Callable[[str], None]
) -> list[dict[str, float]]:
    """Every incr row of the table for each engine, the engines measured in turns."""
    say("import incr")
    imp = import_seconds(engines, args.runs)
    say("100-step chain")
    tiny = status_seconds(engines, 100, args.runs)
    say("1,000-step chain")
    small = chain_figures(engines, 1000, args.runs, with_repro=True)
    say(f"{args.big}-step chain")
    big = chain_figures(engines, args.big, max(1, args.runs // 2), with_repro=False)
    say(f"{args.dag}-step layered DAG")
    dag = dag_figures(engines, args.dag, args.runs)
    say(".run() in a script")
    inproc = inprocess_per_step(engines, args.runs)
    return [
        {
            "import": imp[i],
            "status 100": tiny[i][0],
            "status 100 kept": tiny[i][1],
            "status 1000": small[i]["status"],
            "status 1000 kept": small[i]["status kept"],
            "status big": big[i]["status"],
            "status big kept": big[i]["status kept"],
            "repro 1000": small[i]["repro"],
            "edited big": big[i]["edited repro"],
            "commented 1000": small[i]["commented repro"],
            "commented big": big[i]["commented repro"],
            "edited big executed": big[i]["edited executed"],
            "first per step": (big[i]["first"] - big[i]["status"]) / args.big,
            "dag per step": (dag[i]["edited repro"] - dag[i]["status"])
            / max(dag[i]["executed"], 1),
            "dag executed": dag[i]["executed"],
            "dag edit itself": dag[i]["last"] - dag[i]["status"],
            "dag per further step": (dag[i]["edited repro"] - dag[i]["last"])
            / max(dag[i]["executed"] - 1, 1),
            "run per step": inproc[i],
        }
        for i in range(len(engines))
    ]


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
        help="a checkout of an earlier incr, measured in the same run (before / after ratios;"
        " each figure's runs alternate between the two)",
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
    before: dict[str, float] | None = None
    if args.before is None:
        (after,) = measure([engine("incr", None)], args, say)
    else:
        here = Path(__file__).resolve().parents[1]
        after, before = measure([engine("incr", here), engine("before", args.before)], args, say)
        py = (py + floor(args.runs)) / 2  # the floor again, once the machine has run a while
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
        ("then a comment above the steps, 1,000-step chain (nothing executes)",
         "commented 1000", seconds, "", ""),
        (f"then a comment above the steps, {big} steps (nothing executes)", "commented big",
         seconds, "", ""),
        (f"first repro, {big} steps: overhead per step", "first per step", ms,
         "at most 0.3 ms", ""),
        (f"{args.dag}-step DAG, middle edit ({after['dag executed']:.0f} executed): per step",
         "dag per step", ms, "at most 1 ms", "dag per executed"),
        ("  its parts: the edit itself (one step executed), over the deciding status",
         "dag edit itself", ms, "", ""),
        ("  its parts: each further executed step", "dag per further step", ms, "", ""),
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
