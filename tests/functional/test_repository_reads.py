"""A step that reads another step's output of a past run through the post-execution API
(``Repository().get_pipeline("training").runs[-1].get_step("trainer").output.read()``, the
"load the last trained model" step of ZenML's inference pipelines): the output counts as an
input of it (``output:training.trainer:output`` in its lock entry's reads), so it runs again
once the trainer has another result, and waits on the trainer in ``incr status``. Before, it
stayed clean for good, with the first model."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

TRAIN = """\
from incr import pipeline, step

from pipelines.mark import mark

FACTOR = 2


@step
def trainer() -> dict:
    mark("trainer")
    return {"weight": FACTOR}


@pipeline
def training():
    trainer()
"""

INFER = """\
from incr import Repository, pipeline, step

from pipelines.mark import mark


@step
def model_loader() -> dict:
    mark("model_loader")
    run = Repository().get_pipeline("training").runs[-1]
    return run.get_step("trainer").output.read()


@step
def predictor(model: dict) -> int:
    mark("predictor")
    return 10 * model["weight"]


@pipeline
def inference():
    predictor(model_loader())
"""


def test_a_step_reading_a_past_output_runs_again_when_it_changes(
    make_project: MakeProject, tmp_path: Path
) -> None:
    # b_infer is imported after a_train: the trainer's pipeline runs first
    project = make_project({"pipelines/a_train.py": TRAIN, "pipelines/b_infer.py": INFER})
    project.repro()
    assert project.take_ran() == ["trainer", "model_loader", "predictor"]
    reads = project.lock()["inference.model_loader"].reads
    assert reads["output:training.trainer:output"].startswith("json:")
    assert "pyproject.toml" not in reads  # what Repository() read to find the project

    project.edit("pipelines/a_train.py", "FACTOR = 2", "FACTOR = 3")
    status = {(s["pipeline"], s["step"]): s for s in project.status()["steps"]}
    loader = status[("inference", "model_loader")]
    assert loader["waiting"] and loader["reasons"][0]["text"] == "after training.trainer"
    project.repro()
    assert project.take_ran() == ["trainer", "model_loader", "predictor"]
    assert project.status()["dirty"] == 0
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_the_trainers_pipeline_runs_first_once_the_read_is_known(
    make_project: MakeProject,
) -> None:
    # a_infer is imported first; once its reader has read the trainer's output, the
    # trainer's pipeline runs before it, and it waits on the trainer in incr status
    project = make_project({"pipelines/b_train.py": TRAIN, "pipelines/a_infer.py": INFER})
    project.repro("training")
    project.repro()
    assert project.take_ran() == ["trainer", "model_loader", "predictor"]

    project.edit("pipelines/b_train.py", "FACTOR = 2", "FACTOR = 5")
    status = {(s["pipeline"], s["step"]): s for s in project.status()["steps"]}
    assert status[("inference", "model_loader")]["waiting"]
    assert project.status()["steps"][0]["pipeline"] == "training"
    result = project.repro()
    assert project.take_ran() == ["trainer", "model_loader", "predictor"]
    assert "runs again" not in result.output
    assert project.status()["dirty"] == 0
