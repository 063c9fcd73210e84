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
    ``__main__`` as a file."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))

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


@pytest.mark.parametrize("where", ["prefix", "incr"])
def test_the_incr_command_itself_sets_up_nothing(clean_imports, monkeypatch, tmp_path, where):
    # A virtualenv inside the project (``.venv/bin/incr``), or incr's own package (``python -m
    # incr.cli``): the command sets up the imports of the project it is asked about, later.
    (tmp_path / "pyproject.toml").write_text("")
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    monkeypatch.setattr(imports, "_NOT_SCRIPTS", (venv.resolve(), *imports._NOT_SCRIPTS))
    main = venv / "bin" / "incr" if where == "prefix" else Path(imports.__file__).parent / "cli.py"
    clean_imports(main)
    before = (list(sys.path), list(sys.meta_path))

    imports.install_for_script()

    assert (sys.path, sys.meta_path) == before


def test_the_running_python_is_not_a_script_folder():
    assert Path(sys.prefix).resolve() in imports._NOT_SCRIPTS
    assert Path(imports.__file__).resolve().parent in imports._NOT_SCRIPTS
