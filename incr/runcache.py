"""The run cache, under ``.pipecache/runs/``: what each fingerprint ever computed produced (with
what it read and when), so reverting an edit restores old outputs without executing the step.
``Store`` is a ``RunCache``: its objects hold the bytes.

On disk::

    runs/a.bin      the records of every fingerprint that starts with ``a`` (a shard, in
                    ``incr.cachefile``'s encoding; an older incr wrote ``a.json``, read too)
    runs/journal    changes not folded into the shards yet, one JSON line each

A run appends each record to the journal as its step finishes (one ``write``: a killed run keeps
every record it made) and folds the journal into the shards when it ends (``batched``): 10,000
executed steps write 16 shard files, not 10,000 record files. Every writer holds the
project lock (``incr.locking``), so one process at a time appends; a journal a killed run left
is folded by the next writer. A reader takes shards and journal together.

Before shards, each fingerprint had a file of its own (``runs/ab/cdef...``). Those are still
read, and the first writer folds them into the shards and removes them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from incr import cachefile
from incr.model import Artifact
from incr.valueclass import valueclass

#: Records kept per fingerprint (one per distinct set of read digests).
RUN_VARIANTS = 8

Variants = list[dict[str, Any]]


class RunCache:
    """The run-cache records of a cache folder (a part of ``Store``, which sets ``runs`` and
    provides ``has`` and ``ensure``)."""

    runs: Path
    _runs_state: _State | None = None

    def has(self, digest: str) -> bool:
        raise NotImplementedError

    def ensure(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ writing

    def record_run(
        self,
        fingerprint: str,
        outputs: dict[str, Artifact],
        reads: dict[str, str],
        created: float,
        step: str = "",
        writes: dict[str, str] | None = None,
    ) -> None:
        """Remember what ``fingerprint`` produced, what it read, when (seconds since epoch), for
        which step (``PIPELINE.STEP``, for ``incr gc --keep``), and the digests of the files it
        wrote that no ``outs`` lists (``writes``, see ``incr.leafwrites``).

        Reads are not part of the fingerprint, so one fingerprint may have several records,
        one per set of read digests (the newest ``RUN_VARIANTS`` are kept), and reverting a
        file a step read restores that step's old outputs.
        """
        record = {
            "outputs": {name: art.encode() for name, art in sorted(outputs.items())},
            "reads": dict(sorted(reads.items())),
            "created": created,
            "step": step,
        }
        if writes is not None:
            record["writes"] = dict(sorted(writes.items()))
        self._change({"fp": fingerprint, "record": record})

    def forget_run(self, fingerprint: str, reads: dict[str, str]) -> None:
        """Drop the record of ``fingerprint`` made with these reads: a result found stale
        (a file it read was written while it ran). Nothing when there is no such record."""
        self._change({"fp": fingerprint, "forget": reads})

    def drop_runs(self, fingerprints: list[str]) -> None:
        """Drop every record of these fingerprints (``incr gc``)."""
        with self.batched():
            for fingerprint in fingerprints:
                self._change({"fp": fingerprint, "drop": True})

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Inside the block, changes go to the journal only; they are folded into the shards
        when it ends, however it ends. For a holder of the project lock."""
        state = self._state()
        if state.batches == 0:
            state.reset()  # what another writer did before this one took the lock
            self._migrate(state)
        state.batches += 1
        try:
            yield
        finally:
            state.batches -= 1
            if state.batches == 0:
                self._fold(state)

    def _change(self, line: dict[str, Any]) -> None:
        state = self._state()
        if state.batches == 0:  # outside a run (``incr commit``): from the files, folded at once
            with self.batched():
                self._change(line)
            return
        fingerprint = str(line["fp"])
        shard = self._shard(state, fingerprint[:SHARD])
        before = shard.get(fingerprint, [])
        after = _applied(before, line)
        if after == before:
            return  # a forget or a drop of no record: nothing to write
        shard[fingerprint] = after
        state.dirty.add(fingerprint[:SHARD])
        if state.fd is None:
            self.ensure()
        state.append(line)

    def _fold(self, state: _State) -> None:
        """Write the shards the journal changed (a journal a killed run left included), then
        drop the journal."""
        state.close()
        for prefix in state.journal_prefixes():
            self._shard(state, prefix)  # applies its lines
        for prefix in sorted(state.dirty):
            kept = {fp: v for fp, v in state.shards[prefix].items() if v}
            path = self.runs / f"{prefix}.bin"
            if kept:  # (``cachefile.write`` removes the shard an older incr wrote as JSON)
                cachefile.write(path, {"format": FORMAT, "runs": kept})
            else:
                for old in (path, path.with_suffix(".json")):
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()
        state.dirty.clear()
        with contextlib.suppress(FileNotFoundError):
            state.journal.unlink()

    def _migrate(self, state: _State) -> None:
        """Fold the files of the layout before shards (``runs/ab/cdef...``) into the shards,
        then remove them. Before any change is made, so a crash halfway leaves nothing to undo:
        the next writer merges the same files again."""
        old = _old_files(self.runs)
        state.old_layout = bool(old)  # the listing ``_shard`` would otherwise take again
        if not old:
            return
        for prefix in sorted({fingerprint[:SHARD] for fingerprint, _ in old}):
            self._shard(state, prefix)  # reads them
            state.dirty.add(prefix)
        self._fold(state)
        state.old_layout = False  # in the shards now, whatever is left to remove
        for _, path in old:
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in {path.parent for _, path in old}:
            with contextlib.suppress(OSError):
                folder.rmdir()  # left when it holds a temp file: ``incr gc`` removes those

    # ------------------------------------------------------------------ reading

    def lookup_runs(self, fingerprint: str) -> list[RunRecord]:
        """What ``fingerprint`` produced, newest first, keeping only records whose objects are
        all still stored."""
        records = []
        for variant in self._variants(fingerprint):
            record = _run_record(variant)
            if record is not None and all(self.has(a.digest) for a in record.outputs.values()):
                records.append(record)
        return records

    def recorded_writes(self, fingerprint: str) -> list[dict[str, str] | None]:
        """The ``writes`` of each record of ``fingerprint``, newest first (None: a record made
        before they were kept), whether or not its objects are still stored."""
        return [r.writes for r in map(_run_record, self._variants(fingerprint)) if r is not None]

    def lookup_run(self, fingerprint: str) -> RunRecord | None:
        """The newest usable record of ``fingerprint``, or None."""
        records = self.lookup_runs(fingerprint)
        return records[0] if records else None

    def run_records(self) -> Iterator[tuple[str, str, float, list[RunRecord]]]:
        """Every fingerprint of the run cache: (it, its step key, newest created, its readable
        records), in the order of the fingerprints."""
        state = self._state()
        prefixes = set(state.journal_prefixes())
        prefixes |= {fp[:SHARD] for fp, _ in _old_files(self.runs)}
        with contextlib.suppress(OSError):
            prefixes |= {n[:SHARD] for n in os.listdir(self.runs) if _is_shard(n)}
        for prefix in sorted(prefixes):
            for fingerprint, variants in sorted(self._shard(state, prefix).items()):
                records = [r for r in map(_run_record, variants) if r is not None]
                if records:
                    step = str(variants[0].get("step", ""))
                    yield fingerprint, step, max(r.created for r in records), records

    def _variants(self, fingerprint: str) -> Variants:
        state = self._state()
        return self._shard(state, fingerprint[:SHARD]).get(fingerprint, [])

    def _shard(self, state: _State, prefix: str) -> dict[str, Variants]:
        """The records of the fingerprints starting with ``prefix``: its shard file, the
        files of the old layout, then the journal's changes."""
        shard = state.shards.get(prefix)
        if shard is not None:
            return shard
        shard, older = _read_shard(self.runs / f"{prefix}.bin")
        if older:
            state.dirty.add(prefix)  # written again by the next fold, in the new encoding
        if state.old_layout is None:
            state.old_layout = bool(_old_files(self.runs))
        for fingerprint, path in _old_files(self.runs, prefix) if state.old_layout else ():
            variants = shard.setdefault(fingerprint, [])
            for variant in _read_variants(path):
                if all(v.get("reads") != variant.get("reads") for v in variants):
                    variants.append(variant)
            del variants[RUN_VARIANTS:]
        state.shards[prefix] = shard
        lines = state.pending_of(prefix)
        for line in lines:
            fingerprint = str(line["fp"])
            shard[fingerprint] = _applied(shard.get(fingerprint, []), line)
        if lines:
            state.dirty.add(prefix)
        return shard

    def _state(self) -> _State:
        """What this process holds of the run cache: one for all the ``Store`` values of a
        cache folder (the remote's and the workspace's see each other's records)."""
        state = self._runs_state
        if state is None or state.pid != os.getpid():  # a forked child starts afresh
            key = os.path.abspath(self.runs)
            state = _STATES.get(key)
            if state is None or state.pid != os.getpid():
                state = _STATES[key] = _State(Path(key) / JOURNAL)
            self._runs_state = state
        return state


