"""``incr report``: one self-contained HTML page (inline SVG picture, inline CSS, no script,
no font or file fetched from anywhere) with a table of steps: state and reasons, last
duration, outputs with kind and size, config values and metrics."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from incr import metrics, render, trees
from incr.history import flatten
from incr.model import Artifact, LockEntry
from incr.report import byte_size
from incr.store import ObjectCorrupt, ObjectMissing, Store
from incr.valueclass import valueclass


@valueclass(frozen=True)
class StepRow:
    """What the report says about one step."""

    key: str
    state: render.StepState
    seconds: float | None
    outputs: tuple[tuple[str, str, int | None], ...]  # (name, kind, size in bytes)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def step_row(
    store: Store,
    key: str,
    state: render.StepState,
    entry: LockEntry | None,
    seconds: float | None,
    declared: tuple[str, ...],
    config: Mapping[str, Any],
) -> StepRow:
    """A step's row: outputs (with sizes) and metrics from its lock entry and the cache."""
    outputs = tuple(
        (name, artifact.kind, output_size(store, artifact))
        for name, artifact in sorted((entry.outputs if entry else {}).items())
    )
    values: dict[str, Any] = {}
    for name in declared:
        read = metrics.read_metric(store, entry, name)
        if isinstance(read, str):
            values[name] = read
        else:
            values.update({f"{name}:{k}" if k else name: v for k, v in read.items()})
    return StepRow(key, state, seconds, outputs, flatten(config), values)


def output_size(store: Store, artifact: Artifact) -> int | None:
    """The bytes an output holds (a folder: its files together); None when not cached."""
    try:
        if artifact.kind != "dir":
            return store.size_of(artifact.digest)
        entries = trees.decode(bytes(store.get_view(artifact.digest)))
        sizes = [store.size_of(e.digest) for e in entries if e.digest]
        return None if None in sizes else sum(s for s in sizes if s is not None)
    except (OSError, ObjectMissing, ObjectCorrupt, ValueError):
        return None


def size_text(size: int | None) -> str:
    return "not cached" if size is None else byte_size(size)


def inline_svg(svg: str) -> str:
    """Graphviz's SVG without its XML prolog and doctype, to sit inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #1b1b1b; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; margin-top: 0.5em; }
th, td { border: 1px solid #c8c8c8; padding: 0.3em 0.6em; text-align: left;
         vertical-align: top; font-size: 0.9em; }
th { background: #eeeeee; }
td.num { text-align: right; }
.picture svg { max-width: 100%; height: auto; }
.summary span { display: inline-block; margin-right: 1.5em; }
ul { margin: 0; padding-left: 1.1em; }
"""


def page(title: str, svg: str | None, rows: list[StepRow], note: str = "") -> str:
    """The whole HTML document."""
    esc = html.escape
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state.state] = counts.get(row.state.state, 0) + 1
    summary = "".join(
        f'<span style="border-left: 1em solid {render.COLOURS[s]}; padding-left: 0.4em">'
        f"{counts[s]} {esc(render.LEGEND[s])}</span>"
        for s in render.STATES
        if s in counts
    )
    picture = (
        f'<div class="picture">{inline_svg(svg)}</div>'
        if svg is not None
        else f"<p>{esc(note)}</p>"
    )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="summary">{summary}</p>',
        picture,
        "<h2>Steps</h2>",
        _table(rows),
        "</body></html>",
    ]
    return "\n".join(body) + "\n"


def _table(rows: list[StepRow]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("step", "state", "reasons", "last run", "outputs", "params", "metrics")
    )
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        state = row.state.state
        cells = [
            html.escape(row.key),
            f'<span style="background: {render.COLOURS[state]}; padding: 0 0.4em">'
            f"{html.escape(render.LEGEND[state])}</span>",
            _items(list(row.state.reasons)),
            "" if row.seconds is None else f"{row.seconds:.3f}s",
            _items([f"{n} ({k}, {size_text(s)})" for n, k, s in row.outputs]),
            _items([f"{k} = {json.dumps(v)}" for k, v in sorted(row.params.items())]),
            _items([f"{k} = {_value(v)}" for k, v in sorted(row.metrics.items())]),
        ]
        tds = "".join(
            f'<td class="num">{c}</td>' if i == 3 else f"<td>{c}</td>" for i, c in enumerate(cells)
        )
        lines.append(f'<tr id="{html.escape(row.key)}">{tds}</tr>')
    return "\n".join([*lines, "</tbody></table>"])


def _items(texts: list[str]) -> str:
    if not texts:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in texts) + "</ul>"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value in (metrics.UNAVAILABLE, metrics.ABSENT) else json.dumps(value)
    return metrics.shown(value)


def page_text(document: str) -> str:
    """The visible words of a page made here (for tests and the CLI's summary line)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", document))).strip()
