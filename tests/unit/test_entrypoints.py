"""Entry points remembered in the cache: reused while sys.path's folders stay as they were,
asked again when a distribution appears in one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from incr import entrypoints

GROUP = "incr.test-points"


def _dist(site: Path, name: str, points: str) -> Path:
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{points}\n")
    return dist


def _zipped(where: Path) -> Path:
    """A zip file holding a module (no distribution): a ``sys.path`` entry that only
    ``importlib.metadata`` reads."""
    import zipfile

    path = where / "zipped.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("zipped_module.py", "")
    return path


@pytest.fixture
def remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    project = tmp_path / "project"
    (project / ".pipecache").mkdir(parents=True)
    path = project / ".pipecache" / "entrypoints.json"
    entrypoints.remember_in(path, project)
    yield path
    entrypoints.remember_in(None)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on ``sys.path`` holding one distribution, ``demo_one``, with one entry point of
    GROUP: ``one = demo_one:Thing``."""
    folder = tmp_path / "site"
    _dist(folder, "demo_one", "one = demo_one:Thing")
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_an_answer_is_remembered_and_reused_while_the_folders_stay(
    remembered: Path, site: Path
) -> None:
    assert entrypoints.declared(GROUP) == [("one", "demo_one:Thing")]
    saved = json.loads(remembered.read_text())
    assert saved["groups"][GROUP] == [["one", "demo_one:Thing"]]

    # Reused: what the file says is the answer while the key holds.
    saved["groups"][GROUP] = [["kept", "demo_kept:Thing"]]
    remembered.write_text(json.dumps(saved))
    assert entrypoints.declared(GROUP) == [("kept", "demo_kept:Thing")]

    # A distribution installed beside it changes the folder's time: asked again.
    before = os.stat(site).st_mtime_ns
    _dist(site, "demo_two", "two = demo_two:Other")
    os.utime(site, ns=(before + 10**9, before + 10**9))
    assert entrypoints.declared(GROUP) == [("one", "demo_one:Thing"), ("two", "demo_two:Other")]


