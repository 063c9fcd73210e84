"""incr/hashing.py: the fast paths (memory-mapped threaded hashing, the scandir folder walk)
give the same digests as the plain definitions. Speed itself is measured by bench/, not here."""

import json
import os
import time

import numpy as np
import pytest
from blake3 import blake3

from incr.hashing import MMAP_THRESHOLD, StatCache, buffers_digest, file_digest
from incr.store import Store


def aged(path, seconds=10):
    then = time.time_ns() - seconds * 1_000_000_000
    os.utime(path, ns=(then, then), follow_symlinks=False)


def write(root, rel, data):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    aged(path)
    return path


def _bytes_digest(path):
    with open(path, "rb") as fh:
        return blake3(fh.read()).hexdigest()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode(path, is_dir):
    """An entry's mode: None when usual (0666 or, for folders, 0777 less the umask)."""
    bits = os.lstat(path).st_mode & 0o777
    if bits == (0o777 if is_dir else 0o666) & ~_umask():
        return None
    if not is_dir and bits == 0o777 & ~_umask():
        return "x"
    return f"{bits:03o}"


def reference_folder_digest(folder, root=None):
    """The folder digest's definition (incr/trees.py), written the slow and obvious way: in
    each folder its files and links by name, then each subfolder; modes when unusual; links
    as their target (absolute ones inside ``root`` made relative) and the digest of the file
    they lead to, or of the listing of the folder they lead to when it is outside the folders
    walked; empty folders."""

    def dumped(listing):
        return json.dumps(listing, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def visit(path, rel, listing, seen):
        names = sorted(os.listdir(path))
        subdirs = [n for n in names if os.path.isdir(os.path.join(path, n))]
        subdirs = [n for n in subdirs if not os.path.islink(os.path.join(path, n))]
        for name in names:
            full = os.path.join(path, name)
            if name in subdirs:
                continue
            if os.path.islink(full):
                target = os.readlink(full)
                if root is not None and target.startswith(str(root) + os.sep):
                    target = os.path.relpath(target, path)
                item = [rel + name, "link", target]
                real = os.path.realpath(full)
                if os.path.isfile(full):
                    item.append(_bytes_digest(full))
                elif os.path.isdir(full) and not any(
                    real == s or real.startswith(s + os.sep) for s in seen
                ):
                    held = []
                    visit(full, rel + name + "/", held, seen | {real})
                    item.append(blake3(dumped(held).encode()).hexdigest())
            elif os.path.isfile(full):
                item = [rel + name, _bytes_digest(full)]
                if _mode(full, False):
                    item.append(_mode(full, False))
            else:
                continue
            listing.append(item)
        for name in subdirs:
            full, start = os.path.join(path, name), len(listing)
            if _mode(full, True):
                listing.append([rel + name, "dir", _mode(full, True)])
            visit(full, rel + name + "/", listing, seen)
            if len(listing) == start:
                listing.append([rel + name, "dir"])

    listing = []
    if _mode(folder, True):
        listing.append([".", "dir", _mode(folder, True)])
    visit(folder, "", listing, frozenset({os.path.realpath(folder)}))
    return "dir:" + blake3(dumped(listing).encode()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, MMAP_THRESHOLD - 1, MMAP_THRESHOLD, 3 * MMAP_THRESHOLD + 7])
