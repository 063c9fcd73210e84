"""Code fingerprints from source text, and the canonical digest of a step's facts.

Pure: module sources come in through a loader callable (the caller reads files), and the result
is values. A step's code is its function's AST with docstrings removed and positions dropped,
plus, transitively, every module-level function, class and constant of the project's own modules
that it refers to. Names that resolve to third-party modules are reported as packages, so the
caller can add their installed versions.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from blake3 import blake3

from incr import creaders
from incr.model import FINGERPRINT_SCHEMA, Facts

PART_DIGEST_LEN = 32  # hex characters kept for a code part's digest
_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
#: Modules never fingerprinted: the standard library (the Python version covers it) and incr.
IGNORED = _STDLIB | {"incr"}


def digest_bytes(data: bytes, length: int = 64) -> str:
    return blake3(data).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: the one text a value has. Raises TypeError/ValueError."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def json_key(value: Any) -> str:
    """``canonical_json`` that lets NaN through: for comparing values, never for digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def fingerprint(facts: Facts) -> str:
    """The digest of everything that decides whether a step's result can be reused."""
    payload = {
        "schema": FINGERPRINT_SCHEMA,
        "code": facts.code,
        "config": facts.config,
        "inputs": facts.inputs,
        "deps": facts.deps,
    }
    return digest_bytes(canonical_json(payload).encode(), 32)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class ModuleSource:
    """A project-local module: dotted name, path relative to the root, and its text."""

    name: str
    path: str
    text: str
    is_package: bool = False


Loader = Callable[[str], "ModuleSource | None"]

#: The name a closure lists among its consulted modules when it depends on the list of the
#: project's modules (a table filled by decorators: any module may fill it).
PROJECT_MODULES = "*project-modules*"


@dataclass(frozen=True)
class CodeClosure:
    """What a step's code fingerprint is made of.

    ``parts`` maps ``PATH:NAME`` to the digest of that definition's normalised AST (``PATH:*``
    when a whole module is used as a value); ``packages`` holds the top-level names of
    third-party modules the closure imports; ``dynamic`` names run-time lookups incr cannot
    follow (``getattr(h, name) in pipelines/flow.py:load``).
    """

    parts: dict[str, str]
    packages: frozenset[str]
    dynamic: tuple[str, ...] = ()
    modules: frozenset[str] = frozenset()  # the module names consulted to compute it
    #: Calls to readers that open files in native code: (place, mode, kind, value), see
    #: ``creaders.resolve_calls``.
    readers: tuple[tuple[str, str, str, str], ...] = ()


@dataclass
class _Binding:
    """What a module-level name is bound to by an import."""

    module: str | None = None  # bound to a module
    attr_of: str | None = None  # bound to attribute ``attr`` of module ``attr_of``
    attr: str = ""


@dataclass
class _ModuleInfo:
    source: ModuleSource
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    imports: dict[str, _Binding] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    tree: ast.Module | None = None
    lines: list[str] | None = None


