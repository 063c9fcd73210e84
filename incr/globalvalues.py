"""Module-level values of project modules set at run time, which a step's code digest cannot
hold: a script's main block that sets ``config.EPOCHS = args.epochs`` (or its own ``EPOCHS``)
before ``.run()``, a pipeline module that sets ``config.LR = 0.5`` at its top level. The code
digest of ``pipelines/config.py:EPOCHS`` is the source ``EPOCHS = 1``, not the value a step
sees. Such a value counts by its digest instead (a ``value:pipelines/config.py:EPOCHS`` code
part of the steps whose code reads it, see ``incr.facts``), taken when a pipeline is traced.

A value counts so when it is plain (numbers, strings, bytes, None, enum members, and lists,
tuples, sets and dicts of them; dataclass instances, named tuples, pydantic models and
``SimpleNamespace``/``argparse.Namespace`` objects by their class and fields; up to
``MAX_ITEMS`` values in all) and either differs from the value its module
left when its import ended (``imported``: project modules are loaded by ``incr.imports``),
or is bound at the top level of a main block that ran (``ran_main``: the script's own, or one
that discovery ran). Other values (objects, large arrays) are not followed: a step that reads
one set at run time should take it as a config value or an input.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import types
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from incr.digests import digest_bytes
from incr.moduletop import is_main_test

#: At most this many values in one global's value (nested ones included) are digested.
MAX_ITEMS = 10_000
_SCALARS = (int, float, complex, str, bytes, bool, type(None))
_PLAIN = frozenset({*_SCALARS, list, tuple, set, frozenset, dict})
_NAMESPACE = "argparse.Namespace"

#: Per project module loaded by incr: the module and the plain values its import left.
_imported: dict[str, tuple[ModuleType, dict[str, str]]] = {}
#: Modules whose main block ran in this process, by name, with the names the block binds
#: (None: read from the module's file when asked).
_mains: dict[str, tuple[ModuleType, list[str] | None]] = {}


def imported(module: ModuleType) -> None:
    """Note the plain values ``module`` holds as its import ends."""
    _imported[module.__name__] = (module, dict(_plain_values(vars(module))))


def ran_main(module: ModuleType, block: list[ast.stmt] | None = None) -> None:
    """``module``'s main block ran (or is running, for a script's ``.run()``); ``block``: its
    statements, when parsed already."""
    _mains[module.__name__] = (module, None if block is None else bound_names(block))


def changed(root: Path) -> dict[str, str]:
    """The values set at run time, as code parts: ``PATH:NAME`` (PATH from ``root``, as code
    parts name definitions) to the digest of the value now."""
    found: dict[str, str] = {}
    for module, then in list(_imported.values()):
        now = vars(module)
        for name, token in then.items():
            value = _token(now.get(name, _GONE))
            if value != token and (path := _path(module, root)) is not None:
                found[f"{path}:{name}"] = digest_bytes((value or "undigestable").encode(), 32)
    for module, names in list(_mains.values()):
        path = _path(module, root)
        if path is None:
            continue
        for name in _main_names(root / path) if names is None else names:
            now_token = _token(vars(module).get(name, _GONE))
            if now_token is not None:
                found[f"{path}:{name}"] = digest_bytes(now_token.encode(), 32)
    return found


_GONE = object()


def _plain_values(namespace: dict[str, Any]) -> Iterator[tuple[str, str]]:
    kinds = _KINDS
    for name, value in list(namespace.items()):
        kind = type(value)  # (a module of steps holds no such value: a look-up per step)
        plain = kind in _PLAIN or (kinds[kind] if kind in kinds else _record_kind(kind))
        if plain and not name.startswith("__"):
            token = _token(value)
            if token is not None:
                yield name, token


def _token(value: Any) -> str | None:
    """A text that is the same for equal plain values in every process; None for others."""
    budget = [MAX_ITEMS]
    try:
        return _text(value, budget)
    except _NotPlain:
        return None


class _NotPlain(Exception):
    pass


def _text(value: Any, budget: list[int]) -> str:
    budget[0] -= 1
    if budget[0] < 0:
        raise _NotPlain
    kind = type(value)
    if kind in _SCALARS:
        return f"{kind.__name__}:{value!r}"
    if kind is list or kind is tuple:
        return f"{kind.__name__}[{','.join(_text(v, budget) for v in value)}]"
    if kind is set or kind is frozenset:
        return f"{kind.__name__}{{{','.join(sorted(_text(v, budget) for v in value))}}}"
    if kind is dict:
        items = sorted(f"{_text(k, budget)}={_text(v, budget)}" for k, v in value.items())
        return f"dict{{{','.join(items)}}}"
    name = f"{kind.__module__}.{kind.__qualname__}"
    if _record_kind(kind) == "enum":
        return f"{name}.{value.name}"
    fields = _fields(value)
    if fields is None:
        raise _NotPlain
    return f"{name}({','.join(f'{k}={_text(v, budget)}' for k, v in fields)})"


#: What kind of record each type met is ("" for other types).
_KINDS: dict[type, str] = {}


def _record_kind(kind: type) -> str | None:
    found = _KINDS.get(kind)
    if found is None:
        if issubclass(kind, enum.Enum):
            found = "enum"
        elif dataclasses.is_dataclass(kind):
            found = "dataclass"
        elif issubclass(kind, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
            found = "namedtuple"
        elif isinstance(getattr(kind, "model_fields", None), dict):  # pydantic 2
            found = "pydantic"
        elif kind is types.SimpleNamespace or f"{kind.__module__}.{kind.__name__}" == _NAMESPACE:
            found = "namespace"
        else:
            found = ""
        _KINDS[kind] = found
    return found or None


def _fields(value: Any) -> list[tuple[str, Any]] | None:
    """The fields of a dataclass instance, a named tuple, a pydantic model or a namespace, in
    a fixed order; None for any other value."""
    kind = _record_kind(type(value))
    if kind == "dataclass":
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    if kind == "namedtuple":
        return list(zip(type(value)._fields, value, strict=False))
    if kind == "pydantic":
        return [(f, getattr(value, f, None)) for f in type(value).model_fields]
    if kind == "namespace":
        return sorted(vars(value).items())
    return None


def _path(module: ModuleType, root: Path) -> str | None:
    file = getattr(module, "__file__", None)
    if not file:
        return None
    try:
        return Path(file).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


#: The names each main block binds at its top level, by file.
_main_bound: dict[Path, list[str]] = {}


def _main_names(file: Path) -> list[str]:
    """The names the top level of ``file``'s main blocks bind (``EPOCHS = ...``)."""
    if file not in _main_bound:
        names: list[str] = []
        try:
            tree = ast.parse(file.read_bytes(), str(file))
        except (OSError, SyntaxError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        for node in tree.body:
            if isinstance(node, ast.If) and is_main_test(node.test):
                names += bound_names(node.body)
        _main_bound[file] = sorted(set(names))
    return _main_bound[file]


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
