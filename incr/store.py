"""The content-addressed object store and the run cache, under ``.pipecache/``.

``objects/ab/cdef...`` holds bytes named by their blake3 digest; writing a digest that exists
does nothing; reading verifies the digest and treats a mismatch as a miss. ``runs/FP`` maps a
fingerprint ever computed to the artifacts it produced, so reverting an edit restores old outputs
without executing the step.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from blake3 import blake3

from incr.model import Artifact
from incr.storage import atomic_write

_GITIGNORE = "# written by incr: the cache is local to this machine\n*\n"


class ObjectMissing(LookupError):
    """No object with this digest is stored."""


class ObjectCorrupt(LookupError):
    """An object's bytes no longer match its digest; the bad file has been removed."""


class Store:
    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.objects = cache_dir / "objects"
        self.runs = cache_dir / "runs"

    def ensure(self) -> None:
        """Create the cache folder with its own .gitignore."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ignore = self.dir / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, _GITIGNORE.encode())

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.object_path(digest).is_file()

    def put(self, data: bytes) -> str:
        digest = blake3(data).hexdigest()
        path = self.object_path(digest)
        if not path.is_file():
            self.ensure()
            atomic_write(path, data)
        return digest

    def get(self, digest: str) -> bytes:
        """The object's verified bytes.

        Raises ObjectMissing, or ObjectCorrupt when the bytes do not match the digest (the bad
        file is removed so that the next ``put`` of the right bytes stores it again).
        """
        path = self.object_path(digest)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"cache object {digest} is missing") from None
        if blake3(data).hexdigest() != digest:
            with contextlib.suppress(OSError):
                path.unlink()
            raise ObjectCorrupt(f"cache object {path} does not match its digest")
        return data

    # ------------------------------------------------------------------ run cache

    def record_run(self, fingerprint: str, outputs: dict[str, Artifact]) -> None:
        data = {name: art.encode() for name, art in sorted(outputs.items())}
        path = self.runs / fingerprint[:2] / fingerprint[2:]
        self.ensure()
        atomic_write(path, json.dumps(data, sort_keys=True).encode())

    def lookup_run(self, fingerprint: str) -> dict[str, Artifact] | None:
        """The outputs recorded for ``fingerprint``, when every one of them is still stored."""
        path = self.runs / fingerprint[:2] / fingerprint[2:]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            outputs = {name: Artifact.decode(text) for name, text in data.items()}
        except (OSError, ValueError, AttributeError):
            return None
        if all(self.has(a.digest) for a in outputs.values()):
            return outputs
        return None
