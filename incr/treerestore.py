"""Writing a folder artifact back (``Store.restore_tree``): what its manifest records, kept
inside the project, with what it does not record moved aside."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from incr import trees
from incr.hashing import file_digest


class UnsafePath(ValueError):
    """A restore would write outside the project root."""


def check_inside(dest: Path, root: Path) -> None:
    real_root = os.path.realpath(root)
    real = os.path.realpath(dest)
    if real != real_root and not real.startswith(os.path.join(real_root, "")):
        raise UnsafePath(f"refusing to write {dest}: it resolves outside {root}")


def check_entries(digest: str, entries: list[trees.Entry], dest: Path, root: Path) -> None:
    """Raise UnsafePath when a manifest names a path outside its folder or a link that leads
    out of ``root``."""
    for entry in entries:
        rel = Path(entry.path)
        if rel.is_absolute() or ".." in rel.parts or (entry.path == "." and entry.kind != "dir"):
            raise UnsafePath(f"cache manifest {digest} names {entry.path!r}, outside its folder")
        if entry.kind == trees.LINK and not trees.leads_inside(
            os.fspath(dest / rel), entry.target, os.fspath(root)
        ):
            raise UnsafePath(
                f"cache manifest {digest} links {entry.path!r} to {entry.target!r}, "
                "outside the project"
            )


class TreeRestore:
    """One ``Store.restore_tree``: move aside what the manifest does not record, then write
    what it records, then give the folders their modes (last: a read-only folder is filled
    first)."""

    def __init__(
        self,
        restore_file: Callable[[str, Path, Path, str], None],
        dest: Path,
        root: Path,
        kept: Path,
        entries: list[trees.Entry],
    ) -> None:
        self.restore_file = restore_file  # ``Store.restore_file``
        self.dest, self.root, self.kept = dest, root, kept
        self.entries = [e for e in entries if e.path != trees.SELF]
        self.wanted = {e.path: e for e in self.entries}
        self.modes = {trees.SELF: next((e.mode for e in entries if e.path == trees.SELF), "")}
        for entry in self.entries:
            parts = entry.path.split("/")
            for depth in range(1, len(parts)):
                self.modes.setdefault("/".join(parts[:depth]), "")
            if entry.kind == trees.DIR:
                self.modes[entry.path] = entry.mode
        self.moved: list[tuple[Path, Path]] = []

    def run(self) -> None:
        if os.path.lexists(self.dest) and not self.dest.is_dir():
            self._move_aside(self.dest)
        self.dest.mkdir(parents=True, exist_ok=True)
        self._clear(os.fspath(self.dest), "")
        for entry in self.entries:
            path = self.dest / entry.path
            if entry.kind == trees.DIR:
                check_inside(path, self.root)
                path.mkdir(parents=True, exist_ok=True)
            elif entry.kind == trees.FILE:
                self._file(entry, path)
            else:
                self._link(entry, path)
        for rel in sorted(self.modes, key=lambda p: p.count("/") + (p != trees.SELF), reverse=True):
            path = self.dest if rel == trees.SELF else self.dest / rel
            chmod_bits(path, trees.mode_bits(self.modes[rel], True))

    def _clear(self, folder: str, inner: str) -> None:
        """Move aside every file and link below ``folder`` that is not recorded as it is;
        remove the folders not recorded once emptied."""
        chmod_bits(folder, os.stat(folder).st_mode | 0o700)  # to be emptied and filled
        with os.scandir(folder) as found:
            items = list(found)
        for item in items:
            path = inner + item.name
            if item.is_dir(follow_symlinks=False):
                self._clear(item.path, path + "/")
                if path not in self.modes:
                    os.rmdir(item.path)
            elif not self._kept_in_place(item, self.wanted.get(path)):
                self._move_aside(Path(item.path))

    @staticmethod
    def _kept_in_place(item: os.DirEntry[str], entry: trees.Entry | None) -> bool:
        """True for a file where the manifest records a file (its bytes and mode are put right
        next), and for a link where it records a link (rewritten when it leads elsewhere)."""
        if entry is None or entry.kind == trees.DIR:
            return False
        if entry.kind == trees.LINK:
            return item.is_symlink()
        return not item.is_symlink() and item.is_file(follow_symlinks=False)

    def _move_aside(self, path: Path) -> None:
        self.moved.append((path, move_aside(path, self.root, self.kept)))

    def _file(self, entry: trees.Entry, path: Path) -> None:
        if path.is_file() and not path.is_symlink() and file_digest(path) == entry.digest:
            chmod_bits(path, trees.mode_bits(entry.mode, False))
        else:
            self.restore_file(entry.digest, path, self.root, entry.mode)

    def _link(self, entry: trees.Entry, path: Path) -> None:
        check_inside(path.parent, self.root)
        if path.is_symlink() and os.readlink(path) == entry.target:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp"
        os.symlink(entry.target, temp)
        try:
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def move_aside(path: Path, root: Path, kept: Path) -> Path:
    """Move ``path`` (a file, a link or a folder) to ``kept``, at its path from ``root`` (with
    ``.1``, ``.2``... when that is taken); where it went."""
    rel = os.path.relpath(path, root)
    target, count = kept / rel, 0
    while os.path.lexists(target):
        count += 1
        target = kept / f"{rel}.{count}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except OSError:  # another file system: copied, then removed
        import shutil  # here: rarely needed, and a status restores nothing

        shutil.move(path, target)
    return target


def chmod_bits(path: str | os.PathLike[str], bits: int) -> None:
    """Give ``path`` the permission bits ``bits`` (keeping setuid, setgid and sticky bits),
    unless it has them."""
    mode = os.lstat(path).st_mode
    if mode & 0o777 != bits & 0o777:
        os.chmod(path, (mode & 0o7000) | (bits & 0o777))
