"""What an edit of a module can have changed, read off its text before and after the edit
(``edited_names``): the names that the top-level statements it touched mention, in either text.
Every other top-level statement has the same text on the same lines as before (those after
the edit shifted by the lines it added or removed), so a definition made only by such
statements keeps its raw key (``codeparts.raw_key``). The code index uses it to recheck the
saved closures of a module after an edit inside one function: only the closures that read a
name the edit touched are looked at again, not the ten thousand others.

The statements the edit touched are known exactly in the new text (its tree): from the
first line where a statement or a blank line starts before the edit to the last line of the
last statement it touched (statements sharing a line go together). The text before is not
parsed whole (a 60,000-line module takes 0.3 s), only the same stretch of it: the lines
before it are the same text, so a statement starts where it starts; the lines after it are
the same text as after the touched statements, where a new top-level statement (or a blank
line) starts. When that stretch parses on its own, it is whole top-level statements of the
text before (the module's statements outside it are those of the new text, moved by the lines
the edit added or removed); when it does not (a string or a bracket the edit opened or closed
runs over later lines), the answer is None and every closure is checked as before.

An edit is *neutral* (``neutral``) when those statements are, before and after it, the same
syntax trees but for their positions: comments, blank lines and layout changed, nothing else.
The module is then the same tree too: its wiring and every closure that reads it are as they
were, although the text around its function bodies (the skeleton) changed.
"""

from __future__ import annotations

import ast
import bisect
import gc
import re
from collections.abc import Callable
from typing import NamedTuple

from incr.codeparts import text_lines  # as raw keys number the lines
from incr.model import TOP_LEVEL

#: A word of a text: a name, an attribute, a keyword, a word in a string.
_WORD = re.compile(r"\w+")
#: A star import (it binds names its text does not show).
_STAR = re.compile(r"\bimport[\s\\]*\*")
#: A coding declaration (PEP 263): it decides how the bytes after it read.
_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=]")
#: The most lines of the text before an edit parsed to tell what it touched, beyond a quarter
#: of the module: a 60,000-line module parses in 0.3 s, its 10,000 closures are checked one by
#: one in 0.1 s.
LINES = 500


def edited_names(old: str, new: str, tree: ast.Module) -> frozenset[str] | None:
    """The words of the top-level statements an edit from ``old`` to ``new`` touched, in both
    texts, and ``TOP_LEVEL`` (a superset of the names those statements bind or register);
    None when it cannot be told without parsing ``old`` whole. ``tree`` is ``new`` parsed."""
    span = _span(old, new, tree)
    if span is None or _parsed(span.earlier) is None:  # not whole statements: a string or
        return None  # a bracket ran on
    if _STAR.search(span.earlier) or _STAR.search(span.now):
        return None
    return frozenset({*_WORD.findall(span.earlier), *_WORD.findall(span.now), TOP_LEVEL})


def neutral(old: str, new: str, tree: ast.Module) -> bool:
    """True when an edit from ``old`` to ``new`` (parsed: ``tree``) changed comments, blank
    lines and layout only: the top-level statements it touched are, in the text before, the
    same syntax trees (positions aside) as in the text after, so the two modules are. A
    docstring is a statement; a coding declaration (the first two lines) counts as code."""
    span = _span(old, new, tree)
    if span is None or (span.first <= 2 and (_cookie(old) or _cookie(new))):
        return False
    earlier = _parsed(span.earlier)
    now = tree.body[span.statements[0] : span.statements[1]]
    return (
        earlier is not None
        and len(earlier.body) == len(now)
        and all(ast.dump(a) == ast.dump(b) for a, b in zip(earlier.body, now, strict=True))
    )


class _Span(NamedTuple):
    """The stretch of lines an edit touched: from line ``first`` of both texts to line ``end``
    of the text before and ``last`` of the text after, whole top-level statements of the text
    after (``tree.body[statements[0]:statements[1]]``); ``earlier`` and ``now``, its text."""

    first: int
    end: int
    last: int
    statements: tuple[int, int]
    earlier: str
    now: str


