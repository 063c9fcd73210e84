"""Where a project's modules are and what their code is: the code index (with its memo), the
closures of definitions (through the closure cache) and the project definitions a pickled value
refers to."""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incr import cachefile
from incr.codecache import ClosureCache, Found
from incr.collector import uncollected
from incr.digests import digest_bytes
from incr.fingerprint import MEMO_FORMAT, PROJECT_MODULES, CodeClosure
from incr.hashing import StatCache
from incr.modulefiles import listing_digest, module_files
from incr.project import Project, module_name

if TYPE_CHECKING:
    from incr.codeast import ModuleSource
    from incr.codeindex import CodeIndex


class CodeSources:
    """The code of one project's modules, read once per command and cached between them."""

    def __init__(self, project: Project, stats: StatCache) -> None:
        self.project = project
        self.stats = stats
        self._memo_file = project.cache / "code.bin"
        self._code: CodeIndex | None = None
        self._memo_size = 0
        self._found: dict[str, Found] = {}
        self.closures = ClosureCache(project.cache / "closures.bin", self._locate, self._recheck)
        self._module_tops: tuple[bytes, ...] | None = None
        self._closures: dict[tuple[str, str], CodeClosure] = {}

    @property
    def code(self) -> CodeIndex:
        """The code index, made (and its memo read) the first time a closure is not saved."""
        if self._code is None:
            from incr.codeindex import CodeIndex  # here: saved closures need no source read

            memo = _read_memo(self._memo_file)
            self._code = CodeIndex(
                self.load_source, memo, self._project_modules, self._kept, self.absent
            )
            self._memo_size = len(self._code.memo)
        return self._code

    # ------------------------------------------------------------------ sources

    def find_module(self, name: str) -> tuple[Path, bool] | None:
        """The file of project module ``name`` (and whether it is a package), or None."""
        if not name or name.startswith("."):
            return None
        for folder in (self.project.root, self.project.root / "src"):  # flat or src layout
            found = _module_file(folder, name)
            if found is not None:
                return found
        return None

    def load_source(self, name: str) -> ModuleSource | None:
        if name == "__main__" and (session := _main_source()) is not None:  # a notebook's code
            self._found[name] = (session.path, digest_bytes(session.text.encode()))
            return session
        found = self.find_module(name)
        if found is None:
            self._found[name] = self._compiled(name)
            return None
        path, is_package = found
        data = path.read_bytes()
        rel = path.relative_to(self.project.root).as_posix()
        self._found[name] = (rel, digest_bytes(data))  # what the closures are computed from
        from incr.codeast import ModuleSource
        from incr.codeparts import source_text

        text = source_text(data)  # a byte-order mark, a coding declaration: as Python reads it

        main_runs = (
            rel.startswith(f"{self.project.pipelines_dir}/")
            or rel in self.project.scripts
            or _is_script(path)
        )
        return ModuleSource(name, rel, text, is_package, main_runs)

    def _kept(self, digest: str) -> str | None:
        """The text of a project module kept by the digest of its bytes (by the graph cache
        and for diffs: ``Project.kept_module``), when it is kept and still has that digest."""
        from incr.codeparts import source_text

        try:
            data = self.project.kept_module(digest).read_bytes()
        except OSError:
            return None
        return source_text(data) if digest_bytes(data) == digest else None

    def _project_modules(self) -> list[str]:
        """The names of the project's modules (for a registry scan), noting their list."""
        files = module_files(self.project.root, self.project.cache_dir)
        self._found[PROJECT_MODULES] = ("", listing_digest(files))
        return list(files)

    def _locate(self, name: str) -> Found:
        """Where module ``name`` is now, with its digest (through the stat cache)."""
        if name == "__main__" and (session := _main_source()) is not None:
            return session.path, digest_bytes(session.text.encode())
        if name == PROJECT_MODULES:
            return "", listing_digest(module_files(self.project.root, self.project.cache_dir))
        found = self.find_module(name)
        if found is None:
            return self._compiled(name)
        rel = found[0].relative_to(self.project.root).as_posix()
        return rel, self.stats.digest(rel)

    def absent(self, name: str) -> bool:
        """True when ``name`` (``pipelines.local_settings``) is a module of a package of the
        project (its first name a folder of the root or of ``src/``) that has no file: no
        source, no compiled extension. Such a module counts as absent; its package is no
        third-party one to count by its files."""
        parts = name.split(".")
        for folder in (self.project.root, self.project.root / "src") if len(parts) > 1 else ():
            if (folder / parts[0]).is_dir():
                base = folder.joinpath(*parts)
                there = base.is_dir() or base.with_suffix(".py").is_file()
                return not there and self._compiled(name) is None
        return False

    def _compiled(self, name: str) -> Found:
        """Where a project module that has no source is, with its digest: a compiled
        extension (``pipelines/fastops.cpython-311-x86_64-linux-gnu.so``) or a sourceless
        ``.pyc`` beside the sources, which the code index cannot read; None when there is
        none (a module that appears so makes the closures that consulted its name stale)."""
        parts = name.split(".")
        for folder in (self.project.root, self.project.root / "src"):
            base = folder.joinpath(*parts)
            if not base.parent.is_dir():
                continue
            for suffix in [*importlib.machinery.EXTENSION_SUFFIXES, ".pyc"]:
                path = base.with_name(base.name + suffix)
                if path.is_file():
                    rel = path.relative_to(self.project.root).as_posix()
                    return rel, self.stats.digest(rel)
        return None

    def _recheck(
        self, module: str, skeleton: str, raws: dict[str, str], was: str
    ) -> tuple[Found, str] | None:
        """Where ``module`` is, as the code index read it, and its skeleton now, when it kept
        what a closure read of its text whose digest was ``was`` (see ``ClosureCache``); None
        otherwise."""
        now = self.code.kept_reads(module, skeleton, raws, was)
        return None if now is None else (self._found.get(module), now)

    def closure(self, module: str, qualname: str) -> CodeClosure:
        """The code closure of a module-level definition; empty when ``module`` is not a
        project module. Saved closures are reused while their modules are unchanged (and
        asked of the closure cache once per command: a step's closure is wanted for its facts,
        its notes and its readers)."""
        key = (module, qualname)
        closure = self._closures.get(key)
        if closure is not None:
            return closure
        closure = self.closures.get(module, qualname)
        if closure is None:
            closure = self.code.closure(module, qualname)
            sources = {name: self._found.get(name) for name in closure.modules}
            self.closures.put(module, qualname, closure, sources)
        self._closures[key] = closure
        return closure

    def object_refs(
        self, kind: str, parts: Sequence[bytes | memoryview], names: Iterable[tuple[str, str]] = ()
    ) -> tuple[str, ...]:
        """The project definitions (``module:name``) a value stored as ``parts`` refers to:
        the globals of its pickle stream that live in project modules, and those among
        ``names`` (its materializer and the classes it names, ``(module, qualname)``).
        The stream is scanned only when it names a project module."""
        from incr.objectcode import pickle_globals, project_refs  # here: only a run stores

        if kind != "pickle":
            return project_refs(names, self.is_project_module) if names else ()
        data = b"".join(parts)
        if self._module_tops is None:
            self._module_tops = _module_tops(self.project.root)
        if not any(top in data for top in self._module_tops):
            return ()
        found = [*pickle_globals(data), *names]
        return project_refs(found, self.is_project_module)

    def is_project_module(self, module: str) -> bool:
        """True for a module of the project (its source is under the project root)."""
        return self.find_module(module) is not None

    def part_source(self, part: str) -> str | None:
        """The normalised source of a code part (``pipelines/flow.py:double``) as it is now."""
        file, _, name = part.rpartition(":")
        if not file.endswith(".py"):
            return None
        module = module_name(self.project.root, self.project.root / file)
        return self.code.normalised_source(module, name)

    def save(self, ensure: Callable[[], object]) -> None:
        """Persist the code memo and the closure cache when they changed (``ensure`` makes the
        cache folder first). Raises OSError. Encoding them makes many objects and no cycle:
        no collection meanwhile."""
        with uncollected():
            if self._code is not None and len(self._code.memo) != self._memo_size:
                ensure()
                entries = list(self._code.memo.items())[-MEMO_LIMIT:]
                memo = {"format": MEMO_FORMAT, "entries": dict(entries)}
                cachefile.write(self._memo_file, memo)
                self._memo_size = len(self._code.memo)
            if self.closures.changed:
                ensure()
                self.closures.save()


