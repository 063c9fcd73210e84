"""Read, validate and write ``pipeline.lock``.

The lockfile is TOML meant for git: a schema version, then one block per step, sorted, each
block a table and its sub-tables (``code``, ``config``, ``inputs``, ``deps``, ``reads``,
``outputs``). No
timestamps, absolute paths or machine names; the same facts always give the same bytes, so a no-op
run leaves it untouched and two branches that reran different steps merge without conflicts.

    schema = 1

    [steps."flow.double"]
    fingerprint = "9f1c..."
    seal = "04be..."

    [steps."flow.double".code]
    "pipelines/flow.py:double" = "51ab..."

Config values are stored as canonical JSON text, since TOML has no null. ``seal`` is a digest
of the fingerprint, the reads and the outputs: a git merge that keeps some lines of a step's
entry from one branch and some from the other (one branch changed its code, the other its data)
breaks it, and the entry is refused rather than taken as one step's result.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from incr.digests import digest_bytes
from incr.errors import LockfileError
from incr.fingerprint import canonical_json
from incr.model import ARTIFACT_KINDS, Artifact, Facts, LockEntry
from incr.storage import atomic_write

SCHEMA = 1
HEADER = "# Written by incr. Commit this file; do not edit it by hand.\n"
_SECTIONS = ("code", "config", "inputs", "deps", "reads", "outputs")
_STEP_KEYS = ("fingerprint", "seal", *_SECTIONS)
_BARE = re.compile(r"[A-Za-z0-9_-]+")
#: The kind of an output stored by a materializer other than the built-in ones
#: (``temperature@1``, see ``materializers.tag``).
_KIND = re.compile(r"[a-z][a-z0-9_-]*@[1-9][0-9]*")
_REF = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*:[^\W\d]\w*")
#: Printable ASCII without quotes and backslashes: written as it is between quotes.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( |$)")


# --------------------------------------------------------------------------- writing


#: What comes before the first step's block.
_FIRST_LINES = f"{HEADER}schema = {SCHEMA}\n"


def _head(key: str) -> str:
    """The name of step ``key``'s table."""
    return f"steps.{_key(key)}"


def _opening(head: str) -> str:
    """How the block of the step table ``head`` begins: its header line, then its first field's
    name (``dumps`` writes it so; ``_take_written_blocks`` finds each block by it)."""
    return f"\n[{head}]\nfingerprint = "


def _key(text: str) -> str:
    return text if _BARE.fullmatch(text) else _string(text)


def _string(text: str) -> str:
    """A TOML basic string in ASCII: quotes, backslashes, control characters and everything
    beyond ASCII escaped (``\\uXXXX``, or ``\\UXXXXXXXX`` outside the first plane)."""
    if _PLAIN.fullmatch(text):  # digests, paths, names: nothing to escape (most strings)
        return f'"{text}"'
    if text.isascii():
        return json.dumps(text).replace("\x7f", "\\u007f")
    return '"' + "".join(map(_escape, text)) + '"'


def _escape(ch: str) -> str:
    if ch.isascii():
        return json.dumps(ch)[1:-1].replace("\x7f", "\\u007f")
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


#: The text of each entry's block, from the last ``dumps``, by its key, with the entry it is
#: of (entries are immutable): a run that rewrites the lockfile after every few steps formats
#: each entry once, not once per write.
_blocks: dict[str, tuple[LockEntry, str]] = {}


#: Where the blocks of entries read back (not formatted in this process) can be found: a
#: function giving the lockfile text that ``dumps`` wrote for them (None when it no longer
#: can), and those entries.
_written_text: list[tuple[Callable[[], str | None], list[LockEntry]]] = []


def blocks_in(text_of: Callable[[], str | None], entries: Iterable[LockEntry]) -> None:
    """Tell ``dumps`` that ``text_of()`` gives a lockfile text that ``dumps`` wrote for
    ``entries`` (or None when it cannot tell any more): the next ``dumps`` takes their blocks
    from that text, only asked then, rather than formatting them again."""
    _written_text[:] = [(text_of, list(entries))]


