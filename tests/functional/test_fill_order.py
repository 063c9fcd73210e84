"""The order in which a module's definitions fill a table (``@stage`` functions appending to
``STAGES``, ``@register`` filling a dict that a step lists) or derive from a class (what
``__subclasses__()`` lists) is what a loop over it runs: moving one of them reruns the steps
using the table; moving a function that fills nothing does not."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

STAGES = """\
STAGES = []
MODELS = {}


def stage(fn):
    STAGES.append(fn)
    return fn


def register(name):
    def deco(fn):
        MODELS[name] = fn
        return fn

    return deco


@stage
def add1(x):
    return x + 1


@stage
def times2(x):
    return x * 2


@register("b")
def model_b():
    return "b"


@register("a")
def model_a():
    return "a"


class Plugin:
    pass


class First(Plugin):
    pass


class Second(Plugin):
    pass


def unrelated():
    return 0
"""

FLOW = """\
from incr import pipeline, step

from pipelines.mark import mark
from pipelines.stages import MODELS, STAGES, Plugin


@step
def run_stages() -> int:
    mark("run_stages")
    x = 1
    for f in STAGES:
        x = f(x)
    return x


@step
def names() -> list:
    mark("names")
    return list(MODELS)


@step
def plugins() -> list:
    mark("plugins")
    return [c.__name__ for c in Plugin.__subclasses__()]


@pipeline
def flow():
    run_stages()
    names()
    plugins()
"""


def _swap(project, first: str, second: str) -> None:
    text = project.read("pipelines/stages.py")
    assert first in text and second in text
    text = text.replace(first, "\0").replace(second, first).replace("\0", second)
    (project.root / "pipelines" / "stages.py").write_text(text)


def test_moving_what_fills_a_table_reruns_its_users(make_project: MakeProject, tmp_path: Path):
    project = make_project({"pipelines/stages.py": STAGES, "pipelines/flow.py": FLOW})
    project.repro()
    assert project.take_ran() == ["run_stages", "names", "plugins"]
    text = project.read("pipelines/stages.py")
    unrelated = "\n\ndef unrelated():\n    return 0\n"
    (project.root / "pipelines/stages.py").write_text(unrelated + text.replace(unrelated, "\n"))
    assert project.dirty() == {}  # a function filling nothing moved
    _swap(
        project,
        "@stage\ndef add1(x):\n    return x + 1\n",
        "@stage\ndef times2(x):\n    return x * 2\n",
    )
    assert list(project.dirty()) == ["run_stages"]
    _swap(
        project,
        '@register("b")\ndef model_b():\n    return "b"\n',
        '@register("a")\ndef model_a():\n    return "a"\n',
    )
    _swap(project, "class First(Plugin):\n    pass\n", "class Second(Plugin):\n    pass\n")
    assert set(project.dirty()) == {"run_stages", "names", "plugins"}
    project.repro()
    assert project.take_ran() == ["run_stages", "names", "plugins"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