class CodeIndex:
    """Resolves and digests code closures over the project's modules, memoising per module."""

    def __init__(
        self,
        load: Loader,
        memo: dict[str, Any] | None = None,
        project: Callable[[], list[str]] | None = None,
    ) -> None:
        """``memo`` maps a digest of a definition's raw source to what was learned from it
        (digest, references, inner imports, run-time lookups); the caller may keep it across
        processes, so unchanged definitions are not normalised again. ``project`` lists the
        names of the project's modules, scanned for what fills a table a closure reaches."""
        self._load = load
        self._project = project
        self._project_names: list[str] | None = None
        self._sources: dict[str, ModuleSource | None] = {}
        self._tables: dict[tuple[str, str], tuple[list[tuple[str, str]], list[str], set[str]]] = {}
        self._modules: dict[str, _ModuleInfo | None] = {}
        self._digests: dict[tuple[str, str], _Definition] = {}
        self.memo: dict[str, Any] = memo if memo is not None else {}
        self.memo_used: set[str] = set()
        self._consulted: set[str] = set()

    def module(self, name: str) -> _ModuleInfo | None:
        if name.split(".")[0] in IGNORED:
            return None
        if name not in self._modules:
            source = self.source(name)
            self._modules[name] = None if source is None else _analyse(source)
        self._consulted.add(name)
        return self._modules[name]

    def source(self, name: str) -> ModuleSource | None:
        """The text of project module ``name`` (None when it is not one), not parsed."""
        if name.split(".")[0] in IGNORED:
            return None
        self._consulted.add(name)
        if name not in self._sources:
            self._sources[name] = self._load(name)
        return self._sources[name]

    def project_modules(self) -> list[str]:
        """The names of the project's modules (a closure that asks depends on the list)."""
        self._consulted.add(PROJECT_MODULES)
        if self._project_names is None:
            self._project_names = sorted(self._project()) if self._project else []
        return self._project_names

    def is_local(self, name: str) -> bool:
        if name.split(".")[0] in IGNORED:
            return False
        return self.module(name) is not None

    def closure(self, module: str, name: str) -> CodeClosure:
        """The closure of ``name`` defined at the top level of local module ``module``."""
        self._consulted = set()
        parts: dict[str, str] = {}
        packages: set[str] = set()
        dynamic: list[str] = []
        readers: list[tuple[str, str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        todo: list[tuple[str, str]] = [(module, name)]
        while todo:
            mod, sym = todo.pop()
            if (mod, sym) in seen:
                continue
            seen.add((mod, sym))
            info = self.module(mod)
            if info is None:
                continue
            if sym == "*":
                parts[f"{info.source.path}:*"] = _digest_nodes([info.tree] if info.tree else [])
                continue
            if _nodes(info, sym) is None:
                continue
            digest, refs, imports, calls, opens = self._definition(info, sym)
            parts[f"{info.source.path}:{sym}"] = digest
            own = (mod, sym) == (module, name)
            readers += creaders.resolve_calls(self, info, sym, opens, own=own)
            dynamic += [f"{call} in {info.source.path}:{sym}" for call in calls]
            draws = global_random_draws(info, refs)
            dynamic += [f"{call} in {info.source.path}:{sym}" for call in draws]
            targets = [t for ref in refs for t in self._resolve(info, ref)]
            targets += [t for b in imports for t in self._resolve_binding(b, ())]
            if "." not in sym and self._may_be_table(info, sym):
                found, notes = self._table_fillers(info.source.name, sym)
                targets += found
                dynamic += notes
            for target in targets:
                if isinstance(target, str):
                    packages.add(target)
                else:
                    todo.append(target)
        dynamic_notes = tuple(sorted(set(dynamic)))
        consulted = frozenset(self._consulted)
        opened = tuple(sorted(set(readers)))
        return CodeClosure(parts, frozenset(packages), dynamic_notes, consulted, opened)

    def _may_be_table(self, info: _ModuleInfo, sym: str) -> bool:
        from incr import registries

        return registries.is_table(self, info, info.defs[sym])

    def _table_fillers(self, module: str, sym: str) -> tuple[list[tuple[str, str]], list[str]]:
        """What fills table ``sym`` of ``module`` (see ``incr.registries``), scanned once."""
        from incr import registries

        key = (module, sym)
        if key not in self._tables:
            before, self._consulted = self._consulted, set()
            found, notes = registries.scan(self, key)
            self._tables[key] = (found, notes, self._consulted)
            self._consulted = before | self._consulted
        found, notes, consulted = self._tables[key]
        self._consulted |= consulted
        return found, notes

    def normalised_source(self, module: str, name: str) -> str | None:
        """The source of a definition (``*``: the whole module) as incr compares it: parsed and
        unparsed, without comments or docstrings, in a standard layout."""
        info = self.module(module)
        if info is None:
            return None
        if name == "*":
            return unparse(info.tree) if info.tree else ""
        nodes = _nodes(info, name)
        if nodes is None:
            return None
        return "\n".join(unparse(s) for s in nodes)

    def _definition(self, info: _ModuleInfo, sym: str) -> _Definition:
        """A definition's digest, the names it reads, the imports made inside it, the
        run-time lookups it makes and its calls that may open files in native code."""
        key = (info.source.name, sym)
        if key not in self._digests:
            nodes = _nodes(info, sym) or []
            package = _package_of(info.source)
            raw = _raw_key(info, nodes, package)
            cached = self.memo.get(raw)
            if cached is None:
                refs = [ref for node in nodes for ref in _references(node)]
                imports = [b for node in nodes for b in _inner_imports(node, package)]
                dynamic = [call for node in nodes for call in _dynamic_calls(node)]
                opens = [call for node in nodes for call in creaders.reader_calls(node)]
                digest = _digest_nodes(nodes)
                cached = self.memo[raw] = _memo_entry(digest, refs, imports, dynamic, opens)
            self.memo_used.add(raw)
            self._digests[key] = _from_memo(cached)
        return self._digests[key]

    def _resolve(self, info: _ModuleInfo, ref: _Ref) -> Iterable[tuple[str, str] | str]:
        """Where a name used in ``info`` points: a local (module, symbol), or a package name.

        A name both defined and imported (``try: from x import f`` / ``except: def f``) points
        at both: either may be the one that runs.
        """
        head, chain = ref
        if head in info.defs:
            yield (info.source.name, head)
        binding = info.imports.get(head)
        if binding is not None:
            yield from self._resolve_binding(binding, chain)
        elif head not in info.defs:
            yield from self._resolve_star(info, ref)

    def _resolve_star(
        self, info: _ModuleInfo, ref: _Ref, seen: frozenset[str] = frozenset()
    ) -> Iterable[tuple[str, str] | str]:
        # The last star import that provides the name wins, as in Python; a star-imported module
        # may itself re-export the name through its own star imports.
        seen = seen | {info.source.name}
        for star in reversed(info.stars):
            star_info = self.module(star)
            if star_info is None or star in seen:
                continue
            if ref[0] in star_info.defs or ref[0] in star_info.imports:
                yield from self._resolve(star_info, ref)
                return
            found = list(self._resolve_star(star_info, ref, seen))
            if found:
                yield from found
                return
        for star in info.stars:
            if not self.is_local(star):
                yield from self._external(star)

    def _resolve_binding(
        self, binding: _Binding, chain: tuple[str, ...]
    ) -> Iterable[tuple[str, str] | str]:
        if binding.attr_of is None:
            assert binding.module is not None
            yield from self._resolve_module_chain(binding.module, chain)
            return
        submodule = f"{binding.attr_of}.{binding.attr}"
        if self.is_local(submodule):  # ``from pipelines import helpers``
            yield from self._resolve_module_chain(submodule, chain)
            return
        target = self.module(binding.attr_of)
        if target is None:
            yield from self._external(binding.attr_of)
        else:
            yield from self._resolve(target, (binding.attr, chain))

    def _resolve_module_chain(
        self, module: str, chain: tuple[str, ...]
    ) -> Iterable[tuple[str, str] | str]:
        # ``import a.b`` then ``a.b.c.f``: find the longest local module along the chain.
        current = module
        rest = list(chain)
        while rest and self.is_local(f"{current}.{rest[0]}"):
            current = f"{current}.{rest.pop(0)}"
        info = self.module(current)
        if info is None:
            yield from self._external(current)
        elif not rest:
            yield (current, "*")  # the module itself is used as a value
        else:
            yield from self._resolve(info, (rest[0], tuple(rest[1:])))

    def _external(self, module: str) -> Iterable[str]:
        top = module.split(".")[0]
        if top and top not in IGNORED:
            yield top


_Ref = tuple[str, tuple[str, ...]]  # a name and the attribute chain read from it


# --------------------------------------------------------------------------- analysis


def _analyse(source: ModuleSource) -> _ModuleInfo:
    tree = ast.parse(source.text, filename=source.path)
    info = _ModuleInfo(source=source, tree=tree)
    package = _package_of(source)
    for stmt in _top_level(tree.body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            info.defs.setdefault(stmt.name, []).append(stmt)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
            )
            for name in _target_names(targets):
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
                    info.imports[alias.asname] = _Binding(module=alias.name)
                else:
                    top = alias.name.split(".")[0]
                    info.imports[top] = _Binding(module=top)
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt.module, stmt.level, package)
            for alias in stmt.names:
                if alias.name == "*":
                    info.stars.append(base)
                    continue
                bound = alias.asname or alias.name
                info.imports[bound] = _Binding(attr_of=base, attr=alias.name)
    return info


def _nodes(info: _ModuleInfo, sym: str) -> list[ast.stmt] | None:
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
            stmt for cls in classes for stmt in _top_level(cls.body) if part in _defined_names(stmt)
        ]
    return scope


