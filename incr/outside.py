"""Files and folders outside the project that a step reads: which count, and their lock keys.

A step that reads ``/mnt/data/train.csv`` or ``~/datasets/train.csv`` depends on those bytes as
much as on a file of the project, so ``incr.reads`` records them as it records the project's:
a file by its digest, a folder listed by its names, an existence test by its answer. The key
in ``pipeline.lock`` is, so that another clone or machine with the same layout has the same
keys:

- ``../data/train.csv``, relative to the project root, for a file of the version-control
  checkout that holds the project (a project in a sub-folder of a monorepo), and for one the
  step named that way (``open("../data/train.csv")``: a copy of the project beside other
  data reads that data);
- ``~/...`` for a path in the home folder (a teammate's or a CI machine's own home);
- the absolute path otherwise (a shared mount).

A machine without the file sees the step dirty (``missing``) rather than reusing a result made
from bytes it cannot check.

What the system, Python and tools keep for themselves does not count, so that a step is not
dirty on another machine because its operating system or Python differs:

- the system's folders (``/etc``, ``/usr``, ``/proc``, ``/dev``, ``/var/lib``...);
- Python's installation and packages (``sys.prefix`` and the other prefixes, any
  ``site-packages``, ``dist-packages``, ``__pycache__``, ``node_modules``, ``.git`` folder);
- dot-folders of the home folder (``~/.cache``, ``~/.config``, ``~/.local``, ``~/.keras``...):
  tools' caches, settings and downloads, unless the project's own code opens the file, or
  gives its path to the library call that does (``pathfacts.project_opens``): the project's
  settings (``~/.config/myproj/settings.json``) count;
- Python code and bytecode (code outside the project is not fingerprinted).
"""

from __future__ import annotations

import functools
import os
import sys

#: Folders of the operating system (Linux, macOS): settings, programs, devices, state.
SYSTEM = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/snap",
    "/nix/store",
    "/var/lib",
    "/var/cache",
    "/var/run",
    "/var/log",
    "/var/spool",
    "/System",
    "/Library",
    "/private/etc",
    "/private/var/db",
)
#: Folder names whose contents are tools' own, wherever they are.
TOOLING = frozenset(
    {"site-packages", "dist-packages", "__pycache__", "node_modules", ".git", ".hg", ".svn"}
)
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi")


def _home() -> str:
    home = os.path.normpath(os.path.expanduser("~"))
    return "" if home in ("~", os.sep) else home


@functools.cache
def _skipped() -> tuple[str, ...]:
    """Folders whose files never count, each ending with the separator."""
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    incr = os.path.dirname(os.path.abspath(__file__))
    folders = [*SYSTEM, *python, incr]
    return tuple(os.path.join(os.path.normpath(f), "") for f in folders if f)


def counts(full: str, dotted: bool = False) -> bool:
    """True when a step's read of ``full`` (an absolute, normalised path outside the project)
    is one of its inputs: not a file of the system, of Python or of a tool (see above); one in
    a dot-folder of the home folder only when ``dotted`` (the project's code opened it)."""
    if full.endswith(CODE_SUFFIXES) or (full + os.sep).startswith(_skipped()):
        return False
    parts = full.split(os.sep)
    if any(p in TOOLING or p.endswith((".dist-info", ".egg-info")) for p in parts):
        return False
    home = _home()
    return dotted or not (home and full.startswith(home + os.sep + "."))


def key_of(full: str, root: str) -> str:
    """The lock key of ``full``, outside the project at ``root`` (see above)."""
    checkout = _checkout(root)
    if checkout and full.startswith(checkout):
        return os.path.relpath(full, root).replace(os.sep, "/")
    home = _home()
    if home and full.startswith(home + os.sep):
        return "~/" + full[len(home) + 1 :]
    return full


#: Folders that mark the top of a version-control checkout.
_CHECKOUTS = (".git", ".hg", ".svn")


@functools.cache
def _checkout(root: str) -> str:
    """The top of the checkout that holds the project at ``root`` when it is above the root,
    ending with the separator; "" when the root is the top, or in none."""
    root = os.path.normpath(root)
    if any(os.path.exists(os.path.join(root, mark)) for mark in _CHECKOUTS):
        return ""
    folder = os.path.dirname(root)
    while folder != os.path.dirname(folder):
        if any(os.path.exists(os.path.join(folder, mark)) for mark in _CHECKOUTS):
            return os.path.join(folder, "")
        folder = os.path.dirname(folder)
    return ""


def key_for(path: str, root: str) -> str | None:
    """The lock key of the file ``path`` names (``~`` expanded; a relative path from the
    project at ``root``, where steps run) when it is outside the project and counts; None
    otherwise."""
    full = os.path.normpath(os.path.join(root, os.path.expanduser(path)))
    inside = full.startswith(os.path.join(os.path.normpath(root), ""))
    return key_of(full, root) if not inside and counts(full) else None


def is_outside(key: str) -> bool:
    """True for the lock key of a path outside the project (see ``key_of``)."""
    return key.startswith(("/", "~/", "../"))


def resolve(root: str | os.PathLike[str], key: str) -> str:
    """The path a file key (a project path, or an outside one: see ``key_of``) names."""
    if key.startswith("~/"):
        return os.path.join(_home() or os.path.expanduser("~"), key[2:])
    if key.startswith("../"):
        return os.path.normpath(os.path.join(root, key))
    return os.path.join(root, key)
