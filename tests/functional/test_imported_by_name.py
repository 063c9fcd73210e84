"""A project module a step imports by a name computed as it runs (``importlib.import_module
(config.fitter)``, ``__import__(name)``) counts by its code used whole (``imported:`` keys of the
step's reads): an edit of its code reruns each step that imported it so, a step after the first
included (which finds it imported already), a comment changes nothing, and a step whose code
uses the module statically counts it as before (incr/stepimports.py). Before, such a step
stayed clean forever with a note, and kept a result a run from scratch does not give."""

from __future__ import annotations

from pathlib import Path

from .conftest import PYPROJECT, MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

TRAIN = """\
    import importlib
    import sys

    from incr import StepConfig, pipeline, step
    from pipelines.fitters.linear import fit
    from pipelines.mark import mark


    class TrainerConfig(StepConfig):
        fitter: str = "pipelines.fitters.linear"
        lr: float = 0.5


    @step
    def load() -> list:
        mark("load")
        return [1, 2, 3]


    @step
    def trainer(rows: list, config: TrainerConfig) -> float:
        mark("trainer")
        mod = importlib.import_module(config.fitter)
        return mod.fit(rows, config.lr)


    @step
    def scorer(rows: list, config: TrainerConfig, trained: float) -> float:
        mark("scorer")
        __import__(config.fitter)
        return sys.modules[config.fitter].fit(rows, 1.0) + trained


    @step
    def baseline(rows: list) -> float:
        mark("baseline")
        return fit(rows, 1.0)


    @pipeline
    def train():
        rows = load()
        scorer(rows, trained=trainer(rows))
        baseline(rows)
    """

LINEAR = """\
    def fit(rows, lr):
        return sum(rows) * lr


    def spare(rows):
        return len(rows)
    """

QUAD = """\
    def fit(rows, lr):
        return sum(r * r for r in rows) * lr
    """


