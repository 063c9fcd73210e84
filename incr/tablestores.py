"""What a statement changes in place, read from its syntax: the names and attribute chains it
stores into or calls a filling method on (``T[k] = v``, ``T.attr = v``, ``T.append(v)``,
``setattr(T, k, v)``), the values it stores, and the calls of a call chain. Used by
``incr.registries`` to find what fills a table. Pure.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from incr.codeast import Ref

#: Method names that put something into a container or registry.
MUTATORS = frozenset(
    {
        "append",
        "add",
        "update",
        "setdefault",
        "extend",
        "insert",
        "appendleft",
        "extendleft",
        "__setitem__",
        "put",
        "push",
    }
)


def stores(node: ast.AST) -> Iterator[tuple[Ref, list[ast.expr]]]:
    """Every in-place change in ``node``: (the changed name and attribute chain, the values
    stored): ``T[k] = v``, ``T.attr = v``, ``T.append(v)``, ``T.update(...)``,
    ``T.register(...)``, ``setattr(T, k, v)``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign) and sub.value is not None:
            targets = list(sub.targets) if isinstance(sub, ast.Assign) else [sub.target]
            for target in targets:
                if isinstance(target, ast.Subscript | ast.Attribute):
                    root = root_ref(target)
                    if root is not None:
                        yield root, [sub.value]
        elif isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and is_mutator(func.attr):
                root = root_ref(func.value)
                if root is not None:
                    yield root, call_values(sub)
            elif isinstance(func, ast.Name) and func.id == "setattr" and sub.args:
                root = root_ref(sub.args[0])
                if root is not None:
                    yield root, sub.args[2:]


def is_mutator(method: str) -> bool:
    return method in MUTATORS or method.startswith(("register", "add_"))


def outer_calls(node: ast.AST) -> Iterator[ast.Call]:
    """The outermost call of each call chain in ``node`` (``f(a)(b)`` once, not twice)."""
    inner: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and id(sub) not in inner:
            func = sub.func
            while isinstance(func, ast.Call):
                inner.add(id(func))
                func = func.func
            yield sub


def callee(expr: ast.expr) -> ast.expr:
    """``register`` in ``register("x")`` and in ``register("x")(fn)``."""
    while isinstance(expr, ast.Call):
        expr = expr.func
    return expr


def call_values(call: ast.Call) -> list[ast.expr]:
    """Every argument of every call of a chain (``register("x")(fn)``: ``"x"`` and ``fn``)."""
    values: list[ast.expr] = []
    expr: ast.expr = call
    while isinstance(expr, ast.Call):
        values += [*expr.args, *(k.value for k in expr.keywords)]
        expr = expr.func
    return values


def root_ref(node: ast.expr) -> Ref | None:
    """The name at the root of ``node`` with the attributes read from it before any subscript
    or call: ``registry.MODELS`` in ``registry.MODELS[k]``; None when the root is no name."""
    chain: list[str] = []
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        if isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        else:
            chain = []
            node = node.value if isinstance(node, ast.Subscript) else node.func
    if isinstance(node, ast.Name):
        return node.id, tuple(reversed(chain))
    return None


def last_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""
