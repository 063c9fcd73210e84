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
