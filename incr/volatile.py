"""Pipeline wiring that is different on each run: a module whose ``@pipeline`` bodies or
top-level code read the clock, draw random numbers, make ids or take another program's output
(``config=C(day=str(date.today()))``, ``run_id=uuid.uuid4().hex``, ``subprocess.check_output(
["git", "rev-parse", "HEAD"])``) wires its steps anew each time it is traced.
Graphs saved by an earlier command would freeze the first value: the graph cache keeps none
for such a project, and every command traces its pipelines (``incr.graphcache``).

The values such a module's top level binds (``TODAY = date.today().isoformat()``) count by
their value for the steps whose code reads them (``top_reads_outside``, see
``incr.globalvalues``); a random draw there gets a note instead (``incr.randomdraws``).

Pure: reads a module's tree. The calls looked for are those of the standard clock, random,
id and subprocess functions and their NumPy and pandas spellings, in ``@pipeline`` function
bodies and in
statements outside any function (``__main__`` blocks included: discovery runs them; class
bodies, decorators and default values too: they run as the module is imported), and in the
module's functions those call. A helper imported from another module is followed where its
module's functions are known (``clock_functions``, see ``incr.globalvalues``).
"""

from __future__ import annotations

import ast
import re
from types import CodeType

from incr.moduletop import absolute, dotted_names, imported_names, is_main_test, last_name

#: Words without which a text holds none of the calls below (checked before any walk).
_WORDS = re.compile(
    rb"\b(?:now|today|utcnow|time|time_ns|perf_counter|monotonic|localtime|gmtime|ctime|"
    rb"strftime|random|rand|randn|randint|randrange|choice|choices|shuffle|sample|uniform|"
    rb"default_rng|uuid1|uuid4|getpid|token_hex|token_bytes|token_urlsafe|"
    rb"run|check_output|check_call|call|Popen|getoutput|getstatusoutput|popen)\b"
)
#: Last names of calls that read the clock whatever they are called on (``datetime.now()``,
#: ``date.today()``, ``pd.Timestamp.now()``).
_CLOCK_METHODS = frozenset({"now", "today", "utcnow"})
#: Functions of modules that give another value on each call.
_MODULE_CALLS = {
    "time": frozenset(
        {"time", "time_ns", "perf_counter", "monotonic", "localtime", "gmtime", "ctime"}
        | {"strftime", "asctime"}
    ),
    "random": None,  # any function of the module's hidden generator but ``seed``
    "numpy.random": None,
    "uuid": frozenset({"uuid1", "uuid4"}),
    "os": frozenset({"getpid", "popen"}),
    "secrets": None,
    "subprocess": frozenset(
        {"run", "check_output", "check_call", "call", "Popen", "getoutput", "getstatusoutput"}
    ),
}
#: The modules whose calls draw random numbers (a note, not a value, see ``incr.randomdraws``).
_RANDOM = frozenset({"random", "numpy.random"})
#: Names that code making one of those calls names (``subprocess`` for ``subprocess.run`` and
#: ``from subprocess import run``), for a quick look at a module's compiled code.
OUTSIDE_NAMES = frozenset(
    {*_CLOCK_METHODS, "time", "time_ns", "perf_counter", "monotonic", "localtime", "gmtime"}
    | {"ctime", "strftime", "asctime", "uuid1", "uuid4", "getpid", "popen", "subprocess"}
    | {"token_hex", "token_bytes", "token_urlsafe"}
)
_DETERMINISTIC = frozenset({"seed", "Random", "RandomState", "Generator", "SeedSequence"})


def volatile_calls(source: bytes, tree: ast.Module) -> list[str]:
    """The calls of the module's wiring that give another value on each run, as
    ``datetime.now() (line 12)``; empty for almost every module (a text without the words is
    not walked)."""
    if not _WORDS.search(source):
        return []
    modules = imported_names(tree)
    found: list[str] = []
    for stmt in _wiring_statements(tree):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and _volatile(node, modules):
                found.append(f"{ast.unparse(node.func)}() (line {node.lineno})")
    return found


def names_outside(code: CodeType) -> bool:
    """Whether compiled module code names one of the calls ``top_reads_outside`` looks for,
    anywhere in it (a quick look before its text is parsed)."""
    todo = [code]
    while todo:
        one = todo.pop()
        if not OUTSIDE_NAMES.isdisjoint(one.co_names):
            return True
        todo += [c for c in one.co_consts if isinstance(c, CodeType)]
    return False


def names_outside_main(tree: ast.Module, path: str, names: frozenset[str]) -> bool:
    """Whether the module's top level, but for its ``__main__`` blocks, names one of
    ``names`` (``parse_args`` in the block alone: the names the block binds count, see
    ``globalvalues.ran_main``; one at the top level makes all it binds count)."""
    body: list[ast.stmt] = []
    for stmt in tree.body:
        main = isinstance(stmt, ast.If) and is_main_test(stmt.test)
        body += stmt.orelse if isinstance(stmt, ast.If) and main else [stmt]
    module = ast.Module(body=body, type_ignores=[])
    return not names.isdisjoint(compile(module, path, "exec").co_names)


def top_reads_outside(source: bytes, tree: ast.Module) -> list[str]:
    """The calls of the module's top level, and of its own functions that it calls at any
    depth, that give another value on another day, run or commit (the clock, ids, another
    program's output: ``TODAY = date.today().isoformat()``, ``SHA = git_sha()``), as
    ``volatile_calls`` names them. Random draws are left out: they get a note."""
    if not _WORDS.search(source):
        return []
    modules = imported_names(tree)
    return [
        f"{ast.unparse(node.func)}() (line {node.lineno})"
        for stmt in _wiring_statements(tree, bodies=False)
        for node in ast.walk(stmt)
        if isinstance(node, ast.Call) and _volatile(node, modules, draws=False)
    ]