def _take_written_blocks() -> None:
    """Blocks of the entries ``blocks_in`` named, cut out of the text it gave, into ``_blocks``:
    one block per entry, in key order, each starting with its table's header line (a value
    never holds a line break: ``_string`` escapes it)."""
    text_of, entries = _written_text.pop()
    if not entries:
        return
    text = text_of()
    if text is None or not text.startswith(_FIRST_LINES):
        return
    if text.count("]\nfingerprint = ") != len(entries):
        return  # not the text of these entries
    ordered = sorted(entries, key=lambda e: e.key)
    starts: list[int] = []
    at = len(_FIRST_LINES)
    for entry in ordered:
        start = text.find(_opening(_head(entry.key)), at)
        if start == -1 or (not starts and start != at):
            return
        starts.append(start)
        at = start + 1
    for entry, start, end in zip(ordered, starts, [*starts[1:], len(text)], strict=True):
        _blocks[entry.key] = (entry, text[start:end])


def dumps(entries: Iterable[LockEntry]) -> str:
    """The lockfile text for ``entries``: deterministic, sorted, one block per step."""
    global _blocks
    if _written_text:
        _take_written_blocks()
    lines = [_FIRST_LINES]
    blocks: dict[str, tuple[LockEntry, str]] = {}
    for entry in sorted(entries, key=lambda e: e.key):
        known = _blocks.get(entry.key)
        text = known[1] if known is not None and known[0] is entry else _block(entry)
        blocks[entry.key] = (entry, text)
        lines.append(text)
    _blocks = blocks
    return "".join(lines)


def seal(entry: LockEntry) -> str:
    """The digest that binds an entry's fingerprint, reads and outputs together."""
    parts = [entry.fingerprint, sorted(entry.reads.items())]
    parts.append(sorted((k, a.encode()) for k, a in entry.outputs.items()))
    return digest_bytes(json.dumps(parts).encode(), 32)


def _block(entry: LockEntry) -> str:
    head = _head(entry.key)
    lines = [f"{_opening(head)}{_string(entry.fingerprint)}\nseal = {_string(seal(entry))}\n"]
    tables: dict[str, Mapping[str, str]] = {
        "code": entry.facts.code,
        "config": {k: _config_text(v) for k, v in entry.facts.config.items()},
        "inputs": entry.facts.inputs,
        "deps": entry.facts.deps,
        "reads": entry.reads,
        "outputs": {k: a.encode() for k, a in entry.outputs.items()},
    }
    for section in _SECTIONS:
        table = tables[section]
        if table:
            lines.append(f"\n[{head}.{section}]\n")
            lines.extend(f"{_key(k)} = {_string(table[k])}\n" for k in sorted(table))
    return "".join(lines)


def _config_text(value: Any) -> str:
    return canonical_json(value)


def write(path: Path, entries: Iterable[LockEntry]) -> bytes | None:
    """Write the lockfile atomically when its text changes: the bytes written, or None."""
    text = dumps(entries)
    try:
        if path.read_text(encoding="utf-8") == text:
            return None
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    data = text.encode("utf-8")
    atomic_write(path, data)
    return data


# --------------------------------------------------------------------------- reading


