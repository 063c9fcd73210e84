"""The private attributes a class uses as a memo only, by the rules of a module's memo dict
(``incr.memodicts``)::

    class Lookup:
        def __init__(self):
            self._memo = {}

        def square(self, v):
            if v not in self._memo:
                self._memo[v] = v * v
            return self._memo[v]

A step filling such a dict passes nothing on: whoever asks gets what computing the entry
gives. ``incr.heldstates`` compares it by its identity (bound anew or not). Any other private
dict of a project class or object counts by what it holds, as state a step passes on: one
with an entry computed from itself (``cls._index[w] = len(cls._index)``: the ids depend on
the order the words came in, so on which steps ran before), one used otherwise than by key
(iterated, its length taken, passed on), filled in two methods, bound to anything but an
empty dict, or named on anything but the method's ``self``/``cls`` or the class's name.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from incr.memodicts import empty_dict, keyed_use, stores

_METHODS = (ast.FunctionDef, ast.AsyncFunctionDef)


def memo_attributes(klass: ast.ClassDef, names: Collection[str]) -> frozenset[str]:
    """The private attributes (as ``vars`` names them: mangled) that the class ``klass``
    (its bases' methods merged in) uses as a memo only; ``names``: the names of the class and
    its bases, by which its methods may name it."""
    bound: set[str] = set()  # bound to an empty dict (and, unless bad, to nothing else)
    bad: set[str] = set()
    users: dict[str, set[int]] = {}  # attribute -> the methods (by id) using it by key
    writes: dict[str, set[int]] = {}  # attribute -> the methods storing entries into it
    for stmt in klass.body:
        target = _bound_empty(stmt)
        if isinstance(target, ast.Name):
            bound.add(_name(target.id, klass))
    for method in [m for m in klass.body if isinstance(m, _METHODS)]:
        first = method.args.posonlyargs + method.args.args
        holders = {*names, *(a.arg for a in first[:1])}
        parents = {id(c): p for p in ast.walk(method) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(method):
            if not isinstance(node, ast.Attribute) or not _private(name := _name(node.attr, klass)):
                continue
            parent = parents.get(id(node), method)
            if not (isinstance(node.value, ast.Name) and node.value.id in holders):
                bad.add(name)
            elif isinstance(node.ctx, ast.Store | ast.Del):
                (bound if _bound_empty(parent) is node else bad).add(name)
            elif (use := keyed_use(node, parent)) is None:
                bad.add(name)
            else:
                users.setdefault(name, set()).add(id(method))
                if use == "store":
                    writes.setdefault(name, set()).add(id(method))
        bad |= {_name(n, klass) for n in _computed_from_itself(method, holders)}
    for name, methods in users.items():
        if len(methods) > 1 or methods - writes.get(name, set()):
            bad.add(name)  # read elsewhere (a value passed on), or filled in two places
    return frozenset(bound - bad)


def _bound_empty(stmt: ast.AST) -> ast.expr | None:
    """The target of ``stmt`` when it binds one name or attribute to an empty dict
    (``_memo = {}``, ``self._memo: dict = {}``, a dataclass's ``field(default_factory=dict)``)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target, value = stmt.target, stmt.value
    else:
        return None
    if empty_dict(value) or (
        isinstance(value, ast.Call)
        and getattr(value.func, "id", getattr(value.func, "attr", None)) == "field"
        and any(
            k.arg == "default_factory" and getattr(k.value, "id", None) == "dict"
            for k in value.keywords
        )
    ):
        return target
    return None


def _computed_from_itself(method: ast.AST, holders: Collection[str]) -> set[str]:
    """The attributes (on ``holders``) into which ``method`` stores an entry computed from
    the attribute itself (``self._index[w] = len(self._index)``, ``self._n[k] += 1``)."""
    found: set[str] = set()
    for node in ast.walk(method):
        stored, values = stores(node)
        for target in stored:
            holder = target.value if isinstance(target, ast.Subscript | ast.Attribute) else None
            if not _on(holder, holders):
                continue
            attr = holder.attr  # type: ignore[union-attr]
            if isinstance(node, ast.AugAssign) or any(
                _on(n, holders) and n.attr == attr  # type: ignore[attr-defined]
                for value in values
                for n in ast.walk(value)
            ):
                found.add(attr)
    return found


def _on(node: ast.AST | None, holders: Collection[str]) -> bool:
    """``node`` is ``HOLDER.NAME`` with ``HOLDER`` among ``holders``."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in holders
    )


def _name(attr: str, klass: ast.ClassDef) -> str:
    """``attr`` as the class's ``vars`` name it (``__memo`` is ``_Klass__memo``)."""
    if attr.startswith("__") and not attr.endswith("__"):
        return f"_{klass.name.lstrip('_')}{attr}"
    return attr


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
