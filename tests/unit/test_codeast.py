"""One walk of a definition serves everything read of it: the same answers as a walk each."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from incr import astnorm, codeast, creaders
from incr.codeparts import definition_digest

ROOT = Path(__file__).resolve().parents[2]
#: Real code: incr itself, its example pipelines and the test projects (docstrings, config classes,
#: nested definitions, inner imports, native readers, getattr).
SOURCES = sorted(
    p
    for folder in ("incr", "pipelines", "tests/projects")
    for p in (ROOT / folder).rglob("*.py")
    if "__pycache__" not in p.parts
)


def _trees():
    for path in SOURCES:
        try:
            yield path, ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue


def test_the_corpus_is_large_enough():
    assert len(SOURCES) > 100


def test_walked_is_ast_walk_in_order():
    for path, tree in _trees():
        assert astnorm.walked(tree) == list(ast.walk(tree)), path


def _definitions(tree: ast.Module) -> list[ast.stmt]:
    return [
        s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


@pytest.mark.parametrize("chunk", range(2))
def test_a_shared_walk_reads_what_separate_walks_read(chunk):
    checked = 0
    for path, tree in list(_trees())[chunk::2]:
        for node in _definitions(tree):
            before = ast.dump(node)
            nodes = astnorm.walked(node)
            assert codeast.references(node, nodes) == codeast.references(node), path
            shared = list(codeast.inner_imports(node, "pkg.sub", nodes))
            assert shared == list(codeast.inner_imports(node, "pkg.sub")), path
            assert codeast.dynamic_calls(node, nodes) == codeast.dynamic_calls(node), path
            assert creaders.reader_calls(node, nodes) == creaders.reader_calls(node), path
            assert definition_digest([node], [nodes]) == definition_digest([node]), path
            assert ast.dump(node) == before  # put back as it was
            checked += 1
    assert checked > 100
