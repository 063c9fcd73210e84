"""Project modules run from the code kept in ``.pipecache/compiled/`` (``incr.compiledcode``):
after an edit that moves the statements below it, a step that fails names its own line."""

from __future__ import annotations

from .conftest import MakeProject

CONSTANTS = "".join(f"C{i} = {i}\n" for i in range(300))  # chunks cut between the steps

PIPELINE = f'''\
from incr import pipeline, step
from pipelines.helpers import twice
from pipelines.mark import mark


@step
def first() -> int:
    mark("first")
    return 1


{CONSTANTS}

@step
def second(x: int) -> int:
    """Fails for an input above 1."""
    mark("second")
    if x > 1:
        raise ValueError(f"second got {{x}}")
    return twice(x) + C299


@pipeline
def chain():
    second(first())
'''

HELPERS = """\
def twice(x):
    return 2 * x
"""


def test_a_step_below_an_edit_fails_at_its_own_line(make_project: MakeProject) -> None:
    project = make_project({"pipelines/chain.py": PIPELINE, "pipelines/helpers.py": HELPERS})
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert list((project.root / ".pipecache" / "compiled").iterdir())
    project.edit("pipelines/chain.py", "    return 1\n", "    return 2 - 1\n")  # kept by chunks
    project.repro()
    assert project.take_ran() == ["first"]
    # Three lines more in first's body: second's statements now sit three lines lower.
    longer = "    y = 1\n\n    y += 1\n    return y\n"
    project.edit("pipelines/chain.py", "    return 2 - 1\n", longer)
    failed = project.incr("repro")
    assert failed.returncode != 0
    assert project.take_ran() == ["first", "second"]
    lines = project.read("pipelines/chain.py").splitlines()
    line = lines.index('        raise ValueError(f"second got {x}")') + 1
    assert f'pipelines/chain.py", line {line}, in second' in failed.output, failed.output
    # Again after a helper's edit: the pipeline module runs from its kept code, as it was.
    project.edit("pipelines/chain.py", "    y += 1\n", "    y += 0\n")
    project.edit("pipelines/helpers.py", "2 * x", "3 * x")
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert project.status()["steps"] and not any(s["reasons"] for s in project.status()["steps"])