def _defined_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Assign | ast.AnnAssign):
        targets: list[ast.expr] = (
            list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]
        )
        return set(_target_names(targets))
    return set()


def _raw_key(info: _ModuleInfo, nodes: list[ast.stmt], package: str) -> str:
    """A digest of the raw source lines of ``nodes`` (decorators included) and the package
    that relative imports are resolved against: same key, same normalised result."""
    if info.lines is None:
        # Only the line ends the tokenizer knows: splitlines() also splits at form feeds
        # and other separators, which would shift every line number after them.
        text = info.source.text.replace("\r\n", "\n").replace("\r", "\n")
        info.lines = text.split("\n")
    chunks = [package, str(MEMO_FORMAT)]
    for node in nodes:
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)])
        end = node.end_lineno or node.lineno
        chunks.append("\n".join(info.lines[start - 1 : end]))
    return digest_bytes("\0".join(chunks).encode(), 32)


#: Bumped when what the memo holds, or how a definition is normalised, changes.
MEMO_FORMAT = 3

#: What is learned from one definition: digest, references, inner imports, run-time lookups,
#: calls that may open files in native code (see ``creaders.reader_calls``).
_Definition = tuple[str, list["_Ref"], list[_Binding], list[str], list[list[Any]]]


def _memo_entry(
    digest: str,
    refs: list[_Ref],
    imports: list[_Binding],
    dynamic: list[str],
    opens: list[list[Any]],
) -> list[Any]:
    return [
        digest,
        [[name, list(chain)] for name, chain in refs],
        [[b.module, b.attr_of, b.attr] for b in imports],
        dynamic,
        opens,
    ]


