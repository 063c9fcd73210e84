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
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import field
from typing import Protocol

from incr.astnorm import PART_DIGEST_LEN as PART_DIGEST_LEN
from incr.astnorm import digest_nodes, normalise
from incr.dynimport import ANY, asked_distribution, followed, named_import, prefixed_import
from incr.importeffects import TopLevel
from incr.model import DIST, SOURCE_TEXT
from incr.moduletop import (
    TOP_LEVEL,
    absolute,
    call_keys,
    changes_of,
    guarded,
    imported_modules,
    loop_names,
    mutated_names,
    target_names,
    top_level,
)
from incr.scopes import local_names, named_attribute
from incr.valueclass import valueclass

_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
#: Modules never fingerprinted: the standard library (the Python version covers it) and incr.
IGNORED = _STDLIB | {"incr"}


@valueclass(frozen=True)
class ModuleSource:
    """A project-local module: dotted name, path relative to the root, and its text;
    ``main_runs``: whether its ``if __name__ == "__main__":`` block ever runs (a pipeline
    module's, which discovery runs, or the script's), else its statements count for nothing."""

    name: str
    path: str
    text: str
    is_package: bool = False
    main_runs: bool = True


@valueclass
class Binding:
    """What a module-level name is bound to by an import."""

    module: str | None = None  # bound to a module
    attr_of: str | None = None  # bound to attribute ``attr`` of module ``attr_of``
    attr: str = ""


@valueclass
class ModuleInfo:
    """What is read of one module's text: its definitions, imports and tree."""

    source: ModuleSource
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    imports: dict[str, Binding] = field(default_factory=dict)
    #: Names bound by more than one import (``try``/``except ImportError``, ``if``/``else``):
    #: the bindings before the last one, in ``imports``. Any of them may be the one that runs.
    other_imports: dict[str, list[Binding]] = field(default_factory=dict)
    #: The modules its top-level imports may import (outside a ``__main__`` block), with the
    #: project's and the others alike: importing this module imports those.
    imported: list[str] = field(default_factory=list)
    stars: list[str] = field(default_factory=list)
    #: The line of each star import in ``stars``.
    star_lines: list[int] = field(default_factory=list)
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


#: Trees parsed by another reader of a module (the wiring check, the import of a changed
#: module), by the text they were parsed from, each waiting for the one ``analyse`` of that
#: text that takes it: a changed module is parsed once per command, and no tree is ever
#: shared by two readers. One the code index never asks for (its closures were saved) is
#: dropped after others: at most HANDED_MAX trees wait, or up to HANDED_MANY while their
#: texts hold HANDED_TEXT characters at most (a tree takes some 90 times its text's size).
_handed: dict[str, ast.Module] = {}
HANDED_MAX, HANDED_MANY, HANDED_TEXT = 4, 64, 1_000_000


def hand_over(text: str, tree: ast.Module) -> None:
    """Give ``tree``, parsed from ``text``, to its next ``analyse``; the caller drops it."""
    _handed.pop(text, None)
    _handed[text] = tree
    while len(_handed) > HANDED_MAX and (
        len(_handed) > HANDED_MANY or sum(map(len, _handed)) > HANDED_TEXT
    ):
        _handed.pop(next(iter(_handed)))  # the oldest


#: The trees the last few ``analyse`` calls used, by text, until ``parsed_tree`` takes one (a long
#: ``incr watch`` keeps no more alive); ``_alive``: each it used, while the code index holds it.
_analysed: dict[str, ast.Module] = {}
_alive: weakref.WeakValueDictionary[str, ast.Module] = weakref.WeakValueDictionary()


def parsed_tree(source: bytes) -> ast.Module | None:
    """A tree already parsed from ``source`` (UTF-8) by this process, for the import of a
    project module to compile from instead of parsing the text again; None when there is
    none. The trees of this module are put back as they were after each use; a tree the code
    index used is given once (its index keeps it as long as it needs it)."""
    text = utf8_text(source)
    if text is None:
        return None
    return _handed.get(text) or _analysed.pop(text, None)


def utf8_text(source: bytes) -> str | None:
    """The text of module bytes ``source`` when Python decodes them as UTF-8, else None."""
    head = source.split(b"\n", 2)[:2]
    if any(_COOKIE.match(line) and not _UTF8.search(line) for line in head):
        return None  # Python would decode it another way
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError:
        return None


def analysed_tree(text: str) -> ast.Module | None:
    """The tree parsed from ``text`` in this process (by the code index, or handed over to it),
    left where it is: for a reader that only reads it (wiring, memo scans); else None."""
    return _analysed.get(text) or _handed.get(text) or _alive.get(text)


