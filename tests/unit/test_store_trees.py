"""incr/store.py: folder outputs stored and restored as they were made (modes, links, empty
folders), files a restore finds that the record does not hold moved aside, never deleted."""

import json
import os
import stat

import pytest
from blake3 import blake3

from incr import lockfile
from incr.hashing import StatCache
from incr.model import Artifact
from incr.storage import FILE_MODE
from incr.store import ObjectMissing, Store, UnsafePath

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes and symlinks")


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


@pytest.fixture
def store(root):
    return Store(root / ".pipecache")


def write(path, data=b"x", mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def made(root):
    """A folder output with everything a manifest records."""
    out = root / "out"
    write(out / "a.bin", b"a")
    write(out / "run.sh", b"#!/bin/sh\n", 0o755)
    write(out / "private.key", b"secret", 0o600)
    write(out / "sub/c.txt", b"c")
    (out / "empty").mkdir()
    (out / "latest").symlink_to("a.bin")
    (out / "up").symlink_to("../data.txt")
    (out / "folder_link").symlink_to("sub")
    write(root / "data.txt", b"data")
    return out


def snapshot(folder):
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(mode):
                found[rel] = ("dir", stat.S_IMODE(mode))
            else:
                with open(path, "rb") as fh:
                    found[rel] = ("file", fh.read(), stat.S_IMODE(mode))
    return found


def test_a_folder_round_trips_with_modes_links_and_empty_folders(store, root):
    out = made(root)
    before = snapshot(out)
    digest = store.put_tree(out, root)
    assert StatCache(root, None).digest("out") == "dir:" + digest
    for path in sorted(out.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()

    moved = store.restore_tree(digest, out, root)

    assert moved == []
    assert snapshot(out) == before
    assert StatCache(root, None).digest("out") == "dir:" + digest


def test_a_folder_gone_entirely_is_remade_even_when_empty(store, root):
    (root / "out").mkdir()
    digest = store.put_tree(root / "out", root)
    (root / "out").rmdir()
    store.restore_tree(digest, root / "out", root)
    assert (root / "out").is_dir()


def test_files_the_record_does_not_hold_are_moved_aside(store, root):
    out = made(root)
    before = snapshot(out)
    digest = store.put_tree(out, root)
    write(out / "notes.txt", b"mine")
    write(out / "sub/extra/deep.txt", b"deep")
    (out / "sub/extra/empty").mkdir()
    (out / "my_link").symlink_to("a.bin")
    kept = root / ".pipecache" / "kept" / "now"

    moved = store.restore_tree(digest, out, root, kept)

    assert snapshot(out) == before
    assert sorted((os.path.relpath(a, root), os.path.relpath(b, kept)) for a, b in moved) == [
        ("out/my_link", "out/my_link"),
        ("out/notes.txt", "out/notes.txt"),
        ("out/sub/extra/deep.txt", "out/sub/extra/deep.txt"),
    ]
    assert (kept / "out/notes.txt").read_bytes() == b"mine"
    assert os.readlink(kept / "out/my_link") == "a.bin"


def test_a_file_moved_aside_twice_keeps_both(store, root):
    out = made(root)
    digest = store.put_tree(out, root)
    kept = root / "kept"
    for text in (b"first", b"second"):
        write(out / "notes.txt", text)
        store.restore_tree(digest, out, root, kept)
    assert (kept / "out/notes.txt").read_bytes() == b"first"
    assert (kept / "out/notes.txt.1").read_bytes() == b"second"


def test_things_of_the_wrong_kind_are_replaced_and_kept(store, root):
    out = made(root)
    before = snapshot(out)
    digest = store.put_tree(out, root)
    (out / "latest").unlink()
    write(out / "latest", b"a file where a link was")
    os.unlink(out / "a.bin")
    write(out / "a.bin/inside.txt", b"a folder where a file was")
    (out / "empty").rmdir()
    write(out / "empty", b"a file where a folder was")

    moved = store.restore_tree(digest, out, root, root / "kept")

    assert snapshot(out) == before
    assert sorted(os.path.relpath(a, out) for a, _ in moved) == [
        "a.bin/inside.txt",
        "empty",
        "latest",
    ]


def test_modes_are_put_right_without_rewriting_the_bytes(store, root):
    out = made(root)
    digest = store.put_tree(out, root)
    os.chmod(out / "run.sh", 0o644)
    os.chmod(out / "a.bin", 0o755)
    inode = os.stat(out / "run.sh").st_ino

    store.restore_tree(digest, out, root)

    assert stat.S_IMODE(os.stat(out / "run.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(out / "a.bin").st_mode) == FILE_MODE
    assert os.stat(out / "run.sh").st_ino == inode


def test_a_read_only_folder_is_restored_into_and_stays_read_only(store, root):
    out = root / "out"
    write(out / "locked/a.txt", b"a")
    os.chmod(out / "locked", 0o555)
    digest = store.put_tree(out, root)
    os.chmod(out / "locked", 0o755)
    (out / "locked/a.txt").unlink()
    os.chmod(out / "locked", 0o555)

    store.restore_tree(digest, out, root)

    assert (out / "locked/a.txt").read_bytes() == b"a"
    assert stat.S_IMODE(os.stat(out / "locked").st_mode) == 0o555
    os.chmod(out / "locked", 0o755)


def test_an_older_manifest_of_pairs_still_restores(store, root):
    pairs = [["a.txt", store.put(b"a")], ["sub/b.txt", store.put(b"b")]]
    digest = store.put(json.dumps(pairs, sort_keys=True, separators=(",", ":")).encode())
    write(root / "out/a.txt", b"a", 0o755)

    store.restore_tree(digest, root / "out", root)

    assert (root / "out/sub/b.txt").read_bytes() == b"b"
    assert stat.S_IMODE(os.stat(root / "out/a.txt").st_mode) == FILE_MODE
    assert store.manifest(digest) == dict(pairs)


def test_a_missing_object_changes_nothing(store, root):
    out = made(root)
    digest = store.put_tree(out, root)
    missing = store.manifest(digest)["sub/c.txt"]
    store.object_path(missing).unlink()
    write(out / "notes.txt", b"mine")
    (out / "a.bin").unlink()

    with pytest.raises(ObjectMissing):
        store.restore_tree(digest, out, root)

    assert (out / "notes.txt").read_bytes() == b"mine"
    assert not (out / "a.bin").exists()


def test_put_tree_refuses_a_link_out_of_the_project(store, root):
    outside = root.parent / "outside.txt"
    outside.write_bytes(b"theirs")
    write(root / "out/a.txt")
    (root / "out/escape").symlink_to(outside)
    with pytest.raises(UnsafePath, match=r"^out/escape is a symlink to .*outside the project$"):
        store.put_tree(root / "out", root)


def test_put_tree_without_a_root_keeps_links_inside_the_folder(store, root):
    write(root / "out/a.txt")
    (root / "out/up").symlink_to("../data.txt")
    with pytest.raises(UnsafePath, match=r"up is a symlink to \.\./data\.txt"):
        store.put_tree(root / "out")


@pytest.mark.parametrize("target", ["../../../evil", "/etc/passwd"])
def test_restore_tree_refuses_a_manifest_linking_out_before_changing_anything(store, root, target):
    manifest = [["fine.txt", store.put(b"fine")], ["evil", "link", target]]
    digest = store.put(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    write(root / "out/keep.txt", b"mine")

    with pytest.raises(UnsafePath):
        store.restore_tree(digest, root / "out", root)

    assert sorted(p.name for p in (root / "out").iterdir()) == ["keep.txt"]


def test_restore_file_gives_the_recorded_mode(store, root):
    digest = store.put(b"#!/bin/sh\n")
    store.restore_file(digest, root / "tool.sh", root, "x")
    store.restore_file(digest, root / "key", root, "600")
    assert os.access(root / "tool.sh", os.X_OK)
    assert stat.S_IMODE(os.stat(root / "key").st_mode) == 0o600


def test_a_file_artifact_carries_its_mode_through_the_lockfile():
    digest = blake3(b"x").hexdigest()
    artifact = Artifact("file", digest, mode="x")
    assert artifact.encode() == f"file:{digest}:x"
    assert Artifact.decode(artifact.encode()) == artifact
    assert Artifact.decode(f"file:{digest}") == Artifact("file", digest)
    text = lockfile.HEADER + f'schema = 1\n[steps."p.s"]\nfingerprint = "{"a" * 32}"\n'
    good = text + f'[steps."p.s".outputs]\n"bin/t.sh" = "file:{digest}:x"\n'
    assert lockfile.loads(good)["p.s"].outputs["bin/t.sh"] == artifact
    for bad in (f"file:{digest}:9", f"json:{digest}:x"):
        with pytest.raises(Exception, match="bad mode"):
            lockfile.loads(text + f'[steps."p.s".outputs]\nout = "{bad}"\n')
