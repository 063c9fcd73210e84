"""Module-level values of project modules set at run time, which a step's code digest cannot
hold: a script's main block that sets ``config.EPOCHS = args.epochs`` (or its own ``EPOCHS``)
before ``.run()``, a pipeline module that sets ``config.LR = 0.5`` at its top level. The code
digest of ``pipelines/config.py:EPOCHS`` is the source ``EPOCHS = 1``, not the value a step
sees. Such a value counts by its digest instead (a ``value:pipelines/config.py:EPOCHS`` code
part of the steps whose code reads it, see ``incr.facts``), taken when a pipeline is traced.

A value counts so when it is plain (numbers, strings, bytes, None, enum members, dates,
times and ids (``uuid.UUID``), and lists,
tuples, sets and dicts of them; dataclass instances, named tuples, pydantic models, attrs
instances, OmegaConf configs (Hydra's) and ``SimpleNamespace``/``argparse.Namespace``
objects by their class and fields; up to ``MAX_ITEMS`` values in all) and either differs
from the value its module left when its import ended (``imported``: project modules are
loaded by ``incr.imports``; in a script, a module imported before incr counts as it was when
incr was imported and as each of its steps was made, ``imported_before``), or is bound at
the top level of a main block that ran (``ran_main``: the script's own, or one that
discovery ran), or is bound at the top level of a module whose top level reads the command
line (``compiled``: ``sys.argv``, ``parser.parse_args()``). What a module's own classes,
functions and objects hold counts so too, as discovery leaves it (``incr.heldvalues``).
Other values (objects, large arrays) are not followed: a step that reads one set at run time
should take it as a config value or an input.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from incr import topcalls
from incr.boundnames import (
    bound_names,
    bound_once,
    global_names,
    main_text,
    parsed,
    top_statements,
)
from incr.digests import digest_bytes
from incr.heldvalues import held_text, held_texts
from incr.loadedmemos import memos as _memos
from incr.model import BOUND_PREFIX, UNREACHED
from incr.moduletop import main_bodies
from incr.plainkinds import KINDS as _KINDS
from incr.plainkinds import fields as _fields
from incr.plainkinds import record_kind as _record_kind
from incr.project import module_file, module_name

#: At most this many values in one global's value (nested ones included) are digested.
MAX_ITEMS = 10_000
_SCALARS = (int, float, complex, str, bytes, bool, type(None))
_PLAIN = frozenset({*_SCALARS, list, tuple, set, frozenset, dict})

#: Per project module loaded by incr: the module and the plain values its import left.
_imported: dict[str, tuple[ModuleType, dict[str, str]]] = {}
#: Per project module: the plain values its own classes, functions and objects held as its
#: import ended (``incr.heldvalues``), by name.
_held: dict[str, dict[str, str]] = {}
#: Modules whose names count by their value whatever their import left, by name, with those
#: names: the names a main block that ran binds, or those ``MAIN``/``TOP`` stands for (read
#: from the module's file when asked: its main blocks', or its whole top level's).
_mains: dict[str, tuple[ModuleType, list[str] | str]] = {}
MAIN, TOP = "main", "top"
#: What the top level of a module that reads the command line refers to (``sys.argv``,
#: ``parser.parse_args()``): what it binds there may come from the command line.
_ARGV_NAMES = frozenset({"argv", "parse_args", "parse_known_args"})
#: Those names, or the clock's..., anywhere in a script's text (searched before compiling it).
_ARGV_WORDS = re.compile(
    rb"\b(?:argv|parse_args|parse_known_args|now|today|utcnow|time\w*|uuid\d|subprocess|popen|"
    rb"getpid|token_\w+|perf_counter|monotonic|localtime|gmtime|ctime|strftime|asctime)\b"
)
#: The files of the modules whose top level reads the command line, the clock... (``compiled``).
_argv_files: set[str] = set()


def compiled(path: str, code: CodeType) -> None:
    """A project module was compiled: note whether its top level reads the command line, the
    clock, an id or another program's output (``volatile.top_reads_outside``: its file is
    parsed only when its code names such a call)."""
    from incr.volatile import clock_functions, names_outside, top_reads_outside

    if _ARGV_NAMES.intersection(code.co_names) and _argv_outside_main(path):
        _argv_files.add(path)
    elif path not in _argv_files and names_outside(code):
        with contextlib.suppress(OSError, SyntaxError, ValueError):
            source = Path(path).read_bytes()
            if _looked.get(path, (None, False))[0] != (key := hash(source)):  # once a text
                tree = ast.parse(source)
                _looked[path] = (key, bool(top_reads_outside(source, tree)))
                topcalls.clock_functions[path] = clock_functions(source, tree)
            if _looked[path][1]:
                _argv_files.add(path)
    if path not in _argv_files:
        topcalls.note_names(path, code)


def _argv_outside_main(path: str) -> bool:
    """Whether the module at ``path`` names a command-line read outside its main blocks."""
    from incr.volatile import names_outside_main

    with contextlib.suppress(OSError, SyntaxError, ValueError):
        return names_outside_main(ast.parse(Path(path).read_bytes()), path, _ARGV_NAMES)
    return True


#: Whether the top level of each module whose code names such a call reads the clock...,
#: with the hash of the text it was found in (a module compiled in chunks is asked per chunk).
_looked: dict[str, tuple[int, bool]] = {}


def imported(module: ModuleType) -> None:
    """Note the plain values ``module`` holds as its import ends. What the top level of a
    module that reads the command line binds counts by its value whatever it is."""
    _imported[module.__name__] = (module, dict(_plain_values(vars(module))))
    _held[module.__name__] = held_texts(module, _imported, _token)
    file = getattr(module, "__file__", None)
    if file in _argv_files or (isinstance(file, str) and topcalls.calls_clock(module, file)):
        _mains[module.__name__] = (module, TOP)


#: Project modules whose import had begun when ``incr`` was imported (the script itself, a
#: module that imports incr), by name, with how many names they held when last noted: their
#: values are noted as far as they are defined.
_partial: dict[str, int] = {}


def imported_before(root: Path) -> None:
    """In a script, as ``incr`` is imported: note the values of the project modules imported
    before it (they were not loaded by incr), those still being imported as far as they go.
    The latter are noted again, for the names defined since, as each of their steps is made
    (``step_made``)."""
    python = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})  # (no resolving for these)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or file.startswith(python):
            continue
        if isinstance(module, ModuleType) and _path(module, root) is not None:
            if name == "__main__":  # not compiled by incr: compiled here when it may read them
                with contextlib.suppress(OSError, SyntaxError, ValueError):
                    if _ARGV_WORDS.search(source := Path(file).read_bytes()):
                        compiled(file, compile(source, file, "exec"))
            imported(module)
            spec = getattr(module, "__spec__", None)
            if name == "__main__" or getattr(spec, "_initializing", False):
                _partial[module.__name__] = len(vars(module))


def step_made(func: Any) -> None:
    """A step function was just decorated: in a module still being imported when ``incr``
    was, note the values of the names defined since."""
    name = getattr(func, "__module__", None)
    if name in _partial and (module := sys.modules.get(name)) is not None:
        namespace = vars(module)
        added = len(namespace) - _partial[name]  # a module's new names come last
        if added > 0:
            noted = _imported[name][1]
            new = dict(itertools.islice(reversed(namespace.items()), added))
            noted.update(_plain_values({k: v for k, v in new.items() if k not in noted}))
        _partial[name] = len(namespace)


def ran_main(module: ModuleType, block: list[ast.stmt] | None = None) -> None:
    """``module``'s main block ran (or is running, for a script's ``.run()``); ``block``: its
    statements, when parsed already."""
    if _mains.get(module.__name__, (None, ""))[1] != TOP:  # (all its top level counts)
        _mains[module.__name__] = (module, MAIN if block is None else bound_names(block))


def changed(root: Path, held: bool = False) -> dict[str, str]:
    """The values set at run time, as code parts: ``PATH:NAME`` (PATH from ``root``, as code
    parts name definitions) to the digest of the value now. With ``held`` (discovery's
    values), those of the module's classes, functions and objects too (``heldvalues``): the
    steps' runs leave those to ``incr.objectstates``."""
    found: dict[str, str] = _held_changed(root) if held else {}
    for name in [n for n in _partial if n not in _late_noted and _mains.get(n, ("", ""))[1]]:
        _note_late_literals(name)  # a script running: its names bound after its last step
    changed_names: list[tuple[str, str, str]] = []  # (module, name, token its import left)
    for module, then in list(_imported.values()):
        if not then:
            continue  # a module without plain values (most pipeline modules)
        now = vars(module)
        for name, token in then.items():
            value = _token(now.get(name, _GONE))
            changed_here = value != token and not _remade(module, name, value)
            if changed_here and (path := _path(module, root)) is not None:  # nothing on
                found[f"{path}:{name}"] = _digest(value)
                changed_names.append((module.__name__, name, token))
    if held:  # (discovery's values: what the steps' code facts take)
        found.update(_bound_since(root, changed_names))
    for module, names in list(_mains.values()):
        if (path := _path(module, root)) is None:
            continue
        own = module_name(root, root / path) if module.__name__ == "__main__" else module.__name__
        listed = _file_names(root / path, names) if isinstance(names, str) else names
        # What its functions rebind (``global EPOCHS`` in a ``main()``) and no note of its
        # import holds: a script's names defined after its last step are not noted.
        noted = _imported.get(module.__name__, (module, {}))[1]
        listed = [*listed, *(n for n in _global_names(root / path) if n not in noted)]
        for name in listed:
            now_token = _token(value := vars(module).get(name, _GONE))
            if now_token is None and names == TOP:  # a class body, a default read the clock
                now_token = held_text(value, own, _imported, _token, defaults=True)
            if now_token is not None:
                found[f"{path}:{name}"] = digest_bytes(now_token.encode(), 32)
    return found


