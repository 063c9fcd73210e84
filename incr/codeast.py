"""What incr reads in a module's AST: definitions, imports, names referred to, run-time
lookups, draws from global random generators (the normalised source and its digest are
``astnorm``'s).

Pure: sources come in as ``ModuleSource`` values; ``codeindex.CodeIndex`` resolves names
across modules (``ModuleLookup`` is the part of it that ``creaders`` and ``registries`` use).
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from incr.astnorm import PART_DIGEST_LEN as PART_DIGEST_LEN
from incr.astnorm import digest_nodes, normalise

_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
#: Modules never fingerprinted: the standard library (the Python version covers it) and incr.
IGNORED = _STDLIB | {"incr"}


@dataclass(frozen=True)
class ModuleSource:
    """A project-local module: dotted name, path relative to the root, and its text."""

    name: str
    path: str
    text: str
    is_package: bool = False


@dataclass
class Binding:
    """What a module-level name is bound to by an import."""

    module: str | None = None  # bound to a module
    attr_of: str | None = None  # bound to attribute ``attr`` of module ``attr_of``
    attr: str = ""


@dataclass
class ModuleInfo:
    """What is read of one module's text: its definitions, imports and tree."""

    source: ModuleSource
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    imports: dict[str, Binding] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    tree: ast.Module | None = None
    lines: list[str] | None = None


Ref = tuple[str, tuple[str, ...]]  # a name and the attribute chain read from it


class ModuleLookup(Protocol):
    """Modules by dotted name, and where a name used in a module points (``CodeIndex``)."""

    def module(self, name: str) -> ModuleInfo | None: ...
    def source(self, name: str) -> ModuleSource | None: ...
    def project_modules(self) -> list[str]: ...
    def is_local(self, name: str) -> bool: ...
    def resolve(self, info: ModuleInfo, ref: Ref) -> Iterable[tuple[str, str] | str]: ...


#: Trees parsed by another reader of a module (the graph cache's wiring check), by the text
#: they were parsed from, each waiting for the one ``analyse`` of that text that takes it: a
#: changed module is parsed once per command, and no tree is ever shared by two readers.
_handed: dict[str, ast.Module] = {}


#: Trees waiting at most: one the code index never asks for (its closures were saved) is
#: dropped after a few others, so a long ``incr watch`` holds no more than these.
HANDED_MAX = 4


def hand_over(text: str, tree: ast.Module) -> None:
    """Give ``tree``, parsed from ``text`` and not to be used or changed by the caller again,
    to the next ``analyse`` of ``text``."""
    if len(_handed) >= HANDED_MAX:
        _handed.pop(next(iter(_handed)))  # the oldest
    _handed[text] = tree


#: The trees the last few ``analyse`` calls used, by text, until ``parsed_tree`` takes one:
#: a long ``incr watch`` keeps no more of them alive than these.
_analysed: dict[str, ast.Module] = {}


def parsed_tree(source: bytes) -> ast.Module | None:
    """A tree already parsed from ``source`` (UTF-8) by this process, for the import of a
    project module to compile from instead of parsing the text again; None when there is
    none. The trees of this module are put back as they were after each use; a tree the code
    index used is given once (its index keeps it as long as it needs it)."""
    head = source.split(b"\n", 2)[:2]
    if any(_COOKIE.match(line) and not _UTF8.search(line) for line in head):
        return None  # Python would decode it another way
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _handed.get(text) or _analysed.pop(text, None)


def analysed_tree(text: str) -> ast.Module | None:
    """The tree the code index parsed from ``text`` in this process, left where it is: for a
    reader that only reads it (the wiring check, after a command that parsed the module for
    its closures); None when there is none."""
    return _analysed.get(text)


#: A coding declaration (PEP 263), and one that names UTF-8.
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
_UTF8 = re.compile(rb"coding[:=][ \t]*(?:utf[-_]?8)(?![-\w.])", re.IGNORECASE)


def analyse(source: ModuleSource) -> ModuleInfo:
    tree = _handed.pop(source.text, None) or ast.parse(source.text, filename=source.path)
    if len(_analysed) >= HANDED_MAX:
        _analysed.pop(next(iter(_analysed)))  # the oldest
    _analysed[source.text] = tree
    info = ModuleInfo(source=source, tree=tree)
    package = package_of(source)
    for stmt in top_level(tree.body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            info.defs.setdefault(stmt.name, []).append(stmt)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
            )
            for name in target_names(targets):
                info.defs.setdefault(name, []).append(stmt)
            for name in _mutated_names(targets):  # TABLE["inc"] = inc, obj.attr = value
                info.defs.setdefault(name, []).append(stmt)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            for name in _call_keys(stmt.value):  # TABLE.update(...), REG.add(f), register(f)
                info.defs.setdefault(name, []).append(stmt)
        elif isinstance(stmt, ast.For | ast.While):  # for k in ...: TABLE[k] = ...
            for name in _loop_names(stmt):  # the whole loop defines what it assigns
                info.defs.setdefault(name, []).append(stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    info.imports[alias.asname] = Binding(module=alias.name)
                else:
                    top = alias.name.split(".")[0]
                    info.imports[top] = Binding(module=top)
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt.module, stmt.level, package)
            for alias in stmt.names:
                if alias.name == "*":
                    info.stars.append(base)
                    continue
                bound = alias.asname or alias.name
                info.imports[bound] = Binding(attr_of=base, attr=alias.name)
    return info


