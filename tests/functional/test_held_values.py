"""Values discovery leaves in what a project module's classes, functions and objects hold
(``incr.heldvalues``): a class attribute a sibling pipeline module sets at its top level, a
setter a script's main block calls that keeps the value in a class attribute, a closure cell
or an instance's attribute. Each counts, by its value, for the steps whose code uses the
object, as a module value does."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PYPROJECT, MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

KNOBS = """\
    class Limits:
        HIGH = 9


    class Other:
        LOW = 1
    """

CLIP = """\
    from incr import pipeline, step
    from pipelines.knobs import Limits, Other
    from pipelines.mark import mark


    @step
    def clip() -> int:
        mark("clip")
        return min(15, Limits.HIGH)


    @step
    def low() -> int:
        mark("low")
        return Other.LOW


    @pipeline
    def p():
        clip()
        low()
    """


@pytest.mark.parametrize(
    "override",
    [
        "from pipelines import knobs\n\nknobs.Limits.HIGH = 10\n",
        "from pipelines.knobs import Limits\n\nLimits.HIGH = 10\n",
        "from pipelines.knobs import Limits\n\nsetattr(Limits, 'HIGH', 10)\n",
    ],
)
def test_a_class_attribute_a_sibling_module_sets_counts(
    make_project: MakeProject, tmp_path: Path, override: str
) -> None:
    """``Limits.HIGH = 12`` in another pipeline module reruns the step reading it, which then
    returns what a run from scratch does. Before, the step's facts held the class's source
    alone: it stayed clean and kept returning 10."""
    project = make_project(
        {
            "pipelines/knobs.py": KNOBS,
            "pipelines/clip.py": CLIP,
            "pipelines/override.py": override,
        }
    )
    project.repro()
    assert project.take_ran() == ["clip", "low"]
    assert project.dirty() == {}
    project.edit("pipelines/override.py", "10", "12")
    assert project.dirty() == {"clip": [("code changed", "value of Limits in pipelines/knobs.py")]}
    project.repro()
    assert project.take_ran() == ["clip"]  # low reads Other, which nothing sets
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.repro()
    assert project.take_ran() == []


SETTERS = {
    "classattr": """\
        class Settings:
            scale = 1.0


        def set_scale(v):
            Settings.scale = v


        def get_scale():
            return Settings.scale
        """,
    "closure": """\
        def _make():
            box = {"scale": 1.0}

            def set_scale(v):
                box["scale"] = v

            def get_scale():
                return box["scale"]

            return set_scale, get_scale


        set_scale, get_scale = _make()
        """,
    "instance": """\
        class Settings:
            def __init__(self):
                self.scale = 1.0


        SETTINGS = Settings()


        def set_scale(v):
            SETTINGS.scale = v


        def get_scale():
            return SETTINGS.scale
        """,
}

FLOW = """\
    from incr import pipeline, step
    from pipelines import state
    from pipelines.mark import mark


    @step
    def use() -> float:
        mark("use")
        return state.get_scale() * 2


    @step
    def other() -> int:
        mark("other")
        return 1


    @pipeline
    def flow():
        use()
        other()
    """

RUN = """\
    import json

    from pipelines import state
    from pipelines.flow import flow

    if __name__ == "__main__":
        with open("cfg.json") as fh:
            state.set_scale(json.load(fh)["scale"])
        flow().run()
    """


@pytest.mark.parametrize("kind", sorted(SETTERS))
def test_a_value_a_script_main_block_keeps_in_project_state_counts(
    make_project: MakeProject, tmp_path: Path, kind: str
) -> None:
    """``run.py``'s main block calls a setter with a value read from ``cfg.json``; the setter
    keeps it in a class attribute, a closure cell or an instance's attribute. A new value
    reruns the step reading it (and only it), as ``python run.py`` does. Before, the step
    stayed clean and returned the first value doubled."""
    project = make_project(
        {
            "pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = ["run.py"]\n',
            "pipelines/state.py": SETTERS[kind],
            "pipelines/flow.py": FLOW,
            "run.py": RUN,
            "cfg.json": '{"scale": 3.0}',
        }
    )
    project.repro()
    assert project.take_ran() == ["use", "other"]
    assert project.dirty() == {}
    project.write({"cfg.json": '{"scale": 4.0}'})
    assert list(project.dirty()) == ["use"]
    assert project.dirty()["use"][0][0] == "code changed"
    project.repro()
    assert project.take_ran() == ["use"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    result = project.python("run.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == []  # python run.py agrees
    project.write({"cfg.json": '{"scale": 5.0}'})
    result = project.python("run.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["use"]
    assert project.dirty() == {}