def _remade(module: ModuleType, name: str, token: str | None) -> bool:
    """A memo dict, or a plain singleton holding a plain value (``token``): emptied before
    each step by ``incr.stepcaches``, which each step fills for itself."""
    memos = _memos(module)
    return name in memos[0] or (name in memos[2] and token is not None)


def _bound_since(root: Path, changed: list[tuple[str, str, str]]) -> dict[str, str]:
    """For each value ``changed`` (set since its module's import left ``token``), what every
    other project module holding the same name holds, by ``bound:PATH:NAME``: ``UNREACHED``
    when it is ``token``, else its digest. A module that binds the name by ``from
    pipelines.consts import WIDTH`` holds the value its import found: one set on
    ``consts.WIDTH`` after does not reach it, one set before counts as that module's value
    (``facts``: code that reads the value through such a name)."""
    found: dict[str, str] = {}
    for origin, name, token in changed:
        for other, (module, then) in list(_imported.items()):
            if other == origin or name not in then:
                continue
            value = _token(vars(module).get(name, _GONE))
            if (path := _path(module, root)) is not None:
                found[f"{BOUND_PREFIX}{path}:{name}"] = (
                    UNREACHED if value == token else _digest(value)
                )
    return found


def _held_changed(root: Path) -> dict[str, str]:
    """``changed`` for what the modules' own classes, functions and objects hold."""
    found: dict[str, str] = {}
    for name, then in list(_held.items()):
        module = _imported[name][0]
        now = held_texts(module, _imported, _token)
        if name in _partial:  # still being imported when noted: what it defined since is
            now = {k: v for k, v in now.items() if k in then}  # its own, set by no one
        for key in [k for k in now.keys() | then.keys() if now.get(k) != then.get(k)]:
            if (path := _path(module, root)) is not None:
                found[f"{path}:{key}"] = _digest(now.get(key, "held{}"))
    return found


