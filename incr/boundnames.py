"""The names a module's text binds: what the top level of its main blocks (or its whole top
level) binds or changes in place, and what its functions declare ``global``; read from the
text or the tree, pure (``incr.globalvalues`` reads the files)."""

from __future__ import annotations

import ast
import re

#: A ``global`` statement inside a function, with the names it declares.
GLOBAL_LINE = re.compile(rb"^[ \t]+global[ \t]+(\w+(?:[ \t]*,[ \t]*\w+)*)", re.MULTILINE)


def global_names(source: bytes) -> list[str]:
    """The names the functions of a module declare ``global``, read from its text without
    parsing it (a script of 10,000 steps takes a second to parse): a line of a string that
    reads as such a statement adds a name too, which then counts by its value."""
    found = (n.strip() for m in GLOBAL_LINE.finditer(source) for n in m[1].split(b","))
    return sorted({n.decode() for n in found})


#: The first line of a main block, and the first line of a top-level statement after it.
MAIN_LINE = re.compile(
    rb"""^if\s+(?:__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__)\s*:""",
    re.MULTILINE,
)
TOP_LINE = re.compile(rb"^[^\s#]", re.MULTILINE)


def main_text(source: bytes) -> bytes:
    """The text of a module's main blocks alone, each from its ``if`` line up to the next
    top-level statement: a script's main block is read without parsing the rest of it (a
    module of 10,000 steps takes a second to parse). Empty when there is none."""
    chunks = []
    for found in MAIN_LINE.finditer(source):
        end = TOP_LINE.search(source, found.end())
        chunks.append(source[found.start() : end.start() if end else len(source)])
    return b"\n".join(chunks)


def parsed(source: bytes) -> ast.Module | None:
    """``source`` parsed, when it is not empty and parses."""
    try:
        return ast.parse(source) if source else None
    except (SyntaxError, ValueError):
        return None


def top_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of a module's top level, within its ``if``, ``try``, ``with`` and loop
    blocks too (not within functions and classes)."""
    found: list[ast.stmt] = []
    for stmt in body:
        found.append(stmt)
        if isinstance(stmt, ast.If | ast.For | ast.While | ast.With | ast.Try):
            for field in ("body", "orelse", "finalbody"):
                found += top_statements(getattr(stmt, field, []))
            for handler in getattr(stmt, "handlers", []):
                found += top_statements(handler.body)
    return found


def bound_once(tree: ast.Module) -> dict[str, ast.expr]:
    """The names the top level of ``tree`` binds in one statement only (``SETTINGS = {...}``,
    ``LR: float = 0.1``), with the value bound: a name bound twice is left out (which of the
    two ran is not known from the text)."""
    bound: dict[str, list[ast.expr]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(stmt.value)
    return {name: values[0] for name, values in bound.items() if len(values) == 1}


def bound_names(block: list[ast.stmt]) -> list[str]:
    """The module names the top level of a main block binds or changes in place."""
    return sorted({name for stmt in block for name in _bound(stmt)})


def _bound(stmt: ast.stmt) -> list[str]:
    """The module names a main block statement binds or changes in place: ``EPOCHS = ...``,
    ``SETTINGS["lr"] = ...``, ``cfg.lr += ...``, ``SETTINGS.update(...)``."""
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        targets = [stmt.value.func.value] if isinstance(stmt.value.func, ast.Attribute) else []
    names = []
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            targets += target.elts
        elif isinstance(target, ast.Starred | ast.Subscript | ast.Attribute):
            targets.append(target.value)
    return names