def test_file_digest_is_blake3_of_the_bytes_at_any_size(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = blake3(data).hexdigest()
    assert file_digest(path) == expected
    assert file_digest(str(path), size) == expected


def test_a_large_file_through_the_stat_cache(tmp_path):
    data = os.urandom(MMAP_THRESHOLD + 123)
    write(tmp_path, "data/big.bin", data)
    cache = StatCache(tmp_path, None)
    assert cache.digest("data/big.bin") == blake3(data).hexdigest()
    assert cache.digest("data/big.bin") == blake3(data).hexdigest()
    assert cache.files_read == 1


@pytest.mark.parametrize(
    "sizes", [[], [0], [5, 0, 7], [MMAP_THRESHOLD, 3], [1, 2 * MMAP_THRESHOLD]]
)
def test_buffers_digest_is_blake3_of_the_concatenation(sizes):
    rng = np.random.default_rng(len(sizes))
    parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    assert buffers_digest(parts) == blake3(b"".join(parts)).hexdigest()


def test_buffers_digest_hashes_the_bytes_of_any_buffer():
    array = np.arange(MMAP_THRESHOLD // 4, dtype=np.float64).reshape(-1, 8)
    assert buffers_digest([b"head", memoryview(array)]) == (
        blake3(b"head" + array.tobytes()).hexdigest()
    )


def make_tree(root):
    # Names chosen so that walk order differs from sorting full paths: "b.txt" comes before
    # "a/x.txt" in a walk (files first), after it in a sort.
    write(root, "data/set/b.txt", b"b")
    write(root, "data/set/a/x.txt", b"x")
    write(root, "data/set/a/z/deep.txt", b"deep")
    write(root, "data/set/a b/ü.txt", "ü".encode())
    write(root, "data/set/Z.txt", b"upper first")
    (root / "data/set/empty").mkdir()
    return root / "data/set"


def test_folder_digest_matches_its_definition(tmp_path):
    folder = make_tree(tmp_path)
    assert StatCache(tmp_path, None).digest("data/set") == reference_folder_digest(folder)


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_folder_digest_records_links_as_links(tmp_path):
    folder = make_tree(tmp_path)
    write(tmp_path, "outside/o.txt", b"o")
    os.symlink(tmp_path / "outside", folder / "linked_dir")  # its target and what it holds
    os.symlink(tmp_path / "outside/o.txt", folder / "linked_file")  # and its target's bytes
    os.symlink(tmp_path / "nowhere", folder / "broken")  # its target
    cache = StatCache(tmp_path, None)
    first = cache.digest("data/set")
    assert first == reference_folder_digest(folder, tmp_path)
    assert "data/set/linked_file" in cache.entries
    links = {e.path: e for e in cache.listing("data/set") if e.kind == "link"}
    assert links["linked_file"].target == "../../outside/o.txt"  # relative: no absolute path
    assert links["linked_file"].digest == blake3(b"o").hexdigest()
    assert (links["broken"].target, links["broken"].digest) == ("../../nowhere", "")
    write(tmp_path, "outside/o.txt", b"other")  # what a link leads to is part of the digest
    assert StatCache(tmp_path, None).digest("data/set") != first


def test_folder_digest_keys_files_by_their_path_from_the_root(tmp_path):
    make_tree(tmp_path)
    cache = StatCache(tmp_path, None)
    first = cache.digest("data/set/")
    assert sorted(cache.entries) == [
        "data/set/Z.txt",
        "data/set/a b/ü.txt",
        "data/set/a/x.txt",
        "data/set/a/z/deep.txt",
        "data/set/b.txt",
    ]
    assert cache.digest("./data/set") == first
    assert cache.digest("data/set/a/x.txt") == blake3(b"x").hexdigest()
    assert cache.files_read == 5  # every file read once, whichever way it was named


def test_folder_digest_of_the_root_itself(tmp_path):
    write(tmp_path, "a.txt", b"a")
    write(tmp_path, "sub/b.txt", b"b")
    cache = StatCache(tmp_path, None)
    assert cache.digest(".") == reference_folder_digest(tmp_path)
    assert sorted(cache.entries) == ["a.txt", "sub/b.txt"]


def test_folder_digest_equals_the_put_tree_manifest(tmp_path):
    folder = make_tree(tmp_path)
    write(tmp_path, "data/set/a/big.bin", os.urandom(MMAP_THRESHOLD + 1))
    manifest = Store(tmp_path / ".pipecache").put_tree(folder)
    assert StatCache(tmp_path, None).digest("data/set") == "dir:" + manifest


def test_an_unchanged_folder_of_many_files_is_not_read_again(tmp_path):
    for i in range(2000):
        write(tmp_path, f"data/many/d{i % 20:02}/f{i:04}.txt", str(i).encode())
    cache_file = tmp_path / ".pipecache" / "stat.json"
    cache = StatCache(tmp_path, cache_file)
    first = cache.digest("data/many")
    assert cache.files_read == 2000
    cache.save()
    again = StatCache(tmp_path, cache_file)
    assert again.digest("data/many") == first
    assert again.files_read == 0
    assert not again.dirty
    write(tmp_path, "data/many/d07/f0007.txt", b"changed")
    assert again.digest("data/many") != first
    assert again.files_read == 1
