"""A pipeline script run as ``__main__`` (``python pipelines/train.py``) under its own name.

Objects of classes defined in the script would be pickled as ``__main__.MyObj``, which
``incr repro`` (where ``__main__`` is incr) cannot load. Before a script's ``.run()``, the
script's module is registered under its dotted name in the project (``pipelines.train``) and
the classes and functions it defines say so in ``__module__``: they pickle under that name,
and loading one in the script finds the running module instead of importing the file a second
time (which would run its module-level ``.run()`` again).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import ModuleType

from incr import globalvalues
from incr.project import module_name


def adopt_main(root: Path) -> str | None:
    """Give ``__main__`` its module name under ``root``; the name, or None when ``__main__``
    is no file inside the project (a notebook, an installed entry point)."""
    found = _main_name(root)
    if found is None:
        return None
    main, name = found
    globalvalues.ran_main(main)  # running: the names it binds hold values set at run time
    if sys.modules.setdefault(name, main) is not main:
        return None  # imported under its name too: the script has two copies, leave them be
    for value in list(vars(main).values()):
        if isinstance(value, type) and value.__module__ == "__main__":
            value.__module__ = name
        elif callable(value) and getattr(value, "__module__", None) == "__main__":
            with contextlib.suppress(AttributeError, TypeError):
                value.__module__ = name
    return name


def name_in_children(root: Path) -> None:
    """Have the processes forked from now on find ``__main__`` under its module name, as
    ``adopt_main`` gives it in this process. A pool the script makes before its first
    ``.run()`` (at its top level) is sent the script's functions under that name; its workers
    would otherwise import the file again, running its top level there: a pool made inside a
    pool's worker fails, and the pool starts workers again forever."""
    found = _main_name(root)
    if found is not None:
        main, name = found
        os.register_at_fork(after_in_child=lambda: sys.modules.setdefault(name, main))


def _main_name(root: Path) -> tuple[ModuleType, str] | None:
    """``__main__`` and its module name under ``root``, when it is a file of the project."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if main is None or not file:
        return None
    path = Path(file).resolve()
    try:
        path.relative_to(root)
    except ValueError:
        return None
    if path.suffix != ".py":
        return None
    name = module_name(root, path)
    if not name or not name.replace(".", "_").isidentifier():
        return None
    return main, name