def _from_memo(entry: list[Any]) -> _Definition:
    digest, refs, imports, dynamic, opens = entry
    return (
        str(digest),
        [(str(name), tuple(chain)) for name, chain in refs],
        [_Binding(module=m, attr_of=a, attr=t) for m, a, t in imports],
        [str(d) for d in dynamic],
        opens,
    )


_DYNAMIC = {"getattr", "globals", "vars", "eval", "exec", "__import__", "import_module"}


def _dynamic_calls(node: ast.AST) -> list[str]:
    """Calls that look code up by a name computed at run time (``getattr(h, name)``)."""
    found = []
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in _DYNAMIC:
            continue
        if name == "getattr" and len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant):
            continue  # getattr(x, "name") names what it reads
        found.append(f"{name}()")
    return found


#: Functions of numpy's legacy global generator (``np.random.rand``) and of the ``random``
#: module's hidden instance (``random.choice``): each call draws from process-wide state.
_NUMPY_DRAWS = (
    "beta binomial bytes chisquare choice dirichlet exponential f gamma geometric gumbel "
    "hypergeometric laplace logistic lognormal logseries multinomial multivariate_normal "
    "negative_binomial noncentral_chisquare noncentral_f normal pareto permutation poisson "
    "power rand randint randn random random_integers random_sample ranf rayleigh sample "
    "shuffle standard_cauchy standard_exponential standard_gamma standard_normal standard_t "
    "triangular uniform vonmises wald weibull zipf"
)
_STDLIB_DRAWS = (
    "betavariate binomialvariate choice choices expovariate gammavariate gauss getrandbits "
    "lognormvariate normalvariate paretovariate randbytes randint random randrange sample "
    "shuffle triangular uniform vonmisesvariate weibullvariate"
)
NUMPY_GLOBAL_DRAWS = frozenset(_NUMPY_DRAWS.split())
STDLIB_GLOBAL_DRAWS = frozenset(_STDLIB_DRAWS.split())
_GLOBAL_RANDOM_FIX = {"numpy": "np.random.default_rng(...)", "random": "random.Random(...)"}