def definition_nodes(info: ModuleInfo, sym: str) -> list[ast.stmt] | None:
    """The statements defining ``sym``: a module-level name, or ``Class.name`` (a method or
    attribute defined in the body of a module-level class, at any depth of nesting)."""
    if sym in info.defs:
        return info.defs[sym]
    head, _, rest = sym.partition(".")
    if not rest or head not in info.defs:
        return None
    return class_members(info.defs[head], rest) or None


def class_members(scope: list[ast.stmt], qualname: str) -> list[ast.stmt]:
    """The statements of the class bodies in ``scope`` that define ``qualname`` (dotted:
    ``Inner.method``): methods, nested classes and class attributes."""
    for part in qualname.split("."):
        classes = [stmt for stmt in scope if isinstance(stmt, ast.ClassDef)]
        scope = [
            stmt for cls in classes for stmt in top_level(cls.body) if part in _defined_names(stmt)
        ]
    return scope


def _defined_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets: list[ast.expr] = (
            list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
        )
        return set(target_names(targets))
    return set()


_DYNAMIC = {"getattr", "globals", "vars", "eval", "exec", "__import__", "import_module"}


def dynamic_calls(node: ast.AST, nodes: list[ast.AST] | None = None) -> list[str]:
    """Calls that look code up by a name computed at run time (``getattr(h, name)``)."""
    found = []
    for sub in ast.walk(node) if nodes is None else nodes:
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in _DYNAMIC:
            continue
        if name == "getattr" and len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant):
            continue  # getattr(x, "name") names what it reads
        if name == "import_module" and named_import(sub) is not None:
            continue  # import_module("plugins.lin") names the module (see ``inner_imports``)
        found.append(f"{name}()")
    return found


def named_import(call: ast.Call) -> str | None:
    """The module ``importlib.import_module`` is asked for when the call names it with
    constants (``import_module("plugins.lin")``, ``import_module(".lin", "plugins")``); None
    for another call, or a name computed at run time."""
    func = call.func
    if (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) != "import_module":
        return None
    given = dict(zip(("name", "package"), call.args, strict=False))
    given.update({k.arg: k.value for k in call.keywords if k.arg in ("name", "package")})
    texts = {k: v.value for k, v in given.items() if isinstance(v, ast.Constant)}
    if len(texts) != len(given) or not all(isinstance(t, str) for t in texts.values()):
        return None
    name, package = texts.get("name"), texts.get("package")
    if not isinstance(name, str) or not name.startswith("."):
        return name if isinstance(name, str) and name else None
    if not isinstance(package, str) or not package:
        return None  # relative, with no package to resolve it from: an error at run time
    level = len(name) - len(name.lstrip("."))
    return _absolute(name[level:] or None, level, package) or None


#: Functions of numpy's legacy global generator (``np.random.rand``) and of the ``random``
#: module's hidden instance (``random.choice``): each call draws from process-wide state.
def package_of(source: ModuleSource) -> str:
    return source.name if source.is_package else source.name.rpartition(".")[0]


def inner_imports(
    node: ast.AST, package: str, nodes: list[ast.AST] | None = None
) -> Iterable[Binding]:
    """Imports made inside a definition: a whole module, or one name of a module."""
    for sub in ast.walk(node) if nodes is None else nodes:
        if isinstance(sub, ast.Import):
            for alias in sub.names:
                yield Binding(module=alias.name)
        elif isinstance(sub, ast.ImportFrom):
            base = _absolute(sub.module, sub.level, package)
            for alias in sub.names:
                if alias.name == "*":
                    yield Binding(module=base)
                else:
                    yield Binding(attr_of=base, attr=alias.name)
        elif isinstance(sub, ast.Call) and (named := named_import(sub)) is not None:
            yield Binding(module=named)  # the whole module, as ``import plugins.lin`` would


def top_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, looking inside if/try/with blocks (guards, optional imports)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from top_level(stmt.body)
            yield from top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
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


def _loop_names(loop: ast.For | ast.While) -> set[str]:
    """Names a module-level loop binds or changes in place: its target, and the functions,
    classes, targets and mutated containers of the statements in it."""
    names = set(target_names([loop.target])) if isinstance(loop, ast.For) else set()
    for sub in ast.walk(loop):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)  # a step function defined in a loop, once per value
        elif isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(sub.targets) if isinstance(sub, ast.Assign) else [sub.target]
            )
            names |= {*target_names(targets), *_mutated_names(targets)}
        elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call):
            names |= set(_call_keys(sub.value))
    return names


