"""Files a step writes without listing them in ``outs`` that no other step reads or writes: a
report, a plot, a metrics file beside the value the step returns.

incr cannot put such a file back from the cache, so it checks it instead. Each run-cache
record of a step keeps the digest of each such file as the run left it (``recorded``); a
status finds the step dirty when the file no longer holds what the run its lock entry records
left (``changes``: after ``git checkout`` of a branch whose runs wrote it, or an edit by hand),
and a ``repro`` executes it rather than putting back a run whose file the disk does not hold
(``holds``: reverting an edit once left ``report.json`` as the newer run wrote it). A record
made before incr kept these digests says nothing: the file is taken as it is.

Pure: the digests come from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from incr.model import MISSING, Reason


def recorded(
    written: Iterable[str], appended: Collection[str], digest: Callable[[str], str]
) -> dict[str, str]:
    """The digests (``digest``: a path's now, or ``missing``) of the files a run ``written``
    (its writes outside its ``outs``: ``jobrun.writes_of``) that it did not append to."""
    return {path: digest(path) for path in sorted(set(written)) if path not in appended}


def holds(
    writes: Mapping[str, str] | None, digest: Callable[[str], str], shared: Collection[str]
) -> bool:
    """Whether the files a run recorded (``writes``; None: not known) hold what it left, but
    those ``shared`` with other steps (written or read by them: ``incr.writtenfiles`` judges
    those)."""
    return writes is None or not _differing(writes, digest, shared)


def changes(
    variants: Iterable[Mapping[str, str] | None],
    digest: Callable[[str], str],
    shared: Collection[str],
) -> list[Reason]:
    """Why a step must run again to write its files anew: none of the runs of its lock
    entry's fingerprint (``variants``: each record's writes, None when not known) left them as
    they are; empty when one did, or when no record knows."""
    known = [w for w in variants if w is not None]
    if not known or any(holds(w, digest, shared) for w in known):
        return []
    now = {p: digest(p) for p in _differing(known[0], digest, shared)}
    gone = [p for p, d in now.items() if d == MISSING]
    edited = [p for p, d in now.items() if d != MISSING]
    found = [Reason(Reason.WRITTEN_MISSING, ", ".join(gone))] if gone else []
    return found + ([Reason(Reason.WRITTEN_CHANGED, ", ".join(edited))] if edited else [])


def _differing(
    writes: Mapping[str, str], digest: Callable[[str], str], shared: Collection[str]
) -> list[str]:
    return [p for p, d in writes.items() if p not in shared and digest(p) != d]
