"""Set-up shared by both tiers."""

from __future__ import annotations

import compileall
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import incr


def pytest_configure(config: pytest.Config) -> None:
    """Compile incr's own modules once, before any worker starts.

    The functional tests run ``python -m incr.cli`` with ``PYTHONDONTWRITEBYTECODE=1`` (their
    projects are edited within a second, see ``functional/conftest.py``), and so may the shell
    that starts the suite. On a fresh clone nothing would then write incr's ``.pyc`` files, and
    every command would compile about a hundred modules again (some 90 ms), which a user's
    installed incr does once.
    """
    if not hasattr(config, "workerinput"):  # the controller (or a run without workers)
        compileall.compile_dir(Path(incr.__file__).parent, quiet=1)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """Let pytest keep the test modules it rewrites (its assertion messages) in ``__pycache__``,
    even where ``PYTHONDONTWRITEBYTECODE`` is set: rewriting some 120 modules again costs each
    worker about 5 s of every run. Only while collecting: the projects the tests import later
    are edited within a second and must never be read from bytecode."""
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        return (yield)
    finally:
        sys.dont_write_bytecode = saved