#: A coding declaration (PEP 263), and one that names UTF-8.
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
_UTF8 = re.compile(rb"coding[:=][ \t]*(?:utf[-_]?8)(?![-\w.])", re.IGNORECASE)


def analyse(source: ModuleSource) -> ModuleInfo:
    tree = _handed.pop(source.text, None) or ast.parse(source.text, filename=source.path)
    if len(_analysed) >= HANDED_MAX:
        _analysed.pop(next(iter(_analysed)))  # the oldest
    _analysed[source.text] = _alive[source.text] = tree
    info = ModuleInfo(source=source, tree=tree)
    package = package_of(source)

    def define(name: str, stmt: ast.stmt, guards: tuple[ast.stmt, ...]) -> None:
        nodes = info.defs.setdefault(name, [])
        nodes += [g for g in guards if not any(n is g for n in nodes)]
        nodes.append(stmt)

    statements = [s for s in guarded(tree.body) if source.main_runs or not s[2]]
    for stmt, guards, main in statements:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            define(stmt.name, stmt, guards)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
            )
            for name in target_names(targets):
                define(name, stmt, guards)
            for name in mutated_names(targets, main):  # TABLE["inc"] = inc, obj.attr = v
                define(name, stmt, guards)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            for name in call_keys(stmt.value, main):  # TABLE.update(...), register(f)
                define(name, stmt, guards)
        elif isinstance(stmt, ast.For | ast.While):  # for k in ...: TABLE[k] = ...
            for name in loop_names(stmt, main):  # the whole loop defines what it assigns
                define(name, stmt, guards)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for bound, binding in _bindings(stmt, package, info):
                if bound in info.imports:  # try: from fast import op / except: from slow...
                    info.other_imports.setdefault(bound, []).append(info.imports[bound])
                info.imports[bound] = binding
                for test in guards:  # if BACKEND == "fast": from fast import op
                    info.defs.setdefault(bound, []).append(test)
            if not main:
                info.imported += imported_modules(stmt, package)
    sources = {name: b.attr_of or b.module or "" for name, b in info.imports.items()}
    top = TopLevel(info.defs, sources, source.name.split(".")[0])
    for stmt, guards, main in statements:
        if top.runs_in_main_block(stmt) if main else top.runs_on_import(stmt):  # incr.importeffects
            define(TOP_LEVEL, stmt, guards)
        for name in top.registered_in(stmt):  # @featurize.register(int): featurize's
            define(name, stmt, guards)
    return info


def _bindings(
    stmt: ast.Import | ast.ImportFrom, package: str, info: ModuleInfo
) -> Iterator[tuple[str, Binding]]:
    """The names a module-level import binds, with what each is bound to (a star import is
    noted in ``info.stars``)."""
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                yield alias.asname, Binding(module=alias.name)
            else:
                top = alias.name.split(".")[0]
                yield top, Binding(module=top)
        return
    base = absolute(stmt.module, stmt.level, package)
    for alias in stmt.names:
        if alias.name == "*":
            info.stars.append(base)
            info.star_lines.append(stmt.lineno)
        else:
            yield alias.asname or alias.name, Binding(attr_of=base, attr=alias.name)


def definition_nodes(info: ModuleInfo, sym: str) -> list[ast.stmt] | None:
    """The statements defining ``sym``: a module-level name, or ``Class.name`` (a method or
    attribute defined in the body of a module-level class, at any depth of nesting)."""
    if sym in info.defs:
        return info.defs[sym]
    head, _, rest = sym.partition(".")
    if not rest or head not in info.defs:
        return None
    return class_members(info.defs[head], rest) or changes_of(info.defs[head], head, rest) or None


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
#: ``pydoc.locate(name)`` and Hydra's ``instantiate(cfg)`` (a ``_target_`` class name in a
#: config file): code looked up by a name read at run time too.
_DYNAMIC |= {"locate", "instantiate"}


def dynamic_calls(node: ast.AST, nodes: list[ast.AST] | None = None) -> list[str]:
    """Calls that look code up by a name computed at run time (``getattr(h, name)``),
    lookups in an object's ``__dict__`` by such a name (``feats.__dict__[config.fn]``), and
    reads of code as text (``fn.__doc__``, ``inspect.getsource``)."""
    found = []
    for sub in ast.walk(node) if nodes is None else nodes:
        kind = type(sub)  # one test per node for most of them: a walk visits thousands
        if kind is ast.Attribute:
            found += ["__doc__"] if sub.attr == "__doc__" else []  # type: ignore[attr-defined]
            continue
        if kind is ast.Subscript:
            value, key = sub.value, sub.slice  # type: ignore[attr-defined]
            if type(value) is ast.Attribute and value.attr == "__dict__":
                found += [] if type(key) is ast.Constant else ["__dict__[...]"]
            continue
        if kind is not ast.Call:
            continue
        assert isinstance(sub, ast.Call)
        func = sub.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in SOURCE_TEXT:
            found.append(f"{name}()")
        if name not in _DYNAMIC:
            continue
        if name == "getattr" and len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant):
            continue  # getattr(x, "name") names what it reads
        if name == "import_module" and followed(sub):
            continue  # import_module("plugins.lin") names the module (see ``inner_imports``)
        found.append(f"{name}()")
    return found