def _call_keys(call: ast.Call) -> Iterable[str]:
    """The names a module-level call statement is kept under: the container it changes
    (``TABLE`` in ``TABLE.update(...)`` and in ``TABLE.register("x")(f)``), or ``NAME()`` for a
    call of a plain name (``register("x")(f)``: found when ``register`` fills a table)."""
    func = call.func
    while isinstance(func, ast.Call):
        func = func.func
    if isinstance(func, ast.Name):
        yield f"{func.id}()"
    else:
        yield from _mutated_names([func])


def _mutated_names(targets: list[ast.expr]) -> Iterable[str]:
    """The module-level names a statement changes in place: the root of a subscript or
    attribute target (``TABLE`` in ``TABLE["a"] = f`` and in ``TABLE.update(...)``)."""
    for target in targets:
        node = target
        while isinstance(node, ast.Subscript | ast.Attribute):
            node = node.value
        if node is not target and isinstance(node, ast.Name):
            yield node.id


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, module] if module else base)


def references(node: ast.AST, nodes: list[ast.AST] | None = None) -> list[Ref]:
    """Every name read in ``node``, with the attribute chain read from it (``h.scale``);
    ``nodes``: ``astnorm.walked(node)``, when already known."""
    refs: list[Ref] = []
    chained: set[int] = set()
    for sub in ast.walk(node) if nodes is None else nodes:
        if isinstance(sub, ast.AnnAssign) and sub.simple:
            chained.add(id(sub.target))  # ``gamma: float = 0.1`` binds, never reads, gamma
        if isinstance(sub, ast.Attribute) and id(sub) not in chained:
            chain: list[str] = []
            cur: ast.expr = sub
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                chained.add(id(cur))
                cur = cur.value
            if isinstance(cur, ast.Name):
                chained.add(id(cur))
                refs.append((cur.id, tuple(reversed(chain))))
        elif isinstance(sub, ast.Name) and id(sub) not in chained:
            refs.append((sub.id, ()))
    return refs


def defined_in_class(source: str | bytes, path: str, qualname: str) -> bool:
    """True when ``qualname`` (``Steps.load``) is defined in the body of a module-level class
    of the module ``source``. Raises SyntaxError/ValueError for a source that does not parse."""
    head, _, rest = qualname.partition(".")
    scope = list(top_level(ast.parse(source, filename=path).body))
    return bool(rest) and bool(class_members([s for s in scope if _is_class(s, head)], rest))


def _is_class(stmt: ast.stmt, name: str) -> bool:
    return isinstance(stmt, ast.ClassDef) and stmt.name == name


def function_closure(source_text: str, path: str) -> str:
    """Digest of a function's own source when it is not defined at a module's top level."""
    import textwrap

    tree = ast.parse(textwrap.dedent(source_text), filename=path)
    return digest_nodes(tree.body)


def enclosing_names(source: ModuleSource, line: int) -> list[str]:
    """The module-level names whose definition holds ``line``, fewest definitions first, then
    by name: the closure of any of them holds the code written on that line (a function or a
    lambda defined inside a function, a loop or an assignment). Empty when no module-level
    definition holds it."""
    try:
        defs = _analyse_cached(source).defs
    except (SyntaxError, ValueError):
        return []
    found = [name for name, nodes in defs.items() if any(_holds(node, line) for node in nodes)]
    return sorted(found, key=lambda name: (len(defs[name]), name))


def _holds(node: ast.stmt, line: int) -> bool:
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start <= line <= (node.end_lineno or node.lineno)


@functools.lru_cache(maxsize=8)
def _analyse_cached(source: ModuleSource) -> ModuleInfo:
    return analyse(source)


def definitions(source: ModuleSource, name: str) -> list[str]:
    """The normalised statements that define ``name`` at the top level of ``source``."""
    try:
        return [normalise(node) for node in _analyse_cached(source).defs.get(name, [])]
    except (SyntaxError, ValueError):
        return []


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
        return set(target_names(targets)), set(_mutated_names(targets))
    if isinstance(stmt, ast.AugAssign):
        return set(), {*target_names([stmt.target]), *_mutated_names([stmt.target])}
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return set(), set(_mutated_names([stmt.value.func]))
    if isinstance(stmt, ast.For | ast.While):
        return set(), _loop_names(stmt)
    if isinstance(stmt, ast.If | ast.Try | ast.With):
        bound: set[str] = set()
        changed: set[str] = set()
        for inner in top_level([stmt]):
            names = statement_names(inner) if inner is not stmt else (set(), set())
            bound |= names[0]
            changed |= names[1]
        return set(), bound | changed  # maybe bound: what was there before may remain
    return set(), set()
