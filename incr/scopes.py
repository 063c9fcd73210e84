"""Which names in a module-level definition are a function's own: its parameters and what it
binds, which Python resolves before the module's globals. ``model``, ``train`` or ``data``
assigned in a step's body is not the module's ``train`` step, and must not bring that step's
code into its closure.

Pure and conservative: a name is taken as local only where Python's rules say it is (bound in
the function's own scope or in an enclosing function's, not declared ``global``); in doubt
it stays a reference to the module (a closure with a part too many reruns a step, one with a
part too few could keep a stale result).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)
_SCOPES = (*_DEFINITIONS, *_COMPREHENSIONS)
#: Kept as references though local: a method's ``self.``/``cls.`` chains tell which class's
#: subclasses it lists (``incr.subclasses``).
_KEPT = frozenset({"self", "cls"})
#: What makes a function's body more than one scope, or declares names of another.
_NESTED = (*_SCOPES, ast.Global, ast.Nonlocal)
#: The same, by exact class (a parsed tree's nodes are of these very classes).
_NESTED_KINDS = frozenset(_NESTED)
_FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
#: Nodes that bind a name given as text, not as an ``ast.Name``.
_BINDS_BY_TEXT = frozenset({ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping})


def local_names(node: ast.AST, nodes: list[ast.AST] | None = None) -> set[ast.AST]:
    """The ``ast.Name`` nodes of ``node`` (a module-level statement) that resolve to a local of
    a function within it; ``nodes``: ``ast.walk(node)`` as a list, when known. (A set of
    nodes, not of their ids: ``id()`` is an audit event, which incr's own hooks hear once a
    run records reads; a node hashes by its identity all the same.)"""
    found: set[ast.AST] = set()
    if isinstance(node, _FUNCTION_DEFS):
        walked = nodes if nodes is not None else list(ast.walk(node))
        one = _one_scope(node, walked)
        if one is not None:
            return one  # most steps
    if isinstance(node, _DEFS):
        _outer(node, frozenset(), found)
    return found


def _one_scope(
    node: ast.FunctionDef | ast.AsyncFunctionDef, walked: list[ast.AST]
) -> set[ast.AST] | None:
    """``local_names`` of a function holding no other scope and no ``global``; None for a
    function that holds one (found in the same pass over its nodes)."""
    outside: set[ast.AST] = set()  # decorators, defaults, annotations: the module's names
    for part in _evaluated_outside(node):
        if type(part) is ast.Name:  # ``x: int``: most annotations
            outside.add(part)
        else:
            outside.update(ast.walk(part))
    own = {a.arg for a in _all_args(node.args)}
    names = []
    for sub in walked:
        kind = type(sub)
        if kind is ast.Name:
            if sub not in outside:
                names.append(sub)
                if type(sub.ctx) is not ast.Load:  # type: ignore[attr-defined]
                    own.add(sub.id)  # type: ignore[attr-defined]
        elif kind in _NESTED_KINDS and sub is not node:
            return None
        elif kind in _BINDS_BY_TEXT:
            own |= _bound(sub)
    own -= _KEPT
    return {sub for sub in names if sub.id in own}  # type: ignore[attr-defined]


def _outer(node: ast.AST, visible: frozenset[str], found: set[ast.AST]) -> None:
    """A definition met in a scope where ``visible`` names are function locals: what it
    evaluates there (decorators, defaults, bases) resolves there; its body is a scope."""
    for part in _evaluated_outside(node):
        _resolve(part, visible, found)
    if isinstance(node, _FUNCTIONS):
        _function(node, visible, found)
    elif isinstance(node, ast.ClassDef):
        # A class body's names resolve in the class (a module-level class's: references);
        # its methods do not see them, and are scopes of their own.
        for stmt in node.body:
            _resolve(stmt, visible, found)
    elif isinstance(node, _COMPREHENSIONS):
        _comprehension(node, visible, found)


def _evaluated_outside(node: ast.AST) -> list[ast.AST]:
    """The parts of a nested scope's node that run in the scope around it."""
    if isinstance(node, _FUNCTION_DEFS):
        args = node.args
        annotations = [a.annotation for a in _all_args(args) if a.annotation is not None]
        returns = [node.returns] if node.returns is not None else []
        return [
            *node.decorator_list,
            *args.defaults,
            *_present(args.kw_defaults),
            *annotations,
            *returns,
        ]
    if isinstance(node, ast.Lambda):
        return [*node.args.defaults, *_present(node.args.kw_defaults)]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    if isinstance(node, _COMPREHENSIONS):
        return [node.generators[0].iter]
    return []


