"""Existence tests a step makes: ``os.stat``, ``os.lstat``, ``os.access`` and ``os.readlink``
(a link's target), wrapped while a
read recorder is active (``incr.reads``), since they raise no audit event. Each tells the
recorder the path and what it found (``tested``): ``os.path.exists``, ``isfile``, ``isdir`` and
``Path.exists``, ``is_file``, ``is_dir`` go through them. A call relative to a folder descriptor
(``dir_fd``) is not recorded, nor what ``os.access`` says of permissions."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol


class Tester(Protocol):
    def tested(self, path: Any, result: os.stat_result | None, frame: Any) -> None: ...


_REAL_STAT, _REAL_LSTAT, _REAL_ACCESS = os.stat, os.lstat, os.access


def _nobody() -> Tester | None:
    return None


#: The recorder to tell, or None (``install``).
_active: Callable[[], Tester | None] = _nobody
#: Told too, while a recorder is: what project modules test as they are imported
#: (``incr.importreads``).
also: tuple[Tester, ...] = ()


def install(active: Callable[[], Tester | None]) -> None:
    """Tell ``active()`` (when not None) about the tests made while the wrappers are in."""
    global _active
    _active = active


def _checked(real: Callable[..., os.stat_result], path: Any, *args: Any, **kw: Any) -> Any:
    """``os.stat`` or ``os.lstat`` (``real``), telling the active recorder what it found."""
    recorder = _active()
    if recorder is None or args or kw.get("dir_fd") is not None:
        return real(path, *args, **kw)
    return _tested(recorder, real, path, kw, sys._getframe(1))


def _tested(recorder: Tester, real: Callable[..., Any], path: Any, kw: Any, at: Any) -> Any:
    try:
        result = real(path, **kw)
    except (FileNotFoundError, NotADirectoryError):
        for tester in (recorder, *also):
            tester.tested(path, None, at)
        raise
    for tester in (recorder, *also):
        tester.tested(path, result, at)
    return result


def _access(path: Any, mode: int, *args: Any, **kw: Any) -> bool:
    """``os.access``: an existence test too (what it says of permissions is not recorded)."""
    recorder = _active()
    if recorder is not None and not args and kw.get("dir_fd") is None:
        with contextlib.suppress(OSError):
            _tested(recorder, _REAL_STAT, path, {}, sys._getframe(1))
    return _REAL_ACCESS(path, mode, *args, **kw)


def _readlink(path: Any, *args: Any, **kw: Any) -> Any:
    """``os.readlink`` (``Path.readlink()``): the link looked at, as an ``lstat`` finds it
    (its target counts: ``pathfacts.tested_value``)."""
    recorder = _active()
    if recorder is not None and not args and kw.get("dir_fd") is None:
        with contextlib.suppress(OSError):
            _tested(recorder, _REAL_LSTAT, path, {}, sys._getframe(1))
    return _REAL_READLINK(path, *args, **kw)


_REAL_READLINK = os.readlink
_WRAPPED: dict[str, Callable[..., Any]] = {"access": _access, "readlink": _readlink}
_WRAPPED["stat"] = functools.partial(_checked, _REAL_STAT)
_WRAPPED["lstat"] = functools.partial(_checked, _REAL_LSTAT)
_REAL = {name: getattr(os, name) for name in _WRAPPED}


def wrap() -> None:
    """Put the wrappers in ``os``."""
    for name, function in _WRAPPED.items():
        setattr(os, name, function)


def unwrap() -> None:
    """Put the real functions back."""
    for name, function in _REAL.items():
        setattr(os, name, function)
