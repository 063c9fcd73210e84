"""Run records: one small JSON file per pipeline run (``.run()`` or ``incr repro``), named
as the console line names the run (``first_pipeline-29_Nov_26-22_18_16_046574``).

They hold, for each step the run reached, whether it ran, came from the cache or failed, its
config values and the kind and digest of each output (the objects are in the store). The
post-execution API (``incr.postexec``) reads them back. Writing one is best effort: a failed
write costs the history of that run, never the run.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incr.model import Artifact, PipelineGraph
from incr.storage import atomic_write

FORMAT = 1
FOLDER = "history"
#: ``"started": SECONDS`` near the top of a record (its keys are sorted: ``format``, ``name``,
#: ``pipeline``, ``started``, ``status``, then the steps).
_STARTED = re.compile(rb'"started": (-?[0-9][0-9.eE+-]*)')


def folder(cache: Path, pipeline: str) -> Path:
    """Where the records of ``pipeline`` live (its name made safe as one path component)."""
    safe = "".join(c if c.isalnum() or c in "-_.@=," else "_" for c in pipeline)
    return cache / FOLDER / safe


def save_run(
    cache: Path,
    run_name: str,
    graph: PipelineGraph,
    outputs: Mapping[str, Mapping[str, Artifact]],
    result: Any,
    started: float,
) -> None:
    """Write the record of one finished run of ``graph`` (``result``: its ``RunResult``)."""
    executed = set(result.executed)  # sets: a list asked once per step is quadratic
    failed = set(result.failed)
    steps: list[dict[str, Any]] = []  # in the order the pipeline body called them
    for node in graph.steps:
        if node.name in failed:
            state = "failed"
        elif node.name not in outputs:
            continue
        else:
            state = "completed" if node.name in executed else "cached"
        arts = outputs.get(node.name, {})
        steps.append(
            {
                "name": node.name,
                "key": node.key,
                "status": state,
                "entrypoint": node.func_name,
                "param": node.param,
                "config": node.config,
                "outputs": {k: _output(a) for k, a in arts.items()},
            }
        )
    record = {
        "format": FORMAT,
        "pipeline": graph.name,
        "name": run_name,
        "status": "failed" if failed else "completed",
        "started": started,
        "steps": steps,
    }
    text = json.dumps(record, sort_keys=True, default=repr)
    with contextlib.suppress(OSError):
        where = folder(cache, graph.name)
        where.mkdir(parents=True, exist_ok=True)
        atomic_write(where / f"{run_name}.json", text.encode(), durable=False)


def load(cache: Path, pipeline: str) -> list[dict[str, Any]]:
    """The records of ``pipeline``, oldest first (unreadable ones left out)."""
    records = []
    for path in sorted(folder(cache, pipeline).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == FORMAT:
            records.append(data)
    return sorted(records, key=lambda r: (float(r.get("started", 0)), str(r.get("name"))))


def pipelines(cache: Path) -> list[str]:
    """The names of the pipelines with at least one record, by their first run."""
    firsts = []
    for path in (cache / FOLDER).glob("*"):
        records = load(cache, path.name) if path.is_dir() else []
        if records:
            firsts.append((float(records[0].get("started", 0)), str(records[0]["pipeline"])))
    return [name for _, name in sorted(firsts)]


def beyond(cache: Path, keep: int) -> list[Path]:
    """The records of each pipeline but its ``keep`` newest (by start time): what ``incr gc``
    removes. A file that does not read as a record of this format is left alone."""
    old: list[Path] = []
    for where in sorted((cache / FOLDER).glob("*")):
        dated = [
            (started, path.name, path)
            for path in where.glob("*.json")
            if (started := _started(path)) is not None
        ]
        dated.sort(reverse=True)
        old += [path for *_, path in dated[keep:]]
    return old


def _started(path: Path) -> float | None:
    """When the run a record file holds started; None when it does not read as a record
    of this format. Read from its first bytes, the whole file only when they do not say."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            found = _STARTED.search(head)
            if found is not None and head.startswith(b'{"format": %d,' % FORMAT):
                return float(found.group(1))
            data = json.loads(head + f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    started = data.get("started")
    return float(started) if isinstance(started, int | float) else None


def _output(artifact: Artifact) -> dict[str, Any]:
    """An output in a run record; with the project definitions it refers to (a project
    materializer that stored it), which a script reading it back imports to read it."""
    found: dict[str, Any] = {"kind": artifact.kind, "digest": artifact.digest}
    if artifact.refs:
        found["refs"] = list(artifact.refs)
    return found