def clock_functions(source: bytes, tree: ast.Module) -> frozenset[str]:
    """The module's top-level functions that read the clock, make an id or take another
    program's output, themselves or through the module's functions they call at any depth
    (``def today(): return date.today()``): a module calling one at its top level
    (``from pipelines.utils import today``, ``TODAY = today()``) reads the clock there."""
    if not _WORDS.search(source):
        return frozenset()
    modules = imported_names(tree)
    calls: dict[str, set[str]] = {}
    found: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            nodes = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            if any(_volatile(n, modules, draws=False) for n in nodes):
                found.add(stmt.name)
            calls[stmt.name] = {n.func.id for n in nodes if isinstance(n.func, ast.Name)}
    while more := {name for name, called in calls.items() if called & found} - found:
        found |= more
    return frozenset(found)


#: Handlers that catch a failed import, and the words without which a text has none.
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_OPTIONAL_WORDS = re.compile(
    rb"\b(?:ImportError|ModuleNotFoundError|Exception|find_spec)\b|except\s*:"
)


def optional_imports(source: bytes, tree: ast.Module, package: str) -> list[str]:
    """The modules the wiring imports only if they can be found: imported inside a ``try``
    whose handler catches the failure (``try: import fancylib`` / ``except ImportError``), or
    looked for with ``find_spec("fancylib")``. Installing or removing one may wire the
    pipelines another way. ``package``: the module's package, for relative imports."""
    if not _OPTIONAL_WORDS.search(source):
        return []
    found: list[str] = []
    for stmt in _wiring_statements(tree):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Try) and any(_catches_import(h) for h in node.handlers):
                for inner in (n for s in node.body for n in ast.walk(s)):
                    if isinstance(inner, ast.Import):
                        found += [alias.name for alias in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        found.append(absolute(inner.module, inner.level, package))
            elif isinstance(node, ast.Call) and last_name(node.func) == "find_spec":
                name = node.args[0] if node.args else None
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    found.append(name.value)
    return sorted({name for name in found if name and not name.startswith(".")})


def _catches_import(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(last_name(kind) in _IMPORT_ERRORS for kind in kinds)


def native_reads(tree: ast.Module) -> tuple[list[str], list[str]]:
    """The files readers written in C open while the module's pipelines are wired (a
    manifest read with ``pd.read_parquet`` in a ``@pipeline`` body, or at the top level),
    which no audit event shows: (paths known now, calls whose path is not)."""
    from incr.creaders import path_value, reader_calls
    from incr.readertable import READERS

    modules = imported_names(tree)
    known: list[str] = []
    unknown: list[str] = []
    for stmt in _wiring_statements(tree):
        for text, _, head, chain, source, params, _ in reader_calls(stmt):
            if ".".join([modules.get(head, head), *chain]) not in READERS:
                continue
            kind, value = path_value(source, params, lambda _: None, own=False)
            if kind == "path":
                known.append(value)
            else:
                unknown.append(f"{text}()")
    return known, unknown


def _wiring_statements(tree: ast.Module, bodies: bool = True) -> list[ast.stmt]:
    """``@pipeline`` functions and statements outside any function or class, and the
    module's own functions (not steps) that those call, at any depth: what runs while the
    pipelines are wired. Without ``bodies``: what runs as the module is imported (no
    ``@pipeline`` function)."""
    found: list[ast.stmt] = []
    helpers: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = {last_name(d) for d in stmt.decorator_list}
            if "pipeline" in decorators:
                found += [stmt] if bodies else []
            elif "step" not in decorators:
                helpers[stmt.name] = stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found += _run_at_definition(stmt)  # ``def run(day=date.today())``, a class body
        else:
            found.append(stmt)
    todo = list(found)
    while todo and helpers:
        for node in ast.walk(todo.pop()):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                helper = helpers.pop(node.func.id, None)
                if helper is not None:
                    found.append(helper)
                    todo.append(helper)
    return found


def _run_at_definition(definition: ast.stmt) -> list[ast.stmt]:
    """What runs as a function or class is defined: its decorators, its defaults, the
    statements of a class body (``STAMP = date.today().isoformat()``), those of the classes
    and the definitions of the functions in it; each as a statement."""
    found: list[ast.stmt] = []
    heads: list[ast.expr | None] = []
    if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        args = definition.args
        heads = [*definition.decorator_list, *args.defaults, *args.kw_defaults]
    elif isinstance(definition, ast.ClassDef):
        heads = [*definition.decorator_list, *definition.bases]
        heads += [keyword.value for keyword in definition.keywords]
        for stmt in definition.body:
            inner = isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            found += _run_at_definition(stmt) if inner else [stmt]
    for head in heads:
        if head is not None:
            found.append(ast.copy_location(ast.Expr(value=head), head))
    return found


def _volatile(call: ast.Call, modules: dict[str, str], draws: bool = True) -> bool:
    names = dotted_names(call.func)
    if names is None:
        return False
    head, chain = names[0], names[1:]
    if chain and chain[-1] in _CLOCK_METHODS:
        return True  # datetime.now(), datetime.now(timezone.utc), date.today()
    dotted = ".".join([modules.get(head, head), *chain])
    module, _, name = dotted.rpartition(".")
    if module == "numpy" and name == "random":
        return False
    allowed = _MODULE_CALLS.get(module, frozenset())
    if not draws and module in _RANDOM:
        return False
    if module in _MODULE_CALLS and (allowed is None or name in allowed):
        if name == "default_rng" or name in _DETERMINISTIC:
            return name == "default_rng" and not (call.args or call.keywords)
        return True
    return False
