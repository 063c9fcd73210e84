"""A project module whose top level calls a function of another project module that reads the
clock, makes an id or takes another program's output (``from pipelines.utils import today``,
``TODAY = today()``): what that top level binds counts by its value, as for a module reading
the clock itself (``incr.globalvalues``, ``volatile.top_reads_outside``).

The functions of each module whose code names such a call are known as it is compiled
(``volatile.clock_functions``); the names each other module's top level and class bodies read
too. As a module's import ends, each of those names that holds a function of another project
module is looked up among the former.
"""

from __future__ import annotations

import inspect
from types import CodeType, ModuleType

#: By a module's file: its functions that read the clock... (``volatile.clock_functions``).
clock_functions: dict[str, frozenset[str]] = {}
#: By a module's file, of those whose top level calls such a function: which one. Their
#: pipelines are wired anew on each run (``graphcache``), as if they read the clock there.
calling: dict[str, str] = {}
#: By a module's file: the names its top level and its class bodies read.
_top_names: dict[str, frozenset[str]] = {}


def note_names(path: str, code: CodeType) -> None:
    """Note the names a module's code (or one chunk of it) reads as it is imported: at its top
    level, in its class bodies and in the defaults and decorators there."""
    bodies = [c for c in code.co_consts if isinstance(c, CodeType)]
    bodies = [c for c in bodies if not c.co_flags & inspect.CO_NEWLOCALS]  # no function's
    names = frozenset(code.co_names).union(*(c.co_names for c in bodies))
    _top_names[path] = _top_names.get(path, frozenset()) | names


def calls_clock(module: ModuleType, path: str) -> bool:
    """Whether the top level of ``module`` (imported from ``path``) reads a name that holds a
    function of another project module that reads the clock..."""
    for name in _top_names.get(path, ()) if clock_functions else ():
        code = getattr(vars(module).get(name), "__code__", None)
        if not isinstance(code, CodeType) or code.co_filename == path:
            continue
        if code.co_name in clock_functions.get(code.co_filename, ()):
            calling[path] = f"{name}() of {code.co_filename}"
            return True
    return False
