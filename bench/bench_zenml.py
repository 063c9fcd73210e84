"""ZenML on the seed's digits example and a 20-step chain; prints its figures as JSON.

Usage: bench/.venv/zenml/bin/python bench/bench_zenml.py [--runs 3] [--steps 20]

Run with the Python that has ZenML (bench/run.sh makes bench/.venv/zenml); bench/suite.py runs it
and puts incr's figures for the same pipelines beside these. Each pipeline runs as a script in a
fresh process, in a fresh `zenml init` repository with its own config folder (a local SQLite
store), the first time and then again with everything cached (the digits trainer is
`enable_cache=False` in both tools, so it runs every time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import gen
from measure import checked, median_run, run


def zenml_figures(runs: int, steps: int) -> dict[str, float | str]:
    python = sys.executable
    zenml = str(Path(python).parent / "zenml")
    figures: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**gen.PEER_ENV, "ZENML_CONFIG_PATH": str(root / "config")}
        figures["import zenml"], _, _ = median_run([python, "-c", "import zenml"], root, runs, env)
        figures["zenml init"] = checked(run([zenml, "init"], root, env), "zenml init").seconds
        (root / "digits.py").write_text(gen.ZENML_DIGITS)
        (root / "chain.py").write_text(gen.zenml_chain_module(steps))
        for name in ("digits", "chain"):
            script = [python, f"{name}.py"]
            figures[f"{name} first run"] = checked(run(script, root, env), name).seconds
            figures[f"{name} cached run"], _, sample = median_run(script, root, runs, env)
            checked(sample, f"{name} cached run")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    try:
        print(json.dumps(zenml_figures(args.runs, args.steps)))
    except RuntimeError as exc:
        print(json.dumps({"error": str(exc)}))


if __name__ == "__main__":
    main()
