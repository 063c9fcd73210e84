"""Edits of a pipeline module, each followed by ``incr repro``: the saved closures rechecked by
the names an edit touched (``incr.editspan``) give every step the fingerprint a project with
no cache gives it, and exactly the steps whose code changed run."""

from __future__ import annotations

from .conftest import MakeProject

PIPELINE = """\
from incr import pipeline, step
from pipelines.mark import mark

THRESHOLD = 10
LR = 0.5


def helper(v):
    return v - 1


def unused(v):
    return v


@step
def load() -> list:
    mark("load")
    return [1, 2, 3, 4]


@step
def scaled(xs: list) -> list:
    mark("scaled")
    return [x * 2 for x in xs]


@step
def total(xs: list) -> float:
    mark("total")
    return sum(helper(x) for x in xs) * LR


@step
def flag(t: float) -> bool:
    mark("flag")
    return t > THRESHOLD


@pipeline
def train():
    flag(total(scaled(load())))
"""

#: (what, old text, new text, the steps that run): each applied to the module as the edits
#: before it left it. A definition made again counts with every statement that binds its name
#: (the later ``helper`` is the one that runs, the result stays, ``flag`` is not run again).
EDITS = [
    ("a step's body", "    return [x * 2 for x in xs]\n", "    return [x * 2 for x in xs if x]\n",
     ["scaled"]),
    ("a helper's body", "    return v - 1\n", "    return v - 2\n", ["total", "flag"]),
    ("a function no step uses", "    return v\n", "    return v + 1\n", []),
    ("a constant one step reads", "THRESHOLD = 10\n", "THRESHOLD = 3\n", ["flag"]),
    ("a comment", "LR = 0.5\n", "LR = 0.5  # tuned\n", []),
    ("the helper defined again below", "\n@pipeline\n",
     "\ndef helper(v):\n    return v * 10\n\n\n@pipeline\n", ["total", "flag"]),
    ("a constant set again on one line with another",
     "LR = 0.5  # tuned\n", "LR = 0.5; THRESHOLD = 4\n", ["flag"]),
    ("a string over the helper below", "THRESHOLD = 3\n",
     "THRESHOLD = 3\nNOTE = '''\ndef helper(v):\n    return 0\n'''\n", []),
    ("a string closed over a definition", "NOTE = '''\ndef helper(v):\n    return 0\n'''\n",
     "NOTE = ''''''\ndef helper(v):\n    return 0\n''''''\n", ["total"]),
    ("a star import", "from pipelines.mark import mark\n",
     "from pipelines.mark import mark\nfrom pipelines.extra import *\n", []),
    ("the helper defined below removed",
     "\ndef helper(v):\n    return v * 10\n\n\n@pipeline\n", "\n@pipeline\n", ["total", "flag"]),
    ("comments and blank lines around the functions", "\n\ndef unused(v):",
     "\n\n# used by no step\n\n\ndef unused(v):", []),
    ("a comment above a step", "\n@step\ndef flag", "\n# is it large?\n@step\ndef flag", []),
    ("then a step's body, the same result", "    return [1, 2, 3, 4]\n",
     "    return [1, 2, 3] + [4]\n", ["load"]),
]  # fmt: skip


def test_each_edit_gives_the_fingerprints_a_fresh_project_gives(make_project: MakeProject) -> None:
    extra = {"pipelines/extra.py": "def helper(v):\n    return v + 100\n"}
    project = make_project({"pipelines/train.py": PIPELINE, **extra})
    project.repro()
    assert project.take_ran() == ["load", "scaled", "total", "flag"]
    for number, (what, old, new, ran) in enumerate(EDITS):
        project.edit("pipelines/train.py", old, new)
        project.repro()
        assert project.take_ran() == ran, what
        text = project.read("pipelines/train.py")
        fresh = make_project({"pipelines/train.py": text, **extra}, where=f"fresh{number}")
        fresh.repro()
        kept = {key: entry.fingerprint for key, entry in project.lock().items()}
        made = {key: entry.fingerprint for key, entry in fresh.lock().items()}
        assert kept == made, what