def _present(values: list[ast.expr | None]) -> list[ast.expr]:
    return [v for v in values if v is not None]


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def _function(node: ast.AST, outside: frozenset[str], found: set[ast.AST]) -> None:
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)  # type: ignore[attr-defined]
    declared_global: set[str] = set()
    own = {a.arg for a in _all_args(node.args)}  # type: ignore[attr-defined]
    for sub in _own_nodes(body):
        if isinstance(sub, ast.Global):
            declared_global.update(sub.names)
        elif isinstance(sub, ast.Nonlocal):
            own.update(sub.names)  # an enclosing function's: local to this definition
        else:
            own.update(_bound(sub))
    visible = frozenset((outside | own) - declared_global)
    for stmt in body:
        _resolve(stmt, visible, found)


def _comprehension(node: ast.AST, outside: frozenset[str], found: set[ast.AST]) -> None:
    own: set[str] = set()
    for gen in node.generators:  # type: ignore[attr-defined]
        own.update(n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name))
    visible = frozenset(outside | own)
    for i, gen in enumerate(node.generators):  # type: ignore[attr-defined]
        _resolve(gen.target, visible, found)
        if i:
            _resolve(gen.iter, visible, found)
        for cond in gen.ifs:
            _resolve(cond, visible, found)
    for part in ("elt", "key", "value"):
        if (sub := getattr(node, part, None)) is not None:
            _resolve(sub, visible, found)


def _resolve(node: ast.AST, visible: frozenset[str], found: set[ast.AST]) -> None:
    """Note the names of ``node`` (in a scope where ``visible`` are locals) that are locals;
    nested scopes are entered with their own names."""
    if isinstance(node, _SCOPES):
        _outer(node, visible, found)
        return
    if isinstance(node, ast.Name):
        if node.id in visible and node.id not in _KEPT:
            found.add(node)
        return
    for child in ast.iter_child_nodes(node):
        _resolve(child, visible, found)


def _own_nodes(body: list[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of a function's own scope: not those inside the functions, classes and
    comprehensions it holds, but those nodes themselves (their names are bound here), and
    the targets of ``:=`` inside its comprehensions (bound in the function)."""
    todo = list(body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, _DEFINITIONS):
            todo.extend(_evaluated_outside(node))
            continue
        if isinstance(node, _COMPREHENSIONS):
            todo.extend(_evaluated_outside(node))
            todo.extend(n for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            continue
        todo.extend(ast.iter_child_nodes(node))


def _bound(node: ast.AST) -> set[str]:
    """The names ``node`` binds in the scope it is in. Not those an ``import`` binds: a module
    imported inside a function is followed through its own references (``inner_imports``,
    ``randomdraws``), as a module-level one would be."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return {node.id}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
        return {node.name}
    if isinstance(node, ast.MatchMapping) and node.rest:
        return {node.rest}
    return set()


def named_attribute(
    call: ast.Call, local: set[ast.AST]
) -> tuple[tuple[str, tuple[str, ...]], list[ast.AST]] | None:
    """``getattr(helpers, "scale")`` (``local``: the function's own names, see
    ``local_names``), read as ``helpers.scale`` is: the module-level name with the attribute
    chain, and the nodes of the first argument, read through it (a walk visits them after the
    call); None for any other call."""
    func, args = call.func, call.args
    if not (isinstance(func, ast.Name) and func.id == "getattr") or func in local:
        return None
    if len(args) < 2 or not isinstance(args[1], ast.Constant) or not isinstance(args[1].value, str):
        return None
    chain, nodes, cur = [args[1].value], list[ast.AST](), args[0]
    while isinstance(cur, ast.Attribute):
        chain.append(cur.attr)
        nodes.append(cur)
        cur = cur.value
    if not isinstance(cur, ast.Name) or cur in local:
        return None
    return (cur.id, tuple(reversed(chain))), [*nodes, cur]
