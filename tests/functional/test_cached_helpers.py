"""A helper cached with ``functools.lru_cache`` that reads a file: each step that uses it
starts with its cache empty, so the file is each step's read (incr/jobrun.py,
``clear_caches``), in one process and with ``--jobs``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

VOCAB = """\
import functools


@functools.lru_cache(maxsize=None)
def load_vocab():
    with open("data/vocab.txt", encoding="utf-8") as fh:
        return [w.strip() for w in fh]


class Tokenizer:
    @functools.cache
    def size(self):
        return len(load_vocab())
"""

STEPS = """\
from incr import pipeline, step
from pipelines.mark import mark
from pipelines.vocab import Tokenizer, load_vocab


@step
def tokenize() -> list:
    mark("tokenize")
    vocab = load_vocab()
    return [vocab.index(w) for w in ("a", "b")]


@step
def vocab_size() -> int:
    mark("vocab_size")
    return len(load_vocab())


@step
def tokenizer_size() -> int:
    mark("tokenizer_size")
    return Tokenizer.size(Tokenizer)


@pipeline
def text():
    tokenize()
    vocab_size()
    tokenizer_size()
"""


@pytest.fixture
def text(make_project: MakeProject) -> Project:
    return make_project(
        {
            "pipelines/vocab.py": VOCAB,
            "pipelines/text.py": STEPS,
            "data/vocab.txt": "a\nb\nc\n",
        }
    )


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_every_step_using_a_cached_reader_reads_the_file(
    text: Project, tmp_path: Path, jobs: list[str]
) -> None:
    text.repro(*jobs)
    assert sorted(text.take_ran()) == ["tokenize", "tokenizer_size", "vocab_size"]
    for step in ("tokenize", "vocab_size", "tokenizer_size"):
        assert "data/vocab.txt" in text.lock()[f"text.{step}"].reads, step

    (text.root / "data/vocab.txt").write_text("a\nb\nc\nd\n", encoding="utf-8")
    assert sorted(text.dirty()) == ["tokenize", "tokenizer_size", "vocab_size"]
    fresh = fresh_copy(text, tmp_path / "fresh")
    text.repro(*jobs)
    assert_same_as_scratch(text, fresh)
    assert text.dirty() == {}


LINES = """\
import linecache

from incr import pipeline, step
from pipelines.mark import mark


@step
def label_a() -> str:
    mark("label_a")
    return linecache.getline("data/labels.txt", 1).strip()


@step
def label_b() -> str:
    mark("label_b")
    return linecache.getline("data/labels.txt", 2).strip()


@pipeline
def labels():
    label_a()
    label_b()
"""


def test_every_step_reading_lines_through_linecache_reads_the_file(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``linecache`` keeps every file ``getline`` read, for the whole process: each step starts
    with it empty, so the second step's read is its own too."""
    project = make_project({"pipelines/labels.py": LINES, "data/labels.txt": "cat\ndog\n"})
    project.repro()
    for step in ("label_a", "label_b"):
        assert "data/labels.txt" in project.lock()[f"labels.{step}"].reads, step

    (project.root / "data/labels.txt").write_text("CAT\nDOG\n", encoding="utf-8")
    assert sorted(project.dirty()) == ["label_a", "label_b"]
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert_same_as_scratch(project, fresh)


SETTINGS = """\
import json

_SETTINGS = None


def settings() -> dict:
    global _SETTINGS
    if _SETTINGS is None:
        with open("settings.json", encoding="utf-8") as fh:
            _SETTINGS = json.load(fh)
    return _SETTINGS
"""

USERS = """\
from incr import pipeline, step
from pipelines.conf import settings
from pipelines.mark import mark


@step
def first() -> int:
    mark("first")
    return settings()["a"]


@step
def second(a: int) -> int:
    mark("second")
    return a + settings()["b"]


@pipeline
def flow():
    second(first())
"""


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_settings_singleton_made_on_first_use_is_each_steps_read(
    make_project: MakeProject, tmp_path: Path, jobs: list[str]
) -> None:
    """``_SETTINGS = None`` made of ``json.load`` by ``settings()`` on first use: each step
    makes it again, so each reads the file. Before, the first step to call it was taken for a
    setter of ``_SETTINGS``: it executed on every run, and ``incr status`` never said clean."""
    project = make_project(
        {
            "pipelines/conf.py": SETTINGS,
            "pipelines/flow.py": USERS,
            "settings.json": '{"a": 1, "b": 10}',
        }
    )
    project.repro(*jobs)
    assert project.take_ran() == ["first", "second"]
    assert project.dirty() == {}
    project.repro(*jobs)
    assert project.take_ran() == []
    for step in ("flow.first", "flow.second"):
        assert "settings.json" in project.lock()[step].reads
    (project.root / "settings.json").write_text('{"a": 1, "b": 20}')  # first's result stays
    project.repro(*jobs)
    assert sorted(project.take_ran()) == ["first", "second"]
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
