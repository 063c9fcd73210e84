"""Files opened by native code: reader calls the read recorder cannot see, found in the code.

``pd.read_parquet(path)``, ``h5py.File(path)``, ``sqlite3.connect(path)``, ``cv2.imread(path)``
and their kin open files in C (Arrow, HDF5, SQLite, OpenCV...), not through Python's ``open``,
so the audit hook of ``incr.reads`` never sees them. A step's code closure lists the calls it
makes to such readers; when the path is known before the step runs (a literal, a module-level
constant, a field of the step's config), the file is tracked as if it were declared in
``deps``; otherwise ``incr status`` prints a note. The readers known are listed in
``readertable``.

Pure: ``reader_calls`` looks at one definition (its result is memoised with it); ``resolve``
finishes the job once the module's imports and constants are known.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from incr.model import paths_overlap
from incr.moduletop import dotted_names, imported_names, is_guard
from incr.readertable import (
    CONNECTS,
    FS_METHODS,
    LAST_NAMES,
    MODED,
    PATH_KEYWORDS,
    READ_MODES,
    READERS,
    RUNTIME,
    RUNTIME_CLASSES,
    WRITE_ONLY_MODES,
)

if TYPE_CHECKING:
    from incr.codeast import ModuleInfo, ModuleLookup


#: Readers that tell the read recorder the path they get when called (``incr.nativereads``).
_SEEN = frozenset((*RUNTIME, *RUNTIME_CLASSES))
_GLOB = frozenset("*?[")
_READ_ONLY_URI = re.compile(r"[?&](mode=ro|immutable=1)")
_SQL_WRITE = re.compile(
    r"^\s*(insert|update|delete|replace|create|drop|alter|attach|vacuum)\b", re.IGNORECASE
)


# --------------------------------------------------------------------------- one definition


def reader_calls(node: ast.AST, nodes: list[ast.AST] | None = None) -> list[list[Any]]:
    """The calls in a definition that may be native readers, before resolving names:
    ``[func text, dotted name if imported inside the definition, head name, attribute chain,
    path expression source (or None), params of the definition, literal arguments]``
    (``nodes``: ``astnorm.walked(node)``, when already known)."""
    walk = list(ast.walk(node) if nodes is None else nodes)
    calls: list[tuple[ast.Call | ast.expr, list[str]]] = [
        (sub, names)
        for sub in walk
        if isinstance(sub, ast.Call)
        and (names := dotted_names(sub.func)) is not None
        and names[-1] in LAST_NAMES
    ]
    calls += [  # a file system's method, called on what no name holds: LocalFileSystem().x()
        (sub, ["", sub.func.attr])
        for sub in walk
        if isinstance(sub, ast.Call)
        and isinstance(sub.func, ast.Attribute)
        and sub.func.attr in FS_METHODS
        and dotted_names(sub.func) is None
    ]
    called = {id(sub.func) for sub, _ in calls if isinstance(sub, ast.Call)}
    calls += [  # a reader passed as a value: map(pd.read_parquet, files), {".pq": pd.read_parquet}
        (sub, names)
        for sub in walk
        if isinstance(sub, ast.Attribute)
        and id(sub) not in called
        and isinstance(getattr(sub, "ctx", None), ast.Load)
        and (names := dotted_names(sub)) is not None
        and names[-1] in LAST_NAMES
    ]
    if not calls:
        return []  # most definitions: nothing more to look at
    local_imports = imported_names(node)
    params = sorted(_params(node))
    bound = _single_assignments(node)
    writes = _writes_sql(node)
    found: list[list[Any]] = []
    for sub, head_chain in calls:
        head, chain = head_chain[0], head_chain[1:]
        dotted = ".".join([local_imports[head], *chain]) if head in local_imports else ""
        if chain and chain[-1] in FS_METHODS:  # on whatever file system object
            dotted = f"pyarrow.fs.FileSystem.{chain[-1]}"
        if not isinstance(sub, ast.Call):  # its files are known only when it is called
            found.append([ast.unparse(sub), dotted, head, list(chain), None, params, {}])
            continue
        path = _path_arg(sub)
        if path is not None:
            path = _substitute(path, bound, set(params))
        literals: dict[str, Any] = {"__writes__": writes}
        for i, arg in enumerate(sub.args[1:4], start=1):
            literals[str(i)] = _literal(arg)
        for kw in sub.keywords:
            if kw.arg is not None:
                literals[kw.arg] = _literal(kw.value)
        text = ast.unparse(sub.func)
        source = None if path is None else ast.unparse(path)
        found.append([text, dotted, head, list(chain), source, params, literals])
    return found


def _params(node: ast.AST) -> set[str]:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return set()
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return names


def _single_assignments(node: ast.AST) -> dict[str, ast.expr]:
    """Local names assigned exactly once (``path = "data/x.db"``), with their value."""
    values: dict[str, list[ast.expr]] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign):
            for target in sub.targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(sub.value)
                else:  # unpacking and the like: the name's value is not known
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            values.setdefault(name.id, []).extend([sub.value, sub.value])
        elif isinstance(sub, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            if isinstance(sub.target, ast.Name) and sub.value is not None:
                count = 1 if isinstance(sub, ast.AnnAssign | ast.NamedExpr) else 2
                values.setdefault(sub.target.id, []).extend([sub.value] * count)
        elif isinstance(sub, ast.For | ast.AsyncFor | ast.comprehension | ast.withitem):
            bound_to: ast.expr | None = (
                sub.optional_vars if isinstance(sub, ast.withitem) else sub.target
            )
            for name in ast.walk(bound_to) if bound_to is not None else ():
                if isinstance(name, ast.Name):
                    values.setdefault(name.id, []).extend([ast.Constant(None)] * 2)
    return {name: exprs[0] for name, exprs in values.items() if len(exprs) == 1}


def _substitute(expr: ast.expr, bound: dict[str, ast.expr], params: set[str]) -> ast.expr:
    """``expr`` with local names replaced by their single value (a few levels deep)."""
    for _ in range(4):
        if isinstance(expr, ast.Name) and expr.id in bound and expr.id not in params:
            expr = bound[expr.id]
        else:
            break
    return expr


def _path_arg(call: ast.Call) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    for name in PATH_KEYWORDS:
        if name in keywords:
            return keywords[name]
    return None


def _literal(expr: ast.expr) -> Any:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str | bool | int | float):
        return expr.value
    return None


def _writes_sql(node: ast.AST) -> bool:
    """True when the definition commits or holds an SQL statement that writes."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            if _SQL_WRITE.match(sub.value):
                return True
        elif isinstance(sub, ast.Attribute) and sub.attr in ("commit", "executescript"):
            return True
    return False


