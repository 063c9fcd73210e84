"""Process-wide settings a project module makes as it is imported: ``np.set_printoptions
(precision=2)``, ``pd.set_option(...)``, ``decimal.getcontext().prec = 4``,
``matplotlib.rcParams["font.size"] = 9`` at the top level of a pipeline module no step
imports (discovery imports it) change what every step run after it in that process computes.
Such statements (with the tests around them and the code they read) count for every step: the
code index makes them one closure (``SETTINGS``) that ``facts`` adds to each step's code.

Pure: modules come from the ``ModuleLookup``.
"""

from __future__ import annotations

import ast
import functools
import re

from incr.astnorm import digest_nodes
from incr.codeast import ModuleInfo, ModuleLookup, references
from incr.fingerprint import SETTINGS as SETTINGS
from incr.moduletop import guarded
from incr.tablestores import is_mutator, stores

Target = tuple[str, str]  # (module, name)

#: What the code part of a module's settings is named after (``pipelines/display.py:<settings>``).
PART = "<process-wide settings>"

#: Functions and objects of libraries holding settings of the whole process: a call of one, a
#: store into one, or of one of its attributes (``pandas.options.display.precision = 3``,
#: ``polars.Config.set_tbl_rows(5)``, ``decimal.getcontext().prec = 50``) changes them.
#: ``os.environ`` counts otherwise (``incr.envreads``). Warning filters and logging set-up
#: change what steps print or log, not what they compute (``incr.moduletop`` counts a filter
#: turning warnings into errors).
PROCESS_SETTINGS = frozenset(
    {
        "numpy.set_printoptions",
        "numpy.seterr",
        "numpy.random.seed",
        "pandas.set_option",
        "pandas.reset_option",
        "pandas.options",
        "polars.Config",
        "torch.set_default_dtype",
        "torch.set_default_device",
        "torch.set_printoptions",
        "torch.manual_seed",
        "torch.use_deterministic_algorithms",
        "torch.backends",
        "tensorflow.random.set_seed",
        "tensorflow.config",
        "sklearn.set_config",
        "locale.setlocale",
        "decimal.getcontext",
        "decimal.setcontext",
        "random.seed",
        "sys.set_int_max_str_digits",
        "matplotlib.rcParams",
        "matplotlib.rc",
        "matplotlib.use",
        "matplotlib.style",
        "matplotlib.pyplot.rcParams",
        "matplotlib.pyplot.rc",
        "matplotlib.pyplot.style",
        "seaborn.set",
        "seaborn.set_theme",
        "seaborn.set_style",
        "seaborn.set_context",
    }
)
_WORDS = re.compile(
    r"\b(?:" + "|".join(sorted({s.rpartition(".")[2] for s in PROCESS_SETTINGS})) + r")\b"
)


#: The top-level modules ``PROCESS_SETTINGS`` are in.
_SETTING_TOPS = frozenset(s.partition(".")[0] for s in PROCESS_SETTINGS)
_IMPORT_LINE = re.compile(r"[ \t]*(?:from|import)[ \t]+[\w.]")


@functools.lru_cache(maxsize=256)
def imported_tops(text: str) -> frozenset[str]:
    """The names in the import statements of a module's text (modules, their parts, what a
    ``from . import x`` names, aliases): found from each ``import`` word, not by scanning every
    line (a 700 KB module in a millisecond)."""
    found: set[str] = set()
    at = text.find("import")
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        line = text[start : len(text) if end < 0 else end]
        if _IMPORT_LINE.match(line):  # every name in it: ``import os, sys``, ``from . import x``
            found.update(re.findall(r"\w+", line))
        at = text.find("import", at + 6)
    return frozenset(found)


@functools.lru_cache(maxsize=256)
def may_set(text: str) -> bool:
    """Whether a module's text names one of ``PROCESS_SETTINGS`` (a module that does not is
    never parsed for them): it imports one of their modules, then names one."""
    return bool(_SETTING_TOPS & imported_tops(text)) and _WORDS.search(text) is not None


def setting(info: ModuleInfo, head: str, chain: tuple[str, ...]) -> str | None:
    """The entry of ``PROCESS_SETTINGS`` a name read in ``info`` stands for (``np.
    set_printoptions``, ``set_printoptions`` imported from ``numpy``); None for another."""
    binding = info.imports.get(head)
    if binding is None:
        return None
    base = binding.module or f"{binding.attr_of}.{binding.attr}"
    full = ".".join([base, *chain])
    for entry in PROCESS_SETTINGS:
        if full == entry or full.startswith(entry + "."):
            return entry
    return None


