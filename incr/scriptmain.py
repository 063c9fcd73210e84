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
import sys
from pathlib import Path

from incr.project import module_name


def adopt_main(root: Path) -> str | None:
    """Give ``__main__`` its module name under ``root``; the name, or None when ``__main__``
    is no file inside the project (a notebook, an installed entry point)."""
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
    if sys.modules.setdefault(name, main) is not main:
        return None  # imported under its name too: the script has two copies, leave them be
    for value in list(vars(main).values()):
        if isinstance(value, type) and value.__module__ == "__main__":
            value.__module__ = name
        elif callable(value) and getattr(value, "__module__", None) == "__main__":
            with contextlib.suppress(AttributeError, TypeError):
                value.__module__ = name
    return name
