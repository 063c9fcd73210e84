"""The shipped examples, run the way the README and the seed page run them, in a temp copy."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import Project

REPO = Path(__file__).resolve().parents[2]

TIME = r"\d+\.\d{3}s"
STAMP = r"\d{2}_[A-Z][a-z]{2}_\d{2}-\d{2}_\d{2}_\d{2}_\d{6}"

# The seed's "Expected output" (docs/zenml-caching.md), three runs.
SEED_RUN_1 = """\
Creating run for pipeline: first_pipeline
Cache enabled for pipeline first_pipeline
Using stack default to run pipeline first_pipeline...
Step load_digits has started.
Step load_digits has finished in 0.135s.
Step svc_trainer has started.
Step svc_trainer has finished in 0.109s.
Pipeline run first_pipeline-07_Jul_22-12_05_54_573248 has finished in 0.417s.
"""
SEED_RUN_2 = """\
Creating run for pipeline: first_pipeline
Cache enabled for pipeline first_pipeline
Using stack default to run pipeline first_pipeline...
Step load_digits has started.
Using cached version of load_digits.
Step load_digits has finished in 0.014s.
Step svc_trainer has started.
Step svc_trainer has finished in 0.051s.
Pipeline run first_pipeline-07_Jul_22-12_05_55_813554 has finished in 0.161s.
"""
SEED_RUN_3 = """\
Creating run for pipeline: first_pipeline
Cache enabled for pipeline first_pipeline
Using stack default to run pipeline first_pipeline...
Runtime configuration overwriting the pipeline cache settings to enable_cache=False for this \
pipeline run. The default caching strategy is retained for future pipeline runs.
Step load_digits has started.
Step load_digits has finished in 0.078s.
Step svc_trainer has started.
Step svc_trainer has finished in 0.048s.
Pipeline run first_pipeline-07_Jul_22-12_05_56_718489 has finished in 0.219s.
"""


def pattern(line: str) -> re.Pattern[str]:
    """The seed's line as a regex: timings and the run's timestamp vary."""
    pieces = re.split(f"({TIME}|{STAMP})", line)
    regex = "".join(
        TIME
        if re.fullmatch(TIME, piece)
        else STAMP
        if re.fullmatch(STAMP, piece)
        else re.escape(piece)
        for piece in pieces
    )
    return re.compile(regex)


@pytest.fixture
def examples(tmp_path: Path) -> Project:
    if not (REPO / "pipelines" / "digits.py").is_file():
        pytest.skip("the repository's examples are not next to the tests")
    root = tmp_path / "examples"
    root.mkdir()
    for folder in ("pipelines", "data"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return Project(root)


def test_pattern_helper_matches_the_seed_lines() -> None:
    assert pattern("Step a has finished in 0.135s.").fullmatch("Step a has finished in 12.000s.")
    assert pattern("Pipeline run p-07_Jul_22-12_05_54_573248 has finished in 0.4s.") is not None
    assert not pattern("Step a has started.").fullmatch("Step b has started.")


@pytest.mark.timeout(240)
def test_digits_script_prints_the_seed_output(examples: Project) -> None:
    result = examples.python("pipelines/digits.py")

    assert result.returncode == 0, result.output
    expected = (SEED_RUN_1 + SEED_RUN_2 + SEED_RUN_3).splitlines()
    got = result.stdout.splitlines()
    assert len(got) == len(expected), result.stdout
    for want, line in zip(expected, got, strict=True):
        assert pattern(want).fullmatch(line), f"expected {want!r}, got {line!r}"
    assert "Traceback" not in result.stderr

    # The script's runs and the CLI agree: its last run, .run(enable_cache=False), executes
    # every step each time the script runs, and so does incr repro.
    steps = {s["step"]: s for s in examples.status("first_pipeline")["steps"]}
    assert [r["kind"] for r in steps["load_digits"]["reasons"]] == ["cache disabled"]
    assert [r["kind"] for r in steps["svc_trainer"]["reasons"]] == ["cache disabled", "after"]


@pytest.mark.timeout(240)
def test_repro_then_status_on_the_examples(examples: Project) -> None:
    first = examples.repro()
    assert "Step report has finished" in first.stdout
    assert (examples.root / "reports/summary.json").is_file()

    steps = examples.status()["steps"]

    flow = {s["step"]: s for s in steps if s["pipeline"] == "flow"}
    assert list(flow) == ["load", "transform", "summarize", "report"]
    assert not any(s["dirty"] for s in flow.values()), flow
    digits = {s["step"]: s["dirty"] for s in steps if s["pipeline"] == "first_pipeline"}
    assert digits == {"load_digits": True, "svc_trainer": True}
    assert examples.lock()["first_pipeline.svc_trainer"].outputs["output"].kind == "skops"
    text = examples.incr("status", "flow")
    assert text.returncode == 0, text.output
    assert text.stdout.splitlines()[-1] == "all 4 steps clean"
    whole = examples.incr("status").stdout.splitlines()[-1]  # as the README shows it
    assert whole == "2 of 6 steps dirty: 2 execute in every run (cache disabled)"


@pytest.mark.timeout(240)
def test_flow_example_tour(examples: Project) -> None:
    # The README's tour on the flow example: a comment keeps clean, a helper edit names it.
    examples.repro("flow")
    examples.edit("pipelines/helpers.py", "def mean(", "# the average\ndef mean(")
    assert examples.incr("status", "--check", "flow").returncode == 0
    examples.edit(
        "pipelines/helpers.py", "return round(value * factor", "return round(2 * value * factor"
    )

    steps = {s["step"]: s for s in examples.status("flow")["steps"]}

    assert [r["text"] for r in steps["transform"]["reasons"]] == [
        "code changed (scale in pipelines/helpers.py)"
    ]
    assert not steps["load"]["dirty"]
    assert steps["summarize"]["waiting"] and steps["report"]["waiting"]
    examples.edit("data/raw.csv", "Oslo,6.1", "Oslo,7.1")
    steps = {s["step"]: s for s in examples.status("flow")["steps"]}
    assert [r["text"] for r in steps["load"]["reasons"]] == ["dep changed (data/raw.csv)"]
    examples.edit("pipelines/flow.py", "TransformConfig(factor=2.0)", "TransformConfig(factor=5.0)")
    steps = {s["step"]: s for s in examples.status("flow")["steps"]}
    texts = [r["text"] for r in steps["transform"]["reasons"]]
    assert "config changed (factor: 2.0 -> 5.0)" in texts
