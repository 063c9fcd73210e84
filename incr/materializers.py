"""The materializer registry: which format stores a step's output, and the stored bytes back.

A value is stored by the first of these that accepts it (``Declined`` passes it on):

1. the output's override (``@step(materializers={"model": MyMaterializer})``);
2. a materializer for the output's annotation (``-> pd.DataFrame``, ``Output(X=np.ndarray)``),
   when the value is an instance of it, most specific class of the annotation first;
3. a materializer for the value's type, most specific class of its MRO first;
4. pickle.

For one class, materializers registered by the project or a package (entry point group
``incr.materializers``) come before the built-in ones, the latest registered first. The kind
is recorded in ``pipeline.lock`` (``KIND@VERSION`` for all but the built-in ones, see ``tag``);
loading finds the materializer by it, and refuses bytes stored by another version. See
``matbase`` for what a materializer is; ``builtinformats``, ``frames`` and ``skopsformat`` hold
the built-in ones.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Iterable, Iterator
from dataclasses import field
from typing import Any

from incr import entrypoints, frames, skopsformat
from incr.builtinformats import (
    LARGE_ARRAY as LARGE_ARRAY,
)
from incr.builtinformats import (
    PICKLE_PROTOCOL as PICKLE_PROTOCOL,
)
from incr.builtinformats import (
    JsonMaterializer,
    NpyMaterializer,
    NumpyScalarMaterializer,
    PickleMaterializer,
    SparseMaterializer,
)
from incr.errors import MaterializeError
from incr.matbase import Declined as Declined
from incr.matbase import Materializer as Materializer
from incr.matbase import Parts, dotted
from incr.valueclass import valueclass

#: The entry point group through which installed packages register materializers.
ENTRY_POINT_GROUP = "incr.materializers"

BUILTINS: tuple[type[Materializer], ...] = (
    NpyMaterializer,
    NumpyScalarMaterializer,
    SparseMaterializer,
    JsonMaterializer,
    frames.PandasMaterializer,
    frames.PolarsMaterializer,
    skopsformat.SkopsMaterializer,
    PickleMaterializer,
)
#: Kinds that name outputs which are not values (``outs`` files and folders).
RESERVED = frozenset({"file", "dir"})
_KIND = re.compile(r"[a-z][a-z0-9_-]*")


class MaterializerError(MaterializeError):
    """A materializer class that cannot be registered, or that failed on a value."""


class _Registry:
    """Registered materializers, indexed by the classes (and dotted names) they handle."""

    def __init__(self) -> None:
        self.added: list[type[Materializer]] = []  # project and package ones, in order
        #: Those only named by ``@step(materializers=...)``: found by kind to load what they
        #: stored, never a candidate for another output of their types.
        self.named: dict[str, type[Materializer]] = {}
        self.entry_points_loaded = False
        self._index: dict[type | str, list[type[Materializer]]] | None = None
        #: The dotted names of the index not resolved yet (``_resolve_names``).
        self._pending: list[tuple[str, str]] | None = None

    def name(self, cls: type[Materializer]) -> None:
        """Make ``cls`` found by its kind (``by_kind``) without registering it."""
        _check_class(cls)
        _not_taken(cls, self.by_kind(cls.kind))
        self.named[cls.kind] = cls

    def add(self, cls: type[Materializer]) -> None:
        _check_class(cls)
        _not_taken(cls, self.named.get(cls.kind))
        for i, known in enumerate(self.added):
            if known.kind == cls.kind:
                _not_taken(cls, known)  # the same class imported again replaces it
                del self.added[i]
                break
        self.added.append(cls)
        self._index = self._pending = None

    def everything(self) -> list[type[Materializer]]:
        """Project and package materializers (latest first), then the built-in ones."""
        self.load_entry_points()
        return [*reversed(self.added), *BUILTINS]

    def registered(self) -> list[type[Materializer]]:
        """Project and package materializers (latest first), without the built-in ones."""
        self.load_entry_points()
        return [m for m in reversed(self.added) if m not in BUILTINS]

    def for_class(self, cls: type) -> list[type[Materializer]]:
        if self._index is None:
            index: dict[type | str, list[type[Materializer]]] = {}
            for mat in self.everything():
                for handled in mat.types:
                    index.setdefault(handled, []).append(mat)
            self._index, self._pending = index, None
        self._resolve_names(self._index)
        return [*self._index.get(cls, ()), *self._index.get(_dotted_name(cls), ())]

    def _resolve_names(self, index: dict[type | str, list[type[Materializer]]]) -> None:
        """Index the classes that dotted names in ``types`` name, once their modules are
        imported (``pandas.core.frame.DataFrame`` is ``pandas.DataFrame``, whose
        ``__module__`` says ``pandas``)."""
        pending = self._pending
        if pending is None:  # the dotted names still to resolve, with their top module
            pending = [(k, k.partition(".")[0]) for k in index if isinstance(k, str)]
            self._pending = pending
        modules = sys.modules
        for _, top in pending:  # asked for every output stored: most find none imported
            if top in modules:
                break
        else:
            return
        for name in [name for name, top in pending if top in modules]:
            found = _resolve(name)
            if found is not None:
                mats = index.pop(name)
                index.setdefault(found, [])
                index[found] += [m for m in mats if m not in index[found]]
                self._pending = None

    def by_kind(self, kind: str) -> type[Materializer] | None:
        for mat in self.everything():
            if mat.kind == kind:
                return mat
        return self.named.get(kind)

    def load_entry_points(self) -> None:
        if self.entry_points_loaded:
            return
        self.entry_points_loaded = True
        for name, value in entrypoints.declared(ENTRY_POINT_GROUP):
            try:
                self.add(entrypoints.load(value))
            except Exception as exc:
                raise MaterializerError(
                    f"entry point {name} = {value} in group {ENTRY_POINT_GROUP}: {exc}",
                    hint="fix or uninstall the package that declares it",
                ) from None


def _not_taken(cls: type[Materializer], known: type[Materializer] | None) -> None:
    """Raise MaterializerError when ``known``, holding ``cls``'s kind, is another class."""
    if known is not None and dotted(known) != dotted(cls):
        raise MaterializerError(
            f"materializer kind {cls.kind!r} of {dotted(cls)} is taken by {dotted(known)}",
            hint="give one of them another kind",
        )


