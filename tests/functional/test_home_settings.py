"""A file in a dot-folder of the home folder that the project's own code opens (its settings,
``~/.config/myproj/settings.json``) is an input of the step, keyed from home; what a library
reads there for itself (its settings, its caches) is not (incr/outside.py).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from incr.statusmemo import RACY_ENV

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy
from .test_status_memo import RACY, decided, keep, settle, status

KEY = "~/.config/myproj/settings.json"

#: Ways the project's code opens its settings file; each reads ``threshold``.
READS = {
    "open": """\
        with open(os.path.expanduser("~/.config/myproj/settings.json")) as fh:
            return json.load(fh)["threshold"]
        """,
    "pathlib": """\
        path = Path.home() / ".config" / "myproj" / "settings.json"
        return json.loads(path.read_text(encoding="utf-8"))["threshold"]
        """,
    "pandas": """\
        path = os.path.expanduser("~/.config/myproj/settings.json")
        return str(pd.read_json(path, typ="series")["threshold"])  # pandas opens it
        """,
    "configparser": """\
        parser = configparser.ConfigParser()
        parser.read(os.path.expanduser("~/.config/myproj/settings.json"))
        return parser["main"]["threshold"]
        """,
}

SETTINGS = """\
    import configparser
    import json
    import os
    from pathlib import Path

    import pandas as pd

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def threshold() -> str:
        mark("threshold")
        {body}

    @step
    def report(value: str) -> str:
        mark("report")
        return f"threshold {{value}}"


    @pipeline
    def settings():
        report(threshold())
    """


def _settings(how: str, value: str) -> str:
    if how == "configparser":
        return f"[main]\nthreshold = {value}\n"
    return json.dumps({"threshold": value})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    (folder / ".config" / "myproj").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    return folder


def _project(make_project: MakeProject, how: str) -> Project:
    body = "\n        ".join(textwrap.dedent(READS[how]).splitlines())
    return make_project({"pipelines/settings.py": SETTINGS.format(body=body)})


@pytest.mark.parametrize("how", sorted(READS))
def test_an_edit_of_the_projects_settings_in_home_reruns_the_step(
    make_project, home, tmp_path, how
) -> None:
    settings = home / ".config" / "myproj" / "settings.json"
    settings.write_text(_settings(how, "0.5"), encoding="utf-8")
    project = _project(make_project, how)
    project.repro()
    assert project.take_ran() == ["threshold", "report"]
    assert list(project.lock()["settings.threshold"].reads) == [KEY]
    assert project.dirty() == {}

    settings.write_text(_settings(how, "0.9"), encoding="utf-8")
    assert project.dirty() == {
        "threshold": [("read changed", KEY)],
        "report": [("after", "threshold")],
    }
    project.repro()
    assert project.take_ran() == ["threshold", "report"]
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_settings_created_after_the_run_rerun_the_step(make_project, home) -> None:
    module = """\
        import json
        import os

        from incr import pipeline, step
        from pipelines.mark import mark

        SETTINGS = os.path.expanduser("~/.myproj/settings.json")


        @step
        def threshold() -> float:
            mark("threshold")
            if not os.path.exists(SETTINGS):
                return 0.5
            with open(SETTINGS) as fh:
                return json.load(fh)["threshold"]


        @pipeline
        def defaults():
            threshold()
        """
    project = make_project({"pipelines/defaults.py": module})
    project.repro()
    assert project.take_ran() == ["threshold"]
    (home / ".myproj").mkdir()
    (home / ".myproj" / "settings.json").write_text('{"threshold": 0.9}', encoding="utf-8")
    assert project.dirty() == {"threshold": [("file appeared", "~/.myproj/settings.json")]}
    project.repro()
    assert project.take_ran() == ["threshold"]


LIBRARY = '''\
"""An installed library that reads its own settings and cache in the home folder."""

import os

with open(os.path.expanduser("~/.config/libx/conf"), encoding="utf-8") as fh:
    DEFAULT = fh.read()  # read as the project's module imports it


def setting(cache: str) -> str:
    """Its settings, and the files of the cache folder it is given."""
    with open(os.path.expanduser("~/.config/libx/conf"), encoding="utf-8") as fh:
        value = fh.read().strip()
    if os.path.isdir(cache):
        for name in sorted(os.listdir(cache)):
            with open(os.path.join(cache, name), encoding="utf-8") as fh:
                fh.read()
    return value
'''


def test_what_a_library_reads_in_home_dot_folders_is_left_out(
    make_project, home, tmp_path, monkeypatch
) -> None:
    packages = tmp_path / "env" / "lib" / "site-packages"
    (packages / "libx").mkdir(parents=True)
    (packages / "libx" / "__init__.py").write_text(LIBRARY, encoding="utf-8")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(packages), os.environ.get("PYTHONPATH", "")])
    )
    (home / ".config" / "libx").mkdir()
    (home / ".config" / "libx" / "conf").write_text("fast\n", encoding="utf-8")
    (home / ".cache" / "libx").mkdir(parents=True)
    (home / ".cache" / "libx" / "blob").write_text("1", encoding="utf-8")
    (home / ".config" / "myproj" / "settings.json").write_text('{"n": 1}', encoding="utf-8")
    module = """\
        import json
        import os

        import libx

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def tuned() -> str:
            mark("tuned")
            with open(os.path.expanduser("~/.config/myproj/settings.json")) as fh:
                n = json.load(fh)["n"]
            return f"{libx.setting(os.path.expanduser('~/.cache/libx'))} {n}"


        @pipeline
        def tuning():
            tuned()
        """
    project = make_project({"pipelines/tuning.py": module})
    project.repro()
    assert project.take_ran() == ["tuned"]
    assert list(project.lock()["tuning.tuned"].reads) == [KEY]  # the project's file only

    (home / ".config" / "libx" / "conf").write_text("fast\n\n", encoding="utf-8")
    (home / ".cache" / "libx" / "blob").write_text("2", encoding="utf-8")
    (home / ".cache" / "libx" / "other").write_text("3", encoding="utf-8")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_kept_status_sees_an_edit_of_the_settings(make_project, home, monkeypatch) -> None:
    monkeypatch.setenv(RACY_ENV, str(RACY))
    settings = home / ".config" / "myproj" / "settings.json"
    settings.write_text(_settings("open", "0.5"), encoding="utf-8")
    project = _project(make_project, "open")
    project.repro()
    project.take_ran()
    settle()
    keep(project)
    settings.write_text(_settings("open", "0.9"), encoding="utf-8")
    answer = status(project)
    assert decided(answer)
    assert f"threshold  dirty: read changed ({KEY})" in answer.stdout


def test_settings_read_while_a_module_is_imported_count(make_project, home) -> None:
    settings = home / ".config" / "myproj" / "settings.json"
    settings.write_text('{"threshold": 0.5}', encoding="utf-8")
    module = """\
        import json
        import os

        from incr import pipeline, step
        from pipelines.mark import mark

        with open(os.path.expanduser("~/.config/myproj/settings.json")) as fh:
            SETTINGS = json.load(fh)


        @step
        def threshold() -> float:
            mark("threshold")
            return SETTINGS["threshold"]


        @step
        def other() -> int:
            mark("other")
            return 1


        @pipeline
        def at_top():
            threshold()
            other()
        """
    project = make_project({"pipelines/at_top.py": module})
    project.repro()
    assert project.take_ran() == ["threshold", "other"]
    key = f"import:pipelines/at_top.py:{KEY}"
    assert list(project.lock()["at_top.threshold"].reads) == [key]
    settings.write_text('{"threshold": 0.9}', encoding="utf-8")
    assert list(project.dirty()) == ["threshold"]
    project.repro()
    assert project.take_ran() == ["threshold"]
    assert project.dirty() == {}
