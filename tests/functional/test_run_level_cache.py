"""``instance.run(enable_cache=...)`` in the main block (or a listed script) discovery runs:
``incr repro`` and ``incr status`` apply it to that instance as ``python`` does."""

from __future__ import annotations

from .conftest import PYPROJECT, MakeProject

OVERRIDE_LINE = (
    "Runtime configuration overwriting the pipeline cache settings to enable_cache={} for "
    "this pipeline run. The default caching strategy is retained for future pipeline runs."
)

STEPS = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def load_data() -> int:
        mark("load_data")
        return 1


    {train}
    def train(x: int) -> int:
        mark("train")
        return x + 1


    {pipe}
    def training_pipeline(importer, trainer):
        trainer(importer())
    """


def training(run: str, pipe: str = "@pipeline", train: str = "@step") -> str:
    main = f"""
    if __name__ == "__main__":
        training_pipeline(importer=load_data(), trainer=train()).{run}
    """
    return STEPS.format(pipe=pipe, train=train) + main


DISABLED = {
    "load_data": [("cache disabled", "")],
    "train": [("cache disabled", ""), ("after", "load_data")],
}


def test_run_enable_cache_false_in_the_main_block_executes_every_step_on_each_repro(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/training.py": training("run(enable_cache=False)")})

    for _ in range(2):
        result = project.repro()
        assert project.take_ran() == ["load_data", "train"]
        assert OVERRIDE_LINE.format(False) in result.stdout.splitlines()
        assert set(project.lock()) == {"training_pipeline.load_data", "training_pipeline.train"}
        assert project.dirty() == DISABLED
    check = project.incr("status", "--check")
    assert check.returncode == 0, check.output  # no result is out of date: they always execute

    script = project.python("pipelines/training.py")  # as python runs it
    assert script.returncode == 0, script.output
    assert project.take_ran() == ["load_data", "train"]


def test_run_enable_cache_true_beats_the_pipeline_and_step_settings(
    make_project: MakeProject,
) -> None:
    source = training(
        "run(enable_cache=True)",
        pipe="@pipeline(enable_cache=False)",
        train="@step(enable_cache=False)",
    )
    project = make_project({"pipelines/training.py": source})
    result = project.repro()
    assert project.take_ran() == ["load_data", "train"]
    assert OVERRIDE_LINE.format(True) in result.stdout.splitlines()

    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    project.repro("--force")  # the command line still wins
    assert project.take_ran() == ["load_data", "train"]

    script = project.python("pipelines/training.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == []


RUN_SCRIPT = """\
    from pipelines.training import load_data, train, training_pipeline

    if __name__ == "__main__":
        training_pipeline(importer=load_data(), trainer=train()).run(enable_cache=False)
    """


def test_a_listed_script_runs_its_instance_with_its_run_level_setting(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {
            "pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = ["run.py"]\n',
            "pipelines/training.py": STEPS.format(pipe="@pipeline", train="@step"),
            "run.py": RUN_SCRIPT,
        }
    )
    for _ in range(2):
        project.repro()
        assert project.take_ran() == ["load_data", "train"]
        assert project.dirty() == DISABLED

    project.edit("run.py", ".run(enable_cache=False)", ".run()")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_main_block_without_the_argument_caches_as_before(make_project: MakeProject) -> None:
    project = make_project({"pipelines/training.py": training("run()")})
    result = project.repro()
    assert project.take_ran() == ["load_data", "train"]
    assert "Runtime configuration" not in result.stdout
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []

    project.edit("pipelines/training.py", ".run()", ".run(enable_cache=False)")
    assert project.dirty() == DISABLED
    project.edit("pipelines/training.py", ".run(enable_cache=False)", ".run()")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


SEED_SCRIPT = """\
    from pipelines.training import load_data, train, training_pipeline

    instance = training_pipeline(importer=load_data(), trainer=train())
    instance.run()
    instance.run()
    training_pipeline(importer=load_data(), trainer=train()).run(enable_cache=False)
    """

SWEEP = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class TrainConfig(StepConfig):
        gamma: float = 0.1


    @step
    def load_data() -> int:
        mark("load_data")
        return 1


    @step
    def train(config: TrainConfig, x: int) -> float:
        mark(f"train{config.gamma}")
        return x + config.gamma


    @pipeline
    def sweep(importer, trainer):
        trainer(importer())


    if __name__ == "__main__":
        for gamma in (0.1, 0.2):
            instance = sweep(importer=load_data(), trainer=train(TrainConfig(gamma=gamma)))
            instance.run(enable_cache=gamma > 0.15)
    """


def test_each_instance_has_the_setting_of_its_own_runs(make_project: MakeProject) -> None:
    # The seed's script runs one instance three times, the last with caching off (made anew
    # with the same steps: the same instance); a sweep runs each instance with its own value.
    project = make_project(
        {
            "pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = ["seed.py"]\n',
            "pipelines/training.py": STEPS.format(pipe="@pipeline", train="@step"),
            "seed.py": SEED_SCRIPT,
            "pipelines/sweep.py": SWEEP,
        }
    )
    project.repro()
    project.take_ran()
    status = project.status()["steps"]
    dirty = {(s["pipeline"], s["step"]) for s in status if s["reasons"]}
    assert dirty == {
        ("training_pipeline", "load_data"),
        ("training_pipeline", "train"),
        ("sweep", "load_data"),
        ("sweep", "train"),
    }
    project.repro()
    assert sorted(project.take_ran()) == ["load_data", "load_data", "train", "train0.1"]

    project.edit("seed.py", ".run(enable_cache=False)", ".run()")
    project.edit("pipelines/sweep.py", "gamma > 0.15", "gamma < 0.15")
    status = project.status()["steps"]
    dirty = {(s["pipeline"], s["step"]) for s in status if s["reasons"]}
    assert dirty == {
        ("sweep@train.gamma=0.2", "load_data"),
        ("sweep@train.gamma=0.2", "train"),
    }, status
    project.repro()
    assert sorted(project.take_ran()) == ["load_data", "train0.2"]
