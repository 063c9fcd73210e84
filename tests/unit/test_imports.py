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
