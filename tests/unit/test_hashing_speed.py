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


def reference_folder_digest(folder):
    """The folder digest's definition, written the slow and obvious way."""
    listing = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                with open(full, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                continue
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            listing.append([rel, blake3(data).hexdigest()])
    text = json.dumps(listing, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "dir:" + blake3(text.encode()).hexdigest()


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
def test_folder_digest_treats_links_like_os_walk(tmp_path):
    folder = make_tree(tmp_path)
    write(tmp_path, "outside/o.txt", b"o")
    os.symlink(tmp_path / "outside", folder / "linked_dir")  # listed as a folder, not walked
    os.symlink(tmp_path / "outside/o.txt", folder / "linked_file")  # a file: its target's bytes
    os.symlink(tmp_path / "nowhere", folder / "broken")  # skipped
    cache = StatCache(tmp_path, None)
    assert cache.digest("data/set") == reference_folder_digest(folder)
    assert "data/set/linked_dir/o.txt" not in cache.entries
    assert "data/set/linked_file" in cache.entries


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
