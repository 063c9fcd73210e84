"""Where a step's code lives: enough to fingerprint it from source files without importing.

Made once, when a pipeline is traced (its modules are imported then anyway); afterwards the code
fingerprint is computed from the files' ASTs, so a cached graph can be checked without running
any user code.
"""

from __future__ import annotations

import inspect
import linecache
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from incr import notebook
from incr.codeast import (
    ModuleSource,
    defined_in_class,
    definitions,
    enclosing_names,
    function_closure,
)
from incr.model import CodeRef
from incr.model import StepCode as StepCode  # re-exported: it lived here
from incr.project import module_file, source_file


def code_ref(obj: Any, root: Path) -> CodeRef:
    """The CodeRef of a function, class or module object."""
    if isinstance(obj, ModuleType):
        file = getattr(obj, "__file__", None)
        where = module_file(file, root) if file else None
        if where is not None:
            return CodeRef(where[1], "*", where[0])
        return CodeRef(package=obj.__name__.split(".")[0])
    obj = inspect.unwrap(obj)  # a functools.wraps decorator: fingerprint the wrapped function
    try:
        if isinstance(obj, FunctionType):
            file = source_file(obj) or obj.__code__.co_filename
        else:
            file = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):  # built in, or a notebook's class (``__main__`` has no file)
        if isinstance(obj, type) and obj.__module__ == "__main__":
            return notebook_ref(obj, "")
        return CodeRef(package=str(getattr(obj, "__module__", "") or "builtins").split(".")[0])
    if getattr(obj, "__module__", None) == "__main__" and notebook.is_interactive(file):
        return notebook_ref(obj, file)
    where = module_file(file, root)
    if where is None:
        return CodeRef(package=str(getattr(obj, "__module__", "") or "").split(".")[0] or None)
    rel, module = where
    qualname = getattr(obj, "__qualname__", "")
    ref = CodeRef(module, qualname, rel)
    if "<locals>" in qualname or "<lambda>" in qualname:
        return _enclosing_ref(obj, ref, file)
    if qualname != getattr(obj, "__name__", None) and not _in_class_body(root / rel, qualname):
        # defined inside a function
        return CodeRef(ref.module, qualname, rel, function_closure(inspect.getsource(obj), rel))
    return ref


def _enclosing_ref(obj: Any, ref: CodeRef, file: str) -> CodeRef:
    """A function or class made inside a function, or a lambda: it counts by the module-level
    definition written around it (its factory, the loop or assignment that made it), whose
    closure holds its source, the source that made the values it captures, and what either
    uses. The whole module when no definition holds it."""
    line = _first_line(obj)
    names = enclosing_names(_module_source(ref, file), line) if line else []
    return CodeRef(ref.module, names[0] if names else "*", ref.source_file)


#: The source of each module file as last read, with the lines it was made from: many steps
#: made by one factory are looked up in one module.
_sources: dict[str, tuple[list[str], ModuleSource]] = {}


def _module_source(ref: CodeRef, file: str) -> ModuleSource:
    lines = _lines(file)
    kept = _sources.get(file)
    if kept is None or kept[0] is not lines:
        kept = _sources[file] = (lines, ModuleSource(ref.module, ref.source_file, "".join(lines)))
    return kept[1]


def notebook_ref(obj: Any, file: str) -> CodeRef:
    """A function or class defined in a notebook cell or at an interactive prompt: it counts
    by the definition around it in the session's code (``notebook.main_source``) when that
    is the one it was made from; else by its own source; ``undigestable`` without one."""
    qualname = getattr(obj, "__qualname__", "")
    session = notebook.main_source()
    cell = ModuleSource("__main__", notebook.NOTEBOOK, "".join(_lines(file)) if file else "")
    line = _first_line(obj) if file else 0
    if session is not None and line:
        for name in enclosing_names(cell, line):
            if set(definitions(cell, name)) <= set(definitions(session, name)):
                return CodeRef("__main__", name, notebook.NOTEBOOK)
    if session is not None and not file and definitions(session, qualname):
        return CodeRef("__main__", qualname, notebook.NOTEBOOK)  # a class: by its latest source
    try:
        own = function_closure(inspect.getsource(obj), notebook.NOTEBOOK)
    except (OSError, TypeError, SyntaxError):
        own = notebook.NO_SOURCE
    return CodeRef("__main__", qualname, notebook.NOTEBOOK, own)


def _first_line(obj: Any) -> int:
    code = getattr(obj, "__code__", None)
    if code is not None:
        return int(code.co_firstlineno)
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 0


def _lines(file: str) -> list[str]:
    linecache.checkcache(file)
    return linecache.getlines(file)


def _in_class_body(path: Path, qualname: str) -> bool:
    """True when ``qualname`` (``Steps.load``) is defined in the body of a module-level class
    of ``path``: it is then found through its class, like a module-level definition."""
    if "<locals>" in qualname:
        return False
    try:
        return defined_in_class(path.read_bytes(), str(path), qualname)
    except (OSError, SyntaxError, ValueError):
        return False
