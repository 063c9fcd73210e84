"""A project whose steps are in every state a picture shows: clean, dirty, waiting on a dirty
upstream step, failed in the last run, and cache disabled; with a file dep, a file out and
metrics. Shared by the tests of ``incr dag --status`` and ``incr report``."""

from __future__ import annotations

from pathlib import Path

from .conftest import MARK, PYPROJECT, Project

SHOP = '''\
"""Every state at once."""

import json
from pathlib import Path

from incr import StepConfig, pipeline, step
from pipelines.mark import mark


class TrainConfig(StepConfig):
    lr: float = 0.1


@step(deps=["data/raw.csv"])
def load() -> list:
    mark("load")
    return [int(x) for x in Path("data/raw.csv").read_text().split()]


@step(outs=["reports/train.json"], metrics=["reports/train.json"])
def train(config: TrainConfig, rows: list) -> float:
    mark("train")
    Path("reports").mkdir(exist_ok=True)
    loss = round(1 - config.lr * len(rows) / 10, 3)
    Path("reports/train.json").write_text(json.dumps({"loss": loss}))
    return loss


@step(metrics=["output"])
def evaluate(loss: float) -> dict:
    mark("evaluate")
    return {"accuracy": round(1 - loss / 2, 3)}


@step(deps=["data/flag.txt"])
def check(rows: list) -> int:
    mark("check")
    if Path("data/flag.txt").read_text().strip() == "fail":
        raise ValueError("the flag says fail")
    return len(rows)


@step(enable_cache=False)
def ping(rows: list) -> int:
    mark("ping")
    return 1


@pipeline
def shop():
    rows = load()
    evaluate(train(rows, config=TrainConfig(lr=0.1)))
    check(rows)
    ping(rows)
'''

STATES = {
    "load": "clean",
    "train": "dirty",
    "evaluate": "waiting",
    "check": "failed",
    "ping": "disabled",
}


def make_shop(root: Path) -> Project:
    """The project, run once, then: check failed in a run, train's config changed."""
    project = Project(root)
    project.write(
        {
            "pyproject.toml": PYPROJECT,
            "pipelines/__init__.py": "",
            "pipelines/mark.py": MARK,
            "pipelines/shop.py": SHOP,
            "data/raw.csv": "1 2 3 4\n",
            "data/flag.txt": "ok\n",
        }
    )
    project.repro()
    project.write({"data/flag.txt": "fail\n"})
    failed = project.incr("repro")
    assert failed.returncode == 1 and "the flag says fail" in failed.output, failed.output
    project.edit("pipelines/shop.py", "TrainConfig(lr=0.1)", "TrainConfig(lr=0.2)")
    project.take_ran()
    return project