def _is_script(path: Path) -> bool:
    """True for the file Python runs as ``__main__`` (``python run.py``): its main block runs."""
    file = getattr(sys.modules.get("__main__"), "__file__", None)
    return isinstance(file, str) and os.path.realpath(file) == os.path.realpath(path)


def _main_source() -> ModuleSource | None:
    """The code of a notebook or prompt session (``incr.notebook``), asked only for a closure
    that names ``__main__``."""
    from incr.notebook import main_source

    return main_source()


def _module_tops(root: Path) -> tuple[bytes, ...]:
    """The names a project module's dotted name can start with (folders and ``.py`` files in
    the root and in ``src/``), encoded as a pickle spells them."""
    names: set[str] = set()
    for folder in (root, root / "src"):
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name.removesuffix(".py") if entry.is_file() else entry.name
                if name.isidentifier() and (entry.is_dir() or entry.name.endswith(".py")):
                    names.add(name)
    return tuple(name.encode() for name in sorted(names))


def _module_file(folder: Path, name: str) -> tuple[Path, bool] | None:
    """The file of module ``name`` under ``folder``: a package before a module file of the
    same name, as Python's import finds them (``helpers/__init__.py``, then ``helpers.py``)."""
    base = folder.joinpath(*name.split("."))
    for path, is_package in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
        if path.is_file():
            return path, is_package
    return None


#: Definitions remembered in .pipecache/code.bin (the newest are kept).
MEMO_LIMIT = 50_000


def _read_memo(path: Path) -> dict[str, Any]:
    """The code memo saved by an earlier run; empty when missing, damaged or of another
    format (it is only a cache)."""
    try:
        data = cachefile.read(path)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != MEMO_FORMAT:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if _valid_memo(v)}


def _valid_memo(entry: Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 5
        and isinstance(entry[0], str)
        and all(isinstance(x, list) for x in entry[1:])
    )
