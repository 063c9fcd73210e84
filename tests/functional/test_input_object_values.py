"""A step taking an object whose method reads a module value that steps before it set as they
run (a shared generator they draw from, a constant one of them sets): the object pickles to
the same bytes whatever that value is, so its identity holds the value as the steps before
the consumer left it, the consumer's run records it among its reads (a ``value:`` key), and
``incr status`` takes it as recorded (incr/setters.py, incr/plan.py: ``read_values``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

SHARED = """\
import numpy as np

RNG = np.random.default_rng(42)
SCALE = 2.0


class Noise:
    def __init__(self, scale):
        self.scale = scale

    def sample(self, n):
        return [round(float(x) * self.scale, 6) for x in RNG.random(n)]


class Scaled:
    def sample(self, n):
        return [SCALE * i for i in range(n)]
"""

DRAWS = """\
from incr import pipeline, step

from pipelines.mark import mark
from pipelines.shared import RNG, Noise


@step
def make_noise() -> Noise:
    mark("make_noise")
    return Noise(2.0)


@step
def split() -> list:
    mark("split")
    return RNG.permutation(8).tolist()


@step
def fit(idx: list) -> float:
    mark("fit")
    return round(float(RNG.random(2).sum()), 6)


@step
def score(w: float, noise: Noise) -> list:
    mark("score")
    return [w, *noise.sample(2)]


@pipeline
def train():
    nz = make_noise()
    score(fit(split()), nz)
"""

SETS = """\
from incr import pipeline, step

from pipelines import shared
from pipelines.mark import mark
from pipelines.shared import Scaled


@step
def make() -> Scaled:
    mark("make")
    return Scaled()


@step
def configure() -> int:
    mark("configure")
    shared.SCALE = 3.0
    return 1


@step
def use(n: int, obj) -> list:
    mark("use")
    return obj.sample(3)


@pipeline
def setting():
    obj = make()
    use(configure(), obj)
"""


def _no_input_change(project: Project) -> None:
    """No step of ``incr status`` says an input changed: the status takes the value the
    steps before it leave as the last run recorded it, as ``incr repro`` finds it."""
    changed = {s: why for s, why in project.dirty().items() if "input changed" in dict(why)}
    assert changed == {}


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("annotated", [True, False])
def test_a_step_taking_an_object_that_draws_from_a_shared_generator(
    make_project: MakeProject, tmp_path: Path, annotated: bool, jobs: str
) -> None:
    """``score`` gets the generator's state as ``split`` and ``fit`` leave it: reused while
    that state is the same, run once when ``fit`` draws otherwise. Before, it ran again on
    every run after such an edit while ``incr status`` said it waited; without the
    annotation naming ``Noise`` in its signature, ``fit`` was found to set nothing a later
    step uses and was reused, so ``score`` drew from the state ``split`` left (a result a
    fresh run does not give). With ``--jobs``, a step's process gets the generator that
    ``train.py`` imported by name in the state the steps before it left (it drew from the
    state of the import)."""
    draws = DRAWS if annotated else DRAWS.replace("noise: Noise)", "noise)")
    project = make_project({"pipelines/shared.py": SHARED, "pipelines/train.py": draws})
    project.repro("--jobs", jobs)
    assert sorted(project.take_ran()) == ["fit", "make_noise", "score", "split"]
    score = project.lock()["train.score"]  # the value its input's code reads: recorded
    assert "value:pipelines/shared.py:RNG" in (score.facts.code if annotated else score.reads)
    _no_input_change(project)
    assert project.dirty()["score"] == [("after", "fit, split")]
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["split", "fit"]

    project.edit("pipelines/train.py", "RNG.random(2)", "RNG.random(3)")
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["split", "fit", "score"]
    for _ in range(2):
        _no_input_change(project)
        project.repro("--jobs", jobs)
        assert project.take_ran() == ["split", "fit"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))  # in one process


def test_a_step_taking_an_object_that_reads_a_value_a_step_sets(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``configure`` sets ``shared.SCALE``, which the method of the object ``use`` takes
    reads: ``incr status`` no longer says the input changed on every command while
    ``incr repro`` reuses ``use``, and an edit of the value runs ``use`` once."""
    project = make_project({"pipelines/shared.py": SHARED, "pipelines/setting.py": SETS})
    project.repro()
    assert project.take_ran() == ["make", "configure", "use"]
    for _ in range(2):
        _no_input_change(project)
        project.repro()
        assert project.take_ran() == ["configure"]

    project.edit("pipelines/setting.py", "shared.SCALE = 3.0", "shared.SCALE = 4.0")
    project.repro()
    assert project.take_ran() == ["configure", "use"]
    _no_input_change(project)
    project.repro()
    assert project.take_ran() == ["configure"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
