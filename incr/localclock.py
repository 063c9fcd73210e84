"""Code that asks for local time: what it computes depends on the machine's time zone (``TZ``,
or ``/etc/localtime`` when it is unset), which no file of the project holds.

``datetime.fromtimestamp(os.path.getmtime(path)).strftime("%H:%M")``, ``time.localtime(ts)``,
``time.strftime("%Y-%m-%d %H")``, ``datetime.now().astimezone()``, dateutil's ``tzlocal()``,
``tz_localize("local")``: a step whose code (or a project function it calls) makes such a call
counts by the zone it runs in (the ``tz`` code part, ``incr.zoneid``), so that a laptop in one
zone and CI in another do not reuse each other's result. The same calls given a zone
(``datetime.now(timezone.utc)``, ``fromtimestamp(ts, tz)``, ``astimezone(tz)``) and the UTC
ones (``time.gmtime``, ``utcfromtimestamp``) ask for none.

Pure: reads a definition's walked syntax tree. Calls are known by their names (no import is
resolved): ``time.localtime`` and a bare ``localtime`` alike. A naive datetime's
``.timestamp()`` (local too) is not seen: the same call on an aware one is common.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable

#: The beginning of a note (``incr.codeindex`` keeps them with a closure's run-time lookups)
#: saying a definition asks for local time; never shown as a note (``is_local_time``).
MARK = "local time: "
#: ...and of one whose call also reads the clock (``datetime.now()``, ``time.strftime(fmt)``):
#: at a module's top level such a value counts by its value (``incr.volatile``).
CLOCK_MARK = "local time, clock: "

#: The code part holding the zone a step that asks for local time ran in (``incr.zoneid``).
PART = "tz"

#: Functions asking for local time whatever their arguments (``time.localtime(ts)``).
_ALWAYS = frozenset({"localtime", "mktime", "tzset", "tzlocal", "get_localzone"})
_ALWAYS |= {"get_localzone_name", "reload_localzone"}
#: Functions asking for it when given no zone: (how many positional arguments a zone is
#: given in at the most, the keyword naming it).
_NO_ZONE = {"fromtimestamp": (1, "tz"), "astimezone": (0, "tz")}
#: Those also reading the clock, given no zone: ``now()``, ``today()`` (a local date).
_CLOCK_NO_ZONE = {"now": (0, "tz"), "today": (-1, "")}
#: Attributes of ``time`` describing the local zone.
_ZONE_ATTRS = frozenset({"timezone", "altzone", "tzname", "daylight"})
#: pandas' methods taking a zone by name (``"local"``: the machine's).
_ZONE_BY_NAME = frozenset({"tz_localize", "tz_convert"})


_NAMES = re.compile(
    r"\b(?:"
    + "|".join(sorted({*_ALWAYS, *_NO_ZONE, *_CLOCK_NO_ZONE, *_ZONE_ATTRS, *_ZONE_BY_NAME}))
    + r"|ctime|asctime|strftime)\b"
)


#: Parts of those names one of which any such text holds: searched first (a substring search
#: is ten times faster than the pattern over a 700 KB module).
_WORDS = ("time", "now", "today", "tz", "daylight", "localzone")


@functools.lru_cache(maxsize=256)
def may_ask(text: str) -> bool:
    """Whether a module's text names a call or attribute ``local_time_calls`` looks for (a
    module that does not is never walked for them)."""
    return any(word in text for word in _WORDS) and _NAMES.search(text) is not None


def local_time_calls(nodes: Iterable[ast.AST]) -> list[str]:
    """The places of the walked ``nodes`` that ask for local time, as notes
    (``local time: datetime.fromtimestamp() (line 12)``); empty for most definitions."""
    found = []
    for node in nodes:
        if isinstance(node, ast.Attribute):
            if node.attr in _ZONE_ATTRS and _last(node.value) == "time":
                found.append(f"{MARK}time.{node.attr} (line {node.lineno})")
            continue
        if not isinstance(node, ast.Call):
            continue
        mark = _asks(node)
        if mark:
            found.append(f"{mark}{ast.unparse(node.func)}() (line {node.lineno})")
    return found


def is_local_time(note: str) -> bool:
    """Whether a closure's note (``CodeClosure.dynamic``) says its code asks for local time."""
    return note.startswith((MARK, CLOCK_MARK))


def reads_clock(note: str) -> bool:
    """Whether such a note is of a call that also reads the clock (``datetime.now()``)."""
    return note.startswith(CLOCK_MARK)


def zone_change(old: str, new: str) -> str:
    """How the ``tz`` code part changed, as a reason's detail: ``UTC -> Asia/Tokyo``; with
    the offsets when the names are the same (``Europe/Paris +0100 -> Europe/Paris +0100/+0200``:
    the zone's rules changed)."""
    names = [v.rpartition(" ")[0] or v for v in (old, new)]
    return " -> ".join(names if names[0] != names[1] else (old, new))


def used(zone: str | None) -> str:
    """A code change's words for a ``tz`` part that came (``zone``) or went (None)."""
    if zone is None:
        return "stopped using local time"
    return f"started using local time ({zone.rpartition(' ')[0] or zone})"


def _asks(call: ast.Call) -> str:
    """The mark of a call asking for local time; "" for any other call."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    on_time = isinstance(func, ast.Attribute) and _last(func.value) == "time"
    bare = isinstance(func, ast.Name)
    if name in _ALWAYS:
        return MARK if name != "localtime" or call.args else CLOCK_MARK
    if name in _NO_ZONE or name in _CLOCK_NO_ZONE:
        most, keyword = _NO_ZONE.get(name) or _CLOCK_NO_ZONE[name]
        if len(call.args) > most >= 0 and not _none(call.args[most]):
            return ""
        if any(k.arg == keyword and not _none(k.value) for k in call.keywords if keyword):
            return ""
        return CLOCK_MARK if name in _CLOCK_NO_ZONE else MARK
    if name in _ZONE_BY_NAME:
        given = [*call.args, *(k.value for k in call.keywords)]
        return MARK if any(_text(v) == "local" for v in given) else ""
    if not (on_time or bare):
        return ""  # ``d.strftime(...)``, ``d.ctime()``: the zone of ``d``, not the machine's
    if name == "ctime":  # time.ctime(ts): the local time of ts; time.ctime(): of now
        return MARK if call.args else CLOCK_MARK
    if name == "asctime":  # time.asctime(t) formats t; time.asctime(): the local time now
        return "" if call.args else CLOCK_MARK
    if name == "strftime":
        if len(call.args) < 2:
            return CLOCK_MARK  # time.strftime("%H:%M"): the local time now
        fmt = _text(call.args[0])
        return MARK if fmt is None or "%Z" in fmt or "%z" in fmt else ""
    return ""


def _last(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def _none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
