"""scikit-learn estimators with skops (kind ``skops``): loading builds only trusted types, never
runs code the file names.

Trusted: what skops trusts by default (builtins, numpy, scipy), scikit-learn's own types, the
project's own types, and the dotted names listed in ``[tool.incr] trusted_types``. A model
with any other type is not stored with skops (it is pickled, with a note naming the types and
the setting); bytes naming one (a cache shared by someone who trusted more) are refused.

skops' zip is not byte-stable as written: it names nodes and array files by ``id()`` and
stamps the zip entries with the time. ``canonical`` renumbers the ids in the order the schema
lists them (a JSON leaf gets an id of its own: its sharing is an accident of interning), names
the files by the new ids, zeroes the padding bytes of structured arrays (a tree's nodes: left
uninitialised by scikit-learn), rewrites embedded ``.npz`` files deterministically, writes the
zip with fixed times in a fixed order: the same fitted model gives the same bytes in every
process, and a model loaded from the cache gives the bytes it was loaded from.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, ClassVar

from incr import hooks
from incr.errors import MaterializeError
from incr.matbase import Declined, FileMaterializer, Parts

SCHEMA = "schema.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Module prefixes whose types are trusted besides skops' defaults.
TRUSTED_PACKAGES = ("sklearn",)


def configure(trusted: tuple[str, ...], is_project: Callable[[str], bool]) -> None:
    """The project's ``trusted_types`` and its test for its own modules (held in
    ``incr.hooks``, where a workspace sets them without loading this module)."""
    hooks.skops_trust = (trusted, is_project)


class UntrustedTypes(MaterializeError):
    """A skops file names types that are not trusted."""


class SkopsMaterializer(FileMaterializer):
    """scikit-learn estimators (``sklearn.base.BaseEstimator`` and subclasses) with skops."""

    types: ClassVar[tuple[type | str, ...]] = ("sklearn.base.BaseEstimator",)
    kind: ClassVar[str] = "skops"
    filename: ClassVar[str] = "model.skops"

    def __init__(self) -> None:
        #: (module, qualname) of the project types the last saved model names.
        self.refers_to: list[tuple[str, str]] = []

    def save_bytes(self, obj: Any) -> Parts:
        try:
            import skops.io as sio
        except ImportError:
            raise Declined("skops is not installed: pip install 'incr[sklearn]'") from None

        try:
            data = canonical(sio.dumps(obj))
        except Exception as exc:  # a type skops has no node for
            raise Declined(f"skops cannot store it: {type(exc).__name__}: {exc}") from None
        untrusted = _untrusted(data)
        unnamed = [t for t in untrusted if not _by_name(t)]
        if unnamed:  # a lambda, a function defined in a function: skops cannot load it back
            raise Declined(
                f"skops cannot load {', '.join(unnamed)} back: it has no importable name"
            )
        refused = [t for t in untrusted if not _trusted(t)]
        if refused:
            raise Declined(f"untrusted types {', '.join(refused)}; {_ALLOW}")
        self.refers_to = [_split(t) for t in untrusted]
        return (data,)

    def load_bytes(self, data: bytes | memoryview) -> Any:
        import skops.io as sio

        raw = bytes(data)
        untrusted = _untrusted(raw)
        refused = [t for t in untrusted if not _trusted(t)]
        if refused:
            raise UntrustedTypes(
                f"refusing to load a skops model naming untrusted types: {', '.join(refused)}",
                hint=_ALLOW,
            )
        return sio.loads(raw, trusted=untrusted)


_ALLOW = "to trust them, list them in pyproject.toml: [tool.incr] trusted_types = [...]"


def _untrusted(data: bytes) -> list[str]:
    import skops.io as sio

    return sorted(sio.get_untrusted_types(data=data))


def _trusted(name: str) -> bool:
    module = _split(name)[0]
    trusted, is_project = hooks.skops_trust or ((), None)
    if module.split(".")[0] in TRUSTED_PACKAGES or name in trusted:
        return True
    return is_project is not None and is_project(module)


def _by_name(name: str) -> bool:
    """True for a type or function skops can find again by its dotted name (not
    ``pipelines.p.<lambda>`` nor ``pipelines.p.make.<locals>.scale``)."""
    return all(part.isidentifier() for part in name.split("."))


def _split(name: str) -> tuple[str, str]:
    """(module, qualname) of a dotted type name as skops lists it (``module.Class``)."""
    module, _, qualname = name.rpartition(".")
    return module, qualname


def canonical(data: bytes) -> bytes:
    """skops bytes with ids renumbered, files renamed, zip times fixed (see the docstring)."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(files.pop(SCHEMA))
    ids: dict[int, int] = {}
    _renumber(schema, ids)
    out: dict[str, bytes] = {SCHEMA: json.dumps(schema, separators=(",", ":")).encode()}
    for name, content in files.items():
        stem, dot, ext = name.partition(".")
        new = f"{ids[int(stem)]}{dot}{ext}" if stem.isdigit() and int(stem) in ids else name
        out[new] = _canonical_npz(content) if ext == "npz" else _canonical_npy(content)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(out):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.create_system, info.external_attr = 3, 0o644 << 16
            zf.writestr(info, out[name])
    return buf.getvalue()


def _renumber(node: Any, ids: dict[int, int], fresh: list[int] | None = None) -> None:
    """Give ids in order of first appearance (``ids``: old -> new, shared nodes keep sharing),
    a fresh one to every JSON leaf; rename the ``file`` a node names after its new id."""
    fresh = fresh if fresh is not None else [0]
    if isinstance(node, list):
        for item in node:
            _renumber(item, ids, fresh)
        return
    if not isinstance(node, dict):
        return
    old = node.get("__id__")
    if isinstance(old, int):
        if node.get("is_json"):
            fresh[0] += 1
            node["__id__"] = fresh[0]
        else:
            if old not in ids:
                fresh[0] += 1
                ids[old] = fresh[0]
            node["__id__"] = ids[old]
            file = node.get("file")
            if isinstance(file, str) and file.partition(".")[0] == str(old):
                node["file"] = f"{ids[old]}.{file.partition('.')[2]}"
    for key, value in node.items():
        if key != "__id__":
            _renumber(value, ids, fresh)


def _canonical_npz(content: bytes) -> bytes:
    """An embedded sparse matrix's ``.npz`` rewritten with fixed zip times."""
    from incr.builtinformats import SparseMaterializer

    sparse = SparseMaterializer()
    return b"".join(sparse.save_bytes(sparse.load_bytes(content)))


def _canonical_npy(content: bytes) -> bytes:
    """An array file with the padding of a structured dtype zeroed; other files as they are."""
    import numpy as np

    if not content.startswith(b"\x93NUMPY"):
        return content
    try:
        array = np.load(io.BytesIO(content), allow_pickle=False)
    except ValueError:
        return content
    dtype = array.dtype
    fields = dtype.fields
    if not fields or sum(f[0].itemsize for f in fields.values()) == dtype.itemsize:
        return content
    clean = np.zeros(array.shape, dtype)
    for name in dtype.names or ():
        clean[name] = array[name]
    buf = io.BytesIO()
    np.save(buf, clean, allow_pickle=False)
    return buf.getvalue()