_registry = _Registry()


def register_materializer(cls: type[Materializer]) -> type[Materializer]:
    """Make ``cls`` a candidate for the types it lists (usable as a class decorator).

    Registering a class of the same module and name again replaces it (a module imported
    again); another class with a taken kind raises MaterializerError.
    """
    _registry.add(cls)
    return cls


def knows(kind: str) -> bool:
    """Whether a materializer of ``kind`` (``KIND`` or ``KIND@VERSION``) is registered now."""
    return _registry.by_kind(kind.partition("@")[0]) is not None


def registered() -> list[type[Materializer]]:
    """Every materializer, in the order candidates are tried for one class."""
    return _registry.everything()


def _check_class(cls: Any) -> None:
    name = getattr(cls, "__qualname__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, Materializer)):
        raise MaterializerError(
            f"{name} is not a Materializer subclass", hint="subclass incr.Materializer"
        )
    if cls not in BUILTINS and cls.kind in {b.kind for b in BUILTINS}:
        raise MaterializerError(
            f"materializer {name} has the kind {cls.kind!r} of a built-in one",
            hint="give it a kind of its own",
        )
    if not _KIND.fullmatch(cls.kind) or cls.kind in RESERVED:
        raise MaterializerError(
            f"materializer {name} has kind {cls.kind!r}",
            hint="set kind to a short lowercase name (letters, digits, - and _), not file/dir",
        )
    if not isinstance(cls.version, int) or cls.version < 1:
        raise MaterializerError(
            f"materializer {name} has version {cls.version!r}", hint="set version to an int >= 1"
        )
    if not cls.types or not all(isinstance(t, type | str) for t in cls.types):
        raise MaterializerError(
            f"materializer {name} lists no types",
            hint='set types = (MyClass,) or ("package.module.MyClass",)',
        )


def _dotted_name(cls: type) -> str:
    return dotted(cls) if cls.__module__ != "builtins" else cls.__qualname__


# --------------------------------------------------------------------------- saving


@valueclass
class Stored:
    """How an output was stored: the kind recorded (``tag``), the bytes as parts, the project
    or package materializer that wrote them (None for a built-in one), the definitions the
    bytes refer to (``(module, qualname)``, e.g. the classes a skops file names), and notes
    on formats that declined it."""

    kind: str
    parts: Parts
    owner: type[Materializer] | None = None
    names: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def candidates(
    value: Any, annotation: Any = None, override: type[Materializer] | None = None
) -> Iterator[type[Materializer]]:
    """The materializers to try for ``value``, in order (see the module docstring)."""
    if override is not None:
        yield override
    ann = _annotation_class(annotation)
    if ann is not None and isinstance(value, ann):
        for cls in ann.__mro__[:-1]:  # ``object`` is the value type's last resort
            yield from _registry.for_class(cls)
    for cls in type(value).__mro__:
        yield from _registry.for_class(cls)
    yield PickleMaterializer


def encode(
    value: Any, where: str, annotation: Any = None, override: type[Materializer] | None = None
) -> Stored:
    """Store ``value`` with the first candidate that accepts it. ``where`` names the step
    output in errors and notes. Raises MaterializeError when nothing can store it (pickle
    fails) or a materializer raised."""
    notes: list[str] = []
    tried: set[type[Materializer]] = set()
    for cls in candidates(value, annotation, override):
        if cls in tried:
            continue
        tried.add(cls)
        mat = cls()
        try:
            parts = mat.save_bytes(value)
        except Declined as why:
            if str(why):
                notes.append(f"{where}: not stored as {cls.kind} ({why}); stored as pickle")
            continue
        except Exception as exc:
            raise _failed(cls, value, where, exc) from None
        parts = _parts(parts, cls, where)
        owner = None if cls in BUILTINS else cls
        names = [(cls.__module__, cls.__qualname__)] if owner is not None else []
        names += getattr(mat, "refers_to", [])
        kept = [n for n in notes if cls is PickleMaterializer]
        return Stored(tag(cls), parts, owner, names, kept)
    raise AssertionError("pickle accepts everything")  # pragma: no cover


def _parts(parts: Any, cls: type[Materializer], where: str) -> Any:
    """What ``save_bytes`` returned, as the store takes it: a sequence of bytes-like parts
    (plain ``bytes``: one part)."""
    if isinstance(parts, bytes | bytearray | memoryview):
        return (parts,)
    if isinstance(parts, list | tuple) and all(
        isinstance(p, bytes | bytearray | memoryview) for p in parts
    ):
        return parts
    raise MaterializerError(
        f"{where}: materializer {cls.__qualname__} ({cls.kind}): save_bytes returned a "
        f"{type(parts).__qualname__}, not bytes or a list of bytes parts",
        hint="return the bytes to store (or a list of bytes-like parts) from save_bytes",
    )


def tag(cls: type[Materializer]) -> str:
    """What ``pipeline.lock`` records as an output's kind: a built-in kind as it is
    (``parquet``), any other as ``KIND@VERSION`` (``temperature@1``), so that a kind the
    lockfile does not know is told from a misspelt one without importing anything."""
    return cls.kind if cls in BUILTINS else f"{cls.kind}@{cls.version}"


def _failed(cls: type[Materializer], value: Any, where: str, exc: Exception) -> MaterializeError:
    if cls is PickleMaterializer:
        local = "<lambda>" in str(exc) or "<locals>" in str(exc) or "local object" in str(exc)
        return MaterializeError(
            f"{where}: cannot store a value of type {type(value).__qualname__} ({exc})",
            hint="define the function it holds with def at the top level of a module (a "
            "lambda, or a function defined inside another, cannot be stored)"
            if local
            else "return plain data, a numpy array or a picklable object",
        )
    return MaterializerError(
        f"{where}: materializer {cls.__qualname__} ({cls.kind}) failed on a "
        f"{type(value).__qualname__}: {type(exc).__name__}: {exc}",
        hint="fix the materializer, or choose another one with @step(materializers=...)",
    )


def _annotation_class(annotation: Any) -> type | None:
    if isinstance(annotation, type):
        return annotation
    origin = typing.get_origin(annotation)
    return origin if isinstance(origin, type) else None


# --------------------------------------------------------------------------- loading


def decode(kind: str, data: bytes | memoryview) -> Any:
    """The value stored as ``data`` by the materializer of ``kind`` (``KIND`` or
    ``KIND@VERSION``). Raises ValueError for a kind no materializer has (now), or one stored
    by another version; whatever the materializer raises for bad bytes."""
    name = kind.partition("@")[0]
    cls = _registry.by_kind(name)
    if cls is None:
        raise ValueError(f"no materializer of kind {name!r} is registered (now)")
    if tag(cls) != kind:
        raise ValueError(f"stored as {kind!r}, but {dotted(cls)} now stores {tag(cls)!r}")
    return cls().load_bytes(data)


# --------------------------------------------------------------------------- compatibility


def dump(value: Any, where: str) -> tuple[str, bytes]:
    """(kind, bytes) for ``value`` chosen by its type. ``where`` names the step output."""
    kind, parts = dump_parts(value, where)
    if len(parts) == 1 and type(parts[0]) is bytes:
        return kind, parts[0]
    return kind, b"".join(parts)


def dump_parts(value: Any, where: str) -> tuple[str, tuple[bytes | memoryview, ...]]:
    """(kind, parts) whose concatenation is the bytes ``dump`` gives for ``value``. A large
    numpy array's data part is a read-only view of its memory (valid while it is unchanged)."""
    stored = encode(value, where)
    return stored.kind, tuple(stored.parts)


def load(kind: str, data: bytes | memoryview) -> Any:
    """The value stored as ``data`` (see ``decode``)."""
    return decode(kind, data)


# --------------------------------------------------------------------------- steps


def output_formats(step: Any) -> dict[str, tuple[Any, type[Materializer] | None]]:
    """(annotation, override) of each output of a ``@step`` object (``api.Step``)."""
    types: dict[str, Any] = getattr(step, "output_types", None) or {}
    overrides: dict[str, type[Materializer]] = getattr(step, "materializers", None) or {}
    return {name: (types.get(name), overrides.get(name)) for name in {*types, *overrides}}


def producer_classes(
    annotations: dict[str, Any], overrides: dict[str, type[Materializer]]
) -> list[type[Materializer]]:
    """The project and package materializers that may store a step's outputs (``annotations``:
    each output's annotation, None when it has none): its overrides, and those registered for
    a class an annotation names, a base of it or a subclass (all of them for an output without
    a class annotation). Their code counts in the step's fingerprint; the built-in ones count
    by incr's version."""
    found: dict[type[Materializer], None] = dict.fromkeys(overrides.values())
    added = _registry.registered()
    if not added and not overrides:
        return []  # most steps: only the built-in materializers, which count by incr's version
    for name, annotation in annotations.items():
        if name in overrides:
            continue
        ann = _annotation_class(annotation)
        found.update(dict.fromkeys(m for m in added if ann is None or _may_handle(m, ann)))
    return list(found)


def _may_handle(mat: type[Materializer], ann: type) -> bool:
    for handled in mat.types:
        cls = _resolve(handled) if isinstance(handled, str) else handled
        if cls is None or issubclass(cls, ann) or issubclass(ann, cls):
            return True
    return False


def _resolve(name: str) -> type | None:
    """The class a dotted name names, when its module is imported (else None: it may be)."""
    module, _, qualname = name.rpartition(".")
    found: Any = sys.modules.get(module)
    for part in qualname.split(".") if found is not None else []:
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


def check_overrides(step: str, outputs: Iterable[str], overrides: dict[str, Any]) -> None:
    """Make the materializers of ``@step(materializers=...)`` found by their kind (to load
    what they stored), without registering them for other outputs of their types; raise
    MaterializerError for one naming no output or not a Materializer."""
    outputs = tuple(outputs)
    for name, cls in overrides.items():
        if name not in outputs:
            raise MaterializerError(
                f"step {step}: materializers= names {name!r}, which is not one of its outputs "
                f"({', '.join(outputs) or 'none'})",
                hint="use the output names of the step's return annotation (output for one)",
            )
        if cls not in BUILTINS:
            _registry.name(cls)