def test_a_folder_of_the_project_is_keyed_by_its_metadata_files(
    remembered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = remembered.parent.parent / "src"
    dist = _dist(src, "demo_src", "one = demo_src:Thing")
    monkeypatch.syspath_prepend(str(src))
    assert entrypoints.declared(GROUP) == [("one", "demo_src:Thing")]

    # A lockfile written beside it moves the folder's time, not the key.
    saved = remembered.read_text()
    (src / "scratch.txt").write_text("x")
    assert entrypoints.declared(GROUP) == [("one", "demo_src:Thing")]
    assert remembered.read_text() == saved

    # Its entry points rewritten in place (same folder listing): asked again.
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\none = demo_src:Changed\n")
    assert entrypoints.declared(GROUP) == [("one", "demo_src:Changed")]


def test_without_a_place_nothing_is_written(tmp_path: Path) -> None:
    entrypoints.remember_in(None)
    assert isinstance(entrypoints.declared(GROUP), list)
    gone = tmp_path / "no-cache" / "entrypoints.json"
    entrypoints.remember_in(gone, tmp_path)
    try:
        entrypoints.declared(GROUP)  # the cache folder does not exist: asked, not written
    finally:
        entrypoints.remember_in(None)
    assert not gone.parent.exists()


def test_load_follows_module_and_attributes_and_ignores_extras() -> None:
    assert entrypoints.load("os.path:join") is os.path.join
    assert entrypoints.load("os:path.join [extra]") is os.path.join
    assert entrypoints.load("sys") is sys


def test_one_reading_answers_every_group(
    remembered: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata as metadata

    (site / "demo_one-0.1.dist-info" / "entry_points.txt").write_text(
        f"[{GROUP}]\none = demo_one:Thing\n\n[{GROUP}.other]\nx = demo_one:X\n"
    )
    monkeypatch.syspath_prepend(str(_zipped(site.parent)))  # only importlib.metadata reads it
    readings: list[dict[str, str]] = []

    def counted(**params: str) -> object:
        readings.append(params)
        return metadata.entry_points(**params)

    assert entrypoints.declared(GROUP, counted) == [("one", "demo_one:Thing")]
    assert entrypoints.declared(f"{GROUP}.other", counted) == [("x", "demo_one:X")]
    assert entrypoints.declared("incr.test-no-such-group", counted) == []
    assert readings == [{}]  # one reading of every distribution, for every group
    saved = json.loads(remembered.read_text())
    assert saved["groups"][f"{GROUP}.other"] == [["x", "demo_one:X"]]


def test_every_group_holds_what_a_select_of_that_group_gives(site: Path) -> None:
    """One pass over the entry points groups them as ``select(group=...)`` does, duplicates
    between distributions once, and without the deprecation warning of Python 3.11's dict."""
    import importlib.metadata as metadata
    import warnings

    _dist(site, "demo_two", "one = demo_one:Thing\nsecond = demo_two:Other")
    found = metadata.entry_points()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for group in found.groups:
            wanted = sorted({(p.name, p.value) for p in found.select(group=group)})
            assert entrypoints.declared(group) == wanted
        assert entrypoints.declared(GROUP) == [
            ("one", "demo_one:Thing"),
            ("second", "demo_two:Other"),
        ]


def test_answering_stands_in_for_entry_points_only_meanwhile(remembered: Path, site: Path) -> None:
    import importlib.metadata as metadata

    entrypoints.declared(GROUP)
    saved = json.loads(remembered.read_text())
    saved["groups"][GROUP] = [["kept", "demo_kept:Thing"]]
    remembered.write_text(json.dumps(saved))
    asked = metadata.entry_points

    with entrypoints.answering():
        found = metadata.entry_points(group=GROUP)
        every = metadata.entry_points()  # any other call goes to importlib.metadata

    assert [(p.name, p.value, p.group) for p in found] == [("kept", "demo_kept:Thing", GROUP)]
    assert GROUP in every.groups
    assert metadata.entry_points is asked


def test_the_metadata_folders_read_directly_give_what_importlib_metadata_gives(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read without ``importlib.metadata`` where it can be, the answer is still its own: one
    distribution of each normalised name (the first along ``sys.path``), sections, comments,
    blank lines, spaces around ``=``, an ``.egg-info`` file with no entry points. A zip on
    ``sys.path``, a finder of distributions of its own, or a line it cannot read: asked."""
    import importlib.metadata as metadata

    entrypoints.remember_in(None)  # nothing remembered by an earlier test answers for them
    _dist(site, "Demo.Two", "two = demo_two:Other")
    shadow = tmp_path / "later"
    _dist(shadow, "demo_two", "shadowed = demo_two:Shadow")  # the same name, later on sys.path
    (shadow / "demo_three-1.0.dist-info").mkdir()
    (shadow / "demo_three-1.0.dist-info" / "entry_points.txt").write_text(
        f"# a comment\n\n  [{GROUP}]  \n three=demo_three:T \nodd name = demo_three:Odd\n"
    )
    (shadow / "old_style-1.0.egg-info").write_text("Metadata-Version: 1.0\n")  # a file
    monkeypatch.setattr(sys, "path", [*sys.path, str(shadow)])
    asked: list[object] = []

    def counted(**params: str) -> object:
        asked.append(params)
        return metadata.entry_points(**params)

    def every_group() -> dict[str, list[tuple[str, str]]]:
        found = metadata.entry_points()
        return {g: sorted({(p.name, p.value) for p in found.select(group=g)}) for g in found.groups}

    wanted = every_group()
    assert wanted[GROUP] == [
        ("odd name", "demo_three:Odd"),
        ("one", "demo_one:Thing"),
        ("three", "demo_three:T"),
        ("two", "demo_two:Other"),
    ]
    assert {g: entrypoints.declared(g) for g in wanted} == wanted
    assert entrypoints.declared(GROUP, counted) == wanted[GROUP]
    assert asked == []  # read directly

    class Finder:
        def find_distributions(self, context: object = None) -> Iterator[object]:
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    assert entrypoints.declared(GROUP, counted) == wanted[GROUP]
    assert asked == [{}]  # a finder of distributions of its own: importlib.metadata is asked

    monkeypatch.setattr(sys, "meta_path", sys.meta_path[1:])
    monkeypatch.setattr(sys, "path", [*sys.path, tmp_path / "no-such-folder"])
    assert entrypoints.declared(GROUP, counted) == wanted[GROUP]
    assert asked == [{}, {}]  # a path object on sys.path: importlib.metadata is asked

    monkeypatch.setattr(sys, "path", [*sys.path[:-1], str(_zipped(tmp_path))])
    assert entrypoints.declared(GROUP, counted) == wanted[GROUP]
    assert asked == [{}, {}, {}]  # a zip on sys.path: importlib.metadata is asked

    # A line importlib.metadata cannot read: it is asked, and says so itself.
    (shadow / "demo_three-1.0.dist-info" / "entry_points.txt").write_text(f"[{GROUP}]\nno pair\n")
    with pytest.raises(Exception) as theirs:
        metadata.entry_points()
    with pytest.raises(Exception) as ours:
        entrypoints.declared(GROUP)
    assert type(ours.value) is type(theirs.value)


def test_the_importlib_metadata_backport_is_read_alike() -> None:
    """Importing the backport ``importlib_metadata`` (some packages do) puts its own finder in
    place of the standard library's: the folders are still read directly, to the same answer.
    In a process of its own: the backport changes the standard library for good."""
    pytest.importorskip("importlib_metadata")
    code = """if True:
        import importlib.metadata as metadata
        import importlib_metadata
        from incr import entrypoints

        asked = []
        found = metadata.entry_points()
        for group in found.groups:
            wanted = sorted({(p.name, p.value) for p in found.select(group=group)})
            assert entrypoints.declared(group, lambda **p: asked.append(p)) == wanted, group
        assert asked == [], asked
        print(len(found.groups))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 5