#: The shards' format, the journal's name, and the hex digits of a fingerprint that name its
#: shard: 16 shards, so that a run of a few hundred steps rewrites at most 16 files when it
#: ends (0.4 ms each on a slow disk), while a lookup reads a sixteenth of the run cache.
FORMAT = 2
JOURNAL = "journal"
SHARD = 1
#: The state of each run cache this process has used, by its absolute folder.
_STATES: dict[str, _State] = {}


class _State:
    """What this process holds of one run cache: the shards read (with the journal's changes
    applied), the ones changed since the last fold, and the journal lines not applied yet.

    A holder of the project lock reads afresh when its batch starts (``RunCache.batched``);
    a reader without it sees the run cache as it was when first read, and never restores a
    result from it (restores happen in runs, under the lock)."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.pid = os.getpid()
        self.batches = 0
        self.fd: int | None = None
        self.reset()

    def reset(self) -> None:
        self.shards: dict[str, dict[str, Variants]] = {}
        self.dirty: set[str] = set()
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.loaded_journal = False
        #: Whether files of the layout before shards are there (looked at once).
        self.old_layout: bool | None = None

    def _load(self) -> None:
        """The journal's lines by shard, once (a line cut short by a kill is skipped)."""
        if self.loaded_journal:
            return
        self.loaded_journal = True
        try:
            text = self.journal.read_bytes()
        except OSError:
            return
        for raw in text.splitlines():
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                if _is_line(line):
                    self.pending.setdefault(line["fp"][:SHARD], []).append(line)

    def pending_of(self, prefix: str) -> list[dict[str, Any]]:
        self._load()
        return self.pending.pop(prefix, [])

    def journal_prefixes(self) -> list[str]:
        self._load()
        return list(self.pending)

    def append(self, line: dict[str, Any]) -> None:
        """Append ``line`` to the journal (its older lines were loaded first), opened at the
        first change."""
        if self.fd is None:
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
            try:
                self.fd = os.open(self.journal, flags, 0o666)
            except FileNotFoundError:
                self.journal.parent.mkdir(parents=True, exist_ok=True)
                self.fd = os.open(self.journal, flags, 0o666)
            size = os.fstat(self.fd).st_size
            if size and os.pread(self.fd, 1, size - 1) != b"\n":
                os.write(self.fd, b"\n")  # after a line a kill cut short
        data = memoryview(json.dumps(line).encode() + b"\n")
        while data:  # the whole line, however many writes it takes
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


