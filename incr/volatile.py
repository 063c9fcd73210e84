"""Pipeline wiring that is different on each run: a module whose ``@pipeline`` bodies or
top-level code read the clock, draw random numbers or make ids (``config=C(day=str(
date.today()))``, ``run_id=uuid.uuid4().hex``) wires its steps anew each time it is traced.
Graphs saved by an earlier command would freeze the first value: the graph cache keeps none
for such a project, and every command traces its pipelines (``incr.graphcache``).

Pure: reads a module's tree. The calls looked for are those of the standard clock, random
and id functions and their NumPy and pandas spellings, in ``@pipeline`` function bodies and in
statements outside any function or class (``__main__`` blocks included: discovery runs them).
A helper function that reads the clock and is called from a body is not followed.
"""

from __future__ import annotations

import ast
import re

from incr.moduletop import dotted_names, imported_names, last_name

#: Words without which a text holds none of the calls below (checked before any walk).
_WORDS = re.compile(
    rb"\b(?:now|today|utcnow|time|time_ns|perf_counter|monotonic|localtime|gmtime|ctime|"
    rb"strftime|random|rand|randn|randint|randrange|choice|choices|shuffle|sample|uniform|"
    rb"default_rng|uuid1|uuid4|getpid|token_hex|token_bytes|token_urlsafe)\b"
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
    "os": frozenset({"getpid"}),
    "secrets": None,
}
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


def _wiring_statements(tree: ast.Module) -> list[ast.stmt]:
    """``@pipeline`` functions and statements outside any function or class."""
    found = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            if not any(last_name(d) == "pipeline" for d in stmt.decorator_list):
                continue
        elif isinstance(stmt, ast.ClassDef):
            continue
        found.append(stmt)
    return found


def _volatile(call: ast.Call, modules: dict[str, str]) -> bool:
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
    if module in _MODULE_CALLS and (allowed is None or name in allowed):
        if name == "default_rng" or name in _DETERMINISTIC:
            return name == "default_rng" and not (call.args or call.keywords)
        return True
    return False
