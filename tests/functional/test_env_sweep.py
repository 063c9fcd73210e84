"""A main block that sets an environment variable before each ``.run()`` (a sweep loop): each
``.run()`` is an instance of its own, named after the environments seen (``train@env2``), whose
steps see, in ``incr repro`` as in ``python pipelines/x.py``, the value its ``.run()`` saw.

Before, discovery kept the variables as the main block left them: one instance ran with the
last value only (instances made with the same configs were one), and the script and ``incr``
undid each other's lock entries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

SWEEP = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def load() -> int:
    mark("load")
    return 10


@step
def fit(base: int) -> str:
    seed = os.environ["SEED"]
    mark(f"fit-{seed}")
    with open(f"seed_{seed}.txt", "w", encoding="utf-8") as fh:
        fh.write(f"{base}:{seed}")
    return f"{base}:{seed}"


@pipeline
def train(loader, fitter):
    fitter(loader())


if __name__ == "__main__":
    for seed in ["1", "2", "3"]:
        os.environ["SEED"] = seed
        train(load(), fit()).run()
"""

#: The same sweep with one instance object run again and again, read through ``os.getenv``.
SAME_OBJECT = (
    SWEEP.replace('os.environ["SEED"]\n', 'os.getenv("SEED")\n')
    .replace("    for seed in", "    made = train(load(), fit())\n    for seed in")
    .replace("        train(load(), fit()).run()", "        made.run()")
)

NAMES = ["train", "train@env2", "train@env3"]


def verdicts(project: Project) -> dict[str, list[tuple[str, str]]]:
    """Step key -> its (kind, detail) reasons, for every step ``incr status`` lists."""
    steps: list[dict[str, Any]] = project.status()["steps"]
    return {s["key"]: [(r["kind"], r["detail"]) for r in s["reasons"]] for s in steps}


def dirty(project: Project) -> dict[str, list[tuple[str, str]]]:
    return {key: why for key, why in verdicts(project).items() if why}


@pytest.mark.parametrize("source", [SWEEP, SAME_OBJECT], ids=["made-each-time", "one-object"])
def test_each_run_of_a_sweep_sees_its_own_value(
    make_project: MakeProject, tmp_path: Path, source: str
) -> None:
    project = make_project({"pipelines/sweep.py": source})
    project.repro()
    ran = project.take_ran()  # (load once: the others take its result from the cache)
    assert sorted(ran) == ["fit-1", "fit-2", "fit-3", "load"]
    for seed in "123":
        assert project.read(f"seed_{seed}.txt") == f"10:{seed}"
    assert sorted(verdicts(project)) == sorted(f"{n}.{s}" for n in NAMES for s in ("fit", "load"))
    assert dirty(project) == {}
    lock = project.lock()
    assert len({lock[f"{n}.fit"].reads["$SEED"] for n in NAMES}) == 3  # each its own value
    before = project.lock_bytes()

    # The script runs the same instances with the same values: nothing to do, nothing undone.
    assert project.python("pipelines/sweep.py").returncode == 0
    assert project.take_ran() == []
    assert project.lock_bytes() == before
    assert dirty(project) == {}
    project.repro()
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_value_changed_in_the_loop_reruns_its_instance_only(make_project: MakeProject) -> None:
    project = make_project({"pipelines/sweep.py": SWEEP})
    project.repro()
    project.take_ran()
    project.edit("pipelines/sweep.py", '["1", "2", "3"]', '["1", "5", "3"]')
    assert dirty(project) == {"train@env2.fit": [("env changed", "SEED")]}
    project.repro()
    assert project.take_ran() == ["fit-5"]
    assert project.read("seed_5.txt") == "10:5"
    assert dirty(project) == {}

    # and the script, run with another value again, leaves what incr status expects
    project.edit("pipelines/sweep.py", '["1", "5", "3"]', '["1", "5", "4"]')
    assert project.python("pipelines/sweep.py").returncode == 0
    assert project.take_ran() == ["fit-4"]
    assert dirty(project) == {}
    project.repro()
    assert project.take_ran() == []