def read(path: Path) -> dict[str, LockEntry]:
    """The entries of the lockfile at ``path`` by step key; empty when it does not exist.

    Raises LockfileError naming ``FILE:LINE`` for conflict markers, bad TOML, an unknown schema
    and malformed blocks.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise LockfileError(f"{path.name}:1: not a text file", hint=_HINT_RESET) from None
    return loads(text, path.name)


_HINT_RESET = (
    "restore it from git (git checkout HEAD -- pipeline.lock), or delete it and run `incr repro`"
)


def loads(text: str, name: str = "pipeline.lock") -> dict[str, LockEntry]:
    if sys.version_info >= (3, 11):  # here: the lockbook's parsed copy spares most commands
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    for number, text_line in enumerate(text.splitlines(), 1):
        if _CONFLICT.match(text_line):
            raise LockfileError(
                f"{name}:{number}: unresolved git merge conflict",
                hint=f"keep one side (git checkout --ours {name}) and run `incr repro` "
                "to recompute the steps the other side changed",
            )
    if not text.strip():
        raise LockfileError(f"{name}:1: the file is empty", hint=_HINT_RESET)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _line_of_toml_error(exc, text)
        if str(exc).startswith(("Cannot overwrite a value", "Cannot declare")):
            raise LockfileError(
                f"{name}:{line}: a step's entry or one of its values is written twice (both "
                "sides of a git merge kept?)",
                hint=f"keep one side (while merging: git checkout --ours {name}; once the "
                f"merge is committed: git checkout HEAD^1 -- {name}) and run `incr repro` to "
                "recompute what the other side changed",
            ) from None
        raise LockfileError(f"{name}:{line}: {_toml_message(exc)}", hint=_HINT_RESET) from None
    except RecursionError:
        raise LockfileError(
            f"{name}:1: nested too deeply to be a lockfile", hint=_HINT_RESET
        ) from None
    schema = data.get("schema")
    if type(schema) is not int or schema != SCHEMA:
        raise LockfileError(
            f"{name}:{_find_line(text, 'schema')}: unknown schema version {schema!r} "
            f"(this incr reads {SCHEMA})",
            hint="upgrade incr, or delete the lockfile and run `incr repro`",
        )
    unknown = sorted(set(data) - {"schema", "steps"})
    if unknown:
        raise LockfileError(
            f"{name}:{_find_line(text, unknown[0])}: unknown key {unknown[0]!r} "
            "(expected: schema, steps)",
            hint=_HINT_RESET,
        )
    steps = data.get("steps", {})
    if not isinstance(steps, dict):
        raise LockfileError(f"{name}:{_find_line(text, 'steps')}: 'steps' must be a table")
    return {key: _entry(key, block, text, name) for key, block in steps.items()}


def _entry(key: str, block: Any, text: str, name: str) -> LockEntry:
    def fail(message: str, section: str | None = None, field: str | None = None) -> LockfileError:
        line = _locate(text, key, section, field)
        return LockfileError(
            f"{name}:{line}: {message} in step {key!r}",
            hint=f"restore the file from git (git checkout HEAD -- {name}), or delete the "
            f'block [steps."{key}"] and run `incr repro` (the step is restored from the cache '
            "or runs again)",
        )

    if not isinstance(block, dict):
        raise fail("expected a table")
    for field in block:
        if field not in _STEP_KEYS:
            expected = ", ".join(_STEP_KEYS)
            raise fail(f"unknown key {field!r} (expected: {expected})", field=field)
    fp = block.get("fingerprint")
    if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{32}", fp):
        raise fail("missing or malformed 'fingerprint'", field="fingerprint")
    tables: dict[str, dict[str, str]] = {}
    for section in _SECTIONS:
        table = block.get(section, {})
        if not isinstance(table, dict):
            raise fail(f"'{section}' must be a table of strings", field=section)
        for k, v in table.items():
            if not isinstance(v, str):
                raise fail(f"'{section}.{k}' must be a string", section, k)
        tables[section] = table
    config: dict[str, Any] = {}
    outputs: dict[str, Artifact] = {}
    for section, k, v in _values(tables, ("config", "outputs")):
        try:
            if section == "config":
                config[k] = json.loads(v)
            else:
                outputs[k] = _artifact(v)
        except ValueError as exc:
            raise fail(f"malformed value of '{section}.{k}' ({exc})", section, k) from None
    facts = Facts(code=tables["code"], config=config, inputs=tables["inputs"], deps=tables["deps"])
    entry = LockEntry(key=key, fingerprint=fp, facts=facts, outputs=outputs, reads=tables["reads"])
    if "seal" in block and block["seal"] != seal(entry):  # older entries have none
        line = _locate(text, key, None, "seal")
        raise LockfileError(
            f"{name}:{line}: the entry of step {key!r} mixes lines of two versions of its "
            "results (a git merge kept some of each branch's)",
            hint=f'delete the block [steps."{key}"] and its tables, and run `incr repro`: '
            "the step's result is restored from the cache or computed again",
        )
    return entry


def _artifact(text: str) -> Artifact:
    artifact = Artifact.decode(text)
    if artifact.kind not in ARTIFACT_KINDS and not _KIND.fullmatch(artifact.kind):
        kinds = ", ".join(sorted(ARTIFACT_KINDS))
        raise ValueError(f"unknown kind {artifact.kind!r}, expected one of {kinds} or KIND@VERSION")
    if not re.fullmatch(r"[0-9a-f]{64}", artifact.digest):
        raise ValueError("the digest is not 64 hex digits")
    if artifact.files and not re.fullmatch(r"[0-9a-f]{32}", artifact.files):
        raise ValueError("the digest of the files it reads is not 32 hex digits")
    for ref in artifact.refs:
        if not _REF.fullmatch(ref):
            raise ValueError(f"{ref!r} is not MODULE:NAME")
    mode_ok = artifact.kind == "file" and re.fullmatch(r"x|[0-7]{3}", artifact.mode)
    if artifact.mode and not mode_ok:
        raise ValueError(f"bad mode {artifact.mode!r} (expected x or 3 octal digits, files only)")
    return artifact


def _values(
    tables: dict[str, dict[str, str]], sections: tuple[str, ...]
) -> Iterable[tuple[str, str, str]]:
    for section in sections:
        for k, v in tables[section].items():
            yield section, k, v


def _locate(text: str, key: str, section: str | None, field: str | None) -> int:
    """The line of ``field`` in step ``key``'s block (or sub-table ``section``); the block's
    header when the field is not on a line of its own; any line naming the step otherwise."""
    lines = text.splitlines()
    header = f"[{_head(key)}" + (f".{section}]" if section else "]")
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        quoted = _key(key)
        return next((i + 1 for i, line in enumerate(lines) if quoted in line), 1)
    if field is not None:
        pattern = re.compile(rf"\s*({re.escape(_key(field))}|{re.escape(_string(field))})\s*=")
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if pattern.match(lines[i]):
                return i + 1
    return start + 1


def _line_of_toml_error(exc: Exception, text: str) -> int:
    match = re.search(r"line (\d+)", str(exc))
    if match:
        return int(match.group(1))
    if "end of document" in str(exc):  # a truncated file: the error is on its last line
        return max(1, len(text.splitlines()))
    return 1


def _toml_message(exc: Exception) -> str:
    return re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc)) or "bad TOML"


def _find_line(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(needle):
            return number
    return 1


def entry_to_json(entry: LockEntry) -> dict[str, Any]:
    """A lock entry as JSON values (the lockfile's copy in the cache, the run cache)."""
    facts = entry.facts
    return {
        "fingerprint": entry.fingerprint,
        "code": facts.code,
        "config": facts.config,
        "inputs": facts.inputs,
        "deps": facts.deps,
        "reads": entry.reads,
        "outputs": {k: a.encode() for k, a in entry.outputs.items()},
    }


def entry_from_json(key: str, data: dict[str, Any]) -> LockEntry:
    """The inverse of ``entry_to_json``."""
    facts = Facts(data["code"], data["config"], data["inputs"], data["deps"])
    outputs = {k: Artifact.decode(v) for k, v in data["outputs"].items()}
    return LockEntry(key, data["fingerprint"], facts, outputs, data["reads"])
