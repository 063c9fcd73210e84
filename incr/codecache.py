"""Code closures as last computed, kept in ``.pipecache/closures.bin`` (``incr.cachefile``).

A step's code parts depend only on the text of the project modules its closure consulted, and
on whether each module name it looked up is a project module at all. Each saved closure lists
those modules with the digest of the text it was computed from (``None`` for a name that was
not a project module). While every one of them is unchanged (checked through the stat cache:
an unchanged file is not even read), the saved closure is the closure: a no-op ``status``
parses no source at all.

The digests are those of the very bytes the closure was computed from, so a module saved
between reading and recording can only make the entry miss next time, never go stale. The file
is keyed by incr's version, the memo format, the Python minor version and the size and
modification time of incr's modules that compute closures (``CLOSURE_CODE``), so a change to
how closures are computed throws it away.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from incr import cachefile
from incr.fingerprint import MEMO_FORMAT, CodeClosure
from incr.pathfacts import stamp
from incr.version import __version__

FORMAT = 9  # 4: a closure notes the command line its code reads (randomdraws); 5: no note
# for a global generator a function of the closure seeds; 6: the parts reached through a name
# imported by name (``CodeClosure.bound``); 7: a note of a seed of a generator it draws
# nothing from (``incr.seeds``); 8: of one it draws from too (``randomdraws.unseeded``); 9: a
# note of a call giving another value on each run (``randomdraws.changing_values``)
#: Closures kept in the file (the ones used most recently).
LIMIT = 50_000

#: Where a module name was found: its file relative to the project root and the digest of its
#: bytes, or None when it is not a project module.
Found = tuple[str, str] | None

#: Per closures file, what this process last read of it, with the file's stamp then
#: (``pathfacts.stamp``): a script that calls ``.run()`` again, and so makes a new cache,
#: reads the file again only when it was written since. Closures are frozen; the dicts are
#: copied.
_known: dict[Path, tuple[tuple[int, ...], tuple[dict[Any, Any], ...]]] = {}


#: incr's modules that compute closures: their sizes and times key the file (read from their
#: files, not imported: a command whose closures are all saved loads none of them).
CLOSURE_CODE = (
    "fingerprint",
    "astnorm",
    "codeast",
    "localclock",
    "scopes",
    "codeindex",
    "coderesolve",
    "codeparts",
    "creaders",
    "readertable",
    "registries",
    "tablestores",
    "randomdraws",
    "moduletop",
    "importeffects",
    "subclasses",
    "memodicts",
)


def _key() -> list[Any]:
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        code = []
        for name in CLOSURE_CODE:
            st = os.stat(os.path.join(folder, f"{name}.py"))
            code += [st.st_size, st.st_mtime_ns]
    except OSError:
        code = None
    return [FORMAT, __version__, MEMO_FORMAT, list(sys.version_info[:2]), code]


#: ``recheck(module, skeleton, raws, was)``: where ``module`` is now (as the code index read
#: it) and its skeleton now, when what a closure read of it (its skeleton, or the same syntax
#: tree, and the definitions it took whole, by raw key) is as it was in its text whose digest
#: was ``was``; None when not (see ``CodeClosure.reads``).
Recheck = Callable[[str, str, dict[str, str], str], tuple[Found, str] | None]


class ClosureCache:
    """Saved closures by ``module:qualname``, each with the modules it was computed from.

    ``locate(name)`` says where a module is now (through the stat cache); it is asked once per
    module name, however many closures consulted it. A closure whose modules changed is still
    the closure when ``recheck`` finds that each changed module kept what the closure read of
    it (``CodeClosure.reads``): an edit inside one step's body leaves the closures of the other
    steps of its module as they were, and an edit of comments and layout every closure.
    """

    def __init__(
        self, path: Path, locate: Callable[[str], Found], recheck: Recheck | None = None
    ) -> None:
        self.path = path
        self._locate = locate
        self._recheck = recheck
        self._where: dict[str, Found] = {}
        self._saved: dict[str, tuple[list[tuple[str, Found]], CodeClosure]] = {}
        self._fresh: dict[str, tuple[list[tuple[str, Found]], CodeClosure]] = {}
        #: What saved closures read of their modules, as the file has it (``reads`` below).
        self._raws: dict[str, dict[str, Any] | None] = {}
        self._skeletons: dict[tuple[str, Found], str] = {}
        #: Each closure read from the file, with its parts, packages, lookups and readers as
        #: the file has them: saved again as they are (most of a save's closures).
        self._entries: dict[str, tuple[CodeClosure, list[Any]]] = {}
        self.changed = False
        self._read()

    def _read(self) -> None:
        try:
            seen = stamp(str(self.path))
            known = _known.get(self.path)
            if seen is not None and known is not None and known[0] == seen:
                self._saved, self._raws, self._skeletons, self._entries = (
                    dict(part) for part in known[1]
                )
                return
            data = cachefile.read(self.path)
            if data["key"] != _key():
                return
            # Taken as the file has them (``marshal`` gives back the strings, lists and
            # dicts this incr wrote, the key says): at 10,000 closures, converting each
            # value again took 40 ms of a no-op status. The parts' dict is shared with the
            # entry saved again: neither is changed.
            modules = [(n, _found(r, d)) for n, r, d, _ in data["modules"]]
            self._skeletons = {
                modules[i]: entry[3]
                for i, entry in enumerate(data["modules"])
                if entry[3] is not None
            }
            nothing: frozenset[str] = frozenset()
            for name, (indices, parts, packages, dynamic, readers, bound, raws) in data[
                "closures"
            ].items():
                closure = CodeClosure(  # most closures have no packages, lookups, readers
                    parts,
                    frozenset(packages) if packages else nothing,
                    tuple(dynamic) if dynamic else (),
                    readers=tuple(map(tuple, readers)) if readers else (),
                    bound={k: tuple(v) for k, v in bound.items()} if bound else {},
                )
                self._saved[name] = ([modules[i] for i in indices], closure)
                self._raws[name] = raws if isinstance(raws, dict) else None
                self._entries[name] = (closure, [parts, packages, dynamic, readers, bound])
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            self._saved, self._raws, self._skeletons, self._entries = {}, {}, {}, {}
            return
        if seen is not None:
            parts = (self._saved, self._raws, self._skeletons, self._entries)
            _known[self.path] = (seen, tuple(dict(part) for part in parts))

    def _reads(
        self, name: str, sources: list[tuple[str, Found]], closure: CodeClosure
    ) -> dict[str, tuple[str, dict[str, str]]]:
        """``closure.reads``, or for a closure read from the file, what the file says it read
        (taken apart only when asked: most saved closures are used as they are)."""
        if closure.reads or name not in self._raws:  # computed by this command, or read
            return closure.reads
        raws = self._raws.get(name)
        if not raws:
            return {}
        reads = {}
        for source in sources:
            mod = source[0]
            # Taken as the file has them: a key or value that is not a string never equals
            # a raw key, so the closure is computed again.
            if mod in raws and source in self._skeletons and isinstance(raws[mod], dict):
                reads[mod] = (self._skeletons[source], raws[mod])
        return reads if len(reads) == len(raws) else {}

    def where(self, name: str) -> Found:
        if name not in self._where:
            self._where[name] = self._locate(name)
        return self._where[name]

    def get(self, module: str, qualname: str) -> CodeClosure | None:
        """The saved closure of ``qualname`` in ``module`` if every module it was computed
        from is as it was then; None otherwise."""
        name = f"{module}:{qualname}"
        entry = self._fresh.get(name) or self._saved.get(name)
        if entry is None:
            return None
        sources, closure = entry
        for mod, found in sources:
            if self.where(mod) != found:
                entry = self._rechecked(name, sources, closure)
                if entry is None:
                    return None
                self.changed = True
                break
        self._fresh[name] = entry
        return entry[1]

    def _rechecked(
        self, name: str, sources: list[tuple[str, Found]], closure: CodeClosure
    ) -> tuple[list[tuple[str, Found]], CodeClosure] | None:
        """The entry of ``closure`` with its modules as they are now, when every module that
        changed kept what the closure read of it; None otherwise. The closure itself is kept:
        what it read is its own (``closure.reads``) or, for one read from the file, what the
        file says, under the skeleton noted here for each module as it is now."""
        own, saved = closure.reads, self._raws.get(name) or {}
        if self._recheck is None or not (own or saved):
            return None
        now = []
        for mod, found in sources:
            where = self.where(mod)
            if where != found:
                if found is None or where is None or where[0] != found[0]:
                    return None  # a module appeared, went, or moved
                if own:  # computed by this command
                    skeleton, raws = own.get(mod, ("", None))
                else:  # read from the file: what it says the closure read of ``mod``
                    skeleton, raws = self._skeletons.get((mod, found), ""), saved.get(mod)
                if not skeleton or not isinstance(raws, dict):
                    return None
                checked = self._recheck(mod, skeleton, raws, found[1])
                if checked is None or checked[0] != where:
                    return None  # not the same, or read from other bytes than located
                self._skeletons[(mod, where)] = checked[1]
            now.append((mod, where))
        return now, closure

    def put(
        self, module: str, qualname: str, closure: CodeClosure, sources: Mapping[str, Found]
    ) -> None:
        """Remember a closure just computed from ``sources`` (each module name it consulted,
        with where it was found and the digest of the text that was used)."""
        self._fresh[f"{module}:{qualname}"] = (sorted(sources.items()), closure)
        self._raws.pop(f"{module}:{qualname}", None)  # its reads are the closure's own now
        self.changed = True

    def save(self) -> None:
        """Write the closures used now, then older ones up to ``LIMIT``. Only a cache: a failed
        write costs a parse next time."""
        if not self.changed:
            return
        merged = {**self._saved, **self._fresh}
        names = [n for n in merged if n not in self._fresh] + list(self._fresh)
        table: dict[tuple[str, Found], int] = {}
        skeletons: dict[tuple[str, Found], str] = {}
        closures: dict[str, list[Any]] = {}
        for name in names[-LIMIT:]:
            sources, closure = merged[name]
            reads = self._reads(name, sources, closure)
            indices = [table.setdefault(source, len(table)) for source in sources]
            for source in sources:
                if source[0] in reads:
                    skeletons[source] = reads[source[0]][0]
            read = self._entries.get(name)
            if read is not None and read[0] is closure:
                encoded = read[1]
            else:
                encoded = [
                    closure.parts,
                    sorted(closure.packages),
                    list(closure.dynamic),
                    [list(r) for r in closure.readers],
                    {k: list(v) for k, v in closure.bound.items()},
                ]
            closures[name] = [
                indices,
                *encoded,
                {m: raws for m, (_, raws) in reads.items()} if reads else None,
            ]
        modules = [
            [n, *(found if found else (None, None)), skeletons.get((n, found))]
            for n, found in table
        ]
        data = {"key": _key(), "modules": modules, "closures": closures}
        with contextlib.suppress(OSError):
            cachefile.write(self.path, data)
        self.changed = False


def _found(rel: Any, digest: Any) -> Found:
    return None if rel is None else (str(rel), str(digest))
