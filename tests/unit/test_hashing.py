"""incr/hashing.py: file and folder digests through the stat cache."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from blake3 import blake3

from incr.hashing import MISSING, StatCache, file_digest


def age(path, seconds=10):
    """Move the file's mtime into the past so the racy-window rule lets the cache trust it."""
    then = time.time_ns() - seconds * 1_000_000_000
    os.utime(path, ns=(then, then))
    return then


@pytest.fixture
def root(tmp_path):
    (tmp_path / "data").mkdir()
    return tmp_path


def write(root, rel, data, aged=True, seconds=10):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if aged:
        age(path, seconds)
    return path


def test_digest_of_a_file(root):
    path = write(root, "data/raw.csv", b"city,temp\nOslo,3\n")
    cache = StatCache(root, None)
    assert cache.digest("data/raw.csv") == blake3(path.read_bytes()).hexdigest()
    assert file_digest(path) == cache.digest("data/raw.csv")


def test_an_unchanged_file_is_not_read_again(root):
    write(root, "data/raw.csv", b"a,b\n")
    cache = StatCache(root, None)
    first = cache.digest("data/raw.csv")
    assert cache.files_read == 1
    for _ in range(3):
        assert cache.digest("data/raw.csv") == first
    assert cache.files_read == 1


def test_a_fresh_file_is_not_trusted_yet(root):
    write(root, "data/raw.csv", b"a,b\n", aged=False)
    cache = StatCache(root, None)
    cache.digest("data/raw.csv")
    cache.digest("data/raw.csv")
    assert cache.files_read == 2  # within the racy window: read every time
    assert "data/raw.csv" not in cache.entries


def test_a_touched_file_keeps_its_digest_and_is_read_once(root):
    path = write(root, "data/raw.csv", b"a,b\n")
    cache = StatCache(root, None)
    before = cache.digest("data/raw.csv")
    age(path, seconds=20)  # touch: a new mtime, the same bytes
    assert cache.digest("data/raw.csv") == before
    assert cache.files_read == 2
    assert cache.digest("data/raw.csv") == before
    assert cache.files_read == 2  # the new stat is remembered


def test_changed_bytes_change_the_digest(root):
    path = write(root, "data/raw.csv", b"a,b\n1,2\n")
    cache = StatCache(root, None)
    before = cache.digest("data/raw.csv")
    path.write_bytes(b"a,b\n1,3\n")  # same size
    age(path, seconds=3)
    after = cache.digest("data/raw.csv")
    assert after != before
    assert after == blake3(b"a,b\n1,3\n").hexdigest()


def test_a_fresh_change_drops_the_cached_entry(root):
    path = write(root, "data/raw.csv", b"one")
    cache = StatCache(root, None)
    cache.digest("data/raw.csv")
    assert "data/raw.csv" in cache.entries
    path.write_bytes(b"two")
    assert cache.digest("data/raw.csv") == blake3(b"two").hexdigest()
    assert "data/raw.csv" not in cache.entries


def test_a_missing_path(root):
    cache = StatCache(root, None)
    assert cache.digest("data/nope.csv") == MISSING
    assert cache.digest("nope/deeper/file") == MISSING
    assert cache.files_read == 0


def test_a_path_below_a_file_is_missing(root):
    write(root, "data/raw.csv", b"x")
    assert StatCache(root, None).digest("data/raw.csv/inner") == MISSING


def test_a_file_that_disappears_is_missing(root):
    path = write(root, "data/raw.csv", b"x")
    cache = StatCache(root, None)
    cache.digest("data/raw.csv")
    path.unlink()
    assert cache.digest("data/raw.csv") == MISSING


# --------------------------------------------------------------------------- folders


def make_folder(root):
    write(root, "data/set/a.txt", b"a")
    write(root, "data/set/sub/b.txt", b"b")
    return StatCache(root, None)


def test_folder_digest_is_stable_and_reads_each_file_once(root):
    cache = make_folder(root)
    first = cache.digest("data/set")
    assert first.startswith("dir:")
    assert cache.files_read == 2
    assert cache.digest("data/set") == first
    assert cache.digest("data/set/") == first
    assert cache.files_read == 2


def test_folder_digest_changes_when_a_file_changes(root):
    cache = make_folder(root)
    before = cache.digest("data/set")
    write(root, "data/set/sub/b.txt", b"B", seconds=30)  # same size, another mtime
    assert cache.digest("data/set") != before


