"""A ``src/`` layout works without ``pip install -e .``: ``src/mylib`` is imported as ``mylib``
by discovery, by steps while they run, and by a script calling ``.run()``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MakeProject, Project

PIPELINE = """\
    from incr import pipeline, step
    from mylib.helpers import scale
    from pipelines.mark import mark


    @step
    def make() -> int:
        mark("make")
        return scale(2)


    @step
    def later(x: int) -> int:
        from mylib.late import bump  # imported while the step runs

        mark("later")
        return bump(x)


    @pipeline
    def p():
        later(make())


    if __name__ == "__main__":
        p().run()
    """
FILES = {
    "pipelines/x.py": PIPELINE,
    "src/mylib/__init__.py": "",
    "src/mylib/helpers.py": "def scale(x):\n    return x * 3\n",
    "src/mylib/late.py": "def bump(x):\n    return x + 1\n",
}


def outputs(project: Project) -> dict[str, int]:
    """The value each step returned, read from the cache through `incr show --json`."""
    values = {}
    for name in ("make", "later"):
        shown = json.loads(project.incr("show", "--json", name).stdout)
        digest = shown["locked"]["outputs"]["output"].partition(":")[2]
        values[name] = json.loads(project.object_bytes(digest))
    return values


def test_repro_imports_project_code_from_src(make_project: MakeProject) -> None:
    project = make_project(FILES)
    assert "src" not in os.environ.get("PYTHONPATH", "").split(os.pathsep)

    project.repro()
    assert project.take_ran() == ["make", "later"]
    assert outputs(project) == {"make": 6, "later": 7}

    project.edit("src/mylib/helpers.py", "x * 3", "x * 4")
    assert project.dirty() == {
        "make": [("code changed", "scale in src/mylib/helpers.py")],
        "later": [("after", "make")],
    }
    project.repro()
    assert project.take_ran() == ["make", "later"]
    assert outputs(project) == {"make": 8, "later": 9}

    project.edit("src/mylib/late.py", "x + 1", "x + 2")
    project.repro("--jobs", "2")
    assert project.take_ran() == ["later"]
    assert outputs(project) == {"make": 8, "later": 10}


def test_a_script_calling_run_imports_from_src(make_project: MakeProject) -> None:
    project = make_project(FILES)

    result = project.python("pipelines/x.py")

    assert result.returncode == 0, result.output
    assert project.take_ran() == ["make", "later"]
    assert outputs(project) == {"make": 6, "later": 7}
    assert project.dirty() == {}


def test_a_script_importing_an_installed_copy_of_a_project_package_is_refused(
    make_project: MakeProject,
) -> None:
    """A copy of ``src/mylib`` installed with ``pip install .`` (here: put first on the path
    as site-packages holds it), imported before incr: the steps would run the copy while incr
    fingerprints ``src/mylib``, and an edit of ``src/`` would leave their results stale.
    ``.run()`` refuses, naming both files and the fix; ``incr repro`` is not affected."""
    project = make_project(FILES)
    copy = project.root / "venv/lib/site-packages/mylib"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    (copy / "helpers.py").write_text("def scale(x):\n    return x * 100\n")
    (project.root / "run.py").write_text(
        "import sys\n\nsys.path.insert(0, 'venv/lib/site-packages')\n"
        "import mylib.helpers  # noqa: E402\nfrom pipelines.x import p  # noqa: E402\n\np().run()\n"
    )
    result = project.python("run.py")
    assert result.returncode != 0
    assert "mylib is imported from" in result.output and "src/mylib/__init__.py" in result.output
    assert "pip install -e ." in result.output
    assert project.take_ran() == []
    project.repro()
    assert outputs(project) == {"make": 6, "later": 7}


def test_a_module_that_is_nowhere_gets_a_hint_that_says_where_incr_looked(
    make_project: MakeProject,
) -> None:
    project = make_project({**FILES, "pipelines/x.py": PIPELINE.replace("mylib.helpers", "nolib")})

    error = project.incr("repro").user_error()

    assert error == (
        "error: pipelines/x.py:2: import failed: ModuleNotFoundError: No module named 'nolib'"
    )
    hint = project.incr("repro").stderr.splitlines()[1]
    assert "'nolib' is neither project code" in hint
    assert "in the project root or in src/" in hint
    assert "python -c" not in hint  # that command would fail the same way


def test_the_hint_for_a_failing_import_reproduces_the_error(make_project: MakeProject) -> None:
    project = make_project(
        {**FILES, "src/mylib/helpers.py": "raise RuntimeError('helpers are broken')\n"}
    )

    result = project.incr("status")
    assert result.user_error() == (
        "error: pipelines/x.py:2: import failed: RuntimeError: helpers are broken"
    )
    hint = result.stderr.splitlines()[1]
    command = hint.partition("`")[2].partition("`")[0]
    assert command == "PYTHONPATH=src python -c 'import pipelines.x'"

    # The command, run where the hint says, shows the real error with its traceback.
    env_part, _, rest = command.partition(" ")
    args = [sys.executable, *shlex.split(rest)[1:]]
    env = {**os.environ, env_part.partition("=")[0]: env_part.partition("=")[2]}
    shown = subprocess.run(
        args, cwd=project.root, env=env, capture_output=True, text=True, check=False
    )
    assert shown.returncode != 0
    assert "RuntimeError: helpers are broken" in shown.stderr
    assert "ModuleNotFoundError" not in shown.stderr


def test_a_checkout_of_incr_runs_its_own_pipelines_with_python_m(make_project: MakeProject) -> None:
    """incr's own repository is a project whose root holds the ``incr`` package: there
    ``python -m incr.cli`` loads incr's modules as project modules, compiled from source,
    ``incr.codeast`` included (which compiles the others from its own parse once loaded)."""
    import incr

    project = make_project(FILES)
    os.symlink(os.path.dirname(incr.__file__), project.root / "incr")
    env = {**os.environ, "PYTHONPATH": str(project.root)}
    run = subprocess.run(
        [sys.executable, "-m", "incr.cli", "repro"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert project.take_ran() == ["make", "later"]


def test_a_module_imported_as_its_script_finds_it_is_named_with_the_package(
    make_project: MakeProject,
) -> None:
    """``from utils import scale`` in ``pipelines/train.py`` works when Python runs the
    script (its folder comes first on the path), not when incr imports ``pipelines.train``:
    the hint names the module beside it and the import that works both ways."""
    train = """\
        from incr import pipeline, step
        from utils import scale


        @step
        def go() -> int:
            return scale(2)


        @pipeline
        def train():
            go()
        """
    project = make_project({"pipelines/utils.py": "def scale(x):\n    return 10 * x\n"})
    project.write({"pipelines/train.py": train})
    result = project.incr("status")
    assert result.user_error() == (
        "error: pipelines/train.py:2: import failed: ModuleNotFoundError: No module named 'utils'"
    )
    hint = result.stderr.splitlines()[1]
    assert "pipelines/utils is found beside the script" in hint
    assert "`from pipelines import utils` or `from pipelines.utils import ...`" in hint


def test_a_pipelines_folder_hidden_by_another_package_gets_a_hint_that_says_by_what(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's pipelines/ has no __init__.py; a package of that name with one, elsewhere on
    # sys.path (another project installed in development mode), is the one Python imports.
    other = tmp_path / "elsewhere"
    (other / "pipelines").mkdir(parents=True)
    (other / "pipelines" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(other))
    project = make_project({**FILES, "pipelines/x.py": PIPELINE})
    (project.root / "pipelines" / "__init__.py").unlink(missing_ok=True)

    result = project.incr("repro")

    assert result.returncode == 2, result.output
    hint = result.stderr.splitlines()[1]
    assert f"the name 'pipelines' is taken by {other / 'pipelines'}" in hint
    assert "add an empty pipelines/__init__.py" in hint
    (project.root / "pipelines" / "__init__.py").write_text("")
    assert project.incr("repro").returncode == 0
    assert project.take_ran() == ["make", "later"]
