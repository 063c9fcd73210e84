"""The import graph of the ``incr`` package, as the import-contract test checks it.

Every ``import`` statement of every module of ``incr/`` counts: at module level, inside
functions and methods (``where = function``), and under ``if TYPE_CHECKING:``
(``where = typing``). A statement ``from incr import a, b`` is an edge to each submodule among
``a, b`` and to ``__init__`` for anything else (``__version__``).

    python imports_graph.py [INCR_DIR] [--layers]      edges, cycles, private names
    python imports_graph.py [INCR_DIR] --check         exit 1 on a broken contract (LAYERS)

``check(folder)`` returns the broken rules as lines; the contract test is
``assert check(Path(incr.__file__).parent) == []``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The target layers, bottom (0) to top. A module may import its own layer or lower ones,
#: and the whole graph must stay acyclic. Modules not listed are reported as unplaced.
LAYERS: dict[str, int] = {}
_LAYER_LIST: list[tuple[str, list[str]]] = [
    # 0 core: pure values and decisions; no disk, no clock, no console
    (
        "core",
        [
            "version",
            "hooks",
            "errors",
            "valueclass",
            "model",
            "learnedwords",
            "events",
            "fingerprint",
            "digests",
            "astnorm",
            "moduletop",
            "importeffects",
            "volatile",
            "localclock",
            "dynimport",
            "memodicts",
            "memoattrs",
            "boundnames",
            "scopes",
            "codeast",
            "randomdraws",
            "tablestores",
            "registries",
            "subclasses",
            "processwide",
            "readertable",
            "creaders",
            "codeparts",
            "editspan",
            "coderesolve",
            "codeindex",
            "objectcode",
            "dag",
            "graphcodec",
            "targets",
            "faninreasons",
            "plan",
            "seeds",
            "runlevel",
            "gate",
            "statuswalk",
            "consumers",
            "sharedwrites",
            "overlaps",
            "crossreads",
            "foreignwrites",
            "leafwrites",
            "orphans",
        ],
    ),
    # 1 edges: disk, formats, hashing, audit hooks, caches, project layout, console words
    (
        "edges",
        [
            "storage",
            "cachefile",
            "compiledcode",
            "temppool",
            "hashing",
            "trees",
            "runcache",
            "packs",
            "treerestore",
            "store",
            "ondisk",
            "freshouts",
            "lockfile",
            "deferred",
            "matbase",
            "stablepickle",
            "builtinformats",
            "frames",
            "skopsformat",
            "daskconf",
            "entrypoints",
            "materializers",
            "project",
            "projectmodules",
            "keptlocks",
            "fileio",
            "history",
            "runhistory",
            "plainkinds",
            "zoneid",
            "topcalls",
            "heldvalues",
            "loadedmemos",
            "globalvalues",
            "stepcaches",
            "heldstates",
            "heldmethods",
            "objectstates",
            "scriptmain",
            "modulefiles",
            "locking",
            "outside",
            "readrelay",
            "processes",
            "pathfacts",
            "opens",
            "nativepaths",
            "nativereads",
            "lazyfiles",
            "statreads",
            "readresults",
            "reads",
            "envlibs",
            "envreads",
            "childreads",
            "importreads",
            "imports",
            "localmodules",
            "learned",
            "codecache",
            "packages",
            "localpackages",
            "stepimports",
            "wiring",
            "graphcache",
            "statusmemo",
            "maintenance",
            "notebook",
            "report",
            "render",
            "runlog",
            "collector",
            "metrics",
            "htmlreport",
            "leftovers",
            "console",
            "remoteconf",
            "streams",
            "remote",
            "remotesync",
            "remotegc",
        ],
    ),
    # 2 api: decorators and tracing; .run() goes through a hook
    (
        "api",
        [
            "coderef",
            "captures",
            "integrations",
            "instances",
            "artifacts",
            "outputspec",
            "stepcontext",
            "fanin",
            "configadvice",
            "stepsig",
            "stepconfig",
            "pipeparams",
            "tracing",
            "api",
            "zenmlcompat",
        ],
    ),
    # 3 discovery: import user modules, trace, networkx graphs
    ("discovery", ["mainblock", "graphs", "instancefind", "discovery", "graph"]),
    # 4 workspace: one project's files opened together, one small class per job
    (
        "workspace",
        [
            "lockbook",
            "sources",
            "facts",
            "setters",
            "outputs",
            "keptsources",
            "seenwrites",
            "knownreads",
            "appendbase",
            "writtenfiles",
            "workspace",
            "session",
            "opening",
        ],
    ),
    # 5 executors: how a step's function runs; one seam
    (
        "executors",
        ["executors", "jobrun", "inprocess", "pool", "dryrun", "daskwork", "daskexec"],
    ),
    # 6 runner: the one scheduling loop and the hub (open, repro, status, show, commit, dag)
    (
        "runner",
        [
            "runstate",
            "record",
            "prepare",
            "sharedruns",
            "scheduler",
            "postexec",
            "passes",
            "runner",
            "scriptrun",
            "rerun",
            "commands",
            "views",
        ],
    ),
    # 7 watch
    ("watch", ["watchset", "watchparts", "watch"]),
    # 8 top: the CLI (clickcli the only module importing click; cli the entry point, which
    # runs clirun's status and repro alone without it) and the package facade
    (
        "top",
        ["clitexts", "clihelp", "remotehelp", "remotecli", "clirun", "clickcli", "cli", "__init__"],
    ),
]
for _index, (_name, _modules) in enumerate(_LAYER_LIST):
    for _module in _modules:
        LAYERS[_module] = _index
LAYER_NAMES = [name for name, _ in _LAYER_LIST]

#: Third-party packages only one module may import (in any form, at any depth).
OWNERS = {
    "click": {"clickcli"},
    "watchdog": {"watch"},
    "networkx": {"graph"},
    "distributed": {"daskexec"},
    "dask": {"daskexec"},
}
#: No module of the package grows past this many lines.
MAX_LINES = 450
#: Standard modules the pure core never imports: no disk, no clock, no processes.
IMPURE = {"os", "time", "datetime", "shutil", "subprocess", "tempfile", "io", "pathlib"}


@dataclass(frozen=True)
class Edge:
    source: str  # module name inside the package (``runner``, ``__init__``)
    target: str
    line: int
    where: str  # "module", "function" or "typing"
    names: tuple[str, ...]  # the names imported (empty for ``import incr.x``)

    @property
    def private(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n.startswith("_") and not n.endswith("__"))


def modules(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, where: str) -> Iterator[tuple[ast.AST, str]]:
    for child in ast.iter_child_nodes(node):
        inner = where
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = "function" if where == "module" else where
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, where
            for stmt in child.body:
                yield stmt, "typing"
                yield from _walk(stmt, "typing")
            for stmt in child.orelse:
                yield stmt, where
                yield from _walk(stmt, where)
            continue
        yield child, inner
        yield from _walk(child, inner)


def edges_of(name: str, path: Path, known: set[str], package: str = "incr") -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Edge] = []
    for node, where in _walk(tree, "module"):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    target = parts[1] if len(parts) > 1 else "__init__"
                    found.append(Edge(name, target, node.lineno, where, ()))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: the package is flat
                base = [package] + ([node.module] if node.module else [])
            elif node.module and node.module.split(".")[0] == package:
                base = node.module.split(".")
            else:
                continue
            names = tuple(a.name for a in node.names)
            if len(base) == 1:  # from incr import a, b
                subs = [n for n in names if n in known]
                rest = tuple(n for n in names if n not in known)
                for sub in subs:
                    found.append(Edge(name, sub, node.lineno, where, ()))
                if rest:
                    found.append(Edge(name, "__init__", node.lineno, where, rest))
            else:
                found.append(Edge(name, base[1], node.lineno, where, names))
    return found


#: fsspec names the coroutines of an async filesystem with a leading underscore (see the
#: "Async" page of its docs): ``fs._get`` and ``fs._cat_file`` are its public async API.
FSSPEC_ASYNC = frozenset({"_get", "_cat_file"})
#: An ast node's ``_fields`` (the names of its children) is the ast module's documented API
#: ("Node classes" in Python's ast docs).
AST_PUBLIC = frozenset({"_fields"})


def private_reaches(name: str, path: Path, known: set[str], package: str = "incr") -> list[str]:
    """``alias._name`` where ``alias`` is an incr module this one imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    foreign: set[str] = set()  # names bound to other packages' modules (os._Environ is theirs)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == package:
            for a in node.names:
                if a.name in known:
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(package + ".") and a.asname:
                    aliases[a.asname] = a.name.split(".")[1]
                elif not a.name.startswith(package):
                    foreign.add(a.asname or a.name.split(".")[0])
    hits = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr.startswith("_")
            and not node.attr.endswith("__")
        ):
            continue
        owner = node.value.id
        if owner == "fs" and node.attr in FSSPEC_ASYNC:
            continue  # an fsspec filesystem's coroutines: its public async API
        if node.attr in AST_PUBLIC:
            continue
        if owner in aliases:
            hits.append(f"{name}.py:{node.lineno}: {aliases[owner]}.{node.attr}")
        elif owner not in ("self", "cls") and owner not in foreign:
            # an object of another class: ``runner._execute(...)`` from outside Runner
            hits.append(f"{name}.py:{node.lineno}: {owner}.{node.attr} (attribute)")
    return hits


