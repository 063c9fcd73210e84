"""`incr repro` after an edit in one of many pipeline modules: does it import the others?

Usage: python bench/bench_modules.py [--modules 10] [--steps 100] [--runs 5] [--before CHECKOUT]

A project of --modules pipeline modules, each with its own --steps-step chain (the chain of
`gen.py`, its pipeline named after the module), reproduced once. Each round copies it, edits
one step in the middle of the first module (its result unchanged: one step executes), and
times `incr repro`; the same for a no-op `repro` with nothing edited, and for a deciding
`incr status` after the edit (the kept answer turned off). "edit over status" is what the
repro costs beyond deciding: the imports, the one step and the bookkeeping. With --before
CHECKOUT (a worktree of an earlier commit), the same figures for that incr, the engines taken
in turn each round, each on a project it reproduced itself.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import gen
from bench_floor import deciding, engine, executed, floor
from measure import checked, run, seconds, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a checkout of an earlier incr")
    args = parser.parse_args()
    names = tuple(f"chain{k}" for k in range(args.modules))
    engines = [engine("incr", None)]
    if args.before is not None:
        engines.append(engine("before", args.before))
    start = floor(args.runs)
    figures: list[dict[str, list[float]]] = [{} for _ in engines]
    with contextlib.ExitStack() as stack:
        sources = []
        for eng in engines:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "project"
            gen.make_incr_project(root, args.steps, names)
            checked(run([*eng.command, "repro"], root, eng.env), "first repro")
            sources.append(root)
        for r in range(args.runs):
            order = list(enumerate(engines))
            for i, eng in order if r % 2 == 0 else order[::-1]:
                with tempfile.TemporaryDirectory() as tmp:
                    root = Path(tmp) / "project"
                    shutil.copytree(sources[i], root)
                    noop = checked(run([*eng.command, "repro"], root, eng.env), "no-op repro")
                    gen.edit_incr_step(root, args.steps // 2, names[0])
                    status = run([*eng.command, "status"], root, deciding(eng.env))
                    edited = checked(run([*eng.command, "repro"], root, eng.env), "edited repro")
                    assert executed(edited.output) == 1, edited.output
                for key, sample in (("noop", noop), ("status", status), ("edited", edited)):
                    figures[i].setdefault(key, []).append(sample.seconds)
    med = [{k: statistics.median(v) for k, v in f.items()} for f in figures]
    rows = []
    for label, key in (
        ("no-op repro", "noop"),
        ("status after the edit, deciding", "status"),
        ("repro after the edit (1 step executed)", "edited"),
    ):
        row = [label, *(seconds(m[key]) for m in med), f"{med[0][key] / start:.1f} x"]
        if len(med) > 1:
            row.insert(3, f"{med[0][key] / med[1][key]:.2f}")
        rows.append(row)
    over = [m["edited"] - m["status"] for m in med]
    row = ["  edit over status", *(seconds(v) for v in over), ""]
    if len(med) > 1:
        row.insert(3, f"{over[0] / over[1]:.2f}")
    rows.append(row)
    header = ["what", *(e.name for e in engines), "x python start"]
    if len(engines) > 1:
        header.insert(3, "after / before")
    print(f"{args.modules} pipeline modules of {args.steps} steps; python -c pass {seconds(start)}")
    print(table(header, rows))


if __name__ == "__main__":
    sys.exit(main())
