"""A package imported from local code, not installed (a shared library on ``PYTHONPATH``, an
editable install, a package folder beside the project), counts by its code files, not by a
version that does not move with them (incr/localpackages.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import MakeProject, Project

STEPS = """\
    import numpy as np
    from incr import pipeline, step
    from pipelines.mark import mark
    from shared import scale


    @step
    def scaled() -> int:
        mark("scaled")
        return scale(21)


    @step
    def plain() -> float:
        mark("plain")
        return float(np.float64(1.5))


    @pipeline
    def using():
        scaled()
        plain()
    """


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``shared``, a package in a folder on PYTHONPATH beside the project."""
    folder = tmp_path / "libs" / "shared"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("from shared.ops import scale\n", encoding="utf-8")
    (folder / "ops.py").write_text("def scale(x):\n    return x * 2\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "libs"))
    return folder


@pytest.fixture
def using(make_project: MakeProject, library: Path) -> Project:
    project = make_project({"pipelines/using.py": STEPS})
    project.repro()
    assert project.take_ran() == ["scaled", "plain"]
    return project


def test_a_local_package_counts_by_its_files(using: Project) -> None:
    code = using.lock()["using.scaled"].facts.code
    assert code["pkg:shared"].startswith("files:")
    assert using.lock()["using.plain"].facts.code["pkg:numpy"] == np.__version__  # installed
    assert using.dirty() == {}


def test_an_edit_of_its_code_reruns_the_steps_that_use_it(using: Project, library) -> None:
    (library / "ops.py").write_text("def scale(x):\n    return x * 3\n", encoding="utf-8")
    assert using.dirty() == {"scaled": [("code changed", "shared's local code")]}
    using.repro()
    assert using.take_ran() == ["scaled"]
    assert using.dirty() == {}


def test_a_new_module_in_it_counts_too(using: Project, library) -> None:
    (library / "extra.py").write_text("X = 1\n", encoding="utf-8")
    assert list(using.dirty()) == ["scaled"]
    (library / "__pycache__").mkdir(exist_ok=True)
    (library / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    (library / "notes.txt").write_text("not code", encoding="utf-8")
    using.repro()
    assert using.take_ran() == ["scaled"]
    (library / "notes.txt").write_text("still not code", encoding="utf-8")
    assert using.dirty() == {}


INSERTED = """\
    import sys

    sys.path.insert(0, {libs!r})  # as many projects reach a shared folder of code

    from incr import pipeline, step
    from pipelines.mark import mark
    from shared import scale


    @step
    def scaled() -> int:
        mark("scaled")
        return scale(21)


    @pipeline
    def inserting():
        scaled()
    """


def test_a_package_a_pipeline_module_puts_on_sys_path_counts_by_its_files(
    make_project: MakeProject, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH")  # only the module's own sys.path.insert finds it
    project = make_project({"pipelines/inserting.py": INSERTED.format(libs=str(library.parent))})
    project.repro()
    assert project.take_ran() == ["scaled"]
    assert project.lock()["inserting.scaled"].facts.code["pkg:shared"].startswith("files:")
    assert project.dirty() == {}  # a status imports nothing, and looks it up as the import did
    project.repro()
    assert project.take_ran() == []
    (library / "ops.py").write_text("def scale(x):\n    return x * 3\n", encoding="utf-8")
    assert project.dirty() == {"scaled": [("code changed", "shared's local code")]}
    project.repro()
    assert project.take_ran() == ["scaled"]


def test_a_local_package_counts_with_the_local_code_it_imports(
    using: Project, library: Path
) -> None:
    """``shared`` starts taking its factor from ``factors``, a module beside it on
    ``PYTHONPATH`` that no project code imports: an edit of ``factors`` reruns the step."""
    (library.parent / "factors.py").write_text("K = 2\n", encoding="utf-8")
    (library / "ops.py").write_text(
        "from factors import K\n\n\ndef scale(x):\n    return x * K\n", encoding="utf-8"
    )
    using.repro()
    assert using.take_ran() == ["scaled"]
    assert using.dirty() == {}
    (library.parent / "factors.py").write_text("K = 3\n", encoding="utf-8")
    assert using.dirty() == {"scaled": [("code changed", "shared's local code")]}
    using.repro()
    assert using.take_ran() == ["scaled"]
    assert using.dirty() == {}


WIRED = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark
    from shared.grid import GRID


    class K(StepConfig):
        k: int = 0


    @step
    def train(config: K) -> int:
        mark(f"train_{config.k}")
        return config.k * 10


    @pipeline
    def grid():
        for k in GRID:
            train(config=K(k=k), name=f"train_{k}")
    """


def test_wiring_from_a_local_package_is_traced_again_when_it_changes(
    make_project: MakeProject, library: Path
) -> None:
    """A pipeline wired from a constant of a shared library (one step per value of GRID): the
    saved graphs are keyed by the library's files the import ran, as by the project's."""
    (library / "grid.py").write_text("GRID = [1, 2]\n", encoding="utf-8")
    project = make_project({"pipelines/grid.py": WIRED})
    project.repro()
    assert sorted(project.take_ran()) == ["train_1", "train_2"]
    assert project.dirty() == {}
    (library / "grid.py").write_text("GRID = [1, 3]\n", encoding="utf-8")
    assert set(project.dirty()) == {"train_3"}
    project.repro()
    assert project.take_ran() == ["train_3"]
    assert project.dirty() == {}


FINDER = """\
import importlib.abc
import importlib.util
import sys


class _Editable(importlib.abc.MetaPathFinder):
    # What an editable install made by setuptools puts on sys.meta_path (the class itself):
    # the package found by its name, not by a folder on sys.path.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "shared":
            return None
        return importlib.util.spec_from_file_location(
            name, {init!r}, submodule_search_locations=[{folder!r}]
        )


sys.meta_path.append(_Editable)
"""


def test_a_package_an_import_finder_finds_is_one_reason_when_it_changes(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``shared`` is found by a finder on ``sys.meta_path`` (an editable install, as
    setuptools makes them), not on ``sys.path``: its edit is one reason. Before, the step
    also recorded it as a module imported from local code (``module:`` read, the same
    value): ``code changed (shared's local code); read changed (shared's local code
    (...))``."""
    folder = tmp_path / "libs" / "shared"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("from shared.ops import scale\n", encoding="utf-8")
    (folder / "ops.py").write_text("def scale(x):\n    return x * 2\n", encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    init = str(folder / "__init__.py")
    finder = FINDER.format(init=init, folder=str(folder))
    (site / "sitecustomize.py").write_text(finder, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(site))
    project = make_project({"pipelines/using.py": STEPS})
    project.repro()
    assert project.take_ran() == ["scaled", "plain"]
    entry = project.lock()["using.scaled"]
    assert entry.facts.code["pkg:shared"].startswith("files:")
    assert not [k for k in entry.reads if k.startswith("module:")]
    (folder / "ops.py").write_text("def scale(x):\n    return x * 3\n", encoding="utf-8")
    assert project.dirty() == {"scaled": [("code changed", "shared's local code")]}
    project.repro()
    assert project.take_ran() == ["scaled"]
    assert project.dirty() == {}