def _span(old: str, new: str, tree: ast.Module) -> _Span | None:
    """The stretch an edit touched (see the module's notes); None when it is long (edits far
    apart: parsing the text before whole would cost less than checking)."""
    before, after = text_lines(old), text_lines(new)
    same_start = _common(before, after, 1)
    room = min(len(before), len(after)) - same_start
    same_end = _common(before, after, -1, room)
    low, high = max(1, same_start), len(after) - same_end + 1  # the edit, a line either side
    body = tree.body
    i = bisect.bisect_left(body, low, key=_last_line)  # the first statement ending at low
    first, last = low, min(len(after), high)
    while 0 < i < len(body) and _last_line(body[i - 1]) >= _first_line(body[i]):  # a; b
        i -= 1
    if i < len(body):
        first = min(first, _first_line(body[i]))
    start = i
    while i < len(body) and _first_line(body[i]) <= last:
        last, i = max(last, _last_line(body[i])), i + 1
    end = last - (len(after) - len(before))  # the same line in the text before
    if end - first >= max(LINES, len(before) // 4):
        return None
    earlier = "\n".join(before[first - 1 : end])
    return _Span(first, end, last, (start, i), earlier, "\n".join(after[first - 1 : last]))


def _cookie(text: str) -> bool:
    """Whether the first two lines of ``text`` hold a coding declaration (PEP 263)."""
    return any(_COOKIE.match(line) for line in text_lines(text)[:2])


def _common(a: list[str], b: list[str], step: int, most: int | None = None) -> int:
    """How many lines ``a`` and ``b`` share at their start (``step`` 1) or at their end
    (-1), at most ``most``: compared a block at a time, then line by line in the first block
    that differs."""
    most = min(len(a), len(b)) if most is None else most
    count, block = 0, 512
    while count < most:
        size = min(block, most - count)
        if step == 1:
            x, y = a[count : count + size], b[count : count + size]
        else:
            x, y = (
                a[len(a) - count - size : len(a) - count],
                b[len(b) - count - size : len(b) - count],
            )
            x.reverse()
            y.reverse()
        if x == y:
            count += size
            continue
        for p, q in zip(x, y, strict=True):
            if p != q:
                return count
            count += 1
    return count


def _last_line(stmt: ast.stmt) -> int:
    return stmt.end_lineno or stmt.lineno


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None)
    return min(stmt.lineno, *(d.lineno for d in decorators)) if decorators else stmt.lineno


def _parsed(text: str) -> ast.Module | None:
    """``text`` parsed, or None when it does not parse on its own."""
    collecting = gc.isenabled()
    gc.disable()  # a tree holds no cycles
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    finally:
        if collecting:
            gc.enable()


class EditedNames:
    """``edited_names`` of each module since each earlier text of it asked for (by the digest
    of that text's bytes, given by ``earlier``: None when it is not kept), once per command."""

    def __init__(self, earlier: Callable[[str], str | None] | None) -> None:
        self._earlier = earlier
        self._found: dict[tuple[str, str], frozenset[str] | None] = {}
        self._neutral: dict[tuple[str, str], bool] = {}

    def since(self, text: str, tree: ast.Module | None, digest: str) -> frozenset[str] | None:
        """The names that may define differently in ``text`` (parsed: ``tree``) than in the
        text whose bytes had ``digest``; None when that text is not known."""
        key = (text, digest)
        if key not in self._found:
            old = self._earlier(digest) if self._earlier is not None and digest else None
            found = None if old is None or tree is None else edited_names(old, text, tree)
            self._found[key] = found
        return self._found[key]

    def neutral(self, text: str, tree: ast.Module | None, digest: str) -> bool:
        """Whether ``text`` (parsed: ``tree``) differs from the text whose bytes had
        ``digest`` in comments, blank lines and layout only (see ``neutral``); False when
        that text is not known."""
        key = (text, digest)
        if key not in self._neutral:
            old = self._earlier(digest) if self._earlier is not None and digest else None
            self._neutral[key] = old is not None and tree is not None and neutral(old, text, tree)
        return self._neutral[key]
