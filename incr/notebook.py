"""Steps defined in a notebook cell or at an interactive prompt.

Their source file is not a project file: ipykernel compiles each cell into a temporary file named
by a hash (``/tmp/ipykernel_123/456.py``), IPython's terminal into ``<ipython-input-3-...>``, the
plain prompt into ``<stdin>``. The project is then the one of the working folder, as for the
command line (the working folder itself when it is in none). The code is read from the
session's history: the cells executed so far, each name keeping its latest definition, make one
module, ``__main__`` (shown as ``<notebook>``), fingerprinted like a project module. Nothing in
it depends on temporary file names or execution counts, so a new kernel that runs the same
notebook finds the results of the old one.
"""

from __future__ import annotations

import ast
import linecache
import re
import sys
from pathlib import Path
from typing import Any

from incr.codeast import ModuleSource
from incr.errors import ProjectError
from incr.moduletop import statement_names
from incr.project import Project

#: The path shown for code defined in a notebook or at a prompt.
NOTEBOOK = "<notebook>"
#: ``CodeRef.own_digest`` of a function whose source is nowhere (the plain ``python`` prompt).
NO_SOURCE = "undigestable:no source"

_PROMPT_INPUT = re.compile(r"<python-input-(\d+)>")  # the prompt of Python 3.13 and later


def is_interactive(file: str | None) -> bool:
    """True when ``file`` is where a notebook cell or a prompt's code says it comes from."""
    if not file or file.startswith("<"):  # <stdin>, <ipython-input-1-...>, <python-input-0>
        return True
    path = Path(file)
    return path.parent.name.startswith("ipykernel_") and path.stem.isdigit()


def project_for(file: str | None) -> Project:
    """The project of a pipeline defined in ``file``: from the working folder for a notebook or
    a prompt (the working folder itself when no project holds it), else from the file."""
    if not is_interactive(file):
        return Project.for_file(str(file))
    try:
        return Project.find(Path.cwd())
    except ProjectError:
        return Project.load(Path.cwd().resolve())


_last: tuple[tuple[int, str], ModuleSource] | None = None


def main_source() -> ModuleSource | None:
    """The session's code as one module (None outside a notebook or a prompt that keeps it)."""
    global _last
    cells = _cells()
    if cells is None:
        return None
    key = (len(cells), cells[-1] if cells else "")
    if _last is None or _last[0] != key:
        _last = (key, ModuleSource("__main__", NOTEBOOK, latest_definitions(cells)))
    return _last[1]


def _cells() -> list[str] | None:
    """The code executed so far, in order: IPython's history, or the prompt's inputs."""
    ipython = _ipython()
    if ipython is not None:
        return [str(cell) for cell in ipython.history_manager.input_hist_parsed if cell]
    found = sorted(
        (int(m.group(1)), name)
        for name in list(linecache.cache)
        if (m := _PROMPT_INPUT.fullmatch(str(name)))
    )
    if not found:
        return None
    return ["".join(linecache.getlines(name)) for _, name in found]


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    get = getattr(module, "get_ipython", None)
    return get() if get is not None else None


def latest_definitions(cells: list[str]) -> str:
    """One module made of ``cells``: each top-level statement that binds a name is kept unless
    a later cell binds every name it binds again (an edited cell run again replaces its old
    text); a statement that changes a name in place is kept unless a later cell binds that name
    anew. Statements that bind nothing, and cells that do not parse, are left out; of identical
    statements only the last is kept."""
    statements: list[tuple[int, ast.stmt, set[str], set[str]]] = []
    for index, text in enumerate(cells):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for stmt in tree.body:
            bound, changed = statement_names(stmt)
            if bound or changed:
                statements.append((index, stmt, bound, changed))
    last: dict[str, int] = {}
    for index, _, bound, _ in statements:
        last.update(dict.fromkeys(bound, index))
    kept: list[str] = []
    for index, stmt, bound, changed in statements:
        if bound:
            keep = any(last[name] == index for name in bound)
        else:
            keep = all(last.get(name, -1) <= index for name in changed)
        if keep:
            kept.append(ast.unparse(stmt))
    unique = list(dict.fromkeys(reversed(kept)))  # the last of identical statements
    return "\n".join(reversed(unique)) + "\n"
