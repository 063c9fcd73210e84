"""A module's top level as the code fingerprint reads it (``incr.codeast``): the tests that
decide whether each statement runs, the modules its imports import, and the statements that
do more than define the module's own names.

- **Tests.** ``if DEBUG: N = 10`` / ``else: N = 1000`` defines ``N`` by ``DEBUG`` too, and
  ``with suppress(KeyError): LIMIT = table["x"]`` by ``suppress(KeyError)``: ``guarded`` gives
  each statement with those tests, as statements (``guard``) that join each definition made
  under them. Statements in an ``if __name__ == "__main__":`` block are told apart: no import
  runs them.
- **What importing a module runs**: see ``incr.importeffects``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from incr.model import TOP_LEVEL as TOP_LEVEL

#: The attribute that marks a statement ``guard`` made.
GUARD = "incr_guard"

#: ``try`` statements, with ``except*`` where the grammar has it (Python 3.11).
_TRIES: tuple[type[Any], ...] = (ast.Try, *([ast.TryStar] if hasattr(ast, "TryStar") else []))


def guarded(
    body: list[ast.stmt], guards: tuple[ast.stmt, ...] = (), main: bool = False
) -> Iterator[tuple[ast.stmt, tuple[ast.stmt, ...], bool]]:
    """The statements of a module's top level, looking inside ``if``/``try``/``with``/``match``
    blocks, each with the tests around it (``guard`` statements) and whether it is in a
    ``__main__`` block."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            inner = (*guards, guard(stmt.test))
            yield from guarded(stmt.body, inner, main or is_main_test(stmt.test))
            yield from guarded(stmt.orelse, inner, main)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:  # each case tested by the cases before it too
                yield from guarded(case.body, (*guards, case_guard(stmt, case)), main)
        elif isinstance(stmt, _TRIES):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from guarded(block, guards, main)
            for handler in stmt.handlers:
                yield from guarded(handler.body, guards, main)
        elif isinstance(stmt, ast.With):
            inner = (*guards, *(guard(item.context_expr) for item in stmt.items))
            yield from guarded(stmt.body, inner, main)
        else:
            yield stmt, guards, main


def main_bodies(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of the ``if __name__ == "__main__":`` blocks among ``body`` (a module's
    top level), in order."""
    return [s for n in body if isinstance(n, ast.If) and is_main_test(n.test) for s in n.body]


def guard(test: ast.expr) -> ast.stmt:
    """A statement standing for the expression ``test`` of an ``if`` or a ``with`` (placed where
    it is written, marked ``GUARD``)."""
    stmt = ast.Expr(value=test)
    ast.copy_location(stmt, test)
    setattr(stmt, GUARD, True)
    return stmt


def case_guard(match: ast.Match, case: ast.match_case) -> ast.stmt:
    """A statement standing for the test of ``case``: the ``match`` with the cases up to this
    one, their bodies left out (``match ENV: case "prod": N = ...``), marked ``GUARD``."""
    cases = match.cases[: match.cases.index(case) + 1]
    test = ast.Match(
        subject=match.subject,
        cases=[ast.match_case(pattern=c.pattern, guard=c.guard, body=[ast.Pass()]) for c in cases],
    )
    end = case.guard or case.pattern
    test.lineno, test.col_offset = match.lineno, match.col_offset
    test.end_lineno, test.end_col_offset = end.end_lineno, end.end_col_offset
    setattr(test, GUARD, True)
    return test


def is_guard(stmt: ast.stmt) -> bool:
    return getattr(stmt, GUARD, False)


def is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    named = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    return named and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of the module an import names (``from ..x import y``: level 2)."""
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, module] if module else base)


