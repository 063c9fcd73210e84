"""Where a step's code lives: enough to fingerprint it from source files without importing.

Made once, when a pipeline is traced (its modules are imported then anyway); afterwards the code
fingerprint is computed from the files' ASTs, so a cached graph can be checked without running
any user code.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from incr.fingerprint import defined_in_class, function_closure


@dataclass(frozen=True)
class CodeRef:
    """A function, class or module.

    ``qualname`` is ``*`` for a whole module, ``Class.name`` for a definition in the body of a
    module-level class. ``own_digest`` is set for code that cannot be found by a module-level
    name (a function defined inside a function): the digest of its own source.
    ``package`` is set for code outside the project: it counts by that package's version.
    """

    module: str = ""
    qualname: str = ""
    source_file: str = ""
    own_digest: str | None = None
    package: str | None = None


@dataclass(frozen=True)
class StepCode:
    """A step's function, its ``code_deps`` and its ``version`` string."""

    func: CodeRef
    deps: tuple[CodeRef, ...] = ()
    version: str | None = None


def module_name(root: Path, path: Path) -> str:
    """The dotted name of a module file under ``root``: ``pipelines/flow.py`` is
    ``pipelines.flow``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":  # the src layout: src/mylib is ``mylib``
        parts.pop(0)
    return ".".join(parts)


def code_ref(obj: Any, root: Path) -> CodeRef:
    """The CodeRef of a function, class or module object."""
    if isinstance(obj, ModuleType):
        file = getattr(obj, "__file__", None)
        if file and _inside(Path(file), root):
            path = Path(file).resolve()
            return CodeRef(module_name(root, path), "*", path.relative_to(root).as_posix())
        return CodeRef(package=obj.__name__.split(".")[0])
    obj = inspect.unwrap(obj)  # a functools.wraps decorator: fingerprint the wrapped function
    try:
        path = Path(inspect.getsourcefile(obj) or "").resolve()
    except TypeError:  # built in
        return CodeRef(package=str(getattr(obj, "__module__", "") or "builtins").split(".")[0])
    if not _inside(path, root):
        return CodeRef(package=str(getattr(obj, "__module__", "") or "").split(".")[0] or None)
    rel = path.relative_to(root).as_posix()
    qualname = getattr(obj, "__qualname__", "")
    ref = CodeRef(module_name(root, path), qualname, rel)
    if qualname != getattr(obj, "__name__", None) and not _in_class_body(path, qualname):
        # defined inside a function
        return CodeRef(ref.module, qualname, rel, function_closure(inspect.getsource(obj), rel))
    return ref


def _in_class_body(path: Path, qualname: str) -> bool:
    """True when ``qualname`` (``Steps.load``) is defined in the body of a module-level class
    of ``path``: it is then found through its class, like a module-level definition."""
    if "<locals>" in qualname:
        return False
    try:
        return defined_in_class(path.read_bytes(), str(path), qualname)
    except (OSError, SyntaxError, ValueError):
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return True
