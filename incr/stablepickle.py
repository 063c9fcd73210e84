"""Pickles whose bytes do not depend on the process: the order of a set's items.

A set iterates in the order of its items' hashes, and the hash of a ``str`` or ``bytes`` is
salted per process (``PYTHONHASHSEED``): ``pickle.dumps({"a", "b"})`` gives other bytes in
the next process, so a step returning a vocabulary, a set of labels or a dict of sets would
store an equal value under another digest each time it runs. The steps after it would rerun
for nothing (no early cutoff), and two machines would write different ``pipeline.lock`` files.

``dumps`` pickles a value as ``pickle.dumps`` does, in C, and then, only when that value holds
a set or a frozenset, again with the Python pickler, each set saved as a call of ``set`` (or
``frozenset``) on the list of its items in a fixed order: sorted, when they are all ``str``,
``bytes`` or ``int``; else by their own stable pickles. The bytes load with any unpickler into
an equal value. Whether it holds one is asked only when the first pickle has the two bytes the
opcode of a set and the ``MEMOIZE`` after it leave (raw data can hold them too), by pickling
the value once more in C to nowhere with a ``persistent_id`` that notes sets and returns None
(the one hook CPython's pickler calls for a set; it costs some 0.1 us per object pickled: a
list of a million floats takes 0.1 s more). A value the Python pickler cannot take (a set
that reaches itself through one of its items) keeps its first pickle.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

#: ``EMPTY_SET`` and ``FROZENSET`` (protocol 4 on; older ones call ``set``), each followed by
#: the ``MEMOIZE`` that CPython's pickler always writes after them.
_SET_OPCODES = (b"\x8f\x94", b"\x91\x94")
#: Items of one type that sort the same in every process.
_SORTABLE = frozenset({str, bytes, int})


def dumps(value: Any, protocol: int) -> bytes:
    """``pickle.dumps(value, protocol)``, with the items of every set in a fixed order."""
    data = pickle.dumps(value, protocol=protocol)
    if protocol >= 4 and not any(op in data for op in _SET_OPCODES):
        return data  # no set: its opcodes would be there
    if not _holds_sets(value, protocol):
        return data
    try:
        return _stable(value, protocol)
    except Exception:  # a set reaching itself (RecursionError), what only C pickles: as it was
        return data


class _Finder(pickle.Pickler):
    """Pickles to nowhere, noting whether a set or a frozenset went by."""

    found = False

    def persistent_id(self, obj: Any) -> None:
        if type(obj) is set or type(obj) is frozenset:
            self.found = True
        return None


class _Nowhere(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes


def _holds_sets(value: Any, protocol: int) -> bool:
    finder = _Finder(_Nowhere(), protocol=protocol)
    finder.dump(value)
    return finder.found


#: The pickler written in Python, which looks each type up in its ``dispatch`` table.
_PythonPickler: Any = getattr(pickle, "_Pickler")  # noqa: B009  (typeshed has no such name)


class _StablePickler(_PythonPickler):
    """The Python pickler, saving each set as ``set(items)`` with its items in a fixed order."""

    dispatch = _PythonPickler.dispatch.copy()

    def save_set(self, obj: Any) -> None:
        self.save_reduce(type(obj), (_ordered(obj, self.proto),), obj=obj)

    dispatch[set] = save_set
    dispatch[frozenset] = save_set


def _stable(value: Any, protocol: int) -> bytes:
    out = io.BytesIO()
    _StablePickler(out, protocol=protocol).dump(value)
    return out.getvalue()


def _ordered(items: Any, protocol: int) -> list[Any]:
    """The items of a set in an order that is the same in every process."""
    values = list(items)
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and kinds <= _SORTABLE:
        return sorted(values)
    return sorted(values, key=lambda v: _stable(v, protocol))