def statements(index: ModuleLookup) -> list[tuple[str, str, list[Target]]]:
    """Each project module's top-level statements using a process-wide setting (a call of it or
    a store into it anywhere in the statement: a loop setting options from a table), outside
    ``__main__`` blocks: its path, the digest of those statements with the tests around them,
    and the project definitions they read (``PREC`` in ``np.set_printoptions(precision=PREC)``).
    """
    found = []
    names = index.project_modules()
    project = frozenset(part for name in names for part in name.split("."))  # as imported
    for name in names:
        try:
            source = index.source(name)
            text = source.text if source is not None else ""
            patching = may_patch(text, project) if project else False
            info = index.module(name) if may_set(text) or patching else None
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        if info is None or info.tree is None:
            continue
        nodes: list[ast.stmt] = []
        targets: list[Target] = []
        for stmt, guards, main in guarded(info.tree.body):
            if main or (isinstance(stmt, _SKIPPED) and not registers(index, info, stmt)):
                continue
            refs = [] if isinstance(stmt, _DEFS) else references(stmt)
            sets = any(setting(info, head, chain) for head, chain in refs)
            if not sets and not isinstance(stmt, _DEFS) and not patches(index, info, stmt):
                continue
            nodes += [g for g in guards if not any(g is n for n in nodes)]
            nodes.append(stmt)
            for ref in [*refs, *(r for g in guards for r in references(g))]:
                targets += [
                    t
                    for t in index.resolve(info, ref)
                    if not isinstance(t, str) and not _import_of(info, t)
                ]
        if nodes:
            found.append((info.source.path, digest_nodes(nodes), list(dict.fromkeys(targets))))
    return found


#: A statement at the start of a line that may patch a definition: ``Model.predict = f``,
#: ``models.scale = f``, ``Numberish.register(Decimal)``, ``setattr(Model, "act", f)``.
_PATCH = re.compile(
    r"^(?:\w+(?:\.\w+)+\s*=[^=]|\w+(?:\.\w+)*\.(?:register|add_)\w*\(|setattr\("
    r"|@\w+(?:\.\w+)*\.(?:register|add_))",
    re.M,
)


def may_patch(text: str, project: frozenset[str]) -> bool:
    """Whether a module's text may patch a definition at its top level (see ``patches``): it
    imports a module of the project (whose top-level names are ``project``), then spells such
    a statement."""
    return bool(project & imported_tops(text)) and _patch_line(text)


@functools.lru_cache(maxsize=256)
def _patch_line(text: str) -> bool:
    return _PATCH.search(text) is not None


def patches(index: ModuleLookup, info: ModuleInfo, stmt: ast.stmt) -> bool:
    """Whether top-level statement ``stmt`` of ``info`` patches a function or a class of
    another project module with code (a monkeypatch: ``Model.predict = fast_predict``,
    ``models.scale = fast_scale``, ``Numberish.register(Decimal)``): the steps run after it in
    the process run the patched code, whichever module they import. A plain value set so
    (``Limits.HIGH = 10``) counts by its value instead (``incr.heldvalues``)."""
    for (head, chain), stored in stores(stmt):
        if stored and all(isinstance(v, ast.Constant | ast.JoinedStr) for v in stored):
            continue  # a value
        for found in _elsewhere(index, info, head):
            module, name = (found[0], chain[0]) if found[1] == "*" and chain else found
            if module != info.source.name and _definition(index, module, name):
                return True
    return False


def registers(index: ModuleLookup, info: ModuleInfo, stmt: ast.stmt) -> bool:
    """Whether a function or class ``stmt`` is registered, by its decorator, into a class of
    another project module (``@Featurizer.feat.register`` on a ``singledispatchmethod``): the
    steps using that class run it. (A table's or a ``singledispatch`` function's own
    registrations count by ``incr.registries`` for the steps using them.)"""
    for decorator in getattr(stmt, "decorator_list", []):
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        chain: list[str] = []
        while isinstance(func, ast.Attribute):
            chain.insert(0, func.attr)
            func = func.value
        if not (isinstance(func, ast.Name) and chain and is_mutator(chain[-1])):
            continue
        if any(
            _definition(index, *t, kinds=(ast.ClassDef,)) for t in _elsewhere(index, info, func.id)
        ):
            return True
    return False


def _elsewhere(index: ModuleLookup, info: ModuleInfo, name: str) -> list[Target]:
    """What ``name`` read in ``info`` stands for in another module (``(module, "*")`` for a
    module itself): the import binding in ``info`` left out."""
    found = index.resolve(info, (name, ()))
    return [t for t in found if not isinstance(t, str) and t[0] != info.source.name]


def _definition(index: ModuleLookup, module: str, name: str, kinds: tuple[type, ...] = ()) -> bool:
    """True when ``name`` is a function or a class defined at the top level of ``module``."""
    try:
        info = index.module(module)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return False
    nodes = info.defs.get(name) if info is not None else None
    defs = kinds or _DEFS
    return bool(nodes) and all(isinstance(n, defs) for n in nodes or ())


def _import_of(info: ModuleInfo, target: Target) -> bool:
    """True for a name ``info`` imports (``np``, keyed by the statements calling it too): what
    it imports of the project resolves to its own definitions."""
    return target[0] == info.source.name and target[1] in info.imports


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SKIPPED = (*_DEFS, ast.Import, ast.ImportFrom)
