"""incr/imports.py: which ``__main__`` files make ``import incr`` set up a project's imports."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from incr import imports


@pytest.fixture
def clean_imports(monkeypatch):
    """Restore sys.path and sys.meta_path after the test; returns a function that fakes
    ``__main__`` as a file. What a script's set-up starts for the rest of the process (the
    read recorder's audit hook, which also changes the environment of every process started
    after it, fork handlers, the import-time reads) is not started: it cannot be undone, and
    the functional tests run in this process next would start their commands under it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    from incr import globalvalues, hooks, importreads, reads, scriptmain

    monkeypatch.setattr(reads, "follow", lambda *args: None)
    monkeypatch.setattr(importreads, "start_for_script", lambda *args: None)
    monkeypatch.setattr(globalvalues, "imported_before", lambda *args: None)
    monkeypatch.setattr(scriptmain, "name_in_children", lambda *args: None)
    monkeypatch.setattr(hooks, "step_made", hooks.step_made)
    monkeypatch.setattr(imports, "_script", imports._script)

    def fake_main(path: Path) -> None:
        main = types.ModuleType("__main__")
        main.__file__ = str(path)
        monkeypatch.setitem(sys.modules, "__main__", main)

    return fake_main


def finders() -> list[str]:
    return [f.root for f in sys.meta_path if isinstance(f, imports._ProjectFinder)]


def test_a_script_in_a_project_sets_up_its_imports(tmp_path, clean_imports):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pipelines").mkdir()
    clean_imports(tmp_path / "pipelines" / "digits.py")

    before = finders()
    imports.install_for_script()

    assert finders() == [str(tmp_path) + "/", *before]
    assert sys.path[0] == str(tmp_path)


@pytest.mark.parametrize("where", ["console script", "incr package"])
def test_the_incr_command_itself_sets_up_nothing(clean_imports, monkeypatch, tmp_path, where):
    # A virtualenv inside the project (``.venv/bin/incr``), or incr's own package (``python -m
    # incr.cli``): the command sets up the imports of the project it is asked about, later.
    (tmp_path / "pyproject.toml").write_text("")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    if where == "console script":
        clean_imports(bin_dir / "incr")
    else:
        clean_imports(Path(imports.__file__).parent / "cli.py")
    before = (list(sys.path), list(sys.meta_path))

    imports.install_for_script()

    assert (sys.path, sys.meta_path) == before


def test_a_script_of_a_project_that_is_also_a_virtualenv_sets_up_its_imports(
    tmp_path, clean_imports, monkeypatch
):
    # ``python -m venv .`` at the project root, or an app under a Docker image's prefix: the
    # project's own scripts live inside the Python installation, and still need its imports.
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "bin").mkdir()
    (tmp_path / "pipelines").mkdir()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    clean_imports(tmp_path / "pipelines" / "flow.py")
    before = finders()

    imports.install_for_script()

    assert finders() == [str(tmp_path) + "/", *before]


@pytest.mark.parametrize(
    ("head", "from_tree"),
    [
        ("", True),
        ("# coding: utf-8\n", True),
        ("# -*- coding: latin-1 -*-\n", False),  # Python decodes it another way
        ("#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n", False),
    ],
)
def test_a_project_module_is_compiled_from_the_tree_incr_parsed_from_its_bytes(
    tmp_path, clean_imports, monkeypatch, head, from_tree
):
    """The wiring check or the code index parsed the module's text already: its import
    compiles that tree instead of parsing the bytes again. A stand-in tree that differs from
    the text shows which was compiled."""
    import ast
    import importlib

    from incr import codeast

    text = f"{head}value = 'from the text'\n"
    (tmp_path / "treemod.py").write_text(text, encoding="utf-8")
    monkeypatch.delitem(sys.modules, "treemod", raising=False)
    monkeypatch.setattr(codeast, "_handed", {text: ast.parse("value = 'from the tree'\n")})
    imports.use_project_imports(tmp_path)
    module = importlib.import_module("treemod")
    expected = "from the tree" if from_tree else "from the text"
    assert module.value == expected


def test_compiling_a_tree_gives_the_code_compiling_its_text_gives():
    """What the shortcut above rests on, over incr's own modules."""
    import ast

    root = Path(imports.__file__).parent
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        assert compile(tree, str(path), "exec", dont_inherit=True) == compile(
            text, str(path), "exec", dont_inherit=True
        ), path
