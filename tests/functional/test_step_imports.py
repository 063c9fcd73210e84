"""A module a step imports from local code where its code fingerprint does not look counts by
its files (``module:`` keys of its reads): one from a folder the step puts on ``sys.path`` only
while it imports (``plugins/other.py``, counted as ``pkg:other = unknown``: an edit of it left
the step clean, stale), one whose name an installed package has too, one imported by a
computed name (incr/stepimports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

STEP = """\
    import importlib
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark
    {head}

    @step
    def plugged() -> int:
        mark("plugged")
        sys.path.insert(0, PLUGINS)
        try:
            {body}
        finally:
            sys.path.remove(PLUGINS)


    @step
    def other_step() -> int:
        mark("other_step")
        return 1


    @pipeline
    def plugins():
        plugged()
        other_step()
    """


def _imports(name: str) -> str:
    return f"import {name}\n\n            return {name}.g(1)"


CASES = {
    # (plugin folder, module file, the step's head and body)
    "import_module": ("plugins", "other.py", "", 'return importlib.import_module("other").g(1)'),
    "import": ("plugins", "other.py", "", _imports("other")),
    "computed-name": (
        "plugins",
        "plug_a.py",
        'KIND = "a"',
        'return importlib.import_module(f"plug_{KIND}").g(1)',
    ),
    "package": ("plugins", "otherpkg/core.py", "", _imports("otherpkg")),
    "installed-name": ("plugins", "six.py", "", _imports("six")),
    "outside": ("../shared_plugins", "other.py", "", _imports("other")),
}


@pytest.fixture(params=sorted(CASES))
def plugged(make_project: MakeProject, request: pytest.FixtureRequest) -> tuple[Project, Path]:
    folder, module, head, body = CASES[request.param]
    files = {
        "pipelines/plugins.py": STEP.format(head=f"PLUGINS = {folder!r}\n    {head}", body=body),
        f"{folder}/{module}": "def g(x):\n    return x + 100\n",
    }
    if module == "otherpkg/core.py":
        files[f"{folder}/otherpkg/__init__.py"] = "from .core import g\n"
    project = make_project(files)
    project.repro()
    assert project.take_ran() == ["plugged", "other_step"]
    return project, (project.root / folder / module).resolve()


def test_an_edit_of_the_module_reruns_the_step(plugged: tuple[Project, Path], tmp_path) -> None:
    project, module = plugged
    reads = project.lock()["plugins.plugged"].reads
    assert [k for k in reads if k.startswith("module:")], reads
    assert all(v.startswith("files:") for k, v in reads.items() if k.startswith("module:"))
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    module.write_text("def g(x):\n    return x + 200\n", encoding="utf-8")
    why = project.dirty()
    assert list(why) == ["plugged"]
    assert why["plugged"][0][0] == "code changed"
    assert "local code" in why["plugged"][0][1]
    project.repro()
    assert project.take_ran() == ["plugged"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert project.dirty() == {}


def test_a_module_beside_it_that_it_imports_counts_too(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        {
            "pipelines/plugins.py": STEP.format(
                head="PLUGINS = 'plugins'",
                body='return importlib.import_module("other").g(1)',
            ),
            "plugins/other.py": "from helper import K\n\n\ndef g(x):\n    return x + K\n",
            "plugins/helper.py": "K = 100\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["plugged", "other_step"]
    project.write({"plugins/helper.py": "K = 200\n"})
    assert list(project.dirty()) == ["plugged"]
    project.repro()
    assert project.take_ran() == ["plugged"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


TWO = """\
    import importlib
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark


    def _plugin():
        sys.path.insert(0, "plugins")
        try:
            return importlib.import_module("other")
        finally:
            sys.path.remove("plugins")


    @step
    def first() -> int:
        mark("first")
        return _plugin().g(1)


    @step
    def second(x: int) -> int:
        mark("second")
        return _plugin().g(x)


    @pipeline
    def two():
        second(first())
    """


def test_each_step_importing_it_counts_it(make_project: MakeProject) -> None:
    """The second step finds the module imported already (by the first, in the same process):
    it is named by its code, and counts too."""
    project = make_project(
        {"pipelines/two.py": TWO, "plugins/other.py": "def g(x):\n    return x + 100\n"}
    )
    project.repro()
    assert project.take_ran() == ["first", "second"]
    for step in ("two.first", "two.second"):
        assert "module:plugins/other.py" in project.lock()[step].reads
    project.write({"plugins/other.py": "def g(x):\n    return x + 200\n"})
    assert sorted(project.dirty()) == ["first", "second"]
    project.repro()
    assert project.take_ran() == ["first", "second"]
