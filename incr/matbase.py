"""What a materializer is: the ``Materializer`` base class, ``Declined``, and the one-object
packing of the folder a materializer writes.

A materializer turns a value into files in a folder (``save``) and back (``load``). The store
keeps every output as one content-addressed object, so the folder is packed into bytes
(``pack_folder``: sorted relative paths, sizes and contents; no times, owners or modes) and
unpacked into a fresh temporary folder before ``load``. A materializer that can give its bytes
directly overrides ``save_bytes``/``load_bytes`` instead (the built-in ones do: a numpy array
is written from its own memory, never through a temporary file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

#: The first bytes of a packed folder.
PACK_MAGIC = b"incr-folder/1\n"

Parts = Sequence[bytes | memoryview]


class Declined(Exception):
    """Raised by ``save``/``save_bytes`` for a value this materializer cannot store exactly:
    the next candidate is tried (pickle last). A non-empty message is shown as a ``note:``
    (what could not be stored, and how to fix it)."""


class Materializer:
    """An output format. Subclass it, set the class attributes, implement ``save`` and
    ``load``, and register it with ``incr.register_materializer``.

    - ``types``: the classes it handles (a class, or its dotted name
      ``"pandas.core.frame.DataFrame"`` so that registering imports nothing);
    - ``kind``: a short lowercase name recorded in ``pipeline.lock`` (``npy``, ``parquet``);
    - ``version``: bump it when the stored bytes change meaning; outputs stored by another
      version are not loaded (their step reruns).

    ``save(obj, folder)`` writes files into the empty ``folder``; ``load(folder)`` reads them
    back. Equal values must give equal files (no times, no ``id()``s, no random names): the
    digest of those bytes is what downstream steps compare (early cutoff).
    """

    types: ClassVar[tuple[type | str, ...]] = ()
    kind: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def save(self, obj: Any, folder: Path) -> None:
        raise NotImplementedError(f"{type(self).__qualname__}.save")

    def load(self, folder: Path) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__}.load")

    def save_bytes(self, obj: Any) -> Parts:
        """The bytes stored for ``obj``, as parts to concatenate. By default ``save`` into a
        temporary folder, packed (``pack_folder``)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="incr-save-") as tmp:
            self.save(obj, Path(tmp))
            return (pack_folder(Path(tmp)),)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        """The value stored as ``data``. By default unpacked into a temporary folder and
        ``load``-ed from it."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="incr-load-") as tmp:
            unpack_folder(data, Path(tmp))
            return self.load(Path(tmp))


class FileMaterializer(Materializer):
    """A materializer whose stored bytes are one file's (``filename`` in the folder): it
    implements ``save_bytes``/``load_bytes``, and ``save``/``load`` follow from them."""

    filename: ClassVar[str] = "data"

    def save(self, obj: Any, folder: Path) -> None:
        with open(folder / self.filename, "wb") as fh:
            for part in self.save_bytes(obj):
                fh.write(part)

    def load(self, folder: Path) -> Any:
        return self.load_bytes((folder / self.filename).read_bytes())


def pack_folder(folder: Path) -> bytes:
    """The files under ``folder`` as one byte string: magic, a JSON list of [path, size] sorted
    by path, a newline, then the contents in that order. Raises ValueError for a symlink or a
    special file (a materializer writes plain files)."""
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                raise ValueError(f"{path.name} is not a plain file")
            entries.append((path.relative_to(folder).as_posix(), path))
    entries.sort()
    blobs = [path.read_bytes() for _, path in entries]
    header = json.dumps([[rel, len(b)] for (rel, _), b in zip(entries, blobs, strict=True)])
    return b"".join((PACK_MAGIC, header.encode(), b"\n", *blobs))


def unpack_folder(data: bytes | memoryview, folder: Path) -> None:
    """Write the files of a ``pack_folder`` byte string under ``folder``. Raises ValueError
    for bytes that are not one, or that name a path outside ``folder``."""
    view = memoryview(data).cast("B")
    if bytes(view[: len(PACK_MAGIC)]) != PACK_MAGIC:
        raise ValueError("not a packed folder")
    end = bytes(view[len(PACK_MAGIC) :]).find(b"\n") + len(PACK_MAGIC)
    entries = json.loads(bytes(view[len(PACK_MAGIC) : end]))
    pos = end + 1
    for rel, size in entries:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"packed folder names {rel!r}, outside its folder")
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(view[pos : pos + size])
        pos += size
    if pos != view.nbytes:
        raise ValueError("packed folder is longer or shorter than its listing")


def dotted(cls: type) -> str:
    """``module.QualName`` of a class, as ``Materializer.types`` may name it."""
    return f"{cls.__module__}.{cls.__qualname__}"
