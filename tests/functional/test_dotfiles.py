"""Files whose names start with a dot are read like any other file; only incr's cache,
version control, virtual environments and package folders are left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

DOTS = """\
    import json
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    TOOLING = [".venv/notes.txt", ".tox/notes.txt", ".git/notes.txt", "tools/notes.txt"]


    @step
    def threshold() -> float:
        mark("threshold")
        return json.loads(Path("data/.thresholds.json").read_text(encoding="utf-8"))["cut"]


    @step
    def settings() -> str:
        mark("settings")
        return Path(".settings.yaml").read_text(encoding="utf-8").strip()


    @step
    def tooling() -> str:
        mark("tooling")
        return "".join(Path(p).read_text(encoding="utf-8") for p in TOOLING)


    @step
    def plain_env() -> str:
        mark("plain_env")
        return Path("env/values.txt").read_text(encoding="utf-8")


    @pipeline
    def dots():
        threshold()
        settings()
        tooling()
        plain_env()
    """
FILES = {
    "pipelines/dots.py": DOTS,
    "data/.thresholds.json": '{"cut": 0.5}\n',
    ".settings.yaml": "mode: fast\n",
    ".venv/notes.txt": "a",
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".tox/notes.txt": "b",
    ".git/notes.txt": "c",
    "tools/pyvenv.cfg": "home = /usr/bin\n",  # a virtual environment under another name
    "tools/notes.txt": "d",
    "env/values.txt": "a data folder named env\n",
}
STEPS = ["threshold", "settings", "tooling", "plain_env"]


@pytest.fixture
def dots(make_project: MakeProject) -> Project:
    project = make_project(FILES)
    project.repro()
    assert project.take_ran() == STEPS
    return project


def test_dotfiles_are_recorded_and_tooling_is_not(dots: Project) -> None:
    lock = dots.lock()
    assert list(lock["dots.threshold"].reads) == ["data/.thresholds.json"]
    assert list(lock["dots.settings"].reads) == [".settings.yaml"]
    assert lock["dots.tooling"].reads == {}
    assert list(lock["dots.plain_env"].reads) == ["env/values.txt"]


@pytest.mark.parametrize(
    ("rel", "text", "step"),
    [
        ("data/.thresholds.json", '{"cut": 0.7}\n', "threshold"),
        (".settings.yaml", "mode: slow\n", "settings"),
    ],
)
def test_an_edited_dotfile_reruns_its_reader(
    dots: Project, tmp_path: Path, rel: str, text: str, step: str
) -> None:
    dots.write({rel: text})
    assert dots.dirty() == {step: [("read changed", rel)]}
    assert f"{step} dirty: read changed ({rel})" in " ".join(dots.incr("status").stdout.split())
    fresh = fresh_copy(dots, tmp_path / "fresh")
    dots.repro()
    assert dots.take_ran() == [step]
    assert_same_as_scratch(dots, fresh)
    dots.repro()
    assert dots.take_ran() == []


def test_tooling_and_unrelated_dotfiles_run_nothing(dots: Project) -> None:
    lock_before = dots.lock_bytes()
    dots.write({".venv/notes.txt": "x", ".git/notes.txt": "y", "data/.other": "z"})
    assert dots.dirty() == {}
    dots.repro()
    assert dots.take_ran() == []
    assert dots.lock_bytes() == lock_before


SETTINGS_AT_IMPORT = """\
    import json
    from pathlib import Path

    from incr import StepConfig, pipeline, step

    SETTINGS = json.loads(Path(".settings.json").read_text(encoding="utf-8"))


    class Scale(StepConfig):
        factor: int = 1


    @step
    def scaled(config: Scale) -> int:
        return 10 * config.factor


    @pipeline
    def configured():
        scaled(config=Scale(factor=SETTINGS["factor"]))
    """


def test_a_dotfile_read_by_a_pipeline_module_keys_the_graph_cache(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INCR_NO_GRAPH_CACHE", raising=False)
    project = make_project(
        {"pipelines/configured.py": SETTINGS_AT_IMPORT, ".settings.json": '{"factor": 2}\n'}
    )
    project.repro()
    assert project.dirty() == {}
    project.write({".settings.json": '{"factor": 3}\n'})
    # (the step's code does not use SETTINGS: its config alone says what changed)
    assert project.dirty() == {"scaled": [("config changed", "factor: 2 -> 3")]}