def package_of(source: ModuleSource) -> str:
    return source.name if source.is_package else source.name.rpartition(".")[0]


def inner_imports(
    node: ast.AST, package: str, nodes: list[ast.AST] | None = None
) -> Iterable[Binding]:
    """Imports made inside a definition: a whole module, or one name of a module."""
    for sub in ast.walk(node) if nodes is None else nodes:
        if type(sub) is ast.Import:  # by exact class: a parsed tree's nodes
            for alias in sub.names:
                yield Binding(module=alias.name)
        elif type(sub) is ast.ImportFrom:
            base = absolute(sub.module, sub.level, package)
            for alias in sub.names:
                if alias.name == "*":
                    yield Binding(module=base)
                else:
                    yield Binding(attr_of=base, attr=alias.name)
        elif type(sub) is ast.Call and (named := named_import(sub)) is not None:
            yield Binding(module=named)  # the whole module, as ``import plugins.lin`` would
        elif type(sub) is ast.Call and (start := prefixed_import(sub, package)):
            yield Binding(module=start + ANY)  # every module named so (``incr.dynimport``)
        elif type(sub) is ast.Call and (dist := asked_distribution(sub)):
            yield Binding(module=DIST + dist)  # its version asked by name


def references(node: ast.AST, nodes: list[ast.AST] | None = None) -> list[Ref]:
    """Every module-level name read in ``node``, with the attribute chain read from it
    (``h.scale``); not a function's own names (``incr.scopes``); ``nodes``:
    ``astnorm.walked(node)``, when already known."""
    refs: list[Ref] = []
    local = local_names(node, nodes)  # a function's own names: never the module's
    chained: set[ast.AST] = set(local)
    for sub in ast.walk(node) if nodes is None else nodes:
        if isinstance(sub, ast.AnnAssign) and sub.simple:
            chained.add(sub.target)  # ``gamma: float = 0.1`` binds, never reads, gamma
        if isinstance(sub, ast.Attribute) and sub not in chained:
            chain: list[str] = []
            cur: ast.expr = sub
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                chained.add(cur)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur not in local:
                chained.add(cur)
                refs.append((cur.id, tuple(reversed(chain))))
        elif isinstance(sub, ast.Name) and sub not in chained:
            refs.append((sub.id, ()))
        else:  # names in strings: pandas query strings, quoted annotations
            kind = type(sub)
            if kind is ast.Call:
                refs += _query_refs(sub)  # type: ignore[arg-type]
                if (named := named_attribute(sub, local)) is not None:  # type: ignore[arg-type]
                    refs.append(named[0])
                    chained.update(named[1])
            elif kind is ast.arg or kind is ast.AnnAssign:
                refs += _quoted_refs(sub.annotation)  # type: ignore[attr-defined]
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                refs += _quoted_refs(sub.returns)  # type: ignore[attr-defined]
    return refs


#: ``@NAME`` (``@obj.attr``) in a pandas ``query``/``eval`` string: a variable of the caller.
_AT_NAME = re.compile(r"@([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)")


def _query_refs(call: ast.Call) -> list[Ref]:
    """The names a pandas ``df.query("age > @MIN_AGE")`` or ``pd.eval(...)`` string reads
    from the code that calls it."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("query", "eval")):
        return []
    texts = [call.args[0]] if call.args else []
    texts += [k.value for k in call.keywords if k.arg in ("expr", "expression")]
    refs: list[Ref] = []
    for text in texts:
        if isinstance(text, ast.Constant) and isinstance(text.value, str):
            for name, rest in _AT_NAME.findall(text.value):
                refs.append((name, tuple(part for part in rest.split(".") if part)))
    return refs


def _quoted_refs(annotation: ast.expr | None) -> list[Ref]:
    """The names in the quoted parts of an annotation (``opt: "OptSpec"``,
    ``list["OptSpec"]``): a model that builds its fields from them reads those classes."""
    refs: list[Ref] = []
    if annotation is None or isinstance(annotation, ast.Name | ast.Attribute):
        return refs  # ``int``, ``pd.DataFrame``: no quotes (most annotations)
    for sub in ast.walk(annotation):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                quoted = ast.parse(sub.value.strip(), mode="eval")
            except (SyntaxError, ValueError):
                continue
            refs += references(quoted)
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