def global_random_draws(info: _ModuleInfo, refs: list[_Ref]) -> list[str]:
    """Uses of a global random generator among the names a definition reads (``np.random.rand``,
    ``random.choice``, ``choice`` imported from ``random``), as ``np.random.rand()`` or
    ``random.choice()``. Its results then depend on what drew before it in the same process.
    A definition that seeds that generator itself (``np.random.seed(0)``) is left out."""
    dotted = {_dotted(info, name, chain) for name, chain in refs}
    found = []
    for full in sorted(d for d in dotted if d):
        module, _, func = full.rpartition(".")
        if module == "numpy.random" and func in NUMPY_GLOBAL_DRAWS:
            if "numpy.random.seed" not in dotted:
                found.append(f"np.random.{func}()")
        elif module == "random" and func in STDLIB_GLOBAL_DRAWS and "random.seed" not in dotted:
            found.append(f"random.{func}()")
    return found


def _dotted(info: _ModuleInfo, name: str, chain: tuple[str, ...]) -> str:
    """The dotted path a name read in ``info`` stands for (``np.random.rand`` ->
    ``numpy.random.rand``), from the module's imports; ``np``, ``numpy`` and ``random`` bound
    by an import inside a function count as those modules. Empty for a local name."""
    binding = info.imports.get(name)
    if binding is not None:
        base = binding.module or f"{binding.attr_of}.{binding.attr}"
    elif name in info.defs:
        return ""
    else:
        base = {"np": "numpy", "numpy": "numpy", "random": "random"}.get(name, "")
    return ".".join([base, *chain]) if base else ""


def global_random_fix(note: str) -> str | None:
    """For a note made by ``global_random_draws`` (``np.random.rand() in PATH:NAME``), what to
    use instead (``np.random.default_rng(...)``); None for any other note."""
    call = note.partition(" in ")[0]
    module, _, func = call.removesuffix("()").rpartition(".")
    if module == "np.random" and func in NUMPY_GLOBAL_DRAWS:
        return _GLOBAL_RANDOM_FIX["numpy"]
    if module == "random" and func in STDLIB_GLOBAL_DRAWS:
        return _GLOBAL_RANDOM_FIX["random"]
    return None


def _package_of(source: ModuleSource) -> str:
    return source.name if source.is_package else source.name.rpartition(".")[0]


