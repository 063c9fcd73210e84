"""Reliability, safe loading: bytes from the cache never run code, and restores never write
outside the project root."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest

from incr import materializers
from incr.store import Store, UnsafePath, canonical_listing

from .conftest import MakeProject
from .reliability import _object_of, _pipeline


class _Evil:
    """Unpickling this creates ``marker``: proof that the bytes were unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


PICKLED = """\
    @step
    def make() -> set:
        mark("make")
        return {1, 2, 3}


    @step
    def use(values: set) -> int:
        mark("use")
        return len(values)


    @pipeline
    def safe():
        use(make())
    """


def test_a_pickle_that_does_not_match_its_digest_is_never_unpickled(
    make_project: MakeProject,
) -> None:
    project = make_project(_pipeline(PICKLED))
    project.repro()
    assert project.take_ran() == ["make", "use"]
    artifact = project.lock()["safe.make"].outputs["output"]
    assert artifact.kind == "pickle"
    marker = project.root.parent / "unpickled.marker"
    stored = _object_of(project, "safe.make")  # small: packed; a file beside it is read first
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(pickle.dumps(_Evil(marker)))
    project.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    result = project.repro()

    assert not marker.exists(), "a pickle that failed its digest check was loaded"
    assert project.take_ran() == ["make", "use"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(stored) in warnings[0], result.stderr
    assert project.lock()["safe.make"].outputs["output"] == artifact
    assert project.incr("verify").returncode == 0


@pytest.mark.parametrize("size", [10, 1_100_000])
def test_an_npy_object_never_runs_code(tmp_path: Path, size: int) -> None:
    import numpy as np

    marker = tmp_path / "unpickled.marker"
    array = np.zeros(size, dtype=object)
    array[0] = _Evil(marker)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    data = buffer.getvalue()

    with pytest.raises(ValueError):
        materializers.load("npy", data)

    assert not marker.exists()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store in ``tmp_path/root``, the project root of these tests."""
    (tmp_path / "root").mkdir()
    return Store(tmp_path / "root" / ".pipecache")


def _manifest(store: Store, files: dict[str, bytes]) -> str:
    listing = [[rel, store.put(data)] for rel, data in sorted(files.items())]
    return store.put(canonical_listing(listing))


@pytest.mark.parametrize("rel", ["../evil.txt", "sub/../../evil.txt", "ABSOLUTE"])
def test_restore_tree_refuses_a_manifest_naming_a_path_outside(store: Store, rel: str) -> None:
    root = store.dir.parent
    evil = root.parent / "evil.txt"
    rel = str(evil) if rel == "ABSOLUTE" else rel
    digest = _manifest(store, {"fine.txt": b"fine", rel: b"evil"})
    (root / "out").mkdir()
    (root / "out" / "keep.txt").write_bytes(b"mine")

    with pytest.raises(UnsafePath):
        store.restore_tree(digest, root / "out", root)

    assert not evil.exists()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["keep.txt"], "wrote or removed"


def test_restore_file_refuses_a_symlinked_folder_that_leads_outside(store: Store) -> None:
    root = store.dir.parent
    outside = root.parent / "outside"
    outside.mkdir()
    (root / "data").symlink_to(outside, target_is_directory=True)
    digest = store.put(b"payload")

    with pytest.raises(UnsafePath):
        store.restore_file(digest, root / "data" / "x.txt", root)

    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("existing", [True, False])
def test_restore_file_refuses_a_symlink_that_leads_outside(store: Store, existing: bool) -> None:
    root = store.dir.parent
    target = root.parent / "target.txt"
    if existing:
        target.write_bytes(b"theirs")
    (root / "out.txt").symlink_to(target)
    digest = store.put(b"payload")

    with pytest.raises(UnsafePath):
        store.restore_file(digest, root / "out.txt", root)

    assert target.read_bytes() == b"theirs" if existing else not target.exists()


def test_restore_tree_refuses_a_folder_symlinked_outside(store: Store) -> None:
    root = store.dir.parent
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "theirs.txt").write_bytes(b"theirs")
    (root / "out").symlink_to(outside, target_is_directory=True)
    digest = _manifest(store, {"fine.txt": b"fine"})

    with pytest.raises(UnsafePath):
        store.restore_tree(digest, root / "out", root)

    assert sorted(p.name for p in outside.iterdir()) == ["theirs.txt"]


def test_restore_inside_the_root_still_works(store: Store) -> None:
    root = store.dir.parent
    digest = _manifest(store, {"a.txt": b"a", "sub/b.txt": b"b"})

    store.restore_tree(digest, root / "out", root)

    assert (root / "out" / "a.txt").read_bytes() == b"a"
    assert (root / "out" / "sub" / "b.txt").read_bytes() == b"b"