def _project(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/train.py": TRAIN,
            "pipelines/fitters/__init__.py": "",
            "pipelines/fitters/linear.py": LINEAR,
            "pipelines/fitters/quad.py": QUAD,
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["baseline", "load", "scorer", "trainer"]
    return project


def _same_as_scratch(project: Project, tmp_path: Path) -> None:
    fresh = fresh_copy(project, tmp_path / f"scratch-{len(list(tmp_path.glob('scratch-*')))}")
    assert_same_as_scratch(project, fresh)


def test_an_edit_of_the_module_reruns_each_step_importing_it_by_name(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    for step in ("train.trainer", "train.scorer"):
        reads = project.lock()[step].reads
        assert "imported:pipelines.fitters.linear" in reads, reads
    assert not any(k.startswith("imported:") for k in project.lock()["train.baseline"].reads)
    assert project.dirty() == {}
    project.edit("pipelines/fitters/linear.py", "sum(rows) * lr", "sum(rows) * lr + 100")
    why = project.dirty()
    assert sorted(why) == ["baseline", "scorer", "trainer"]
    assert why["trainer"] == [("code changed", "pipelines.fitters.linear, imported by name")]
    assert ("code changed", "pipelines.fitters.linear, imported by name") in why["scorer"]
    assert why["baseline"] == [("code changed", "fit in pipelines/fitters/linear.py")]
    project.repro()
    assert sorted(project.take_ran()) == ["baseline", "scorer", "trainer"]
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path)


def test_a_comment_or_an_unused_module_changes_nothing(make_project: MakeProject) -> None:
    project = _project(make_project)
    project.edit(
        "pipelines/fitters/linear.py", "def fit(rows, lr):\n", "def fit(rows, lr):\n    # sum\n"
    )
    project.edit("pipelines/fitters/quad.py", "* lr", "* lr * 2")  # not the configured one
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    # code of linear.py that baseline does not use: only the steps that import it whole
    project.edit("pipelines/fitters/linear.py", "len(rows)", "len(rows) + 1")
    assert sorted(project.dirty()) == ["scorer", "trainer"]


def test_another_module_in_the_config_counts_from_then_on(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    project.edit(
        "pipelines/train.py",
        'fitter: str = "pipelines.fitters.linear"',
        'fitter: str = "pipelines.fitters.quad"',
    )
    why = project.dirty()
    assert sorted(why) == ["scorer", "trainer"]
    assert why["trainer"][0][0] == "config changed"
    project.repro()
    assert sorted(project.take_ran()) == ["scorer", "trainer"]
    assert "imported:pipelines.fitters.quad" in project.lock()["train.trainer"].reads
    assert "imported:pipelines.fitters.linear" not in project.lock()["train.trainer"].reads
    project.edit("pipelines/fitters/linear.py", "len(rows)", "len(rows) + 1")
    assert project.dirty() == {}  # no longer imported
    project.edit("pipelines/fitters/quad.py", "* lr", "* lr * 2")
    assert sorted(project.dirty()) == ["scorer", "trainer"]
    project.repro()
    assert sorted(project.take_ran()) == ["scorer", "trainer"]
    _same_as_scratch(project, tmp_path)


NOTED = """\
    import importlib

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class PickConfig(StepConfig):
        fitter: str = ""


    @step
    def pick(config: PickConfig) -> float:
        mark("pick")
        if not config.fitter:
            return 0.0
        return importlib.import_module(config.fitter).fit([1, 2], 1.0)


    @pipeline
    def picking():
        pick()
    """


def test_the_note_stays_while_nothing_was_imported_by_name(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/picking.py": NOTED,
            "pipelines/fitters/__init__.py": "",
            "pipelines/fitters/linear.py": LINEAR,
        }
    )
    project.repro()
    [step] = project.status()["steps"]
    assert any("import_module()" in n for n in step["notes"]), step
    project.edit(
        "pipelines/picking.py", 'fitter: str = ""', 'fitter: str = "pipelines.fitters.linear"'
    )
    project.repro()
    assert project.take_ran() == ["pick", "pick"]
    [step] = project.status()["steps"]
    assert not any("import_module()" in n for n in step["notes"]), step
    project.edit("pipelines/fitters/linear.py", "sum(rows) * lr", "sum(rows) * lr * 3")
    assert list(project.dirty()) == ["pick"]


# ZenML's layout: steps in a steps/ package, the instance built by run.py from a YAML file.
TRAINER = """\
    from incr import BaseStepConfig, step
    from pipelines.mark import mark


    class TrainerConfig(BaseStepConfig):
        fitter: str = "steps.utils"
        lr: float = 0.1
        epochs: int = 2


    @step
    def trainer(rows: list, config: TrainerConfig) -> float:
        mark("trainer")
        import importlib

        mod = importlib.import_module(config.fitter)
        return mod.fit(rows, config.lr, config.epochs)


    @step
    def loader() -> list:
        mark("loader")
        return [1.0, 2.0, 4.0]
    """

UTILS = """\
    def fit(rows, lr, epochs):
        return round(sum(rows) * lr * epochs, 6)
    """

PIPE = """\
    from incr import pipeline


    @pipeline
    def training(loader, trainer):
        trainer(loader())
    """

RUN = """\
    import yaml

    from pipelines.training import training
    from steps.trainer import TrainerConfig, loader, trainer

    with open("config.yaml", encoding="utf-8") as fh:
        conf = yaml.safe_load(fh)


    if __name__ == "__main__":
        training(loader=loader(), trainer=trainer(config=TrainerConfig(**conf["trainer"]))).run()
    """


def test_a_fitter_named_in_a_yaml_file_of_a_script(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        {
            "pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = ["run.py"]\n',
            "steps/__init__.py": "",
            "steps/trainer.py": TRAINER,
            "steps/utils.py": UTILS,
            "pipelines/training.py": PIPE,
            "run.py": RUN,
            "config.yaml": "trainer:\n  fitter: steps.utils\n  lr: 0.5\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["loader", "trainer"]
    assert project.dirty() == {}
    project.edit("steps/utils.py", "* epochs", "* epochs * 10")
    assert project.dirty() == {"trainer": [("code changed", "steps.utils, imported by name")]}
    project.repro()
    assert project.take_ran() == ["trainer"]
    _same_as_scratch(project, tmp_path)
    project.edit("steps/utils.py", "def fit", "# the fitter\ndef fit")
    project.repro()
    assert project.take_ran() == []


MIXED = """\
    import importlib

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark
    from pipelines.ops import double


    class OpsConfig(StepConfig):
        module: str = "pipelines.ops"
        name: str = "triple"


    @step
    def mixed(config: OpsConfig) -> int:
        mark("mixed")
        return double(1) + getattr(importlib.import_module(config.module), config.name)(1)


    @step
    def prefixed(config: OpsConfig) -> int:
        mark("prefixed")
        return importlib.import_module(f"pipelines.{config.module[10:]}").triple(2)


    @pipeline
    def ops():
        mixed()
        prefixed()
    """

OPS = """\
    def double(x):
        return 2 * x


    def triple(x):
        return 3 * x
    """


def test_a_module_the_code_uses_in_part_counts_whole_when_imported_by_name(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """mixed's code uses double of pipelines/ops.py, and reaches triple through the module it
    imports by name; prefixed's code uses every module named pipelines.* whole already."""
    project = make_project({"pipelines/ops_flow.py": MIXED, "pipelines/ops.py": OPS})
    project.repro()
    assert project.take_ran() == ["mixed", "prefixed"]
    assert "imported:pipelines.ops" in project.lock()["ops.mixed"].reads
    assert not any(k.startswith("imported:") for k in project.lock()["ops.prefixed"].reads)
    project.edit("pipelines/ops.py", "3 * x", "30 * x")
    why = project.dirty()
    assert why["mixed"] == [("code changed", "pipelines.ops, imported by name")]
    assert why["prefixed"][0][0] == "code changed"
    project.repro()
    assert project.take_ran() == ["mixed", "prefixed"]
    _same_as_scratch(project, tmp_path)
