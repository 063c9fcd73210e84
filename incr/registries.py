"""Tables filled by registration decorators: which definitions count for a step reading one.

``MODELS = {}`` plus ``def register(name): def deco(fn): MODELS[name] = fn; return fn; ...``
and ``@register("lin") def lin(...)`` in any project module: a step that calls
``MODELS[config.name](...)`` runs ``lin`` without naming it. When a code closure reaches a
module-level name that may be such a table (a container, an instance, a class holding a
container, a ``functools.singledispatch`` function), the project's modules are scanned for
what fills it:

- *fillers*: module-level functions and classes that store into it (``TABLE[k] = v``,
  ``TABLE.append(v)``, ``.add``, ``.update``, ``.register(...)``...), and, transitively,
  the ones that call a filler;
- definitions decorated by a filler, by an attribute of the table (``@MODELS.register``), or
  by a decorator that takes the table as an argument;
- module-level statements that fill it (``register("x")(fn)``, ``MODELS["x"] = fn`` in another
  module, ``MODELS.register("x", fn)``, ``settings.OPT.lr = 0.5``), each counted under the
  name it fills (``settings.OPT``: the statements of that module that may change it, not
  ``settings.EXTRA = 2``).

All of them count for the table, so for every step that uses it. A filler that stores a value
incr cannot trace to code it follows (``MODELS[ep.name] = ep.load()`` in a loop over entry
points) is reported as a run-time lookup. Pure: sources come from the ``ModuleLookup``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from incr.codeast import ModuleInfo, ModuleLookup, ModuleSource, Ref
from incr.moduletop import dotted, target_names, top_level
from incr.tablestores import (
    call_values,
    callee,
    is_mutator,
    last_name,
    outer_calls,
    root_ref,
    stores,
)

Target = tuple[str, str]  # (module, name)

#: Builtins and standard containers a table may be made with.
CONTAINERS = frozenset(
    {
        "dict",
        "list",
        "set",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "deque",
        "ChainMap",
        "WeakValueDictionary",
        "WeakKeyDictionary",
        "WeakSet",
        "SimpleNamespace",
    }
)
#: Calls whose result holds only what they are given (the values stay traceable).
PASSING = frozenset(
    {
        *CONTAINERS,
        "tuple",
        "frozenset",
        "sorted",
        "reversed",
        "zip",
        "enumerate",
        "map",
        "filter",
        "range",
        "staticmethod",
        "classmethod",
        "property",
        "partial",
        "items",
        "values",
        "keys",
        "copy",
    }
)
#: Decorators that make a function a table of implementations (``@featurize.register(int)``).
DISPATCHERS = frozenset({"singledispatch", "singledispatchmethod"})
#: Rounds of "a function that calls a filler is a filler" (a bound, not a limit in practice).
ROUNDS = 8
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def is_table(index: ModuleLookup, info: ModuleInfo, nodes: list[ast.stmt]) -> bool:
    """True when the module-level name defined by ``nodes`` may be a table filled elsewhere:
    a container literal, a container or an instance made by a call (not a plain standard
    library value such as ``Path("data")``), or a class whose body holds a container."""
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            if _container(index, info, node.value):
                return True
        elif isinstance(node, ast.FunctionDef) and any(
            last_name(d) in DISPATCHERS for d in node.decorator_list
        ):
            return True  # @featurize.register(int) in any module adds to what it runs
        elif isinstance(node, ast.ClassDef):
            for stmt in top_level(node.body):
                value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
                if value is not None and _literal_container(value):
                    return True
    return False


def _literal_container(value: ast.expr) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    return isinstance(value, ast.Call) and last_name(value.func) in CONTAINERS


def _container(index: ModuleLookup, info: ModuleInfo, value: ast.expr) -> bool:
    if _literal_container(value):
        return True
    if not isinstance(value, ast.Call):
        return False
    ref = root_ref(value.func)
    # A call of project code or of a package makes an object that may be a registry; a call
    # of the standard library or a builtin resolves to nothing (and is not a container).
    return ref is not None and any(True for _ in index.resolve(info, ref))


def scan(index: ModuleLookup, table: Target) -> tuple[list[Target], list[str]]:
    """What fills ``table`` in the project's modules: the definitions and module-level
    statements (as ``(module, name)`` closure targets) that count for it, and the places that
    fill it with values incr cannot follow."""
    return _Scan(index, table).run()


class _Scan:
    def __init__(self, index: ModuleLookup, table: Target) -> None:
        self.index = index
        self.table = table
        self.fillers: set[Target] = set()
        self.found: list[Target] = []
        self.dynamic: list[str] = []

    def run(self) -> tuple[list[Target], list[str]]:
        names = dict.fromkeys([self.table[0], *self.index.project_modules()])
        sources = [s for s in map(self._source, names) if s is not None]
        words = {self.table[1]}
        infos: list[ModuleInfo] = []
        for _ in range(ROUNDS):
            # Only modules that name the table or a filler can fill it: the others are not
            # even parsed.
            pattern = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, words))) + r")\b")
            found = (self._module(s.name) for s in sources if pattern.search(s.text))
            infos = [info for info in found if info is not None]
            for info in infos:
                self._find_fillers(info)
            new = {sym for _, sym in self.fillers} - words
            if not new:
                break
            words |= new
        for info in infos:
            self._find_registrations(info)
        self.found += sorted(self.fillers)
        return self.found, sorted(set(self.dynamic))

    # A module that cannot be read or parsed cannot be imported either: it registers nothing.

    def _source(self, name: str) -> ModuleSource | None:
        try:
            return self.index.source(name)
        except (OSError, UnicodeDecodeError):
            return None

    def _module(self, name: str) -> ModuleInfo | None:
        try:
            return self.index.module(name)
        except (SyntaxError, ValueError):
            return None

    # ------------------------------------------------------------------ resolution

    def _points_at(self, info: ModuleInfo, ref: Ref | None, wanted: set[Target]) -> bool:
        if ref is None:
            return False
        return any(t in wanted for t in self.index.resolve(info, ref) if not isinstance(t, str))

    def _place(self, info: ModuleInfo, name: str) -> str:
        return f"{self.table[1]} filled in {info.source.path}:{name}"

    # ------------------------------------------------------------------ fillers

    def _find_fillers(self, info: ModuleInfo) -> None:
        for name, node in _definitions(info):
            if (info.source.name, name) in self.fillers:
                continue
            scope = _Scope(node)
            values = self._stored_values(info, node, scope)
            if values is None:
                continue
            self.fillers.add((info.source.name, name))
            if not all(self._traceable(info, v, scope) for v in values):
                self.dynamic.append(self._place(info, name))

    def _stored_values(
        self, info: ModuleInfo, node: ast.AST, scope: _Scope
    ) -> list[ast.expr] | None:
        """The values ``node`` stores into the table or passes to a filler; None when it does
        neither."""
        values: list[ast.expr] = []
        fills = False
        table = {self.table}
        for root, stored in stores(node):
            if root[0] not in scope.local and self._points_at(info, root, table):
                fills = True
                values += stored
        for call in outer_calls(node):
            called = root_ref(callee(call))
            if called is None or called[0] in scope.local:
                continue
            passed = call_values(call)
            if passed and dotted(callee(call)) and self._points_at(info, called, self.fillers):
                fills = True  # register("x")(fn), add_model(name, fn)
                values += passed
            elif called[1] and is_mutator(called[1][-1]) and self._points_at(info, called, table):
                fills = True  # MODELS.register("x")(fn)
                values += passed
        return values if fills else None

    def _traceable(self, info: ModuleInfo, value: ast.expr, scope: _Scope) -> bool:
        """True when ``value`` is made only of things incr follows: constants, lambdas,
        parameters (the callers are followed), module-level names, and calls of those."""
        return _Traceable(self, info, scope).check(value)

    # ------------------------------------------------------------------ registrations

    def _find_registrations(self, info: ModuleInfo) -> None:
        wanted = self.fillers | {self.table}
        module = info.source.name
        for name, node in _definitions(info):
            decorators = getattr(node, "decorator_list", [])
            if any(self._registers(info, d, wanted) for d in decorators):
                self.found.append((module, name))
        tree = info.tree.body if info.tree else []
        scope = _Scope(None)
        for stmt in top_level(tree):
            if isinstance(stmt, (*_DEFS, ast.Import, ast.ImportFrom)):
                continue
            values = self._stored_values(info, stmt, scope)
            if values is None:
                continue
            keys = [k for k, nodes in info.defs.items() if any(n is stmt for n in nodes)]
            self.found += [(module, self._narrowed(info, stmt, k)) for k in keys]
            if not all(self._traceable(info, v, _Scope(stmt)) for v in values):
                self.dynamic.append(f"{self.table[1]} filled at {info.source.path}:{stmt.lineno}")

    def _narrowed(self, info: ModuleInfo, stmt: ast.stmt, key: str) -> str:
        """``settings.OPT`` for ``settings.OPT.lr = 0.5`` filling table ``OPT`` of the project
        module imported as ``settings``, as a read of ``settings.OPT`` there resolves: what
        counts is the statements of this module that may change ``settings.OPT``
        (``moduletop.changes_of``), not ``settings.EXTRA = 2``. Else ``key`` itself."""
        firsts = {chain[:1] if head == key else None for (head, chain), _ in stores(stmt)}
        first = firsts.pop() if len(firsts) == 1 else None
        if key not in info.imports or not first:
            return key
        here = self.index.resolve(info, (key, first))
        own = [t[1] for t in here if not isinstance(t, str) and t[0] == info.source.name]
        return own[0] if own else key

    def _registers(self, info: ModuleInfo, decorator: ast.expr, wanted: set[Target]) -> bool:
        """True for ``@register(...)``, ``@MODELS.register``, ``@MODELS`` and decorators that
        take the table as an argument (``@register_in(MODELS, "x")``)."""
        if self._points_at(info, root_ref(callee(decorator)), wanted):
            return True
        inner = decorator
        while isinstance(inner, ast.Call):
            args = [*inner.args, *(k.value for k in inner.keywords)]
            if any(self._points_at(info, root_ref(a), {self.table}) for a in args):
                return True
            inner = inner.func
        return False


class _Traceable:
    def __init__(self, scan: _Scan, info: ModuleInfo, scope: _Scope) -> None:
        self.scan = scan
        self.info = info
        self.scope = scope
        self.checking: set[str] = set()

    def check(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Constant | ast.Lambda | ast.JoinedStr):
            return True
        if isinstance(value, ast.Name):
            return self._name(value.id)
        if isinstance(value, ast.Call):
            return self._call(value)
        if isinstance(value, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return all(self.check(g.iter) for g in value.generators)
        if isinstance(value, ast.Await | ast.Yield | ast.YieldFrom):
            return False
        return all(self.check(c) for c in _children(value))

    def _name(self, name: str) -> bool:
        if name in self.scope.params or name not in self.scope.local:
            return True  # a parameter (callers are followed) or a module-level name
        if name in self.checking:
            return True
        self.checking.add(name)
        return all(self.check(v) for v in self.scope.bound.get(name, []))

    def _call(self, call: ast.Call) -> bool:
        args = [*call.args, *(k.value for k in call.keywords)]
        if not all(self.check(a) for a in args):
            return False
        func = call.func
        if isinstance(func, ast.Attribute):
            return func.attr in PASSING and self.check(func.value)
        if isinstance(func, ast.Name):
            if func.id in PASSING or func.id in self.scope.params:
                return True
            if func.id in self.scope.local:
                return self._name(func.id)
            resolved = list(self.scan.index.resolve(self.info, (func.id, ())))
            return any(not isinstance(t, str) for t in resolved)  # project code is followed
        return self.check(func)


def _children(node: ast.expr) -> list[ast.expr]:
    return [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]


class _Scope:
    """The local names of a function (or of a module-level statement: its loop targets)."""

    def __init__(self, node: ast.AST | None) -> None:
        self.params: set[str] = set()
        self.bound: dict[str, list[ast.expr]] = {}
        declared: set[str] = set()
        for sub in ast.walk(node) if node is not None else ():
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                args = sub.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                    self.params.add(arg.arg)
                for extra in (args.vararg, args.kwarg):
                    if extra is not None:
                        self.params.add(extra.arg)
                if sub is not node and not isinstance(sub, ast.Lambda):
                    self.bound.setdefault(sub.name, [])
            elif isinstance(sub, ast.Global | ast.Nonlocal):
                declared.update(sub.names)
            elif isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets: list[ast.expr] = (
                    list(sub.targets) if isinstance(sub, ast.Assign) else [sub.target]
                )
                for name in target_names(targets):
                    if sub.value is not None:
                        self.bound.setdefault(name, []).append(sub.value)
            elif isinstance(sub, ast.For | ast.AsyncFor | ast.comprehension):
                for name in target_names([sub.target]):
                    self.bound.setdefault(name, []).append(sub.iter)
            elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                for name in target_names([sub.optional_vars]):
                    self.bound.setdefault(name, []).append(sub.context_expr)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                self.bound.setdefault(sub.name, [])
        for name in declared:
            self.bound.pop(name, None)
        self.params -= declared
        self.local = self.params | set(self.bound)


def _definitions(info: ModuleInfo) -> Iterator[tuple[str, ast.stmt]]:
    """Module-level functions and classes of a module, with their names."""
    for name, nodes in info.defs.items():
        for node in nodes:
            if isinstance(node, _DEFS):
                yield name, node
