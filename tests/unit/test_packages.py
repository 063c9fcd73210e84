"""incr/packages.py: remembered versions of third-party packages, and when they are asked again."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from incr.packages import PackageVersions


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution ``incrfakepkg`` 1.0 in a folder of its own on ``sys.path``."""
    site = tmp_path / "site"
    (site / "incrfakepkg").mkdir(parents=True)
    (site / "incrfakepkg" / "__init__.py").write_text("")
    info = site / "incrfakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: incrfakepkg\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("incrfakepkg\n")
    (info / "RECORD").write_text("incrfakepkg/__init__.py,,\n")
    monkeypatch.syspath_prepend(str(site))
    return info / "METADATA"


def test_a_metadata_file_rewritten_with_its_old_time_is_read_again(tmp_path, installed) -> None:
    cache = tmp_path / "packages.json"
    first = PackageVersions(cache, tmp_path / "project")
    assert first.lookup("incrfakepkg") == ("incrfakepkg", "1.0")
    first.save()

    before = installed.stat()
    time.sleep(0.01)
    installed.write_text(installed.read_text().replace("1.0", "2.0"))  # same size
    os.utime(installed, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old time put back
    folders = [os.stat(p).st_mtime_ns for p in sys.path if os.path.isdir(p)]

    again = PackageVersions(cache, tmp_path / "project")
    assert [os.stat(p).st_mtime_ns for p in sys.path if os.path.isdir(p)] == folders
    assert again.lookup("incrfakepkg") == ("incrfakepkg", "2.0")
