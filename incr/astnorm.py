"""The normalised form of code, as incr compares and digests it: the AST without docstrings,
positions, comments or layout (``normalise``, ``digest_nodes``, ``unparse``), config classes'
field defaults kept apart (``config_defaults_apart``), and one walk of a definition shared by
everything read of it (``walked``).

Pure: trees in, text and digests out.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from incr.digests import digest_bytes

PART_DIGEST_LEN = 32  # hex characters kept for a code part's digest


def walked(root: ast.AST) -> list[ast.AST]:
    """``list(ast.walk(root))``, in the same order, in about half the time: one list, no
    generators. A definition is walked once for all that is read of it (references, inner
    imports, run-time lookups, native readers, docstrings): pass the list as ``nodes``."""
    found = [root]
    append = found.append
    i = 0
    while i < len(found):
        node = found[i]
        i += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        append(item)
    return found


#: The nodes whose body may start with a docstring (a tuple: ``isinstance`` with a union made
#: anew at each call cost 0.2 us more per node, and a definition's every node is asked).
_WITH_DOCSTRINGS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def _take_docstrings(node: ast.AST, nodes: list[ast.AST] | None) -> list[tuple[Any, list[Any]]]:
    """Take the docstrings of ``node`` and of every definition in it out of their bodies;
    what ``_put_back`` needs to put them back."""
    saved: list[tuple[Any, list[ast.stmt]]] = []
    for sub in ast.walk(node) if nodes is None else nodes:
        if isinstance(sub, _WITH_DOCSTRINGS):
            body = sub.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                saved.append((sub, body))
                sub.body = body[1:] or [ast.Pass()]
    return saved


def _put_back(saved: list[tuple[Any, list[Any]]]) -> None:
    for sub, body in reversed(saved):
        sub.body = body


@contextlib.contextmanager
def _docstrings_removed(node: ast.AST, nodes: list[ast.AST] | None = None) -> Iterator[ast.AST]:
    """``node`` with the docstrings of it and every definition in it taken out for the block
    (put back afterwards: copying the tree would cost more than the rest of the digest)."""
    saved = _take_docstrings(node, nodes)
    try:
        yield node
    finally:
        _put_back(saved)


#: Base classes whose subclasses are step configs: their fields' defaults are config values,
#: fingerprinted as such (a ``defaults`` code part of their own tells other uses apart).
CONFIG_BASES = frozenset({"StepConfig", "BaseStepConfig", "BaseParameters"})


def has_config_class(nodes: Iterable[ast.AST]) -> bool:
    """Whether a config class is among ``nodes`` (``config_defaults_apart`` takes something
    out): most definitions are functions, and need no block."""
    return any(_is_config_class(node) for node in nodes)


def _is_config_class(node: ast.AST) -> bool:
    if not isinstance(node, ast.ClassDef):
        return False
    names = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
    return bool(names & CONFIG_BASES)


@contextlib.contextmanager
def config_defaults_apart(nodes: Iterable[ast.AST]) -> Iterator[list[ast.expr]]:
    """The default values of the fields of config classes among ``nodes``, taken out of them
    for the block (and put back afterwards)."""
    saved: list[tuple[ast.AnnAssign, ast.expr]] = []
    for node in nodes:
        if _is_config_class(node):
            for stmt in node.body:  # type: ignore[attr-defined]
                if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    saved.append((stmt, stmt.value))
                    stmt.value = None
    try:
        yield [value for _, value in saved]
    finally:
        for stmt, value in saved:
            stmt.value = value


def unparse(node: ast.AST) -> str:
    """The source of ``node`` as incr compares it: no comments, no docstrings, one layout."""
    with _docstrings_removed(node):
        return ast.unparse(node)


def normalise(node: ast.AST, nodes: list[ast.AST] | None = None) -> str:
    """The AST as text without docstrings and positions: comments and layout never matter
    (``nodes``: ``walked(node)``, when already known). Asked of every definition: no
    context manager."""
    saved = _take_docstrings(node, nodes)
    try:
        return dumped(node)
    finally:
        _put_back(saved)


def dumped(node: ast.AST) -> str:
    """``ast.dump(node)``, the very same text (fingerprints are digests of it), in about half
    the time: one list of pieces, each class's fields looked up once."""
    out: list[str] = []
    _dump_into(node, out)
    return "".join(out)


def digest_nodes(
    nodes: Iterable[ast.AST], walks: Iterable[list[ast.AST] | None] | None = None
) -> str:
    """The digest of ``nodes`` normalised; ``walks``: ``walked`` of each, when known."""
    pairs = zip(nodes, walks, strict=True) if walks is not None else ((n, None) for n in nodes)
    text = "\n".join(normalise(n, w) for n, w in pairs)
    return digest_bytes(text.encode(), PART_DIGEST_LEN)


#: A missing field (``ast.dump`` leaves it out).
_MISSING = object()
#: By AST class: its name with ``(``, and each field as (name, ``NAME=``, ``, NAME=``, whether
#: its class default is None: a field that is None and defaults to None is left out, as
#: ``ast.dump`` does).
_SHAPES: dict[type, tuple[str, tuple[tuple[str, str, str, bool], ...]]] = {}


def _shape(cls: type) -> tuple[str, tuple[tuple[str, str, str, bool], ...]]:
    fields = tuple(
        (f, f"{f}=", f", {f}=", getattr(cls, f, _MISSING) is None)
        for f in cls._fields  # type: ignore[attr-defined]
    )
    shape = _SHAPES[cls] = (f"{cls.__name__}(", fields)
    return shape


def _dump_into(node: ast.AST, out: list[str]) -> None:
    append = out.append
    head, fields = _SHAPES.get(type(node)) or _shape(type(node))
    append(head)
    first = True
    for name, alone, after, optional in fields:
        value = getattr(node, name, _MISSING)
        if value is _MISSING or (value is None and optional):
            continue
        append(alone if first else after)
        first = False
        if isinstance(value, ast.AST):
            _dump_into(value, out)
        elif isinstance(value, list):
            _list_into(value, out)
        else:
            append(repr(value))
    append(")")


def _list_into(items: list[Any], out: list[str]) -> None:
    out.append("[")
    for i, item in enumerate(items):
        if i:
            out.append(", ")
        if isinstance(item, ast.AST):
            _dump_into(item, out)
        elif isinstance(item, list):
            _list_into(item, out)
        else:
            out.append(repr(item))
    out.append("]")