CONFIGURED = """\
import os

from incr import StepConfig, pipeline, step

from pipelines.mark import mark


class FitConfig(StepConfig):
    lr: float = 0.1


@step
def fit(config: FitConfig) -> str:
    seed = os.environ["SEED"]
    mark(f"fit-{seed}")
    with open(f"seed_{seed}.txt", "w", encoding="utf-8") as fh:
        fh.write(f"{config.lr}:{seed}")
    return f"{config.lr}:{seed}"


@pipeline
def train(fitter):
    fitter()


if __name__ == "__main__":
    for lr, seed in [(0.1, "1"), (0.2, "2")]:
        os.environ["SEED"] = seed
        train(fit(FitConfig(lr=lr))).run()
"""


def test_a_sweep_over_configs_and_a_variable_runs_each_instance_with_its_value(
    make_project: MakeProject,
) -> None:
    """The instances differ by config too, and are named by it; each still sees its own value
    (before, both saw the last one)."""
    project = make_project({"pipelines/sweep.py": CONFIGURED})
    project.repro()
    assert sorted(project.take_ran()) == ["fit-1", "fit-2"]
    assert project.read("seed_1.txt") == "0.1:1"
    assert project.read("seed_2.txt") == "0.2:2"
    assert sorted(verdicts(project)) == ["train.fit", "train@fit.lr=0.2.fit"]
    assert dirty(project) == {}
    assert project.python("pipelines/sweep.py").returncode == 0
    assert project.take_ran() == []
    assert dirty(project) == {}
    project.edit("pipelines/sweep.py", '(0.2, "2")', '(0.2, "7")')
    assert dirty(project) == {"train@fit.lr=0.2.fit": [("env changed", "SEED")]}
    project.repro()
    assert project.take_ran() == ["fit-7"]
    assert project.read("seed_7.txt") == "0.2:7"


SINGLE = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def fit() -> str:
    seed = os.environ.get("SEED", "unset")
    mark(f"fit-{seed}")
    return seed


@step
def where() -> str:
    mark("where")
    return os.path.basename("data/raw.csv")  # uses os, reads no variable


@pipeline
def train():
    fit()
    where()


if __name__ == "__main__":
    os.environ["SEED"] = "1"
    train().run()
"""


def test_an_edit_of_a_value_the_main_block_sets_is_no_code_change(
    make_project: MakeProject,
) -> None:
    """``os.environ["SEED"] = "1"`` before ``.run()``: the step that reads it has it as a
    fact; the statement was code of ``os`` too, so its edit reran every step using ``os``
    (every instance's, in a sweep) as a code change."""
    project = make_project({"pipelines/single.py": SINGLE})
    project.repro()
    assert project.take_ran() == ["fit-1", "where"]
    assert sorted(verdicts(project)) == ["train.fit", "train.where"]
    assert project.python("pipelines/single.py").returncode == 0
    assert project.take_ran() == []
    assert dirty(project) == {}
    project.edit("pipelines/single.py", '"1"', '"2"')
    assert dirty(project) == {"train.fit": [("env changed", "SEED")]}
    project.repro()
    assert project.take_ran() == ["fit-2"]
    assert dirty(project) == {}


def test_one_run_keeps_its_name_and_its_steps_never_see_a_value_set_after_it(
    make_project: MakeProject,
) -> None:
    """One ``.run()``, after which the block sets the variable again: one instance of the
    pipeline's name, whose steps see the value set before it, in ``incr repro`` as in
    ``python`` (incr ran them with the value the block left, 9: the two commands undid each
    other's entries)."""
    after = '    os.environ["SEED"] = "9"  # after the run\n'
    project = make_project({"pipelines/single.py": SINGLE + after})
    project.repro()
    assert project.take_ran() == ["fit-1", "where"]
    assert sorted(verdicts(project)) == ["train.fit", "train.where"]
    assert project.python("pipelines/single.py").returncode == 0
    assert project.take_ran() == []
    assert dirty(project) == {}
