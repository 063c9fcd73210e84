"""The run cache, under ``.pipecache/runs/``: ``runs/FP`` maps a fingerprint ever computed to
the artifacts it produced (with what it read and when), so reverting an edit restores old
outputs without executing the step. ``Store`` is a ``RunCache``: its objects hold the bytes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incr.model import Artifact
from incr.storage import atomic_write


class RunCache:
    """The run-cache records of a cache folder (a part of ``Store``, which sets ``runs`` and
    provides ``has`` and ``ensure``)."""

    runs: Path

    def has(self, digest: str) -> bool:
        raise NotImplementedError

    def ensure(self) -> None:
        raise NotImplementedError

    def record_run(
        self,
        fingerprint: str,
        outputs: dict[str, Artifact],
        reads: dict[str, str],
        created: float,
        step: str = "",
    ) -> None:
        """Remember what ``fingerprint`` produced, what it read, when (seconds since epoch), and
        for which step (``PIPELINE.STEP``, for ``incr gc --keep``).

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
        path = self._run_path(fingerprint)
        others = [v for v in self._variants(path) if v.get("reads") != record["reads"]]
        self.ensure()
        data = {"variants": [record, *others][:RUN_VARIANTS]}
        atomic_write(path, json.dumps(data, sort_keys=True).encode(), durable=False)

    def forget_run(self, fingerprint: str, reads: dict[str, str]) -> None:
        """Drop the record of ``fingerprint`` made with these reads: a result found stale
        (a file it read was written while it ran). Nothing when there is no such record."""
        path = self._run_path(fingerprint)
        variants = self._variants(path)
        rest = [v for v in variants if v.get("reads") != reads]
        if len(rest) == len(variants):
            return
        if rest:
            atomic_write(
                path, json.dumps({"variants": rest}, sort_keys=True).encode(), durable=False
            )
        else:
            with contextlib.suppress(OSError):
                path.unlink()

    def lookup_runs(self, fingerprint: str) -> list[RunRecord]:
        """What ``fingerprint`` produced, newest first, keeping only records whose objects are
        all still stored."""
        records = []
        for variant in self._variants(self._run_path(fingerprint)):
            record = _run_record(variant)
            if record is not None and all(self.has(a.digest) for a in record.outputs.values()):
                records.append(record)
        return records

    def lookup_run(self, fingerprint: str) -> RunRecord | None:
        """The newest usable record of ``fingerprint``, or None."""
        records = self.lookup_runs(fingerprint)
        return records[0] if records else None

    def run_records(self) -> Iterator[tuple[Path, str, float, list[RunRecord]]]:
        """Every run-cache file: (its path, step key, newest created, its readable records)."""
        if not self.runs.is_dir():
            return
        for path in sorted(self.runs.glob("*/*")):
            variants = self._variants(path)
            records = [r for r in map(_run_record, variants) if r is not None]
            if records:
                step = str(variants[0].get("step", ""))
                yield path, step, max(r.created for r in records), records

    def _run_path(self, fingerprint: str) -> Path:
        return self.runs / fingerprint[:2] / fingerprint[2:]

    @staticmethod
    def _variants(path: Path) -> list[dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            variants = data["variants"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        return [v for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []


#: Records kept per fingerprint (one per distinct set of read digests).
RUN_VARIANTS = 8


def _run_record(variant: dict[str, Any]) -> RunRecord | None:
    try:
        outputs = {n: Artifact.decode(t) for n, t in variant["outputs"].items()}
        reads = {str(k): str(v) for k, v in variant["reads"].items()}
        return RunRecord(outputs, reads, float(variant["created"]))
    except (ValueError, AttributeError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class RunRecord:
    """One run-cache entry: the outputs a fingerprint produced, the files it read, and when."""

    outputs: dict[str, Artifact]
    reads: dict[str, str]
    created: float