def test_folder_digest_changes_when_a_file_is_added_removed_or_renamed(root):
    cache = make_folder(root)
    before = cache.digest("data/set")
    write(root, "data/set/c.txt", b"c")
    added = cache.digest("data/set")
    assert added != before
    (root / "data/set/c.txt").unlink()
    assert cache.digest("data/set") == before
    (root / "data/set/a.txt").rename(root / "data/set/z.txt")
    assert cache.digest("data/set") not in (before, added)


def test_folder_digest_ignores_where_the_folder_is(tmp_path):
    for name in ("one", "two"):
        write(tmp_path, f"{name}/x/a.txt", b"a")
        write(tmp_path, f"{name}/x/b/c.txt", b"c")
    cache = StatCache(tmp_path, None)
    assert cache.digest("one/x") == cache.digest("two/x")


def test_an_empty_folder_is_not_missing(root):
    (root / "data/empty").mkdir()
    assert StatCache(root, None).digest("data/empty").startswith("dir:")


# --------------------------------------------------------------------------- the cache file


def test_save_and_load(root):
    write(root, "data/raw.csv", b"a,b\n")
    cache_file = root / ".pipecache" / "stat.json"
    cache = StatCache(root, cache_file)
    digest = cache.digest("data/raw.csv")
    cache.save()
    assert json.loads(cache_file.read_text())["version"] == 2
    again = StatCache(root, cache_file)
    assert again.digest("data/raw.csv") == digest
    assert again.files_read == 0


def test_a_file_rewritten_at_its_size_and_time_is_read_again(root):
    """``cp -p`` or ``touch -r`` onto a file: same size, same modification time, same inode.
    Its change time moves, which no program can set back."""
    path = write(root, "data/raw.csv", b"1,2\n")
    cache = StatCache(root, None)
    before = cache.digest("data/raw.csv")
    st = os.stat(path)
    time.sleep(0.01)
    path.write_bytes(b"1,3\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns and os.stat(path).st_ino == st.st_ino
    assert cache.digest("data/raw.csv") != before
    assert cache.files_read == 2


def test_save_only_when_something_changed(root, monkeypatch):
    write(root, "data/raw.csv", b"a")
    cache_file = root / "stat.json"
    cache = StatCache(root, cache_file)
    cache.save()
    assert not cache_file.exists()  # nothing learned, nothing written
    cache.digest("data/raw.csv")
    cache.save()
    mtime = cache_file.stat().st_mtime_ns
    again = StatCache(root, cache_file)
    again.digest("data/raw.csv")
    assert not again.dirty
    again.save()
    assert cache_file.stat().st_mtime_ns == mtime


def test_a_saved_entry_is_not_trusted_after_the_file_changes(root):
    path = write(root, "data/raw.csv", b"old")
    cache_file = root / "stat.json"
    cache = StatCache(root, cache_file)
    cache.digest("data/raw.csv")
    cache.save()
    path.write_bytes(b"new")
    age(path, seconds=30)
    assert StatCache(root, cache_file).digest("data/raw.csv") == blake3(b"new").hexdigest()


NOT_AN_OBJECT = "BUG: a stat cache file of valid JSON that is not an object raises AttributeError"
BAD_ENTRY = "BUG: a malformed entry in the stat cache file raises TypeError"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"version": 2, "entries": {}}',
        '{"version": 1, "entries": []}',
        pytest.param("[]"),
        pytest.param("null"),
        pytest.param('{"version": 1, "entries": {"data/raw.csv": 5}}'),
    ],
)
def test_a_damaged_cache_file_only_costs_a_re_read(root, text):
    write(root, "data/raw.csv", b"a")
    cache_file = root / "stat.json"
    cache_file.write_text(text)
    cache = StatCache(root, cache_file)
    assert cache.digest("data/raw.csv") == blake3(b"a").hexdigest()
    assert cache.files_read == 1


def test_a_file_truncated_while_hashed_does_not_kill_the_process(tmp_path):
    # A memory-mapped file that shrinks under the mapping raises SIGBUS on the next page read:
    # hashing must survive another process rewriting a large file (an editor, a step under
    # ``incr watch``).
    path = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    path.write_bytes(chunk * 64)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom incr.hashing import file_digest\n"
            "for _ in range(40):\n    file_digest(sys.argv[1])\n",
            str(path),
        ]
    )
    while child.poll() is None:
        with open(path, "r+b") as fh:  # shrink it, then grow it back
            fh.truncate(1 << 20)
            fh.seek(0, os.SEEK_END)
            fh.write(chunk * 63)
    assert child.returncode == 0, f"killed by {signal.Signals(-child.returncode).name}"
