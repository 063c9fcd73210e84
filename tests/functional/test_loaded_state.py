"""A helper that keeps what it read (a memo dict, a cached property, a cached method, an
attribute loaded on first use, a dict of its class) serves every step after the first one
of the process from memory: each step that uses it must still count the file as its read,
in one process and with ``--jobs`` (incr/stepcaches.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

LOADERS = """\
import functools
import json

_WORDS = {}


def words(path):
    if path not in _WORDS:
        _WORDS[path] = open(path, encoding="utf-8").read().split()
    return _WORDS[path]


class Settings:
    @functools.cached_property
    def params(self):
        with open("data/params.json", encoding="utf-8") as fh:
            return json.load(fh)

    @functools.cache
    def scale(self):
        with open("data/params.json", encoding="utf-8") as fh:
            return json.load(fh)["scale"]


class Lazy:
    def __init__(self):
        self._data = None

    def get(self):
        if self._data is None:
            with open("data/params.json", encoding="utf-8") as fh:
                self._data = json.load(fh)
        return self._data


class Registry:
    _loaded = {}

    @classmethod
    def get(cls, name):
        if name not in cls._loaded:
            with open(f"data/{name}.json", encoding="utf-8") as fh:
                cls._loaded[name] = json.load(fh)
        return cls._loaded[name]


SETTINGS = Settings()
LAZY = Lazy()
"""

STEPS = """\
from incr import pipeline, step
from pipelines.loaders import LAZY, SETTINGS, Registry, words
from pipelines.mark import mark


@step
def first() -> list:
    mark("first")
    return [len(words("data/words.txt")), SETTINGS.params["a"], SETTINGS.scale(),
            LAZY.get()["a"], Registry.get("params")["a"]]


@step
def second(x: list) -> list:
    mark("second")
    return [words("data/words.txt")[-1], SETTINGS.params["a"] * 10, SETTINGS.scale() * 10,
            LAZY.get()["a"] * 10, Registry.get("params")["a"] * 10]


@step
def apart() -> int:
    mark("apart")
    return 7


@pipeline
def loaded():
    second(first())
    apart()
"""

OTHER = """\
from incr import pipeline, step
from pipelines.loaders import LAZY, Registry
from pipelines.mark import mark


@step
def third() -> list:
    mark("third")
    return [LAZY.get()["a"] * 100, Registry.get("params")["a"] * 100]


@pipeline
def other():
    third()
"""


@pytest.fixture
def loaded(make_project: MakeProject) -> Project:
    return make_project(
        {
            "pipelines/loaders.py": LOADERS,
            "pipelines/loaded.py": STEPS,
            "pipelines/other.py": OTHER,
            "data/words.txt": "a b c\n",
            "data/params.json": '{"a": 1, "scale": 2}\n',
        }
    )


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
@pytest.mark.parametrize(
    ("edit", "text"),
    [("data/words.txt", "a b c d\n"), ("data/params.json", '{"a": 5, "scale": 3}\n')],
    ids=["memo-dict", "object-state"],
)
def test_every_step_using_what_a_helper_loaded_reads_its_file(
    loaded: Project, tmp_path: Path, jobs: list[str], edit: str, text: str
) -> None:
    loaded.repro(*jobs)
    assert sorted(loaded.take_ran()) == ["apart", "first", "second", "third"]
    lock = loaded.lock()
    for step in ("loaded.first", "loaded.second"):
        assert {"data/words.txt", "data/params.json"} <= set(lock[step].reads), step
    assert "data/params.json" in lock["other.third"].reads
    assert not lock["loaded.apart"].reads  # it uses none of them

    (loaded.root / edit).write_text(text, encoding="utf-8")
    dirty = {"first", "second"} | ({"third"} if edit.endswith(".json") else set())
    assert set(loaded.dirty()) == dirty
    fresh = fresh_copy(loaded, tmp_path / "fresh")
    loaded.repro(*jobs)
    assert sorted(loaded.take_ran()) == sorted(dirty)
    assert_same_as_scratch(loaded, fresh)
    assert loaded.dirty() == {}


def test_a_step_run_alone_reads_for_itself(make_project: MakeProject, tmp_path: Path) -> None:
    """What an object carries is what the steps of this process left: ``second`` run alone
    (an edit of its code; ``first`` reused) fills the loaders itself, and its own reads
    still name the files. (Without ``Registry``: a class's dict filled by its method is
    taken for a registry, which makes every step that calls the method use all of them.)"""
    loaded = make_project(
        {
            "pipelines/loaders.py": LOADERS,
            "pipelines/loaded.py": STEPS.replace(', Registry.get("params")["a"]', "").replace(
                ', Registry.get("params")["a"] * 10', ""
            ),
            "data/words.txt": "a b c\n",
            "data/params.json": '{"a": 1, "scale": 2}\n',
        }
    )
    loaded.repro()
    loaded.take_ran()
    steps = loaded.root / "pipelines/loaded.py"
    steps.write_text(steps.read_text().replace("* 10, SETTINGS", "* 11, SETTINGS"))
    loaded.repro()
    assert loaded.take_ran() == ["second"]
    assert {"data/words.txt", "data/params.json"} <= set(loaded.lock()["loaded.second"].reads)

    (loaded.root / "data/params.json").write_text('{"a": 3, "scale": 2}\n', encoding="utf-8")
    fresh = fresh_copy(loaded, tmp_path / "fresh")
    loaded.repro()
    assert sorted(loaded.take_ran()) == ["first", "second"]
    assert_same_as_scratch(loaded, fresh)
