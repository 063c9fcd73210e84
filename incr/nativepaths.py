"""Where the path a reader or writer in C gets leads (``incr.nativereads``): the files an SQL
query names, the file a database connection opens, the local file under a ``filesystem=``.
What a value names, read from it alone: no file is opened."""

from __future__ import annotations

import os
import re
from typing import Any

#: A file an SQL query names: the string given to a table function (``read_csv('x.csv')``,
#: ``read_parquet(['a.pq', 'b.pq'])``, ``scan_parquet(...)``) or read as a table in DuckDB
#: (``FROM 'x.parquet'``). SQL's strings are in single quotes (double ones quote names).
_SQL_FILES = re.compile(
    r"\b(?:read|scan)_\w+\s*\(\s*(\[[^\]]*\]|'(?:[^']|'')*')|\b(?:from|join)\s+('(?:[^']|'')*')",
    re.IGNORECASE,
)
_SQL_STRING = re.compile(r"'((?:[^']|'')*)'")


def sql_files(query: str) -> list[str]:
    """The files an SQL query reads by name, in order (see ``_SQL_FILES``)."""
    found: list[str] = []
    for match in _SQL_FILES.finditer(query):
        for text in _SQL_STRING.findall(match.group(1) or match.group(2)):
            found.append(text.replace("''", "'"))
    return found


def database_file(given: Any, uri: bool = False) -> str | None:
    """The file a database connection opens (``sqlite3.connect``, ``duckdb.connect``): None
    for a database in memory, a remote one, or what is not a path."""
    if not isinstance(given, str | os.PathLike):
        return None
    try:
        text = os.fsdecode(given)
    except (TypeError, ValueError):
        return None
    if uri and text.startswith("file:"):  # (without ``uri=True``, SQLite takes it as a name)
        text, _, query = text.removeprefix("file:").partition("?")
        if "mode=memory" in query:
            return None
        if text.startswith("//"):  # file:///abs/x.db, file://localhost/abs/x.db
            text = "/" + text[2:].partition("/")[2]
    if not text or text.startswith(":") or "://" in text or text.startswith(("md:", "motherduck:")):
        return None  # ``:memory:``, ``:memory:name``, MotherDuck, s3://...
    return text


def on_disk(filesystem: Any, path: Any) -> Any:
    """The local path a reader or writer given ``filesystem=`` opens for ``path``: as it is
    on the local file system (pyarrow's or fsspec's ``LocalFileSystem``), under the folder of
    a pyarrow ``SubTreeFileSystem`` or an fsspec ``DirFileSystem``; None on another (S3,
    memory...), whose files are not the disk's."""
    while filesystem is not None and isinstance(path, str | os.PathLike):
        kind = type(filesystem).__name__
        if kind == "SubTreeFileSystem":  # pyarrow.fs
            path = os.path.join(filesystem.base_path, os.fsdecode(path))
            filesystem = filesystem.base_fs
        elif kind == "DirFileSystem":  # fsspec.implementations.dirfs
            path = os.path.join(filesystem.path, os.fsdecode(path))
            filesystem = filesystem.fs
        elif kind == "LocalFileSystem":  # both
            return path
        else:
            return None
    return path


_FLAG = re.compile(r"--(\w+)=(\S+)")


def trainer_files(arg: Any, flags: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the files a trainer reads, those it writes) by its flags: a string of them
    (``"--input=data/corpus.txt --model_prefix=models/sp"``) or keywords (``input=`` a path,
    paths joined by commas or a list; ``model_prefix=``: the ``.model`` and ``.vocab`` it
    writes, unless a ``model_writer`` takes the model)."""
    if isinstance(arg, str):
        flags = dict(_FLAG.findall(arg))
    given = flags.get("input")
    if isinstance(given, str | os.PathLike):
        inputs = [p for p in os.fsdecode(given).split(",") if p]
    elif isinstance(given, list | tuple):
        inputs = [os.fsdecode(p) for p in given if isinstance(p, str | os.PathLike)]
    else:
        inputs = []
    prefix = flags.get("model_prefix")
    if not isinstance(prefix, str | os.PathLike) or flags.get("model_writer") is not None:
        return inputs, []
    prefix = os.fsdecode(prefix)
    return inputs, [f"{prefix}.model", f"{prefix}.vocab"]