#: Scripts whose literal bindings after their last step were noted (``_note_late_literals``).
_late_noted: set[str] = set()
#: A script longer than this is not parsed for them (a script of 10,000 steps takes a second).
LATE_LITERALS_MAX_BYTES = 256 * 1024


def _note_late_literals(name: str) -> None:
    """Note, as its import left them, the names a script (imported before incr, its main
    running) binds at its top level to a literal (``SETTINGS = {"lr": 0.1}``) that no step's
    making noted: those bound after its last step. A ``main()`` that changes one in place
    (``SETTINGS["lr"] = args.lr``) then counts, as for the names bound before."""
    _late_noted.add(name)
    module, noted = _imported.get(name, (None, None))
    file = getattr(module, "__file__", None)
    if noted is None or not isinstance(file, str):
        return
    with contextlib.suppress(OSError):
        if os.path.getsize(file) > LATE_LITERALS_MAX_BYTES:
            return
        tree = parsed(Path(file).read_bytes())
        bound = bound_once(tree) if tree is not None else {}
        for late in [n for n in bound if n not in noted]:  # the others: as a step was made
            with contextlib.suppress(ValueError, TypeError, SyntaxError, MemoryError):
                token = _token(ast.literal_eval(bound[late]))
                if token is not None:
                    noted[late] = token


def set_since(before: dict[str, str], root: Path, also: Iterable[str] = ()) -> list[str]:
    """The values (``PATH:NAME``, as ``changed`` names them) set since ``changed`` gave
    ``before``: by a step's own code, when taken around its run. Only plain values: another
    object set as a step runs (a pool, a client, a model a helper keeps in a module global
    after its first use) is not followed, as elsewhere. With those of ``also``
    (the values the step set when it last ran) that still differ from what their module's
    import left: a step run again in the same process may set a value to the one it holds
    already, which no comparison sees."""
    now = {part: digest for part, digest in changed(root).items() if digest != _UNDIGESTABLE}
    return sorted(
        {p for p, digest in now.items() if before.get(p) != digest} | (set(also) & set(now))
    )