def _inner_imports(node: ast.AST, package: str) -> Iterable[_Binding]:
    """Imports made inside a definition: a whole module, or one name of a module."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            for alias in sub.names:
                yield _Binding(module=alias.name)
        elif isinstance(sub, ast.ImportFrom):
            base = _absolute(sub.module, sub.level, package)
            for alias in sub.names:
                if alias.name == "*":
                    yield _Binding(module=base)
                else:
                    yield _Binding(attr_of=base, attr=alias.name)


def _top_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, looking inside if/try/with blocks (guards, optional imports)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                yield from _top_level(block)
            for handler in stmt.handlers:
                yield from _top_level(handler.body)
        elif isinstance(stmt, ast.With):
            yield from _top_level(stmt.body)
        else:
            yield stmt


def _target_names(targets: list[ast.expr]) -> Iterable[str]:
    for target in targets:
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, ast.Tuple | ast.List):
            yield from _target_names(list(target.elts))
        elif isinstance(target, ast.Starred):
            yield from _target_names([target.value])


def _loop_names(loop: ast.For | ast.While) -> set[str]:
    """Names a module-level loop binds or changes in place: its target, and the functions,
    classes, targets and mutated containers of the statements in it."""
    names = set(_target_names([loop.target])) if isinstance(loop, ast.For) else set()
    for sub in ast.walk(loop):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)  # a step function defined in a loop, once per value
        elif isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets: list[ast.expr] = (
                list(sub.targets) if isinstance(sub, ast.Assign) else [sub.target]
            )
            names |= {*_target_names(targets), *_mutated_names(targets)}
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


def _references(node: ast.AST) -> list[_Ref]:
    """Every name read in ``node``, with the attribute chain read from it (``h.scale``)."""
    refs: list[_Ref] = []
    chained: set[int] = set()
    for sub in ast.walk(node):
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


@contextlib.contextmanager
def _docstrings_removed(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` with the docstrings of it and every definition in it taken out for the block
    (put back afterwards: copying the tree would cost more than the rest of the digest)."""
    saved: list[tuple[Any, list[ast.stmt]]] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = sub.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                saved.append((sub, body))
                sub.body = body[1:] or [ast.Pass()]
    try:
        yield node
    finally:
        for sub, body in reversed(saved):
            sub.body = body


def unparse(node: ast.AST) -> str:
    """The source of ``node`` as incr compares it: no comments, no docstrings, one layout."""
    with _docstrings_removed(node):
        return ast.unparse(node)


def normalise(node: ast.AST) -> str:
    """The AST as text without docstrings and positions: comments and layout never matter."""
    with _docstrings_removed(node):
        return ast.dump(node, annotate_fields=True, include_attributes=False)


def _digest_nodes(nodes: Iterable[ast.AST]) -> str:
    text = "\n".join(normalise(n) for n in nodes)
    return digest_bytes(text.encode(), PART_DIGEST_LEN)


def defined_in_class(source: str | bytes, path: str, qualname: str) -> bool:
    """True when ``qualname`` (``Steps.load``) is defined in the body of a module-level class
    of the module ``source``. Raises SyntaxError/ValueError for a source that does not parse."""
    head, _, rest = qualname.partition(".")
    scope = list(_top_level(ast.parse(source, filename=path).body))
    return bool(rest) and bool(class_members([s for s in scope if _is_class(s, head)], rest))


def _is_class(stmt: ast.stmt, name: str) -> bool:
    return isinstance(stmt, ast.ClassDef) and stmt.name == name


def function_closure(source_text: str, path: str) -> str:
    """Digest of a function's own source when it is not defined at a module's top level."""
    import textwrap

    tree = ast.parse(textwrap.dedent(source_text), filename=path)
    return _digest_nodes(tree.body)


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
def _analyse_cached(source: ModuleSource) -> _ModuleInfo:
    return _analyse(source)


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
        return set(_target_names(targets)), set(_mutated_names(targets))
    if isinstance(stmt, ast.AugAssign):
        return set(), {*_target_names([stmt.target]), *_mutated_names([stmt.target])}
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return set(), set(_mutated_names([stmt.value.func]))
    if isinstance(stmt, ast.For | ast.While):
        return set(), _loop_names(stmt)
    if isinstance(stmt, ast.If | ast.Try | ast.With):
        bound: set[str] = set()
        changed: set[str] = set()
        for inner in _top_level([stmt]):
            names = statement_names(inner) if inner is not stmt else (set(), set())
            bound |= names[0]
            changed |= names[1]
        return set(), bound | changed  # maybe bound: what was there before may remain
    return set(), set()
