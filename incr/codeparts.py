"""The parts of a module a code closure records, read off its analysed tree: the digest and
normalised source of one definition (``part_digest``, ``part_source``), the module's skeleton
(``skeleton_digest``), the code memo's key and entries for one definition (``raw_key``,
``memo_entry``, ``from_memo``), and a module's text as Python reads its bytes
(``source_text``) and numbers its lines (``text_lines``). Pure: values in, values out.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from incr.astnorm import config_defaults_apart, digest_nodes, has_config_class, unparse
from incr.codeast import Binding, ModuleInfo, Ref, definition_nodes
from incr.digests import digest_bytes
from incr.fingerprint import MEMO_FORMAT
from incr.moduletop import around_bodies

#: A coding declaration (PEP 263), in the first two lines of a module.
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


def definition_digest(nodes: list[ast.stmt], walks: list[list[ast.AST]] | None = None) -> str:
    """The digest of a module-level definition's statements, with ``+`` and the digest of
    its config defaults when they are kept apart (see ``DEFAULTS``); ``walks``: the
    ``walked`` nodes of each statement, when known."""
    if not has_config_class(nodes):
        return digest_nodes(nodes, walks)
    with config_defaults_apart(nodes) as defaults:
        digest = digest_nodes(nodes, walks)
    return digest + "+" + digest_nodes(defaults) if defaults else digest


def part_digest(info: ModuleInfo, name: str) -> str | None:
    """The digest a closure records for code part ``name`` of module ``info`` (``*``: the
    whole module); None when the module does not define it."""
    if name == "*":
        return digest_nodes([info.tree] if info.tree else [])
    nodes = definition_nodes(info, name)
    return None if nodes is None else definition_digest(nodes).partition("+")[0]


def part_source(info: ModuleInfo, name: str) -> str | None:
    """The normalised source of code part ``name`` of module ``info`` (``*``: the whole
    module); None when the module does not define it."""
    if name == "*":
        return unparse(info.tree) if info.tree else ""
    nodes = definition_nodes(info, name)
    return None if nodes is None else "\n".join(unparse(s) for s in nodes)


def skeleton_digest(info: ModuleInfo) -> str:
    """The digest of a module's text with the bodies of its module-level functions cut out
    (``around_bodies``), with its name, path and kind. Besides the definitions it takes whole,
    this is all a closure reads of a module (names defined, imports, classes, module-level
    statements): an edit inside the body of a function it does not take leaves it as it is."""
    body = info.tree.body if info.tree else []
    functions = [s for s in body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    head = [info.source.name, info.source.path, str(info.source.is_package), str(MEMO_FORMAT)]
    text = around_bodies(info.source.text.encode(), functions)
    return digest_bytes("\n".join(head).encode() + b"\n" + text, 32)


def source_text(source: bytes) -> str:
    """The text Python reads from module bytes ``source``: UTF-8 without its byte-order mark,
    or the encoding a coding declaration (PEP 263) names. Bytes that do not decode so (Python
    would not import the module either, and says why) are read with replacement characters."""
    if not source.startswith(b"\xef\xbb\xbf") and not any(
        _COOKIE.match(line) for line in source.split(b"\n", 2)[:2]
    ):
        return source.decode("utf-8", "replace")
    import tokenize

    head = iter(source.splitlines(keepends=True)[:2])
    try:
        encoding = tokenize.detect_encoding(lambda: next(head, b""))[0]
    except SyntaxError:  # an unknown encoding, or a mark and a declaration that disagree
        encoding = "utf-8"
    if encoding == "utf-8-sig" or source.startswith(b"\xef\xbb\xbf"):
        source, encoding = source.removeprefix(b"\xef\xbb\xbf"), "utf-8"
    return source.decode(encoding, "replace")


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` as the tokenizer numbers them: only the line ends it knows
    (``\\r\\n`` and ``\\r`` end a line; splitlines() also splits at form feeds and other
    separators, which would shift every line number after them)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _lines(info: ModuleInfo) -> list[str]:
    if info.lines is None:
        info.lines = text_lines(info.source.text)
    return info.lines


def raw_key(info: ModuleInfo, nodes: list[ast.stmt], package: str) -> str:
    """A digest of the raw source lines of ``nodes`` (decorators included), where on those
    lines each starts and ends, and the package that relative imports are resolved against:
    same key, same normalised result. (``LO = 1; HI = 10`` is one line for two definitions.)"""
    _lines(info)
    assert info.lines is not None
    chunks = [package, str(MEMO_FORMAT)]
    for node in nodes:
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)])
        end = node.end_lineno or node.lineno
        chunks.append(f"{node.col_offset}:{node.end_col_offset}")
        chunks.append("\n".join(info.lines[start - 1 : end]))
    return digest_bytes("\0".join(chunks).encode(), 32)


#: What is learned from one definition: digest, references, inner imports, run-time lookups,
#: calls that may open files in native code (see ``creaders.reader_calls``).
Definition = tuple[str, list["Ref"], list[Binding], list[str], list[list[Any]]]


def memo_entry(
    digest: str,
    refs: list[Ref],
    imports: list[Binding],
    dynamic: list[str],
    opens: list[list[Any]],
) -> list[Any]:
    return [
        digest,
        [[name, list(chain)] for name, chain in refs],
        [[b.module, b.attr_of, b.attr] for b in imports],
        dynamic,
        opens,
    ]


def from_memo(entry: list[Any]) -> Definition:
    digest, refs, imports, dynamic, opens = entry
    return (
        str(digest),
        [(str(name), tuple(chain)) for name, chain in refs],
        [Binding(module=m, attr_of=a, attr=t) for m, a, t in imports],
        [str(d) for d in dynamic],
        opens,
    )
