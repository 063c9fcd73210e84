"""Metrics: the JSON ``outs`` files (or dict outputs) a step marks with
``@step(metrics=[...])``, read back from the cache by the digests a lockfile records, so any
revision's values can be shown without checking it out.

A value whose object is not in the local cache is ``UNAVAILABLE``: shown as such, never
guessed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from incr import materializers
from incr.history import flatten
from incr.model import LockEntry
from incr.store import ObjectCorrupt, ObjectMissing, Store
from incr.valueclass import valueclass

UNAVAILABLE = "(not available)"
ABSENT = "(none)"


def read_metric(store: Store, entry: LockEntry | None, name: str) -> dict[str, Any] | str:
    """The flattened values (``{"accuracy": 0.9, "loss.train": 0.1}``) of output ``name`` of a
    lock entry; ABSENT when the entry does not record it, UNAVAILABLE when its object is not
    in the cache or is not a JSON object."""
    artifact = entry.outputs.get(name) if entry else None
    if artifact is None:
        return ABSENT
    try:
        data = bytes(store.get_view(artifact.digest))
    except (ObjectMissing, ObjectCorrupt, OSError):
        return UNAVAILABLE
    try:
        value = (
            json.loads(data) if artifact.kind == "file" else materializers.load(artifact.kind, data)
        )
    except Exception:
        return UNAVAILABLE
    if not isinstance(value, Mapping):
        return {"": value} if isinstance(value, int | float) else UNAVAILABLE
    return flatten(value)


@valueclass(frozen=True)
class MetricRow:
    """One metric value at two revisions; ``change`` is ``new - old`` for numbers, else None."""

    key: str  # step key
    source: str  # the out path or output name
    metric: str  # the dotted key inside it ("" for a plain number)
    old: Any
    new: Any

    @property
    def change(self) -> float | None:
        numbers = (int, float)
        if isinstance(self.old, numbers) and isinstance(self.new, numbers):
            if isinstance(self.old, bool) or isinstance(self.new, bool):
                return None
            return round(self.new - self.old, 12)
        return None


def metric_rows(
    store: Store,
    declared: Mapping[str, tuple[str, ...]],
    old: Mapping[str, LockEntry],
    new: Mapping[str, LockEntry],
    only_changed: bool = False,
) -> list[MetricRow]:
    """Each declared metric (step key -> names) at both revisions, sorted; with
    ``only_changed`` only the rows whose values differ."""
    rows = []
    for key in sorted(declared):
        for source in sorted(declared[key]):
            before = read_metric(store, old.get(key), source)
            after = read_metric(store, new.get(key), source)
            names = sorted({*_names(before), *_names(after)}) or [""]
            for name in names:
                row = MetricRow(key, source, name, _pick(before, name), _pick(after, name))
                unknown = UNAVAILABLE in (row.old, row.new)  # a change there is not known
                if not only_changed or unknown or _differs(row.old, row.new):
                    rows.append(row)
    return rows


def _names(values: dict[str, Any] | str) -> list[str]:
    return list(values) if isinstance(values, dict) else []


def _pick(values: dict[str, Any] | str, name: str) -> Any:
    if isinstance(values, str):
        return values
    return values.get(name, ABSENT)


def _differs(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str)


def shown(value: Any) -> str:
    """A metric value as a table cell."""
    if isinstance(value, str) and value in (UNAVAILABLE, ABSENT):
        return value
    return json.dumps(value) if not isinstance(value, float) else f"{value:.6g}"


def rows_lines(
    rows: list[MetricRow], old: str | None, new: str | None, show: bool, declared: bool = True
) -> list[str]:
    """``incr metrics diff``: step, metric, old, new and change; with ``show`` (``incr metrics
    show``): step, metric and value. ``declared``: some step declares metrics."""
    from incr.history import shown as rev
    from incr.history import table

    if not declared:
        return ["no metrics (mark JSON outs with @step(metrics=[...]))"]
    if not rows:
        return [f"no metric differs between {rev(old)} and {rev(new)}"]
    if show:
        cells: list[tuple[str, ...]] = [("step", "metric", "value")]
        cells += [(r.key, _label(r), shown(r.new)) for r in rows]
        return table(cells)
    cells = [("step", "metric", rev(old), rev(new), "change")]
    cells += [
        (
            r.key,
            _label(r),
            shown(r.old),
            shown(r.new),
            "" if r.change is None else f"{r.change:+.6g}",
        )
        for r in rows
    ]
    return table(cells)


def _label(row: MetricRow) -> str:
    return f"{row.source}:{row.metric}" if row.metric else row.source


def rows_json(rows: list[MetricRow], old: str | None, new: str | None, show: bool) -> str:
    from incr.history import shown as rev

    items = []
    for r in rows:
        item: dict[str, Any] = {"step": r.key, "source": r.source, "metric": r.metric}
        if show:
            item["value"] = r.new
        else:
            item.update(old=r.old, new=r.new, change=r.change)
        items.append(item)
    data: dict[str, Any] = {"metrics": items}
    if not show:
        data = {"old": rev(old), "new": rev(new), **data}
    return json.dumps(data, indent=2, default=str)