# --------------------------------------------------------------------------- resolution

#: A module-level name -> its value expression and the lookup for names in it (or None).
Lookup = Callable[[str], "tuple[ast.expr, Lookup] | None"]


def resolve_calls(
    index: ModuleLookup, info: ModuleInfo, sym: str, calls: list[list[Any]], *, own: bool
) -> list[tuple[str, str, str, str]]:
    """The reader calls of definition ``sym`` of ``info`` (from ``reader_calls``), resolved:
    (``CALL() in PATH:NAME``, mode ``r``/``rw``, ``path``/``config``/``unknown``, the path or
    config field). ``own``: the definition is the step's function. A call that only writes
    (``h5py.File(p, "w")``) is left out."""
    found = []
    for text, dotted, head, chain, source, params, literals in calls:
        dotted = dotted or _imported_name(index, info, head, chain)
        if dotted not in READERS:
            continue
        kind, value = path_value(source, params, _constants(index, info), own=own)
        mode = mode_of(dotted, literals, value if kind == "path" else None)
        if dotted in _SEEN and (kind == "unknown" or _GLOB.intersection(str(value))):
            kind = "seen"  # a path known only when called, or a glob: seen then (nativereads)
        elif dotted in CONNECTS and kind == "unknown":  # seen when opened (nativereads)
            kind = "seen" if mode == "r" else "written"  # (and written, when it changes)
        elif dotted in MODED and (kind == "unknown" or mode != "r"):  # seen when called:
            kind = "seen"  # read, or written when it changes (``a``), or written (``w``)
        if mode != "w":
            found.append((f"{text}() in {info.source.path}:{sym}", mode, kind, value))
            if dotted in CONNECTS and mode == "r" and kind not in ("unknown", "seen"):
                found.append((found[-1][0], mode, f"{kind}+{CONNECTS[dotted]}", value))
    return found