def external_imports(path: Path) -> list[tuple[str, int]]:
    """(top-level package, line) of every import of a module outside incr."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module.split(".")[0], node.lineno))
    return [(top, line) for top, line in found if top != "incr"]


def graph(folder: Path) -> list[Edge]:
    found = modules(folder)
    known = set(found)
    return [e for name, path in found.items() for e in edges_of(name, path, known)]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            succ.setdefault(e.source, set()).add(e.target)
            succ.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(succ):
        if v not in index:
            visit(v)
    return out


def check(folder: Path, layers: dict[str, int] | None = None) -> list[str]:
    """The broken rules: unplaced modules, cycles, upward imports, private names imported,
    third-party owners, impure core imports and modules over ``MAX_LINES`` lines."""
    layers = LAYERS if layers is None else layers
    edges = graph(folder)
    problems = [f"{m}.py: no layer (add it to LAYERS)" for m in modules(folder) if m not in layers]
    problems += [f"cycle: {' <-> '.join(c)}" for c in cycles(edges)]
    for e in edges:
        up = layers.get(e.target, -1) > layers.get(e.source, 99)
        if up:
            problems.append(
                f"{e.source}.py:{e.line}: imports {e.target} ({e.where}), a layer up "
                f"({LAYER_NAMES[layers[e.source]]} -> {LAYER_NAMES[layers[e.target]]})"
            )
        if e.private:
            problems.append(f"{e.source}.py:{e.line}: imports private {e.target}.{e.private}")
    known = set(modules(folder))
    for name, path in modules(folder).items():
        problems += [
            f"{hit} (private name of another module)" for hit in private_reaches(name, path, known)
        ]
        for top, line in external_imports(path):
            if top in OWNERS and name not in OWNERS[top]:
                problems.append(f"{name}.py:{line}: imports {top} (only {OWNERS[top]} may)")
            if top in IMPURE and layers.get(name) == 0:
                problems.append(f"{name}.py:{line}: the pure core imports {top}")
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            problems.append(f"{name}.py: {lines} lines, over {MAX_LINES}")
    return problems


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    folder = Path(args[0]) if args else Path(__file__).resolve().parent / "incr"
    if "--check" in argv:
        problems = check(folder)
        print("\n".join(problems) or "import contract holds")
        return 1 if problems else 0
    edges = graph(folder)
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules(folder).items()}
    print(f"# {folder}: {len(sizes)} modules, {len(edges)} import edges")
    for where in ("module", "function", "typing"):
        rows = sorted({(e.source, e.target, e.line) for e in edges if e.where == where})
        print(f"\n## {where}-level edges ({len(rows)})")
        by_source: dict[str, list[str]] = {}
        for s, t, line in rows:
            by_source.setdefault(s, []).append(f"{t}:{line}" if where != "module" else t)
        for s, targets in by_source.items():
            print(f"  {s} -> {', '.join(targets)}")
    print("\n## cycles (strongly connected components)")
    for comp in cycles(edges):
        print("  " + " ".join(comp))
    for label, sub in (("module-level only", [e for e in edges if e.where == "module"]),):
        print(f"\n## cycles, {label}")
        for comp in cycles(sub):
            print("  " + " ".join(comp))
    print("\n## private names imported from another module")
    for e in edges:
        if e.private:
            print(f"  {e.source}.py:{e.line} ({e.where}): from {e.target} import {e.private}")
    known = set(modules(folder))
    for name, path in modules(folder).items():
        for hit in private_reaches(name, path, known):
            print(f"  {hit}")
    if "--layers" in argv:
        print("\n## upward edges against LAYERS (target layout)")
        for e in edges:
            s, t = LAYERS.get(e.source), LAYERS.get(e.target)
            if s is None or t is None:
                continue
            if t > s:
                print(
                    f"  {e.source}:{e.line} -> {e.target} ({e.where}) "
                    f"[{LAYER_NAMES[s]} -> {LAYER_NAMES[t]}]"
                )
        unplaced = [m for m in sizes if m not in LAYERS]
        print(f"\n## unplaced in the target layout (renamed or split): {', '.join(unplaced)}")
    print("\n## module sizes over 450 lines")
    for m, n in sorted(sizes.items(), key=lambda x: -x[1]):
        if n > 450:
            print(f"  {m}.py {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