def set_values_now(
    values: dict[str, Any], parts: list[str], digests: dict[str, str] | None = None
) -> dict[str, str]:
    """The digests of the values ``parts`` (``path:name``) hold in ``values`` (what the steps
    setting them left: ``StepOutcome.values``), as ``changed`` gives them, or as ``digests``
    has them (those of values that are not plain, ``StepOutcome.value_digests``); ``unset``
    for one that none left (its setter failed, or no longer sets it)."""
    digests = digests or {}
    return {
        p: digests[p] if p in digests else _digest(_token(values[p])) if p in values else "unset"
        for p in parts
    }


def is_plain(value: Any) -> bool:
    """True for a value that counts by its value (see the module's notes)."""
    return _token(value) is not None


def _digest(token: str | None) -> str:
    return digest_bytes((token or "undigestable").encode(), 32)


#: The digest ``changed`` gives a value that is not plain.
_UNDIGESTABLE = _digest(None)


_GONE = object()


def _plain_values(namespace: dict[str, Any]) -> Iterator[tuple[str, str]]:
    kinds = _KINDS
    for name, value in list(namespace.items()):
        kind = type(value)  # (a module of steps holds no such value: a look-up per step)
        plain = kind in _PLAIN or (kinds[kind] if kind in kinds else _record_kind(kind))
        if plain and not name.startswith("__"):
            token = _token(value)
            if token is not None:
                yield name, token


def _token(value: Any) -> str | None:
    """A text that is the same for equal plain values in every process; None for others."""
    budget = [MAX_ITEMS]
    try:
        return _text(value, budget)
    except _NotPlain:
        return None


class _NotPlain(Exception):
    pass


def _text(value: Any, budget: list[int]) -> str:
    budget[0] -= 1
    if budget[0] < 0:
        raise _NotPlain
    kind = type(value)
    if kind in _SCALARS:
        return f"{kind.__name__}:{value!r}"
    if kind is list or kind is tuple:
        return f"{kind.__name__}[{','.join(_text(v, budget) for v in value)}]"
    if kind is set or kind is frozenset:
        return f"{kind.__name__}{{{','.join(sorted(_text(v, budget) for v in value))}}}"
    if kind is dict:
        items = sorted(f"{_text(k, budget)}={_text(v, budget)}" for k, v in value.items())
        return f"dict{{{','.join(items)}}}"
    name = f"{kind.__module__}.{kind.__qualname__}"
    if (record := _record_kind(kind)) == "enum":
        return f"{name}.{value.name}"
    if record == "stamp":  # a date, a time, an id: as Python writes it
        return f"{name}:{value!r}"
    fields = _fields(value)
    if fields is None:
        raise _NotPlain
    return f"{name}({','.join(f'{k}={_text(v, budget)}' for k, v in fields)})"


def _path(module: ModuleType, root: Path) -> str | None:
    """The path of ``module``'s file from ``root``; None outside it (or without a file)."""
    file = getattr(module, "__file__", None)
    found = module_file(file, root) if isinstance(file, str) else None
    return found[0] if found else None


_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
#: The names each file's main blocks, or its top level, bind (``_file_names``).
_main_bound: dict[tuple[Path, str], list[str]] = {}


def _file_names(file: Path, which: str) -> list[str]:
    """The names the top level of ``file``'s main blocks (``MAIN``), or its whole top level
    (``TOP``: with its classes and functions), binds (``EPOCHS = ...``)."""
    if (file, which) not in _main_bound:
        try:
            source = file.read_bytes()
        except OSError:
            source = b""
        tree = (
            parsed(main_text(source) if which == MAIN else b"")
            or parsed(source)
            or ast.Module(body=[], type_ignores=[])
        )
        block = top_statements(tree.body) if which == TOP else main_bodies(tree.body)
        defined = [d.name for d in tree.body if isinstance(d, _DEFINITIONS) and which == TOP]
        _main_bound[(file, which)] = bound_names(block) + defined  # (by what they hold)
    return _main_bound[(file, which)]


_global_declared: dict[Path, list[str]] = {}


def _global_names(file: Path) -> list[str]:
    """The names the functions of ``file`` declare ``global`` (``boundnames.global_names``)."""
    if file not in _global_declared:
        try:
            source = file.read_bytes()
        except OSError:
            source = b""
        _global_declared[file] = global_names(source)
    return _global_declared[file]
