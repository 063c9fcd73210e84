"""The sources of code parts as runs used them, kept in ``.pipecache/sources`` so that ``incr
show`` can print what changed in a step's code.

A run keeps the text of each project module it used once per version
(``sources/modules/DIGEST``, by the digest of its bytes) and notes, in ``sources/parts.json``,
which module text holds each code part digest (``digest -> [file, module digest, name]``). A
diff reads the part back from that text, and only when the part found there has that digest.
One file per module version, not one per part: the first run of ten thousand steps writes one
module, not ten thousand sources. (Sources kept one file per part digest, ``sources/DIGEST``,
by earlier versions are still read.)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from incr.codeast import ModuleSource, analyse
from incr.codeparts import part_digest, part_source
from incr.fingerprint import DEFAULTS
from incr.hashing import buffers_digest
from incr.model import LockEntry
from incr.modulefiles import module_files
from incr.plan import Verdict
from incr.project import Project, module_name
from incr.sources import CodeSources
from incr.storage import atomic_write
from incr.store import Store

_FORMAT = 1


class KeptSources:
    """Sources kept for diffs, read back by digest."""

    def __init__(self, project: Project, store: Store, sources: CodeSources) -> None:
        self.project = project
        self.store = store
        self.sources = sources
        self.folder = project.cache / "sources"
        self._parts: dict[str, list[str]] | None = None  # parts.json, read on first use
        self._changed = False
        #: Module texts kept by this command (by the stat cache's digest of the file).
        self._modules: set[str] = set()
        #: The digest each module file was kept under by this command, by path.
        self._files: dict[str, str] = {}

    def keep(self, code: dict[str, str]) -> None:
        """Keep the module text each code part of ``code`` comes from (without fsync: a text
        lost to a power cut costs a diff, and an empty file left by one is written again);
        ``save`` writes which text holds which part."""
        parts = self._index()
        for part, digest in code.items():
            if part.startswith("pkg:") or ":" not in part or part.endswith(DEFAULTS):
                continue
            file, _, name = part.rpartition(":")
            if digest in parts or not file.endswith(".py"):
                continue
            kept = self._keep_module(file)
            if kept is not None:
                parts[digest] = [file, kept, name]
                self._changed = True

    def _keep_module(self, file: str) -> str | None:
        """Keep the text of module ``file``; the digest it is kept under, None when it
        cannot be read. Once per file and command: the command read each module once for
        the code parts of its steps, so one text serves them all (else each step of a first
        ``repro`` of 10,000 steps would stat the file again)."""
        if file in self._files:
            return self._files[file]
        known = self.sources.stats.digest(file)
        if known in self._modules:
            return known
        try:
            data = (self.project.root / file).read_bytes()
        except OSError:
            return None
        digest = buffers_digest((data,))
        path = self.project.kept_module(digest)
        if not _non_empty(path):
            self.store.ensure()
            with contextlib.suppress(OSError):
                atomic_write(path, data, durable=False)
        self._modules.add(digest)
        self._files[file] = digest
        return digest

    def save(self) -> None:
        """Write ``parts.json`` when parts were kept since it was read. Raises OSError."""
        if self._changed and self._parts is not None:
            self.store.ensure()
            _write_parts(self.folder, self._parts)
            self._changed = False

    def _index(self) -> dict[str, list[str]]:
        if self._parts is None:
            self._parts = _read_parts(self.folder)
        return self._parts

    def kept(self, digest: str) -> str | None:
        """The kept source of a code part, or None when it is not kept (an empty file is what a
        power cut may leave of one: these are written without fsync)."""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (self.folder / digest).read_text(encoding="utf-8")  # one file per part
            if text:
                return text
        found = self._index().get(digest)
        if found is None or len(found) != 3 or not found[1].isalnum():
            return None
        file, module_digest, name = found
        try:
            text = self.project.kept_module(module_digest).read_text(encoding="utf-8")
            module = module_name(self.project.root, self.project.root / file)
            info = analyse(ModuleSource(module, file, text, file.endswith("__init__.py")))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            info = None
        if info is None or part_digest(info, name) != digest:
            # damaged (a power cut), or the file changed while it was kept: the next run
            # that uses this part keeps it again
            del self._index()[digest]
            self._changed = True
            with contextlib.suppress(OSError):
                self.save()
            return None
        return part_source(info, name)

    def diffs(
        self, locked: LockEntry | None, verdict: Verdict
    ) -> list[tuple[str, str | None, str | None]]:
        """(part, source then, source now) for each code part that changed since the lockfile's
        run; a side is None when the part was not used then (or is not now), or when its old
        source is no longer in the cache."""
        if locked is None or verdict.facts is None:
            return []
        old, new = locked.facts.code, verdict.facts.code
        diffs = []
        for part in sorted(set(old) | set(new)):
            if old.get(part) == new.get(part) or part.startswith(("pkg:", "captured:")):
                continue
            if ":" not in part or part.endswith(DEFAULTS):  # values: shown as config
                continue
            then = self.kept(old[part]) if part in old else None
            now = self.sources.part_source(part) if part in new else None
            diffs.append((part, then, now))
        return diffs


def _read_parts(folder: Path) -> dict[str, list[str]]:
    """``parts.json``: code part digest -> [file, module text digest, name]; {} when there is
    none or it does not read."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
        data = json.loads((folder / "parts.json").read_text(encoding="utf-8"))
        if data.get("format") == _FORMAT:
            return {str(k): [str(x) for x in v] for k, v in data["parts"].items()}
    return {}


