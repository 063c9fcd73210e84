"""A Python file read through ``linecache`` by the project's code is a read, like any file read
as data; the sources a traceback shows are code."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

SNIPPETS = """\
    import linecache
    import traceback

    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.snips import used


    @step
    def snippet() -> str:
        mark("snippet")
        return "".join(linecache.getlines("pipelines/snips/gen.py"))


    @step
    def again() -> str:
        mark("again")
        return linecache.getline("pipelines/snips/gen.py", 1)


    @step
    def caught() -> str:
        mark("caught")
        try:
            used.fail()
        except ValueError:
            return traceback.format_exc().splitlines()[-1]
        return ""


    @pipeline
    def snippets():
        snippet()
        again()
        caught()
    """


def test_a_python_file_read_through_linecache_is_a_read(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``linecache.getlines(path)`` called by a step reads the file as data (every step that
    does, though ``linecache`` keeps what it read); the sources a traceback shows are code."""
    project = make_project(
        {
            "pipelines/snippets.py": SNIPPETS,
            "pipelines/snips/__init__.py": "",
            "pipelines/snips/gen.py": "X = 1\n",
            "pipelines/snips/used.py": "def fail():\n    raise ValueError('no')\n",
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["again", "caught", "snippet"]
    assert list(project.lock()["snippets.caught"].reads) == []

    project.write({"pipelines/snips/gen.py": "X = 2\nY = 3\n"})
    assert project.dirty() == {
        "snippet": [("read changed", "pipelines/snips/gen.py")],
        "again": [("read changed", "pipelines/snips/gen.py")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["again", "snippet"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
