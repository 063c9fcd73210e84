"""Project modules that Python reads in another way than plain UTF-8: with a byte-order mark
(as some Windows editors save files), or declaring another encoding (PEP 263). incr reads
their code as Python does: their steps run, their fingerprints follow their edits."""

from __future__ import annotations

import importlib.util

import pytest

from incr.codeparts import source_text

from .conftest import MakeProject

MARKED = """\
from incr import pipeline, step
from pipelines.mark import mark


@step
def marked() -> int:
    mark("marked")
    return 1


@pipeline
def with_mark():
    marked()
"""

LATIN = """\
# -*- coding: latin-1 -*-
from pathlib import Path

from incr import pipeline, step
from pipelines.mark import mark

NAME = "café"


@step(outs=["named.txt"])
def named() -> None:
    mark("named")
    Path("named.txt").write_text(NAME, encoding="utf-8")


@pipeline
def in_latin():
    named()
"""


def test_a_module_with_a_byte_order_mark_or_another_encoding_runs_and_reruns(
    make_project: MakeProject,
) -> None:
    project = make_project({})
    (project.root / "pipelines/marked.py").write_bytes(b"\xef\xbb\xbf" + MARKED.encode())
    (project.root / "pipelines/latin.py").write_bytes(LATIN.encode("latin-1"))
    project.repro()
    assert sorted(project.take_ran()) == ["marked", "named"]
    assert project.dirty() == {}
    assert project.read("named.txt") == "café"  # the text as Python read it
    latin = (project.root / "pipelines/latin.py").read_bytes()
    (project.root / "pipelines/latin.py").write_bytes(latin.replace(b"caf\xe9", b"th\xe9"))
    marked = (project.root / "pipelines/marked.py").read_bytes()
    (project.root / "pipelines/marked.py").write_bytes(marked.replace(b"return 1", b"return 2"))
    assert set(project.dirty()) == {"marked", "named"}
    project.repro()
    assert sorted(project.take_ran()) == ["marked", "named"]
    assert project.dirty() == {}
    assert project.read("named.txt") == "thé"


@pytest.mark.parametrize(
    "data",
    [
        b"A = 1\n",
        b"\xef\xbb\xbfA = '\xc3\xa9'\n",
        b"# -*- coding: latin-1 -*-\nA = '\xe9'\n",
        b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nA = '\x80'\n",
        b"\xef\xbb\xbf# coding: utf-8\nA = 1\n",
    ],
)
def test_source_text_reads_module_bytes_as_python_does(data: bytes) -> None:
    assert source_text(data) == importlib.util.decode_source(data).lstrip("\ufeff")
