"""blake3 digests of files and folders, read through a stat cache.

The stat cache maps a path to (size, mtime_ns, inode, digest). A file whose stat matches is not
read again; a file touched without changing its bytes is read once, keeps its digest, and its new
stat is remembered. Entries for files modified within the last two seconds are not trusted on the
next run (the "racy" window of coarse file-system clocks, as in git's index).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from blake3 import blake3

from incr.fingerprint import canonical_json, digest_bytes
from incr.storage import atomic_write

MISSING = "missing"
_RACY_NS = 2_000_000_000
_CHUNK = 1 << 20


def _valid_entry(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(type(v) is int for v in value[:3])
        and isinstance(value[3], str)
    )


def file_digest(path: Path) -> str:
    hasher = blake3()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class StatCache:
    """Content digests of project files, keyed by their path relative to the root."""

    def __init__(self, root: Path, cache_file: Path | None) -> None:
        self.root = root
        self.cache_file = cache_file
        self.entries: dict[str, list] = {}
        self.dirty = False
        self.files_read = 0
        if cache_file is not None and cache_file.is_file():
            try:
                data = json.loads(cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None  # a damaged stat cache only costs a re-read
            if isinstance(data, dict) and data.get("version") == 1:
                entries = data.get("entries")
                if isinstance(entries, dict):
                    self.entries = {k: v for k, v in entries.items() if _valid_entry(v)}

    def digest(self, rel: str) -> str:
        """The digest of a file or folder under the root, or ``missing``."""
        path = self.root / rel
        if path.is_dir():
            return self._folder_digest(rel, path)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return MISSING
        return self._file(rel, path, st)

    def _file(self, rel: str, path: Path, st: os.stat_result) -> str:
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(rel)
        if entry is not None and entry[:3] == key:
            return str(entry[3])
        digest = file_digest(path)
        self.files_read += 1
        if time.time_ns() - st.st_mtime_ns > _RACY_NS:
            self.entries[rel] = [*key, digest]
            self.dirty = True
        elif rel in self.entries:
            del self.entries[rel]
            self.dirty = True
        return digest

    def _folder_digest(self, rel: str, path: Path) -> str:
        listing: list[tuple[str, str]] = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                sub = full.relative_to(self.root).as_posix()
                try:
                    listing.append(
                        (full.relative_to(path).as_posix(), self._file(sub, full, full.stat()))
                    )
                except (FileNotFoundError, NotADirectoryError):
                    continue
        return "dir:" + digest_bytes(canonical_json(listing).encode())

    def save(self) -> None:
        if self.cache_file is None or not self.dirty:
            return
        text = json.dumps({"version": 1, "entries": self.entries}, separators=(",", ":"))
        atomic_write(self.cache_file, text.encode())
        self.dirty = False
