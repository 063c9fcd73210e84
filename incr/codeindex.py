"""Code closures from source text (``CodeIndex``): what a step's code fingerprint is made of.

Pure: module sources come in through a loader callable (the caller reads files), and the result
is values (``fingerprint.CodeClosure``). Names that resolve to third-party modules are reported
as packages, so the caller can add their installed versions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from incr import creaders, localclock, processwide, randomdraws, subclasses
from incr.astnorm import digest_nodes, walked
from incr.codeast import (
    IGNORED,
    Binding,
    ModuleInfo,
    ModuleSource,
    analyse,
    definition_nodes,
    dynamic_calls,
    inner_imports,
    package_of,
    references,
)
from incr.codeparts import (
    Definition,
    definition_digest,
    from_memo,
    memo_entry,
    part_source,
    raw_key,
    skeleton_digest,
)
from incr.coderesolve import Resolver, reads_own_module
from incr.digests import digest_bytes
from incr.editspan import EditedNames
from incr.fingerprint import DEFAULTS, FILL_ORDER, PROJECT_MODULES, SETTINGS, CodeClosure
from incr.model import TOP_LEVEL

#: Definitions whose code runs when called (a value's, a top level's runs at import).
_DEFS = frozenset({"FunctionDef", "AsyncFunctionDef", "ClassDef"})

Loader = Callable[[str], "ModuleSource | None"]


class CodeIndex(Resolver):
    """Resolves and digests code closures over the project's modules, memoising per module."""

    def __init__(
        self,
        load: Loader,
        memo: dict[str, Any] | None = None,
        project: Callable[[], list[str]] | None = None,
        earlier: Callable[[str], str | None] | None = None,
        absent: Callable[[str], bool] | None = None,
    ) -> None:
        """``memo`` maps a digest of a definition's raw source to what was learned from it
        (digest, references, inner imports, run-time lookups); the caller may keep it across
        processes, so unchanged definitions are not normalised again. ``project`` lists the
        names of the project's modules, scanned for what fills a table a closure reaches.
        ``earlier`` gives a module's text kept by the digest of its bytes (see ``EditedNames``).
        ``absent`` says whether a module is one of the project's own packages that is not there
        (no file of it: an optional ``local_settings`` module)."""
        self._load = load
        self._absent = absent or (lambda name: False)
        self._edited = EditedNames(earlier)
        self._rechecks: dict[tuple[str, str, str], tuple[ModuleInfo | None, Any]] = {}
        self._project = project
        self._project_names: list[str] | None = None
        self._sources: dict[str, ModuleSource | None] = {}
        self._tables: dict[tuple[str, str], tuple[list[tuple[str, str]], list[str], set[str]]] = {}
        self._modules: dict[str, ModuleInfo | None] = {}
        self._digests: dict[tuple[str, str], Definition] = {}
        self._raws: dict[tuple[str, str], str] = {}  # (module, name) -> raw key
        self._skeletons: dict[str, str] = {}
        self._imports: dict[str, list[str]] = {}  # module -> the project modules it imports
        self._subclasses = subclasses.Subclasses(self)
        self.memo: dict[str, Any] = memo if memo is not None else {}
        self.memo_used: set[str] = set()
        self._consulted: set[str] = set()

    def module(self, name: str) -> ModuleInfo | None:
        if name.split(".")[0] in IGNORED:
            return None
        if name not in self._modules:
            source = self.source(name)
            self._modules[name] = None if source is None else analyse(source)
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
        """The closure of ``name`` defined at the top level of local module ``module``; for
        ``processwide.SETTINGS``, that of the project's process-wide settings."""
        if module == SETTINGS:
            return self._settings()
        self._consulted = set()
        parts: dict[str, str] = {}
        packages: set[str] = set()
        dynamic: list[str] = []
        seeds: list[str] = []  # the global generators a function of it seeds
        readers: list[tuple[str, str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        quiet: set[tuple[str, str]] = set()  # reached only through a module used whole
        bound: dict[tuple[str, str], set[str]] = {}  # reached through a name imported by name
        direct: set[tuple[str, str] | str] = {(module, name)}  # reached otherwise too
        todo: list[tuple[str, str]] = [(module, name)]
        while todo:
            mod, sym = todo.pop()
            if (mod, sym) in seen:
                continue
            seen.add((mod, sym))
            info = self.module(mod)
            if info is None:
                continue
            if (mod, TOP_LEVEL) not in seen:
                todo.append((mod, TOP_LEVEL))  # importing the module runs its top level
            if sym == TOP_LEVEL:
                todo += [(m, TOP_LEVEL) for m in self._imported(info)]
                if TOP_LEVEL not in info.defs:
                    continue
            if sym == "*":  # the module as a value: all of it, and what all of it uses
                parts[f"{info.source.path}:*"] = digest_nodes([info.tree] if info.tree else [])
                found = [(mod, name) for name in info.defs]
                for binding in [
                    *info.imports.values(),
                    *(b for bs in info.other_imports.values() for b in bs),
                ]:
                    for target in self._resolve_binding(binding, ()):
                        if isinstance(target, str):
                            packages.add(target)
                        else:
                            found.append(target)
                todo += found
                direct.update(found)
                quiet.update(t for t in found if t not in seen)  # may not run: no notes
                continue
            if (nodes := definition_nodes(info, sym)) is None:
                continue
            digest, refs, imports, calls, opens = self._definition(info, sym)
            digest, _, defaults = digest.partition("+")
            parts[f"{info.source.path}:{sym}"] = digest
            if defaults:
                parts[f"{info.source.path}:{sym}{DEFAULTS}"] = defaults
            own = (mod, sym) == (module, name)
            readers += creaders.resolve_calls(self, info, sym, opens, own=own)
            if all(type(n).__name__ == "FunctionDef" for n in nodes):  # not once at import
                seeds += randomdraws.seed_notes(info, refs, f"{info.source.path}:{sym}")
            if not all(type(n).__name__ in _DEFS for n in nodes):  # run at import: a clock
                calls = [c for c in calls if not localclock.reads_clock(c)]  # read counts by value
            if (mod, sym) not in quiet:
                draws = randomdraws.global_random_draws(info, refs)
                draws += randomdraws.global_settings(info, sym, refs)
                draws += randomdraws.command_line_reads(info, sym, refs)
                draws += randomdraws.changing_values(info, sym, refs)
                dynamic += [f"{call} in {info.source.path}:{sym}" for call in [*calls, *draws]]
            targets: list[tuple[str, str] | str] = []
            through: set[int] = set()  # which of targets a name imported by name reaches
            for ref in refs:
                via = self.from_import(info, ref)
                for target in self.resolve(info, ref):
                    if via and not isinstance(target, str) and self._value_of(target, ref[0]):
                        bound.setdefault(target, set()).add(via)
                        through.add(len(targets))
                    if target == (mod, sym):
                        through.add(len(targets))  # its own name, in its own statement
                    targets.append(target)
            targets += [t for b in imports for t in self._resolve_binding(b, ())]
            for root in subclasses.roots(info, sym, refs):  # class Linear(Model, name="lin")
                below = self._subclasses.of(root)
                targets += below
                self._fill_order(parts, self._subclasses.resolved(root), below)
            if "." not in sym and sym != TOP_LEVEL and self._may_be_table(info, sym):
                found, notes = self._table_fillers(info.source.name, sym)
                targets += found
                dynamic += notes
                self._fill_order(parts, (mod, sym), found)
            direct.update(t for i, t in enumerate(targets) if i not in through)
            for target in targets:
                if isinstance(target, str):
                    packages.add(target)
                    continue
                if (mod, sym) in quiet and target not in seen:
                    quiet.add(target)
                todo.append(target)
        lookups = tuple(sorted(set(randomdraws.unseeded(dynamic, seeds) if seeds else dynamic)))
        consulted = frozenset(self._consulted)
        opened = tuple(sorted(set(readers)))
        reads = self._reads(seen, consulted) if not opened else {}
        only = {self._part_name(t): vias for t, vias in bound.items() if t not in direct}
        kept = {part: tuple(sorted(vias)) for part, vias in only.items() if part in parts}
        return CodeClosure(parts, frozenset(packages), lookups, consulted, opened, reads, kept)

    def _settings(self) -> CodeClosure:
        """The statements of the project's modules that change process-wide settings as they
        are imported, and the code they read (see ``incr.processwide``): they count for every
        step, which may run after them in the same process."""
        self._consulted = set()
        parts: dict[str, str] = {}
        consulted = set()
        for path, digest, targets in processwide.statements(self):
            parts[f"{path}:{processwide.PART}"] = digest
            consulted |= self._consulted
            for target in targets:
                read = self.closure(*target)
                parts.update(read.parts)
                consulted |= read.modules
        consulted |= self._consulted
        return CodeClosure(parts, frozenset(), modules=frozenset(consulted))

    def _value_of(self, target: tuple[str, str], name: str) -> bool:
        """True when ``target`` is a value bound at its module's top level under ``name``
        (``WIDTH = 10``; not a function or class, whose held values count otherwise)."""
        info = self.module(target[0])
        nodes = definition_nodes(info, name) if info is not None and target[1] == name else None
        return bool(nodes) and all(type(n).__name__ in ("Assign", "AnnAssign") for n in nodes or ())

    def _part_name(self, target: tuple[str, str]) -> str:
        info = self.module(target[0])
        return f"{info.source.path}:{target[1]}" if info is not None else ""

    def _fill_order(
        self, parts: dict[str, str], table: tuple[str, str], found: list[tuple[str, str]]
    ) -> None:
        """Note the order in which ``found`` fill ``table`` (or derive from it), as their
        definitions come in their modules (modules by name): moving one of them within its
        module changes what a loop over the table runs first."""
        info = self.module(table[0])
        if len(set(found)) > 1 and info is not None:
            ordered = sorted(set(found), key=lambda t: (t[0], self._first_line(t), t[1]))
            order = "\n".join(f"{module}:{name}" for module, name in ordered)
            parts[f"{info.source.path}:{table[1]}{FILL_ORDER}"] = digest_bytes(order.encode(), 32)

    def _first_line(self, target: tuple[str, str]) -> int:
        """Where definition ``target`` starts in its module (0 when it has no definition)."""
        info = self.module(target[0])
        nodes = definition_nodes(info, target[1]) if info is not None else None
        return min((n.lineno for n in nodes), default=0) if nodes else 0

    def _reads(
        self, seen: set[tuple[str, str]], consulted: frozenset[str]
    ) -> dict[str, tuple[str, dict[str, str]]]:
        """What a closure just computed read of each module it consulted: the skeleton and the
        definitions it took whole (``seen``), by raw key. Empty when it read more: a table scan
        reads every definition of every project module, a module used as a value (``*``) all
        of it. (A name ``seen`` without a raw key is absent: that is part of the skeleton.)"""
        if PROJECT_MODULES in consulted:
            return {}
        reads: dict[str, tuple[str, dict[str, str]]] = {}
        for name in consulted:
            info = self._modules.get(name)
            if info is not None and name != "__main__":
                reads[name] = (self.skeleton(info), {})
        for mod, sym in seen:
            if mod not in reads:
                continue
            if sym == "*":
                return {}
            if (mod, sym) in self._raws:
                reads[mod][1][sym] = self._raws[(mod, sym)]
        return reads

    def skeleton(self, info: ModuleInfo) -> str:
        """``skeleton_digest`` of a module, once per module."""
        if (name := info.source.name) not in self._skeletons:
            self._skeletons[name] = skeleton_digest(info)
        return self._skeletons[name]

    def kept_reads(
        self, module: str, skeleton: str, raws: dict[str, str], was: str = ""
    ) -> str | None:
        """The skeleton of ``module`` now, when it has what a closure read of it (its skeleton,
        or the same tree: ``editspan.neutral``; and the definitions, by raw key, but those the
        edit since ``was``, that text's digest, did not touch): the same closure. Else None."""
        found = self._rechecks.get((module, skeleton, was))  # asked for each closure
        if found is None:
            info = self.module(module)
            text, tree = (info.source.text, info.tree) if info is not None else ("", None)
            if info and (self.skeleton(info) == skeleton or self._edited.neutral(text, tree, was)):
                found = (info, self._edited.since(text, tree, was))
            found = self._rechecks[(module, skeleton, was)] = found or (None, None)
        info, edited = found
        if info is None:
            return None
        name, known = info.source.name, self._raws
        for sym, raw in raws.items():
            if edited is not None and sym.partition(".")[0] not in edited:
                continue
            now = known.get((name, sym))  # a helper many steps read: keyed once
            if now is None:
                nodes = definition_nodes(info, sym)
                if nodes is None:
                    return None
                now = known[(name, sym)] = raw_key(info, nodes, package_of(info.source))
            if now != raw:
                return None
        return self.skeleton(info)

    def _imported(self, info: ModuleInfo) -> list[str]:
        """The project modules importing ``info`` imports first: its parent packages and
        what its top-level imports name (with their parents)."""
        name = info.source.name
        if name not in self._imports:
            found: list[str] = []
            for module in [name, *info.imported]:
                parts = module.split(".")
                found += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
            local = [m for m in dict.fromkeys(found) if m != name and self.is_local(m)]
            self._imports[name] = local
        return self._imports[name]

    def _may_be_table(self, info: ModuleInfo, sym: str) -> bool:
        from incr import registries  # here: most closures fill no table

        return registries.is_table(self, info, info.defs[sym])

    def _table_fillers(self, module: str, sym: str) -> tuple[list[tuple[str, str]], list[str]]:
        """What fills table ``sym`` of ``module`` (see ``incr.registries``), scanned once."""
        from incr import registries
        from incr.memodicts import memo_names

        if (key := (module, sym)) not in self._tables:
            before, self._consulted = self._consulted, set()
            info = self.module(module)
            # A memo is no table: its one filler, in the closure already, says what its
            # entries run, and each step starts with it empty (``stepcaches``): which other
            # code fills it changes no result.
            memo = info is not None and info.tree is not None and sym in memo_names(info.tree)
            found, notes = registries.scan(self, key) if not memo else ([], [])
            self._tables[key] = (found, notes, self._consulted)
            self._consulted = before | self._consulted
        found, notes, consulted = self._tables[key]
        self._consulted |= consulted
        return found, notes

    def normalised_source(self, module: str, name: str) -> str | None:
        """The source of a definition (``*``: the whole module) as incr compares it: parsed and
        unparsed, without comments or docstrings, in a standard layout."""
        info = self.module(module)
        return None if info is None else part_source(info, name)

    def _definition(self, info: ModuleInfo, sym: str) -> Definition:
        """A definition's digest, the names it reads, the imports made inside it, the
        run-time lookups it makes and its calls that may open files in native code."""
        key = (info.source.name, sym)
        if key not in self._digests:
            nodes = definition_nodes(info, sym) or []
            package = package_of(info.source)
            raw = self._raws[key] = raw_key(info, nodes, package)
            cached = self.memo.get(raw)
            if cached is None:
                pairs = [(node, walked(node)) for node in nodes]  # each walked once for all
                refs = [ref for node, w in pairs for ref in references(node, w)]
                imports = [b for node, w in pairs for b in inner_imports(node, package, w)]
                dynamic = [call for node, w in pairs for call in dynamic_calls(node, w)]
                if localclock.may_ask(info.source.text):  # most modules: no such name
                    dynamic += [c for _, w in pairs for c in localclock.local_time_calls(w)]
                opens = [call for node, w in pairs for call in creaders.reader_calls(node, w)]
                if any(reads_own_module(w) for _, w in pairs):  # ``globals()[name]``: any of it
                    imports.append(Binding(module=info.source.name))
                digest = definition_digest(nodes, [w for _, w in pairs])
                cached = self.memo[raw] = memo_entry(digest, refs, imports, dynamic, opens)
            self.memo_used.add(raw)
            self._digests[key] = from_memo(cached)
        return self._digests[key]
