"""Lazy handles over files: values that read their files only when collected (a polars
``LazyFrame`` from ``pl.scan_csv``, a pyarrow ``Dataset``, a DuckDB relation).

Such a value stores the same bytes whatever its files hold (its plan names them), so a step
taking it would be kept by the early cutoff with the result of the old files. Its identity
(``Artifact.files``, ``Artifact.identity``) therefore holds the digests of the files its step
read or declared as it made it (``files_digest``): the steps taking it rerun when those files
change, are kept when they do not, and are restored from the cache when they come back.

The files a handle names count as read by the step making it, even when that step never
opened them itself (``report_named``: a dataset made by ``FileSystemDataset.from_paths``, a
plan deserialized, a scan made in a library that bound the reader before incr wrapped it):
they are taken from the handle (a pyarrow dataset's ``files``, the sources of a polars plan).
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from incr.digests import canonical_json, digest_bytes
from incr.model import learned_kind

#: Handles over files that read them only when collected, by (module prefix, class name).
_LAZY = {
    ("polars", "LazyFrame"): "polars LazyFrame",
    ("pyarrow", "FileSystemDataset"): "pyarrow Dataset",
    ("pyarrow", "UnionDataset"): "pyarrow Dataset",
    ("duckdb", "DuckDBPyRelation"): "DuckDB relation",
}
#: How deep into lists, tuples and dicts a handle is looked for, and at how many values.
_DEPTH, _ITEMS = 3, 10_000
#: The kinds of ``LockEntry.reads`` keys that say what files held: files, listings, tests.
_FILE_KINDS = frozenset({"file", "listing", "exists", "times"})


def lazy_kind(value: Any) -> str | None:
    """The name of the kind of lazy handle ``value`` is (``polars LazyFrame``), or None."""
    kind = type(value)
    return _LAZY.get((kind.__module__.partition(".")[0], kind.__name__))


def handles(value: Any) -> Iterator[Any]:
    """The lazy handles ``value`` is or holds in its lists, tuples, sets and dicts (at most
    ``_DEPTH`` deep, ``_ITEMS`` values looked at in all)."""
    todo, budget = [(value, _DEPTH)], _ITEMS
    while todo and budget:
        found, depth = todo.pop()
        budget -= 1
        if lazy_kind(found) is not None:
            yield found
        elif depth and isinstance(found, list | tuple | set | frozenset | dict):
            items = found.values() if isinstance(found, dict) else found
            todo += [(item, depth - 1) for item in itertools.islice(items, budget)]


#: Kinds of values that are no lazy handle and hold none (most steps' outputs).
_PLAIN = (int, float, str, bytes, bool, type(None))


def lazy_outputs(outputs: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of the outputs that are or hold a lazy handle."""
    return tuple(
        name
        for name, value in outputs.items()
        if not isinstance(value, _PLAIN) and next(handles(value), None) is not None
    )


def report_named(outputs: Mapping[str, Any], root: str) -> None:
    """Tell the recorder of the running step the files the lazy handles among ``outputs``
    name (relative ones under ``root``, where the steps taking them collect them), as a
    reader given them would: they count as read by the step."""
    from incr import nativereads  # here: a run that executes nothing loads no reader table

    for value in outputs.values():
        for handle in handles(value):
            for path in named_files(handle):
                nativereads.report(os.path.join(root, path))


def named_files(handle: Any) -> list[str]:
    """The files, folders or globs a lazy handle reads when collected, as it names them;
    none when it cannot say (a DuckDB relation, a polars plan it cannot write out)."""
    from incr import nativereads

    try:
        if hasattr(handle, "files"):  # a pyarrow FileSystemDataset: on its file system
            found = (nativereads.on_disk(handle.filesystem, f) for f in handle.files)
            return [str(f) for f in found if f is not None]
        if hasattr(handle, "children"):  # a pyarrow UnionDataset
            return [f for child in handle.children for f in named_files(child)]
        if hasattr(handle, "serialize") and " SCAN [" in handle.explain(optimized=False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its JSON form is deprecated, not gone
                plan = json.loads(handle.serialize(format="json"))
            return list(_plan_sources(plan))
    except Exception:  # a handle whose files are gone, a plan of another polars version
        return []
    return []


def _plan_sources(node: Any) -> Iterator[str]:
    """The paths under the ``Paths`` keys of a polars plan in its JSON form (each a string,
    or ``{"inner": path}``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Paths" and isinstance(value, list):
                for path in value:
                    found = path.get("inner") if isinstance(path, dict) else path
                    if isinstance(found, str):
                        yield found
            else:
                yield from _plan_sources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _plan_sources(item)


def files_digest(
    deps: Mapping[str, str], reads: Mapping[str, str], inputs: Mapping[str, str]
) -> str:
    """What a lazy handle's step read as it made it: its deps (declared or tracked), the
    files, listings and tests among its ``reads``, and the files of the lazy handles among
    its ``inputs`` (their identities, ``DIGEST~FILES``: a handle made from a handle)."""
    files = {k: v for k, v in reads.items() if learned_kind(k) in _FILE_KINDS}
    handed = {p: i.partition("+")[0].partition("~")[2] for p, i in inputs.items()}
    seen = {"deps": dict(deps), "reads": files, "inputs": {p: f for p, f in handed.items() if f}}
    return digest_bytes(canonical_json(seen).encode(), 32)


def untracked_note(where: str, kind: str) -> str:
    """The note of a step returning a lazy handle whose reads are not recorded."""
    return (
        f"{where}: a {kind} reads its files only when collected, and this step does not "
        "record what it reads (track_reads=False): the steps that take it rerun when those "
        "files change only if they are in its deps=[...]"
    )