def _imported_name(index: ModuleLookup, info: ModuleInfo, head: str, chain: list[str]) -> str:
    """The full name of a third-party or standard library object (``pd.read_parquet``:
    ``pandas.read_parquet``), or "" when the name is not imported from outside."""
    binding = info.imports.get(head)
    if binding is None or not all(is_guard(n) for n in info.defs.get(head, ())):
        return ""  # not imported, or also bound to a value of the module's own
    base = binding.module or f"{binding.attr_of}.{binding.attr}"
    if index.is_local(base.split(".")[0]):
        return ""
    return ".".join([base, *chain])


def _constants(index: ModuleLookup, info: ModuleInfo) -> Lookup:
    """Looks up a module-level name of ``info`` bound once to a value (a path constant)."""

    def lookup(name: str) -> tuple[ast.expr, Lookup] | None:
        targets = [t for t in index.resolve(info, (name, ())) if not isinstance(t, str)]
        if len(targets) != 1:
            return None
        where = index.module(targets[0][0])
        nodes = where.defs.get(targets[0][1], []) if where is not None else []
        if where is None or len(nodes) != 1:
            return None
        node = nodes[0]
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            return None
        return (value, _constants(index, where)) if isinstance(target, ast.Name) else None

    return lookup


def mode_of(dotted: str, literals: dict[str, Any], path: str | None) -> str:
    """``r`` (reads only), ``w`` (writes only) or ``rw`` (may write what it reads)."""
    if dotted == "sqlite3.connect":
        return _sqlite_mode(literals, path)
    if dotted == "duckdb.connect":
        return "r" if literals.get("read_only") is True else "rw"
    spec = READERS[dotted]
    if spec.mode is None:
        return "r"
    position, keyword, default = spec.mode
    mode = literals[keyword] if keyword in literals else literals.get(str(position), default)
    if mode in READ_MODES:
        return "r"
    return "w" if mode in WRITE_ONLY_MODES else "rw"


def _sqlite_mode(literals: dict[str, Any], path: str | None) -> str:
    if path is not None and path.startswith("file:") and _READ_ONLY_URI.search(path):
        return "r"
    return "rw" if literals.get("__writes__") else "r"


def path_value(
    source: str | None, params: list[str], lookup: Lookup, *, own: bool
) -> tuple[str, str]:
    """The path a reader call opens: (``path``, text) when it is known now, (``config``,
    field) when it is a field of the step's config (``own``: the call is in the step's own
    function), (``unknown``, "") otherwise."""
    if source is None:
        return "unknown", ""
    try:
        expr = ast.parse(source, mode="eval").body
    except SyntaxError:
        return "unknown", ""
    if (
        own
        and isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id in params
    ):
        return "config", expr.attr
    value = _evaluate(expr, set(params), lookup, 0)
    return ("unknown", "") if value is None else ("path", value)


_JOINS = frozenset({"Path", "PurePath", "PosixPath", "join", "str", "fspath", "abspath"})


def _evaluate(expr: ast.expr, params: set[str], lookup: Lookup, depth: int) -> str | None:
    """The string value of a path expression made of literals, module-level constants,
    ``Path(...)``, ``os.path.join(...)`` and ``/``; None when it is not known statically."""
    if depth > 8:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Name) and expr.id not in params:
        found = lookup(expr.id)
        return None if found is None else _evaluate(found[0], set(), found[1], depth + 1)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        parts = [_evaluate(e, params, lookup, depth + 1) for e in (expr.left, expr.right)]
        return None if None in parts else "/".join(p for p in parts if p is not None)
    if isinstance(expr, ast.Call) and not expr.keywords:
        name = expr.func.id if isinstance(expr.func, ast.Name) else ""
        name = expr.func.attr if isinstance(expr.func, ast.Attribute) else name
        if name in _JOINS and expr.args:
            parts = [_evaluate(a, params, lookup, depth + 1) for a in expr.args]
            return None if None in parts else "/".join(p for p in parts if p is not None)
    return None


