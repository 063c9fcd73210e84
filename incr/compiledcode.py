"""The compiled code of project modules, kept in ``.pipecache/compiled/`` by the text it is
compiled from.

incr compiles project modules from their source, never from a ``.pyc`` (see ``incr.imports``).
Compiling is most of what importing a big module costs (a 60,000-line module: 0.35 s from its
text, 0.17 s from a tree already parsed), so the code is kept, one file per module:

- a module whose text is the one compiled last time (the same digest of its bytes) is run from
  the kept code, compiled by nothing;
- a module that changed is parsed once (by the graph cache's wiring check, or by its import,
  which hands the tree on: ``codeast.hand_over``) and compiled in *chunks* of some 32
  top-level statements (each with its decorators), cut after a statement whose text's CRC-32
  says so: an edit moves no cut but its own. Each chunk is kept by the digest of its text. A
  chunk kept from the last version is taken as it was, its line numbers moved by the lines
  added or removed above it; only the others are compiled. An edit inside one function
  compiles its chunk alone.

Running a module's chunks one after the other in its namespace is running the module: a
statement at the top level compiles to the same code whatever surrounds it, given the
``__future__`` features the module turns on (part of each chunk's key). Only the module's first
statement can be its docstring, so a later statement that is a lone string joins the chunk
before it; a module that annotates names at its top level gets its ``__annotations__`` before
its first chunk runs, as Python's own code sets it up. The kept code is only a cache: a file
that cannot be read or written costs a compile.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import importlib.util
import itertools
import opcode
import re
import sys
import types
import zlib
from pathlib import Path
from typing import Any

from incr import cachefile
from incr.digests import digest_bytes

FORMAT = 1
#: Whether a changed module is compiled chunk by chunk: from Python 3.14 on, the annotations of
#: a module's top level are gathered by one function compiled with the whole module.
CHUNKS = sys.version_info < (3, 14)
_LINE_END = re.compile(rb"\r\n|\r|\n")  # the line ends Python's tokenizer knows


def _key(path: str, optimize: int) -> list[Any]:
    return [FORMAT, importlib.util.MAGIC_NUMBER.hex(), optimize, path]


def _file(folder: Path, path: str) -> Path:
    return folder / "compiled" / f"{digest_bytes(path.encode(), 16)}.bin"


def kept_code(folder: Path, path: str, digest: str, optimize: int) -> list[types.CodeType] | None:
    """The code of module file ``path`` whose bytes have ``digest``, when it was kept for
    those very bytes; None otherwise."""
    kept = _read(folder, path, optimize)
    if kept is None or kept["digest"] != digest:
        return None
    chunks = kept["chunks"]
    return [chunks[key][1] for key in kept["order"]]


def chunked_code(
    folder: Path, path: str, digest: str, data: bytes, tree: ast.Module, optimize: int
) -> list[types.CodeType]:
    """The code of module file ``path`` (bytes ``data``, with ``digest``, parsed as ``tree``
    from their UTF-8 text), chunk by chunk: the chunks kept from its last version taken
    over, the others compiled from ``tree`` (which is left as it is); kept for next time."""
    kept = _read(folder, path, optimize)
    known: dict[str, list[Any]] = kept["chunks"] if kept is not None else {}
    flags = _future_flags(tree)
    order, chunks, codes = [], {}, []
    for first, chunk, statements in _chunks(tree, data):
        key = digest_bytes(b"%d\0%s" % (flags, chunk), 32)
        found = known.get(key)
        code = _moved(found[1], first - found[0]) if found is not None else None
        if code is None:
            module = ast.Module(body=statements, type_ignores=[])
            code = compile(module, path, "exec", flags=flags, dont_inherit=True, optimize=optimize)
        order.append(key)
        chunks[key] = [first, code]
        codes.append(code)
    _write(folder, path, optimize, {"digest": digest, "order": order, "chunks": chunks})
    return codes


def keep_whole(folder: Path, path: str, digest: str, code: types.CodeType, optimize: int) -> None:
    """Keep ``code``, compiled from the whole text of module file ``path`` (bytes with
    ``digest``), for its next import."""
    key = f"whole:{digest}"
    _write(folder, path, optimize, {"digest": digest, "order": [key], "chunks": {key: [1, code]}})


def annotated(codes: list[types.CodeType]) -> bool:
    """Whether the top level of a module made of ``codes`` annotates names: Python's code of
    the whole module then sets up ``__annotations__`` before its first statement."""
    return any(_SETUP_ANNOTATIONS in code.co_code[::2] for code in codes)


_SETUP_ANNOTATIONS = bytes([opcode.opmap["SETUP_ANNOTATIONS"]])


#: A chunk ends after a statement whose text's CRC-32 is a multiple of this: chunks of about
#: this many statements, cut where the text says, so that an edit moves no cut but its own.
_CUT = 32


def _chunks(tree: ast.Module, data: bytes) -> list[tuple[int, bytes, list[ast.stmt]]]:
    """The module's chunks: (first line, text, statements), in order. Compiling a few dozen
    statements at once costs about what compiling each costs (one at a time, a 60,000-line
    module took twice as long as in one piece); a chunk cut by its content keeps its cuts
    when statements are added or removed elsewhere."""
    starts = _line_starts(data)
    chunks: list[tuple[int, bytes, list[ast.stmt]]] = []
    statements: list[ast.stmt] = []
    first = last = 0
    cut = False  # after the statement before
    for stmt in tree.body:
        decorators = getattr(stmt, "decorator_list", None)  # listed from the first line on
        start = decorators[0].lineno if decorators else stmt.lineno
        end = stmt.end_lineno or stmt.lineno
        # Never cut between statements sharing a line, nor before a lone string (only the
        # first statement of a module's code is its docstring).
        if cut and start > last and not _lone_string(stmt):
            chunks.append((first, data[starts[first - 1] : starts[last]], statements))
            statements = []
        if not statements:
            first = start
        statements.append(stmt)
        last = max(last, end)
        cut = zlib.crc32(data[starts[start - 1] : starts[end]]) % _CUT == 0
    if statements:
        chunks.append((first, data[starts[first - 1] : starts[last]], statements))
    return chunks


def _lone_string(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _line_starts(data: bytes) -> list[int]:
    """Where each line of ``data`` starts, and its end, by the line ends of Python's
    tokenizer (a lone carriage return ends a line too)."""
    if b"\r" in data:
        return [0, *(m.end() for m in _LINE_END.finditer(data)), len(data)]
    return [0, *itertools.accumulate(len(line) + 1 for line in data.split(b"\n")), len(data)]


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _moved(code: types.CodeType, lines: int) -> types.CodeType | None:
    """A chunk's module-level ``code`` with every line number moved by ``lines``; None when
    its line table cannot be written again exactly (then the chunk is compiled)."""
    if lines == 0:
        return code
    positions = getattr(code, "co_positions", None)
    if positions is None:  # Python 3.10: another line table
        return None
    moved = [
        pos if pos[0] is None or pos[0] < 1 else (pos[0] + lines, _plus(pos[1], lines), *pos[2:])
        for pos in positions()  # (line 0: ``RESUME``, before the first line)
    ]
    consts = tuple(
        _nested_moved(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    with contextlib.suppress(ValueError, TypeError):
        new = code.replace(co_linetable=_line_table(moved, code.co_firstlineno), co_consts=consts)
        if list(new.co_positions()) == moved:  # type: ignore[attr-defined]
            return new
    return None


def _plus(line: int | None, lines: int) -> int | None:
    return None if line is None else line + lines


def _nested_moved(code: types.CodeType, lines: int) -> types.CodeType:
    """A function's or class body's code moved by ``lines``: its line table is relative to
    its first line."""
    consts = tuple(
        _nested_moved(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def _line_table(positions: list[tuple[Any, ...]], first: int) -> bytes:
    """A line table (``co_linetable``, Python 3.11 to 3.13's format) for one position per
    code unit: the long form for each run of equal positions, line numbers as differences
    from the one before (the first from ``first``)."""
    out = bytearray()
    line, i = first, 0
    while i < len(positions):
        pos = positions[i]
        j = i + 1
        while j < len(positions) and j - i < 8 and positions[j] == pos:
            j += 1
        start, end, col, end_col = pos
        if start is None:
            out.append(0x80 | 15 << 3 | (j - i - 1))  # no location
        elif end is None or col is None or end_col is None:
            out.append(0x80 | 13 << 3 | (j - i - 1))  # a line, no columns
            out += _signed(start - line)
            line = start
        else:
            out.append(0x80 | 14 << 3 | (j - i - 1))  # the long form
            out += _signed(start - line) + _unsigned(end - start)
            out += _unsigned(col + 1) + _unsigned(end_col + 1)
            line = start
        i = j
    return bytes(out)


def _unsigned(value: int) -> bytes:
    out = bytearray()
    while value >= 64:
        out.append(0x40 | value & 0x3F)
        value >>= 6
    out.append(value)
    return bytes(out)


def _signed(value: int) -> bytes:
    return _unsigned(-value << 1 | 1 if value < 0 else value << 1)


def _read(folder: Path, path: str, optimize: int) -> dict[str, Any] | None:
    try:
        data = cachefile.read(_file(folder, path))
        if data.get("key") != _key(path, optimize):
            return None
        chunks = data["chunks"]
        for key in data["order"]:
            first, code = chunks[key]
            if not isinstance(first, int) or not isinstance(code, types.CodeType):
                return None
        return dict(data)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _write(folder: Path, path: str, optimize: int, data: dict[str, Any]) -> None:
    file = _file(folder, path)
    if not folder.is_dir():  # a copy of the project a worker imports from: not made here
        return
    with contextlib.suppress(OSError):
        file.parent.mkdir(exist_ok=True)
        cachefile.write(file, {"key": _key(path, optimize), **data})
