"""Steps defined in a class body (static methods, class attributes made with ``step(...)``)
are fingerprinted like module-level steps: the helpers and constants they use count."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .fresh import assert_same_as_fresh

FLOW = "pipelines/flow.py"
HELPERS = "pipelines/helpers.py"

FILES = {
    HELPERS: """\
        def scale(v):
            return v * 2


        def unused(v):
            return v
        """,
    FLOW: '''\
        from incr import pipeline, step
        from pipelines.helpers import scale
        from pipelines.mark import mark

        OFFSET = 10
        WEIGHT = 2


        def add_offset(v):
            return v + OFFSET


        def _total(values: list) -> int:
            mark("total")
            return sum(values)


        class Steps:
            """Steps grouped in a class."""

            @staticmethod
            @step
            def load() -> list:
                mark("load")
                return [scale(v) for v in (1, 2, 3)]

            @staticmethod
            @step
            def shift(values: list) -> list:
                mark("shift")
                return [add_offset(v) for v in values]


        class Later:
            total = step(name="total")(_total)


        class Tools:
            def _count(values: list) -> int:
                mark("count")
                return len(values) * WEIGHT

            count = step(_count, name="count")


        @pipeline
        def flow():
            values = Steps.load()
            shifted = Steps.shift(values)
            Later.total(shifted)
            Tools.count(shifted)
        ''',
}
ORDER = ["load", "shift", "total", "count"]


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    project = make_project(FILES)
    project.repro()
    assert project.take_ran() == ORDER
    return project


def test_a_constant_used_by_a_static_method_step_dirties_it(
    project: Project, tmp_path: Path
) -> None:
    project.edit(FLOW, "OFFSET = 10", "OFFSET = 11")
    assert project.dirty() == {
        "shift": [("code changed", "OFFSET in pipelines/flow.py")],
        "total": [("after", "shift")],
        "count": [("after", "shift")],
    }
    project.repro()
    assert project.take_ran() == ["shift", "total", "count"]
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_a_helper_in_another_module_dirties_the_static_method(
    project: Project, tmp_path: Path
) -> None:
    project.edit(HELPERS, "return v * 2", "return v * 3")
    assert project.dirty()["load"] == [("code changed", "scale in pipelines/helpers.py")]
    project.repro()
    assert project.take_ran() == ORDER
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_a_function_defined_in_a_class_body_made_a_step(project: Project, tmp_path: Path) -> None:
    project.edit(FLOW, "WEIGHT = 2", "WEIGHT = 5")
    assert project.dirty() == {"count": [("code changed", "WEIGHT in pipelines/flow.py")]}
    project.repro()
    assert project.take_ran() == ["count"]
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_editing_one_method_leaves_its_siblings_clean(project: Project) -> None:
    project.edit(FLOW, "for v in (1, 2, 3)]", "for v in (1, 2, 3, 4)]")
    assert project.dirty() == {
        "load": [("code changed", "Steps.load in pipelines/flow.py")],
        "shift": [("after", "load")],
        "total": [("after", "shift")],
        "count": [("after", "shift")],
    }
    project.repro()
    assert project.take_ran() == ORDER
    project.edit(FLOW, "[add_offset(v) for v in values]", "[add_offset(v) for v in values[::-1]]")
    assert project.dirty() == {
        "shift": [("code changed", "Steps.shift in pipelines/flow.py")],
        "total": [("after", "shift")],
        "count": [("after", "shift")],
    }


def test_cosmetic_and_unrelated_edits_rerun_nothing(project: Project) -> None:
    project.edit(FLOW, '"""Steps grouped in a class."""', '"""Steps, grouped."""  # a comment')
    project.edit(HELPERS, "return v\n", "return -v\n")
    project.edit(
        FLOW, "        return [add_offset(v)", "        # shifted\n        return [add_offset(v)"
    )
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_reverting_restores_without_running(project: Project) -> None:
    before = project.lock_bytes()
    project.edit(FLOW, "OFFSET = 10", "OFFSET = 12")
    project.repro()
    assert project.take_ran() == ["shift", "total", "count"]
    project.edit(FLOW, "OFFSET = 12", "OFFSET = 10")
    project.repro()
    assert project.take_ran() == []
    assert project.lock_bytes() == before
