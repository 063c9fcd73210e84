"""The memos and singletons of the project modules loaded in this process, read from their
files (``incr.memodicts``): a step filling one sets no value another step sees."""

from __future__ import annotations

import ast
import contextlib
import os
import weakref
from pathlib import Path
from types import ModuleType

#: The dicts each project module uses as a memo only (``incr.memodicts``), the names it
#: uses for a value made once on first use (``memodicts.lazy_singletons``), and those of
#: them made of a plain value (``plain_lazies``), by module name, with the file's size and
#: time they were read from: read when asked first, and again once the file changed.
_memo_names: dict[str, tuple[tuple[int, int], tuple[frozenset[str], ...]]] = {}


def memo_dicts(module: ModuleType) -> frozenset[str]:
    """The names of the module-level dicts ``module`` uses as a memo only
    (``incr.memodicts``), read from its file once per version of it."""
    return memos(module)[0]


def lazy_singletons(module: ModuleType) -> frozenset[str]:
    """The module-level names ``module`` binds to a value made once on first use
    (``memodicts.lazy_singletons``), read from its file once per version of it."""
    return memos(module)[1]


def plain_lazies(module: ModuleType) -> frozenset[str]:
    """Those of ``lazy_singletons`` made of a plain value (``memodicts.plain_lazies``):
    ``incr.stepcaches`` makes each step make them again, so none sets them for another."""
    return memos(module)[2]


#: The same, by module object: a module loaded keeps the text it was loaded from (asked before
#: each step a module's code takes part in: no ``stat`` each time).
_by_module: weakref.WeakKeyDictionary[ModuleType, tuple[frozenset[str], ...]] = (
    weakref.WeakKeyDictionary()
)


def memos(module: ModuleType) -> tuple[frozenset[str], ...]:
    """(memo dicts, lazy singletons, plain lazies) of ``module``."""
    with contextlib.suppress(TypeError):
        if (mine := _by_module.get(module)) is not None:
            return mine
    found = _read(module)
    with contextlib.suppress(TypeError):
        _by_module[module] = found
    return found


def _read(module: ModuleType) -> tuple[frozenset[str], ...]:
    try:
        st = os.stat(module.__file__ or "")
    except (OSError, TypeError, ValueError):
        return frozenset(), frozenset(), frozenset()  # no file (a notebook's code): no memo
    stamp = (st.st_size, st.st_mtime_ns)
    known = _memo_names.get(module.__name__)
    if known is not None and known[0] == stamp:
        return known[1]
    from incr import memodicts

    found: tuple[frozenset[str], ...] = (frozenset(), frozenset(), frozenset())
    with contextlib.suppress(OSError, SyntaxError, ValueError):
        tree = _tree(Path(module.__file__ or "").read_bytes())
        lazies = memodicts.lazy_singletons(tree)
        found = (memodicts.memo_names(tree), lazies, memodicts.plain_lazies(tree, lazies))
    _memo_names[module.__name__] = (stamp, found)
    return found


def _tree(data: bytes) -> ast.Module:
    """The tree of module bytes ``data``: the one the code index parsed from the same text
    when there is one (only read here, never changed: a module of 10,000 steps takes a
    fifth of a second to parse), else parsed here."""
    from incr.codeast import analysed_tree, utf8_text

    text = utf8_text(data)
    known = analysed_tree(text) if text is not None else None
    return known if known is not None else ast.parse(data)