def imported_modules(stmt: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The modules an import statement may import: each one it names, and each name it takes
    from a module, which may be a submodule (``from pipelines import helpers``)."""
    if isinstance(stmt, ast.Import):
        return [alias.name for alias in stmt.names]
    base = absolute(stmt.module, stmt.level, package)
    return [base, *(f"{base}.{a.name}" for a in stmt.names if a.name != "*")]


def last_name(decorator: ast.expr) -> str:
    """The last name of a decorator (``pipeline`` in ``@incr.pipeline(...)``)."""
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def top_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, looking inside if/try/with/match blocks (guards, optional
    imports)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from top_level(stmt.body)
            yield from top_level(stmt.orelse)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                yield from top_level(case.body)
        elif isinstance(stmt, _TRIES):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from top_level(block)
            for handler in stmt.handlers:
                yield from top_level(handler.body)
        elif isinstance(stmt, ast.With):
            yield from top_level(stmt.body)
        else:
            yield stmt


def target_names(targets: list[ast.expr]) -> Iterable[str]:
    for target in targets:
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, ast.Tuple | ast.List):
            yield from target_names(list(target.elts))
        elif isinstance(target, ast.Starred):
            yield from target_names([target.value])


def changes_of(nodes: list[ast.stmt], head: str, attr: str) -> list[ast.stmt]:
    """The statements of ``nodes`` (those changing ``head``, a project module the module
    imports) that may change ``head.attr`` (``settings.OPT``): all but the ones that bind
    another attribute of the module to a literal (``settings.EXTRA = 2``).
    None for a ``head`` the module binds itself (a definition, not the module)."""
    if binds_name(nodes, head):
        return []
    want = attr.split(".")[0]

    def other(target: ast.expr) -> bool:
        return (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == head
            and target.attr != want
        )

    kept = []
    for node in nodes:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        plain = isinstance(node, ast.Assign | ast.AnnAssign) and _literal(node.value)
        if not plain or not all(t is not None and other(t) for t in targets):
            kept.append(node)
    return kept


def _literal(node: ast.expr | None) -> bool:
    """True for a literal (``2``, ``("a", 1)``): a value that cannot run any code."""
    try:
        ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return node is not None


def binds_name(nodes: list[ast.stmt], name: str) -> bool:
    """True when one of ``nodes`` may bind ``name`` itself (not only an attribute of it)."""
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return True
        if isinstance(node, ast.For | ast.AsyncFor | ast.While | ast.With | ast.Try):
            return True  # (a loop's or a block's own bindings: not looked into)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(node.targets) if isinstance(node, ast.Assign) else [node.target]
            )
            if name in target_names(targets):
                return True
    return False


def loop_names(loop: ast.For | ast.While, main: bool = False) -> set[str]:
    """Names a module-level loop binds or changes in place: its target, and the functions,
    classes, targets and mutated containers of the statements in it (``main``: see
    ``mutated_names``)."""
    names = set(target_names([loop.target])) if isinstance(loop, ast.For) else set()
    for sub in ast.walk(loop):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)  # a step function defined in a loop, once per value
        elif isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(sub.targets) if isinstance(sub, ast.Assign) else [sub.target]
            )
            names |= {*target_names(targets), *mutated_names(targets, main)}
        elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call):
            names |= set(call_keys(sub.value, main))
    return names


def call_keys(call: ast.Call, main: bool = False) -> Iterable[str]:
    """The names a module-level call statement is kept under: the container it changes
    (``TABLE`` in ``TABLE.update(...)`` and in ``TABLE.register("x")(f)``), or ``NAME()`` for a
    call of a plain name (``register("x")(f)``: found when ``register`` fills a table), with
    the object ``setattr``/``delattr`` changes."""
    func = call.func
    while isinstance(func, ast.Call):
        func = func.func
    if isinstance(func, ast.Name):
        yield f"{func.id}()"
        if func.id in _SETS_ATTRIBUTE and call.args and isinstance(call.args[0], ast.Name):
            yield call.args[0].id  # setattr(Cfg, "LR", 0.7) changes Cfg
    else:
        yield from mutated_names([func], main)


#: Builtins that change an attribute of the object they are given first.
_SETS_ATTRIBUTE = frozenset({"setattr", "delattr"})


def mutated_names(targets: list[ast.expr], main: bool = False) -> Iterable[str]:
    """The module-level names a statement changes in place: the root of a subscript or
    attribute target (``TABLE`` in ``TABLE["a"] = f`` and in ``TABLE.update(...)``). In a
    main block (``main``), a variable set in ``os.environ`` (``environ``) changes no name:
    the steps that read it have it as a fact, with the value their instance's ``.run()``
    saw (a sweep loop's edit reruns the instances whose values it changed)."""
    for target in targets:
        node = target
        while isinstance(node, ast.Subscript | ast.Attribute) and not (main and _environ(node)):
            node = node.value
        if node is not target and isinstance(node, ast.Name) and not (main and _environ(node)):
            yield node.id


def _environ(node: ast.expr) -> bool:
    """``os.environ``, or ``environ`` (``from os import environ``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def statement_names(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """(names a module-level statement binds anew, names it changes in place or binds only
    in a loop or from their old value): a later binding replaces a statement, a later change
    adds to it."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}, set()
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}, set()
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets: list[ast.expr] = (
            list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
        )
        return set(target_names(targets)), set(mutated_names(targets))
    if isinstance(stmt, ast.AugAssign):
        return set(), {*target_names([stmt.target]), *mutated_names([stmt.target])}
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return set(), set(mutated_names([stmt.value.func]))
    if isinstance(stmt, ast.For | ast.While):
        return set(), loop_names(stmt)
    if isinstance(stmt, (ast.If, ast.With, ast.Match, *_TRIES)):
        bound: set[str] = set()
        changed: set[str] = set()
        for inner in top_level([stmt]):
            names = statement_names(inner) if inner is not stmt else (set(), set())
            bound |= names[0]
            changed |= names[1]
        return set(), bound | changed  # maybe bound: what was there before may remain
    return set(), set()


def around_bodies(
    source: bytes, functions: Iterable[ast.FunctionDef | ast.AsyncFunctionDef]
) -> bytes:
    """``source`` without the lines of the bodies of ``functions`` (parsed from it, in order),
    each cut marked by a NUL line: the wiring check cuts step bodies, the skeleton of a module
    the bodies of its module-level functions.

    Lines are cut from a body's first statement, when nothing but indentation comes before it
    on its line (``def f(x): return x`` and ``):  return x`` keep their line: the signature
    may end there), to the last line of its last statement. Each text is cut by its own parse,
    so two texts equal around their cuts differ only inside the bodies cut. Line ends are the
    tokenizer's (``\\n``, ``\\r\\n``, ``\\r``), as the line numbers are."""
    lines = source.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    cuts: list[tuple[int, int]] = []
    for stmt in functions:
        body = stmt.body[0]
        first, last, indent = body.lineno, stmt.end_lineno, body.col_offset  # bytes, as lines
        if last is None or lines[first - 1][:indent].strip():
            continue
        cuts.append((first - 1, last))
    kept: list[bytes] = []
    at = 0
    for start, end in sorted(cuts):
        kept += [*lines[at:start], b"\0"]
        at = end
    kept += lines[at:]
    return b"\n".join(kept)


def dotted_names(expr: ast.expr) -> list[str] | None:
    """``["np", "random", "rand"]`` for ``np.random.rand``; None when the chain does not
    start from a name."""
    names: list[str] = []
    while isinstance(expr, ast.Attribute):
        names.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    names.append(expr.id)
    return list(reversed(names))


def imported_names(node: ast.AST) -> dict[str, str]:
    """The names absolute imports anywhere in ``node`` bind, with the dotted module or object
    each stands for (``from time import time``: ``time`` -> ``time.time``)."""
    bound: dict[str, str] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            for alias in sub.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module:
            for alias in sub.names:
                bound[alias.asname or alias.name] = f"{sub.module}.{alias.name}"
    return bound


def exported(defs: dict[str, list[ast.stmt]], name: str) -> bool:
    """Whether ``from MODULE import *`` may bind ``name``, for a module whose definitions are
    ``defs``: listed in its ``__all__`` when that is one literal list or tuple of strings, not
    starting with ``_`` when it has none, and any name when its ``__all__`` is made otherwise."""
    nodes = defs.get("__all__")
    if not nodes:
        return not name.startswith("_")
    value = nodes[0].value if len(nodes) == 1 and isinstance(nodes[0], ast.Assign) else None
    if isinstance(value, ast.List | ast.Tuple):
        names = [e.value for e in value.elts if isinstance(e, ast.Constant)]
        if len(names) == len(value.elts) and all(isinstance(n, str) for n in names):
            return name in names
    return True


def bound_at(body: list[ast.stmt], line: int) -> list[str] | None:
    """The names the top-level statement of ``body`` (a module's) running at ``line`` binds,
    when it is one that only binds names: an assignment to names (``PARAMS = load(...)``,
    ``A, B = ...``), a ``def`` or a ``class`` (its decorators, its class body); None for any
    other statement (a call, a loop, an import, a store into an object): what it does may
    matter to all of the module. A line in the test of an ``if`` or the items of a ``with``
    counts for the names the statements it guards bind, and the ``with``'s ``as`` names,
    when they all only bind names (``with open("params.yaml") as f: PARAMS = load(f)``)."""
    guarded_names: list[str] = []
    for stmt, guards, _ in guarded(body):
        if _spans(stmt, line):
            return _binds(stmt)
        if any(_spans(g, line) for g in guards):
            names = _binds(stmt)
            if names is None:
                return None
            guarded_names += names
    if not guarded_names:
        return None
    for node in body:
        for inner in ast.walk(node):
            for item in inner.items if isinstance(inner, ast.With) else ():
                if item.optional_vars is not None and _spans(item.context_expr, line):
                    if not _names_only(item.optional_vars):
                        return None
                    guarded_names += target_names([item.optional_vars])
    return sorted(set(guarded_names))


def _spans(node: ast.stmt | ast.expr, line: int) -> bool:
    return node.lineno <= line <= (node.end_lineno or node.lineno)


def _binds(stmt: ast.stmt) -> list[str] | None:
    """``bound_at`` for one statement."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [stmt.name]
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets: list[ast.expr] = (
            list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
        )
        names = list(target_names(targets))
        return names if names and all(_names_only(t) for t in targets) else None
    return None


def _names_only(target: ast.expr) -> bool:
    """``A``, ``A, B``, ``[A, *B]``: names, not a store into an object (``CONFIG["x"]``)."""
    if isinstance(target, ast.Starred):
        return _names_only(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return all(_names_only(e) for e in target.elts)
    return isinstance(target, ast.Name)


def dotted(expr: ast.expr) -> bool:
    """True for a dotted name (``register``, ``plugins.add``), not for a method of what
    indexing or calling one gave (``Plugin.registry["bar"]().go``)."""
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return isinstance(expr, ast.Name)


def last_plain_definition(
    tree: ast.Module | None, defs: Mapping[str, Iterable[ast.stmt]], name: str
) -> int:
    """The line of the last statement that binds ``name`` anew directly in the module's body
    (``tree``; ``defs``: the statements binding each name): a ``def``, a ``class``, ``name =
    ...``; not under an ``if``, ``try`` or ``with``: those may not run; not ``name += 1`` nor
    ``name[k] = v``: those keep what was there. 0 when there is none."""
    body = {id(stmt) for stmt in tree.body} if tree else set()
    lines = [
        node.lineno
        for node in defs.get(name, ())
        if id(node) in body and name in statement_names(node)[0]
    ]
    return max(lines, default=0)
