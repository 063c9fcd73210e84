"""incr diff, incr params diff, incr metrics show/diff: pipeline.lock across the commits of a
real git repository (three commits), old metric values read from the cache."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import MARK, PYPROJECT, Project

ML = '''\
"""A small model: train writes metrics to a JSON out, evaluate returns a dict of metrics."""

import json
from pathlib import Path

from incr import StepConfig, pipeline, step
from pipelines.mark import mark


class TrainConfig(StepConfig):
    lr: float = 0.1
    layers: int = 2


@step
def load() -> list:
    mark("load")
    return [1, 2, 3, 4]


@step(outs=["reports/train.json"], metrics=["reports/train.json"])
def train(config: TrainConfig, rows: list) -> float:
    mark("train")
    Path("reports").mkdir(exist_ok=True)
    loss = round(1.0 - config.lr * len(rows), 4)
    text = json.dumps({"loss": loss, "epochs": {"count": 3}}, sort_keys=True)
    Path("reports/train.json").write_text(text, encoding="utf-8")
    return loss


@step(metrics=["output"])
def evaluate(loss: float) -> dict:
    mark("evaluate")
    return {"accuracy": round(1.0 - loss / 2, 4), "name": "svc"}


@pipeline
def ml():
    loss = train(load(), config=TrainConfig(lr=0.1))
    evaluate(loss)
'''


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Three commits: lr 0.1; lr 0.2; evaluate's code changed. The working tree is HEAD."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project = Project(tmp_path_factory.mktemp("history") / "project")
    project.write(
        {
            "pyproject.toml": PYPROJECT,
            "pipelines/__init__.py": "",
            "pipelines/mark.py": MARK,
            "pipelines/ml.py": ML,
            ".gitignore": "ran.txt\nreports/\n",
        }
    )
    git(project.root, "init", "-q")
    project.repro()
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "lr 0.1")
    project.edit("pipelines/ml.py", "TrainConfig(lr=0.1)", "TrainConfig(lr=0.2)")
    project.repro()
    git(project.root, "commit", "-qam", "lr 0.2")
    project.edit("pipelines/ml.py", "1.0 - loss / 2", "1.0 - loss / 4")
    project.repro()
    git(project.root, "commit", "-qam", "accuracy")
    project.take_ran()
    return project


def test_diff_names_each_changed_step_in_the_words_of_status(repo: Project) -> None:
    first = repo.incr("diff", "HEAD~2", "HEAD~1")
    second = repo.incr("diff", "HEAD~1", "HEAD")

    assert first.returncode == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == "pipeline.lock: HEAD~2 -> HEAD~1"
    train = next(line for line in lines if line.split()[0] == "ml.train")
    assert "config changed (lr: 0.1 -> 0.2)" in train
    assert "outputs changed (output, reports/train.json)" in train
    evaluate = next(line for line in lines if line.split()[0] == "ml.evaluate")
    assert "input changed (from train)" in evaluate
    assert not any(line.split()[0] == "ml.load" for line in lines[1:-1])
    assert lines[-1] == "2 steps differ"
    assert "code changed (evaluate in pipelines/ml.py)" in second.stdout
    assert second.stdout.splitlines()[-1] == "1 step differs"


def test_diff_defaults_to_head_against_the_working_tree(repo: Project) -> None:
    result = repo.incr("diff", "--json")

    data = json.loads(result.stdout)
    assert (data["old"], data["new"], data["steps"]) == ("HEAD", "working tree", [])
    everything = json.loads(repo.incr("diff", "HEAD~2", "--json").stdout)
    kinds = {s["key"]: [r["kind"] for r in s["reasons"]] for s in everything["steps"]}
    assert kinds["ml.train"] == ["config changed", "outputs changed"]
    assert kinds["ml.evaluate"] == ["code changed", "input changed", "outputs changed"]


def test_params_diff_prints_the_config_values_that_differ(repo: Project) -> None:
    text = repo.incr("params", "diff", "HEAD~2", "HEAD").stdout
    data = json.loads(repo.incr("params", "diff", "HEAD~2", "HEAD", "--json").stdout)

    assert text.splitlines() == [
        "step      param  HEAD~2  HEAD",
        "ml.train  lr     0.1     0.2",
    ]
    assert data["steps"] == {"ml.train": {"lr": {"old": 0.1, "new": 0.2}}}
    assert "no config value differs" in repo.incr("params", "diff").stdout


def test_metrics_diff_reads_old_values_from_the_cache(repo: Project) -> None:
    data = json.loads(repo.incr("metrics", "diff", "HEAD~2", "HEAD", "--json").stdout)
    text = repo.incr("metrics", "diff", "HEAD~2", "HEAD").stdout

    rows = {(m["step"], m["source"], m["metric"]): m for m in data["metrics"]}
    loss = rows[("ml.train", "reports/train.json", "loss")]
    assert (loss["old"], loss["new"], loss["change"]) == (0.6, 0.2, -0.4)
    accuracy = rows[("ml.evaluate", "output", "accuracy")]
    assert (accuracy["old"], accuracy["new"]) == (0.7, 0.95)
    assert ("ml.train", "reports/train.json", "epochs.count") not in rows  # the same in both
    assert ("ml.evaluate", "output", "name") not in rows
    assert "ml.train     reports/train.json:loss  0.6     0.2   -0.4" in text


def test_metrics_show_lists_every_metric_of_the_working_tree(repo: Project) -> None:
    data = json.loads(repo.incr("metrics", "show", "--json").stdout)
    text = repo.incr("metrics", "show").stdout

    values = {(m["step"], m["source"], m["metric"]): m["value"] for m in data["metrics"]}
    assert values == {
        ("ml.evaluate", "output", "accuracy"): 0.95,
        ("ml.evaluate", "output", "name"): "svc",
        ("ml.train", "reports/train.json", "epochs.count"): 3,
        ("ml.train", "reports/train.json", "loss"): 0.2,
    }
    assert text.splitlines()[0].split() == ["step", "metric", "value"]
    assert repo.take_ran() == []  # nothing ran to show them


def test_a_value_missing_from_the_cache_is_shown_as_not_available(
    repo: Project, tmp_path: Path
) -> None:
    copy = Project(tmp_path / "copy")
    shutil.copytree(repo.root, copy.root)
    digest = old_metric_digest(copy)
    copy.remove_object(digest)

    data = json.loads(copy.incr("metrics", "diff", "HEAD~2", "HEAD", "--json").stdout)
    text = copy.incr("metrics", "diff", "HEAD~2", "HEAD").stdout

    rows = {(m["step"], m["metric"]): m for m in data["metrics"]}
    assert (rows[("ml.train", "loss")]["old"], rows[("ml.train", "loss")]["new"]) == (
        "(not available)",
        0.2,
    )
    assert rows[("ml.train", "loss")]["change"] is None
    assert rows[("ml.evaluate", "accuracy")]["old"] == 0.7  # its object is still there
    assert "(not available)" in text


def test_metrics_the_cache_lacks_at_both_revisions_are_shown_not_hidden(
    repo: Project, tmp_path: Path
) -> None:
    """A clone with no cache: no value can be read at either revision, so no row can be
    said to be unchanged: each shows ``(not available)``; it does not say there are no
    metrics. A diff of a revision with itself says that no metric differs."""
    copy = Project(tmp_path / "copy")
    shutil.copytree(repo.root, copy.root, ignore=shutil.ignore_patterns(".pipecache"))

    data = json.loads(copy.incr("metrics", "diff", "HEAD~2", "HEAD", "--json").stdout)
    rows = {(m["step"], m["metric"]): (m["old"], m["new"]) for m in data["metrics"]}
    assert rows[("ml.train", "")] == ("(not available)", "(not available)")
    text = copy.incr("metrics", "diff", "HEAD~2", "HEAD").stdout
    assert "no metrics" not in text and "(not available)" in text
    assert repo.incr("metrics", "diff", "HEAD", "HEAD").stdout.strip() == (
        "no metric differs between HEAD and HEAD"
    )


def old_metric_digest(project: Project) -> str:
    from incr import lockfile

    text = git(project.root, "show", "HEAD~2:pipeline.lock")
    return lockfile.loads(text)["ml.train"].outputs["reports/train.json"].digest


def test_revisions_outside_git_are_one_line_errors(repo: Project, tmp_path: Path) -> None:
    unknown = repo.incr("diff", "no-such-rev").user_error()
    plain = Project(tmp_path / "plain")
    plain.write({"pyproject.toml": PYPROJECT, "pipelines/__init__.py": ""})

    assert unknown == "error: unknown git revision 'no-such-rev'"
    assert "is not in a git repository" in plain.incr("diff").user_error()
    git(plain.root, "init", "-q")
    assert plain.incr("diff").user_error() == (
        f"error: the git repository of {plain.root} has no commit yet, so no revision 'HEAD'"
    )