# --------------------------------------------------------------------------- a step's files


def step_files(
    readers: list[tuple[str, str, str, str]],
    config: dict[str, Any],
    declared: tuple[str, ...],
    outs: tuple[str, ...],
    root: str,
    outside: Callable[[str], str | None] = lambda path: None,
) -> tuple[list[str], list[str]]:
    """What a step's reader calls mean for it: (files to track as if declared in ``deps``,
    notes for the calls incr cannot track). ``readers`` come from its code closure (see
    ``resolve_calls``); a file a ``deps`` or ``outs`` entry covers is left to it, and a
    call whose path is not known is taken as covered once the step declares ``deps``. A path
    outside the project is tracked by the key ``outside`` gives it (None: not tracked)."""
    paths: list[str] = []
    notes: list[str] = []
    for place, mode, given, value in readers:
        kind, _, suffix = given.partition("+")  # path+-wal: the log beside the database
        path: Any = value if kind == "path" else None
        if kind == "config":
            path = config.get(value)
        if kind == "seen":
            continue  # the reader tells the recorder the path it gets (``incr.nativereads``)
        if kind == "written" and not declared:
            notes.append(
                f"{place} opens a database the step may write: incr sees it written when the "
                "step runs, not what the step reads in it; list the file in deps=[...] if the "
                "step's result depends on that"
            )
            continue
        if not isinstance(path, str):
            if not declared and not suffix:
                notes.append(f"{place} opens files incr cannot see; list them in deps=[...]")
            continue
        rel = project_path(path, root)
        if rel == "":
            continue  # an in-memory database
        if suffix:
            if path.startswith("file:"):
                continue  # a URI: no log is named after it
            path += suffix
            rel = project_path(path, root)
        elsewhere = rel is None and (rel := _outside(path, outside)) is not None
        if rel is None and suffix:
            continue  # the note on the database itself says it
        if rel is None:
            notes.append(
                f"{place} opens {path}, which incr cannot track; "
                "copy it into the project and list it in deps=[...]"
            )
        elif any(paths_overlap(rel, d) for d in (*declared, *outs)):
            continue
        elif mode == "r":
            paths.append(rel)
        else:
            outs_hint = "" if elsewhere else ", or in outs=[...] if it writes it"
            notes.append(
                f"{place} opens {rel} and may write it, so incr does not track it; list it in "
                f"deps=[...] if the step only reads it{outs_hint}"
            )
    return sorted(set(paths)), sorted(set(notes))


def _outside(path: str, key: Callable[[str], str | None]) -> str | None:
    """The key of a local file outside the project (``key``), None for a remote one or a
    glob."""
    local = _local(path)
    return None if local is None else key(local)


def _local(path: str) -> str | None:
    """The local path ``path`` names (an SQLite ``file:`` URI's path), None for a remote one
    or a glob."""
    if path.startswith("file:"):  # an SQLite URI
        path = path[len("file:") :].partition("?")[0]
    return None if "://" in path or any(c in path for c in "*?[") else path


def project_path(path: str, root: str) -> str | None:
    """``path`` relative to the project root (steps run there), POSIX style; "" for an
    in-memory database, None for what is not a project file (remote, a glob, outside)."""
    local = _local(path)
    if local is None or local.startswith("~"):
        return None
    path = local
    if path in ("", ":memory:") or path.startswith(":memory:"):
        return ""
    # posixpath, not os.path: string work only (incr assumes a POSIX file system)
    if posixpath.isabs(path):
        path = posixpath.relpath(posixpath.normpath(path), root)
    rel = posixpath.normpath(path)
    if rel in (".", "..") or rel.startswith("../") or posixpath.isabs(rel):
        return None
    return rel
