"""A step that uses what a table holds (``Plugin.registry["bar"]().go(x)``) passes nothing
into it: it is no filler of the table, and neither is the pipeline calling it, so editing
another step of the module leaves it clean (incr/registries.py)."""

from __future__ import annotations

from .conftest import MakeProject

PLUGINS = """\
class Plugin:
    registry = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        Plugin.registry[cls.__name__.lower()] = cls


class Bar(Plugin):
    def go(self, x):
        return x * 9
"""

FLOW = """\
from incr import pipeline, step

from lib.plugins import Plugin
from pipelines.mark import mark


@step
def load() -> int:
    mark("load")
    return 1


@step
def use_plugin(x: int) -> int:
    mark("use_plugin")
    return Plugin.registry["bar"]().go(x)


@step
def other() -> int:
    mark("other")
    return 30


@pipeline
def flow():
    use_plugin(load())
    other()
"""


def test_a_step_using_a_registry_is_no_filler_of_it(make_project: MakeProject) -> None:
    project = make_project(
        {"lib/__init__.py": "", "lib/plugins.py": PLUGINS, "pipelines/flow.py": FLOW}
    )
    project.repro()
    assert project.take_ran() == ["load", "use_plugin", "other"]
    code = project.lock()["flow.use_plugin"].facts.code
    assert "pipelines/flow.py:other" not in code
    assert "lib/plugins.py:Bar" in code  # what the registry holds still counts
    project.edit("pipelines/flow.py", "return 30", "return 31")
    assert list(project.dirty()) == ["other"]
    project.edit("lib/plugins.py", "return x * 9", "return x * 8")
    assert "use_plugin" in project.dirty()
