"""What a helper module outside the pipelines folder does in its ``if __name__ == "__main__":``
block never runs when incr imports it: editing that block reruns nothing."""

from __future__ import annotations

from .conftest import MakeProject

MATHX = """\
def double(x):
    return x * 2
"""

FLOW = """\
from incr import pipeline, step
from lib.mathx import double

from pipelines.mark import mark


@step
def twice() -> int:
    mark("twice")
    return double(21)


@pipeline
def flow():
    twice()
"""


def test_a_helpers_main_block_is_no_code_of_the_steps_using_it(make_project: MakeProject) -> None:
    project = make_project(
        {"lib/__init__.py": "", "lib/mathx.py": MATHX, "pipelines/flow.py": FLOW}
    )
    project.repro()
    assert project.take_ran() == ["twice"]
    project.write(
        {
            "lib/mathx.py": MATHX
            + '\n\nif __name__ == "__main__":\n    double(3)\n    x = double(3)\n'
        }
    )
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    project.edit("lib/mathx.py", "return x * 2", "return x * 3")
    assert [k for k, _ in project.dirty()["twice"]] == ["code changed"]


MAIN_IN_PIPELINES = """\
from incr import pipeline, step

from pipelines import settings
from pipelines.mark import mark


@step
def draw() -> int:
    mark("draw")
    return 1


@pipeline
def drawn():
    draw()


if __name__ == "__main__":
    settings.configure(1)
    drawn().run()
"""


def test_a_pipeline_modules_main_block_still_counts(make_project: MakeProject) -> None:
    """Discovery runs a pipeline module's main block: a call there that changes state is
    the module's top-level code, as before."""
    settings = "LEVEL = 0\n\n\ndef configure(level):\n    global LEVEL\n    LEVEL = level\n"
    project = make_project(
        {"pipelines/drawn.py": MAIN_IN_PIPELINES, "pipelines/settings.py": settings}
    )
    project.repro()
    project.take_ran()
    project.edit("pipelines/drawn.py", "settings.configure(1)", "settings.configure(2)")
    assert [k for k, _ in project.dirty()["draw"]] == ["code changed"]
