"""A step that looks a function of its own module up by a name computed at run time
(``globals()[f"feat_{config.kind}"]``, ``getattr(sys.modules[__name__], name)``, a table
built from ``globals()``) may reach any definition of the module: the module counts whole for
it, as a module it imports by a computed name does."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = """\
    import sys

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    LOOKUP = ""


    class FeatConfig(StepConfig):
        kind: str = "square"


    def feat_square(x):
        return x * x


    def feat_cube(x):
        return x * x * x


    @step
    def load() -> list:
        return [1, 2, 3]


    @step
    def featurize(config: FeatConfig, xs: list) -> list:
        mark("featurize")
        fn = LOOKUP
        return [fn(x) for x in xs]


    @pipeline
    def flow():
        featurize(load(), config=FeatConfig(kind="square"))
    """

LOOKUPS = {
    "globals": 'globals()[f"feat_{config.kind}"]',
    "sys.modules": 'getattr(sys.modules[__name__], "feat_" + config.kind)',
}


@pytest.mark.parametrize("lookup", sorted(LOOKUPS))
def test_an_edit_of_a_function_looked_up_by_name_reruns_the_step(
    make_project: MakeProject, tmp_path: Path, lookup: str
) -> None:
    """Before, the edit left every step clean, with a note: ``[1, 4, 9]`` where a run from
    scratch gives ``[101, 104, 109]``."""
    text = FLOW.replace("fn = LOOKUP", f"fn = {LOOKUPS[lookup]}")
    project = make_project({"pipelines/flow.py": text})
    project.repro()
    assert project.take_ran() == ["featurize"]
    project.edit("pipelines/flow.py", "    return x * x\n", "    return x * x + 100\n")
    assert "featurize" in project.dirty()
    if lookup == "globals":  # counted: no note that incr cannot see what it reaches
        assert "globals()" not in project.incr("status").stdout
    project.repro()
    assert project.take_ran() == ["featurize"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.edit("pipelines/flow.py", "def feat_cube(x):", "# cubes\ndef feat_cube(x):")
    assert project.dirty() == {}  # a comment: the module's code is the same