def _is_line(line: Any) -> bool:
    """Whether ``line`` is a journal line ``_applied`` takes (any other is skipped)."""
    if not isinstance(line, dict) or not isinstance(line.get("fp"), str):
        return False
    if "record" in line:
        return isinstance(line["record"], dict)
    return isinstance(line.get("forget"), dict) or line.get("drop") is True


def _applied(variants: Variants, line: dict[str, Any]) -> Variants:
    """``variants`` after one journal line: a record comes first and replaces the one with the
    same reads; a forget drops the one with its reads; a drop drops all. Applying a line twice
    gives what applying it once gave, so a journal folded again after a crash changes nothing."""
    if "record" in line:
        record = line["record"]
        others = [v for v in variants if v.get("reads") != record.get("reads")]
        return [record, *others][:RUN_VARIANTS]
    if "forget" in line:
        return [v for v in variants if v.get("reads") != line["forget"]]
    return []


def _read_shard(path: Path) -> tuple[dict[str, Variants], bool]:
    """The records of shard file ``path`` (``runs/a.bin``), or of the JSON file an older incr
    wrote in its place when there is none; whether they came from the latter. A file that
    does not decode holds no records."""
    try:
        data, older = cachefile.read(path), False
    except FileNotFoundError:
        try:
            data, older = json.loads(path.with_suffix(".json").read_bytes()), True
        except (OSError, ValueError):
            return {}, False
    except (OSError, ValueError):
        return {}, False
    try:
        runs = data["runs"] if data["format"] == FORMAT else {}
    except (KeyError, TypeError):
        return {}, older
    if not isinstance(runs, dict):
        return {}, older
    shard = {
        str(fp): [v for v in variants if isinstance(v, dict)]
        for fp, variants in runs.items()
        if isinstance(variants, list)
    }
    return shard, older


def _is_shard(name: str) -> bool:
    """A shard's file name: its prefix, then ``.bin`` (or ``.json``, an older incr's)."""
    return name[SHARD:] in (".bin", ".json") and not name.startswith(".")


def _is_old(name: str) -> bool:
    return not name.startswith(".")  # temp files start with a dot


def _old_files(runs: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """The files of the layout before shards (of the fingerprints starting with ``prefix``):
    (fingerprint, path)."""
    try:
        names = os.listdir(runs)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        folder = runs / name
        if len(name) == 2 and name.startswith(prefix) and folder.is_dir():
            found += [(name + p.name, p) for p in sorted(folder.iterdir()) if _is_old(p.name)]
    return found


def _read_variants(path: Path) -> Variants:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        variants = data["variants"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [v for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []


def _run_record(variant: dict[str, Any]) -> RunRecord | None:
    try:
        outputs = {n: Artifact.decode(t) for n, t in variant["outputs"].items()}
        reads = {str(k): str(v) for k, v in variant["reads"].items()}
        found = variant.get("writes")
        writes = None if found is None else {str(k): str(v) for k, v in found.items()}
        return RunRecord(outputs, reads, float(variant["created"]), writes)
    except (ValueError, AttributeError, KeyError, TypeError):
        return None


@valueclass(frozen=True)
class RunRecord:
    """One run-cache entry: the outputs a fingerprint produced, the files it read, when, and
    the files it wrote that no ``outs`` lists (None: not known, see ``incr.leafwrites``)."""

    outputs: dict[str, Artifact]
    reads: dict[str, str]
    created: float
    writes: dict[str, str] | None = None
