"""Packages that are code on this machine rather than an installed release: they count by
their files.

A step's code that uses a third-party package counts by the package's installed version
(``pkg:scikit-learn = 1.9.1``). A package imported from a folder outside Python's installation
has no version that moves with its code: a shared library put on ``PYTHONPATH``
(``../common``), one installed in editable mode (``pip install -e ../common``, whose version
stays what its ``pyproject.toml`` says), a package folder beside the project. An edit of such
a package's code would leave every step that uses it clean. So such a package counts by a
digest of its code files instead (``files:DIGEST``: their paths inside the package and their
bytes, read through the stat cache): any edit of its code, a comment included, makes the
steps that use it dirty. The local packages its code imports in turn (read from the import
lines of its sources) count with it, at any depth.

Local means: the folder the package is imported from is one ``incr.outside`` counts (not under
``site-packages``, ``dist-packages``, Python's own folders, the system's, or a dot-folder of
the home folder). Its code files are its ``.py`` files, compiled extensions (``.so``,
``.pyd``) and sourceless modules (a ``.pyc`` beside the sources), in every sub-folder but
``__pycache__`` and hidden ones.
"""

from __future__ import annotations

import os
import re
import sys

from incr import outside
from incr.fingerprint import digest_bytes
from incr.hashing import StatCache
from incr.model import LOCAL_CODE, MISSING

CODE_FILES = (".py", ".so", ".pyd", ".pyc")


class LocalPackages:
    """The ``files:DIGEST`` of the local packages steps use, computed once per command."""

    def __init__(self, stats: StatCache) -> None:
        self.stats = stats
        self._known: dict[str, str | None] = {}
        #: The files and folders those digests were made from (absolute paths): what an
        #: answer kept by ``incr status`` depends on (see ``incr.statusmemo``).
        self.paths: set[str] = set()
        #: The folders the pipeline modules put before and after ``sys.path``'s own when
        #: imported (``graphcache.path_additions``): a package is looked up as they found it.
        self.added: tuple[list[str], list[str]] = ([], [])
        self._at: dict[str, str] = {}

    def version(self, package: str) -> str | None:
        """``files:DIGEST`` for a local package (a top-level import name), None for an
        installed one (or one not found): its version counts. The digest covers the local
        packages its code imports in turn (``mlhelpers`` importing ``mlconsts``), at any
        depth."""
        if package not in self._known:
            places = _local_places(package, self.added)
            if places is None:
                self._known[package] = None
            else:
                self._known[package] = ""  # being digested: an import cycle ends here
                digest, sources = self._digest(places)
                linked = [
                    f"{name}\0{found}"
                    for name in sorted(_imported_tops(sources) - {package})
                    if (found := self.version(name))
                ]
                if linked:
                    text = "\n".join([digest, *linked]).encode()
                    digest = LOCAL_CODE + digest_bytes(text, 32)
                self._known[package] = digest
        return self._known[package]

    def code_at(self, place: str) -> str:
        """``files:DIGEST`` of the module at ``place`` (an absolute ``.py`` file or package
        folder: one a step imported from a folder it put on ``sys.path`` as it ran, see
        ``incr.stepimports``), with the local modules its code imports in turn, looked up
        beside it first; ``missing`` when it is gone."""
        if place in self._at:
            return self._at[place]
        if not os.path.exists(place):
            self.paths.add(place)
            return MISSING
        self._at[place] = ""  # being digested: an import cycle ends here
        digest, sources = self._digest([place])
        folder = os.path.dirname(place)
        linked = []
        for name in sorted(_imported_tops(sources)):
            beside = _local_places(name, ([folder], []), imported=False)
            found = [self.code_at(p) for p in beside] if beside else [self.version(name)]
            if beside != [place] and any(found):
                linked.append(f"{name}\0{'/'.join(f for f in found if f)}")
        if linked:
            digest = LOCAL_CODE + digest_bytes("\n".join([digest, *linked]).encode(), 32)
        self._at[place] = digest
        return digest

    def _digest(self, places: list[str]) -> tuple[str, list[str]]:
        """The digest of the code files in ``places``, and the Python sources among them."""
        entries = []
        sources = []
        for place in places:
            self.paths.add(place)
            if not os.path.isdir(place):
                entries.append(f"{os.path.basename(place)}\0{self.stats.digest(place)}")
                sources += [place] if place.endswith(".py") else []
                continue
            for folder, dirs, files in os.walk(place):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
                self.paths.add(folder)
                for name in files:
                    if name.endswith(CODE_FILES):
                        path = os.path.join(folder, name)
                        self.paths.add(path)
                        rel = os.path.relpath(path, place).replace(os.sep, "/")
                        entries.append(f"{rel}\0{self.stats.digest(path)}")
                        sources += [path] if name.endswith(".py") else []
        return LOCAL_CODE + digest_bytes("\n".join(sorted(entries)).encode(), 32), sources


#: The first name of each absolute import in a Python source, at any depth.
_IMPORTS = re.compile(
    r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import\b|import[ \t]+([^\n#;]+))",
    re.MULTILINE,
)


def _imported_tops(sources: list[str]) -> set[str]:
    """The top-level names the absolute imports of ``sources`` name (read from the text: a
    name only a comment or a string imports is looked up too, which only costs a lookup)."""
    found: set[str] = set()
    for path in sources:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        for head, names in _IMPORTS.findall(text):
            if head:
                found.add(head)
            for part in names.split(","):
                name = part.strip().split(" ")[0].split(".")[0].strip("()\\")
                if name.isidentifier():
                    found.add(name)
    return found


def _local_places(
    package: str, added: tuple[list[str], list[str]], imported: bool = True
) -> list[str] | None:
    """The folders of a top-level package (or the file of a module) when it is imported from
    local code; None when it is installed, built in, or not found. Nothing is imported, and
    ``sys.path`` is left as it is: a package this process has not imported is looked up in
    the folders ``added`` (those pipeline modules put before and after ``sys.path``'s own when
    imported) as the import did. Without ``imported``: only in the folders put first (as
    ``sys.modules`` and ``sys.path`` have nothing to say about them)."""
    import importlib.machinery
    import importlib.util

    front, back = added
    spec = getattr(sys.modules.get(package), "__spec__", None) if imported else None
    try:  # the folders put first, then sys.path (with its import hooks), then those put last
        if spec is None and front:
            spec = importlib.machinery.PathFinder.find_spec(package, front)
        if spec is None and imported:
            spec = importlib.util.find_spec(package)
        if spec is None and back:
            spec = importlib.machinery.PathFinder.find_spec(package, back)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        places = [os.path.abspath(p) for p in spec.submodule_search_locations]
    elif spec.origin and spec.has_location:
        places = [os.path.abspath(spec.origin)]
    else:
        return None
    local = [p for p in places if outside.counts(p if os.path.isdir(p) else os.path.dirname(p))]
    return sorted(local) if local else None