def _write_parts(folder: Path, parts: dict[str, list[str]]) -> None:
    """Write ``parts.json`` (without fsync: only diffs depend on it). Raises OSError."""
    text = json.dumps({"format": _FORMAT, "parts": parts}, separators=(",", ":"))
    atomic_write(folder / "parts.json", text.encode(), durable=False)


def _non_empty(path: Path) -> bool:
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


def unneeded(
    project: Project, locks: Iterable[LockEntry]
) -> tuple[list[Path], dict[str, list[str]] | None]:
    """What ``incr gc`` removes of the kept sources: the module texts (``sources/modules/``)
    and the older one-file-per-part sources that neither a code part of ``locks`` names
    (through ``parts.json``), nor the graph cache's key (the wiring check of the next edit),
    nor a project module as it is now (the code index's check of the next edit); with the
    parts of ``parts.json`` to be written without those whose text goes (None when no entry
    goes). A text removed that was needed after all costs a diff that
    cannot be shown or a module traced again, never a wrong answer."""
    folder = project.cache / "sources"
    wanted = {digest for entry in locks for digest in entry.facts.code.values()}
    parts = _read_parts(folder)
    texts = {found[1] for part, found in parts.items() if part in wanted and len(found) == 3}
    texts |= _graph_modules(project)
    for rel in module_files(project.root, project.cache_dir).values():
        with contextlib.suppress(OSError):
            texts.add(buffers_digest(((project.root / rel).read_bytes(),)))
    modules = folder / "modules"
    gone = [p for p in sorted(modules.glob("*")) if p.is_file() and p.name not in texts]
    gone += [
        p
        for p in sorted(folder.glob("*"))
        if p.is_file() and p.name.isalnum() and p.name not in wanted  # (parts.json has a dot)
    ]
    names = {p.name for p in gone}
    kept = {k: v for k, v in parts.items() if k in wanted and len(v) == 3 and v[1] not in names}
    return gone, (kept if len(kept) != len(parts) else None)


def _graph_modules(project: Project) -> set[str]:
    """The digests of the module texts the graph cache's key names."""
    from incr import cachefile

    try:
        modules = cachefile.read(project.cache / "graph.bin")["key"]["modules"]
        return {str(digest) for digest in modules.values()}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def remove(project: Project, gone: list[Path], parts: dict[str, list[str]] | None) -> None:
    """Remove ``gone`` and write ``parts`` (``unneeded``'s) unless None. Raises OSError."""
    if parts is not None:
        _write_parts(project.cache / "sources", parts)
    for path in gone:
        path.unlink(missing_ok=True)
