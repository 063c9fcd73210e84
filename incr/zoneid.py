"""The machine's time zone, as the ``tz`` code part of a step whose code asks for local time
(``incr.localclock``) records it: ``Asia/Tokyo +0900``, ``Europe/Paris +0100/+0200``.

The zone is ``TZ`` when it is set (``:Europe/Paris`` as ``Europe/Paris``), else what
``/etc/localtime`` is: the zone its link names (``/usr/share/zoneinfo/Europe/Paris``), or the
digest of its bytes (a copied file), or ``UTC`` when there is none (as the C library takes
it); ``TZ`` set empty is UTC too, and the names of UTC (``Etc/UTC``, ``GMT``...) are ``UTC``.
With it go the offsets from UTC this process has (``time.timezone``, ``time.altzone``). Two
names of one zone on two machines differ (a needless run, never a stale result); one zone on
one machine is always the same value.
"""

from __future__ import annotations

import functools
import os
import time

from incr import localclock
from incr.digests import digest_bytes

#: Where the C library reads the zone when ``TZ`` is unset.
LOCALTIME = "/etc/localtime"
#: The names of UTC (``TZ=UTC``, ``/etc/localtime`` a link to ``Etc/UTC``): one zone.
_UTC = frozenset({"UTC", "UCT", "GMT", "Universal", "Zulu", "UTC0", "GMT0", "Greenwich"})
#: The key of the code part.
PART = localclock.PART


@functools.cache
def zone() -> str:
    """``NAME OFFSETS`` of the zone this process runs in."""
    given = os.environ.get("TZ")
    name = "UTC" if given == "" else (given or "").removeprefix(":") or _system_zone()
    name = "UTC" if name.removeprefix("Etc/") in _UTC else name
    offsets = [_offset(-time.timezone)]
    if time.daylight:
        offsets.append(_offset(-time.altzone))
    return f"{name} {'/'.join(offsets)}"


def _system_zone() -> str:
    target = os.path.realpath(LOCALTIME)  # a link: Europe/Paris in .../zoneinfo/Europe/Paris
    if "zoneinfo/" in target:
        return target.rpartition("zoneinfo/")[2]
    try:
        with open(LOCALTIME, "rb") as fh:
            return f"localtime:{digest_bytes(fh.read(), 12)}"
    except OSError:
        return "UTC"


def _offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}{rest:02d}"
