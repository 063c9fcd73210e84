"""``[tool.incr] scripts``: the ZenML-style layout, where ``pipelines/`` and ``steps/`` only
define, and a ``run.py`` at the root makes the instances and runs them in its ``__main__``
block. Discovery imports the listed scripts after the pipeline modules and runs their main
blocks as it runs a pipeline module's, so ``incr status`` and ``incr repro`` see the
instances ``python run.py`` runs, with the same lock entries."""

from __future__ import annotations

from pathlib import Path

from .conftest import PYPROJECT, MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

STEPS = """\
from incr import BaseStepConfig, step

from pipelines.mark import mark


class FitConfig(BaseStepConfig):
    k: int = 1


@step
def load() -> list:
    mark("load")
    return [1, 2, 3]


@step
def fit(xs: list, config: FitConfig) -> int:
    mark("fit")
    return sum(xs) * config.k
"""

PIPELINE = """\
from incr import pipeline


@pipeline
def training_pipeline(loader, trainer):
    trainer(loader())
"""

RUN = """\
import argparse

from pipelines.training_pipeline import training_pipeline
from steps.steps import FitConfig, fit, load


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=2)
    args = parser.parse_args()
    training_pipeline(loader=load(), trainer=fit(config=FitConfig(k=args.k))).run()


if __name__ == "__main__":
    main()
"""

FILES = {
    "steps/__init__.py": "",
    "steps/steps.py": STEPS,
    "pipelines/training_pipeline.py": PIPELINE,
    "run.py": RUN,
}

LISTED = PYPROJECT + '\n[tool.incr]\nscripts = ["run.py"]\n'


def test_without_the_setting_the_error_names_the_script_that_runs_the_pipeline(
    make_project: MakeProject,
) -> None:
    project = make_project(FILES)
    assert project.python("run.py").returncode == 0
    assert project.take_ran() == ["load", "fit"]

    result = project.incr("status")

    assert result.user_error() == (
        "error: pipelines/training_pipeline.py defines pipeline training_pipeline but incr "
        "found no instance of it (nothing to run)"
    )
    hint = 'run.py seems to run it: list it in pyproject.toml, [tool.incr] scripts = ["run.py"]'
    assert hint in result.stderr


def test_a_listed_script_is_discovered_with_its_main_block(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project({**FILES, "pyproject.toml": LISTED})
    project.python("run.py")
    assert project.take_ran() == ["load", "fit"]
    assert project.dirty() == {}  # the script's run and discovery agree
    assert sorted(project.lock()) == ["training_pipeline.fit", "training_pipeline.load"]

    project.edit("steps/steps.py", "* config.k", "* config.k + 1")
    assert set(project.dirty()) == {"fit"}
    project.repro()
    assert project.take_ran() == ["fit"]
    project.python("run.py")
    assert project.take_ran() == []  # repro's result is the script's

    project.edit("run.py", "default=2", "default=3")  # the script's own value counts
    assert project.dirty() == {"fit": [("config changed", "k: 2 -> 3")]}
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.incr("status").returncode == 0
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_listed_script_that_is_missing_or_a_bad_list_is_an_error(
    make_project: MakeProject,
) -> None:
    project = make_project({**FILES, "pyproject.toml": LISTED.replace("run.py", "go.py")})
    assert project.incr("status").user_error() == (
        "error: pyproject.toml: [tool.incr] scripts lists go.py, which is not a file"
    )
    project.write({"pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = "run.py"\n'})
    assert project.incr("status").user_error() == (
        "error: pyproject.toml: [tool.incr] scripts must be a list of .py paths inside the project"
    )


ALL_IN_RUN = """\
from incr import pipeline, step


@step
def make() -> int:
    with open("ran.txt", "a", encoding="utf-8") as fh:
        fh.write("make\\n")
    return 1


@step
def double(x: int) -> int:
    with open("ran.txt", "a", encoding="utf-8") as fh:
        fh.write("double\\n")
    return 2 * x


@pipeline
def p(first, second):
    second(first())


if __name__ == "__main__":
    p(first=make(), second=double()).run()
"""


def test_a_listed_script_needs_no_pipelines_folder(tmp_path: Path) -> None:
    """Everything in ``run.py``, the smallest ZenML layout: no ``pipelines/`` folder."""
    from .conftest import Project

    project = Project(tmp_path / "allinrun")
    project.write({"pyproject.toml": LISTED, "run.py": ALL_IN_RUN})
    assert project.python("run.py").returncode == 0
    assert project.take_ran() == ["make", "double"]
    assert project.dirty() == {}
    project.edit("run.py", "2 * x", "3 * x")
    assert project.dirty() == {"double": [("code changed", "double in run.py")]}
    project.repro()
    assert project.take_ran() == ["double"]
    project.write({"pyproject.toml": PYPROJECT})  # not listed: the folder is missing
    error = project.incr("status").user_error()
    assert error.startswith("error: pipelines/: no such folder in ")


STOPS = """\
from incr import pipeline, step


@step
def a() -> int:
    return 1


@step
def b() -> int:
    return 2


@pipeline
def pa(s):
    s()


@pipeline
def pb(s):
    s()


if __name__ == "__main__":
    pa(s=a()).run()
    raise RuntimeError("boom")
    pb(s=b()).run()
"""


def test_a_main_block_that_stops_after_a_run_is_said(make_project: MakeProject) -> None:
    """The block fails after its first ``.run()``: discovery keeps what it ran (a read-back of
    the results may fail then) and says the pipelines after that line are not seen (they
    vanished without a word)."""
    project = make_project({"pipelines/two.py": STOPS})
    result = project.incr("status")
    assert result.returncode == 0, result.output
    assert (
        'note: pipelines/two.py:26: its `if __name__ == "__main__":` block stopped after running '
        "a pipeline (RuntimeError: boom)"
    ) in result.stderr


ONE_MODULE = """\
from incr import StepConfig, pipeline, step

from pipelines.mark import mark


class FitCfg(StepConfig):
    lr: float = 0.1


class Unused:
    bias = 1


@step
def load() -> list:
    mark("load")
    return [1, 2, 3]


@step
def fit(config: FitCfg, data: list) -> float:
    mark("fit")
    return config.lr * sum(data)


@pipeline
def train(load, fit):
    fit(load())


class Defined:
    after = 2
"""

ONE_MODULE_RUN = """\
from pipelines.train import FitCfg, fit, load, train

if __name__ == "__main__":
    train(load=load(), fit=fit(config=FitCfg(lr=0.2))).run()
"""


def test_a_script_and_incr_agree_on_the_classes_of_the_module_it_imports_first(
    make_project: MakeProject,
) -> None:
    """``run.py`` imports the module that defines the config class, the steps and the pipeline,
    whose first line imports incr: incr notes that module's values as far as it is defined
    then, and the classes it defines later are its own, no values the script set (``python
    run.py`` added ``value:pipelines/train.py:FitCfg`` to fit's entry, ``incr repro`` took it
    away, and so on)."""
    files = {"pipelines/train.py": ONE_MODULE, "run.py": ONE_MODULE_RUN, "pyproject.toml": LISTED}
    project = make_project(files)
    project.repro()
    assert project.take_ran() == ["load", "fit"]
    lock = project.lock_bytes()
    for _ in range(2):
        assert project.python("run.py").returncode == 0
        assert project.take_ran() == []
        assert project.dirty() == {}
        assert project.lock_bytes() == lock
        project.repro()
        assert project.take_ran() == []
