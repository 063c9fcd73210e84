"""incr/temppool.py: empty files made ahead on a thread for the atomic writes of a run."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from incr import temppool
from incr.storage import atomic_write


def _wait_ready(pool: temppool.TempPool, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(pool.ready) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@contextlib.contextmanager
def _slow_pool(cache: Path) -> Iterator[temppool.TempPool]:
    """The pool of a ``pooled`` block, told that making a file is slow (so its thread makes
    them); no temp file is left once the block ends."""
    with temppool.pooled(str(cache)):
        pool = temppool.current()
        assert pool is not None
        pool.made(1e-3)
        yield pool
    assert not list(cache.rglob("*.tmp"))


def _release(taken: tuple[int, str] | None) -> None:
    """Give back a file taken without a write: close and remove it."""
    if taken is not None:
        os.close(taken[0])
        os.unlink(taken[1])


def test_writes_in_a_pooled_block_take_files_made_ahead(tmp_path: Path) -> None:
    cache, out = tmp_path / ".pipecache", tmp_path / ".pipecache" / "objects" / "ab"
    outside = tmp_path / "plain.bin"
    atomic_write(outside, b"plain")
    with _slow_pool(cache) as pool:
        atomic_write(out / "first", b"1", durable=False)  # starts the thread
        _wait_ready(pool, temppool.LEAD)
        ready = [path for _, path, _, _ in pool.ready]
        assert ready and all(Path(p).parent.parent == cache / "tmp" for p in ready)
        for i in range(40):
            atomic_write(out / f"object{i}", f"value {i}".encode(), durable=i % 2 == 0)
        assert not Path(ready[0]).exists()  # renamed into place by a write
    assert [p.read_bytes() for p in sorted(out.glob("object*"), key=lambda p: int(p.name[6:]))] == [
        f"value {i}".encode() for i in range(40)
    ]
    assert (out / "first").read_bytes() == b"1"
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {stat.S_IMODE(outside.stat().st_mode)}  # as a file made by the write
    assert not list((cache / "tmp").rglob("*.tmp"))  # the files nobody took are gone
    assert temppool.current() is None


def test_the_files_left_are_removed_when_the_block_fails(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    with pytest.raises(KeyError), temppool.pooled(str(cache)):
        pool = temppool.current()
        assert pool is not None
        pool.made(1e-3)  # as on a disk where making a file is slow
        atomic_write(cache / "x", b"x")
        _wait_ready(pool, 1)
        raise KeyError("the run failed")
    assert not list((cache / "tmp").rglob("*.tmp"))


def test_pool_files_are_named_as_incr_gc_removes_leftovers(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    with _slow_pool(cache) as pool:
        assert pool.take(str(cache)) is None  # none ready yet: the writer makes its own
        _wait_ready(pool, 1)
        taken = pool.take(str(cache))
        assert taken is not None
        name = Path(taken[1]).name
        assert name.startswith(".pool.") and name.endswith(".tmp")  # maintenance._stale_temps
        _release(taken)


def test_no_file_for_another_file_system_or_another_process(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    with _slow_pool(cache) as pool:
        _release(pool.take(str(cache)))
        _wait_ready(pool, 2)
        shm = Path("/dev/shm")
        if shm.is_dir() and os.stat(shm).st_dev != os.stat(cache).st_dev:
            assert pool.take(str(shm / "not" / "made" / "yet")) is None
        pool.pid = os.getpid() + 1  # as a child forked from this process sees it
        assert pool.take(str(cache)) is None
        cost = pool.cost
        pool.made(1.0)  # ignored: the lock may have been held by the thread at the fork
        assert pool.cost == cost
        pool.pid = os.getpid()
        taken = pool.take(str(cache / "a" / "new" / "folder"))
        assert taken is not None
        _release(taken)


def test_writes_go_on_when_the_pool_cannot_make_files(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    with _slow_pool(cache) as pool:
        shutil.rmtree(cache / "tmp")  # the thread's next file fails: it stops
        for i in range(10):
            atomic_write(cache / "objects" / f"o{i}", b"v")
        deadline = time.monotonic() + 10
        while not pool.stopped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.stopped
        atomic_write(cache / "objects" / "after", b"w")
    assert sorted(p.name for p in (cache / "objects").iterdir()) == [
        "after",
        *sorted(f"o{i}" for i in range(10)),
    ]
    assert not list(cache.rglob("*.tmp"))


def test_a_nested_block_keeps_the_outer_pool(tmp_path: Path) -> None:
    with temppool.pooled(str(tmp_path / "a")):
        outer = temppool.current()
        with temppool.pooled(str(tmp_path / "b")):
            assert temppool.current() is outer
        assert temppool.current() is outer
    assert temppool.current() is None


def test_a_write_never_takes_a_file_from_the_folder_a_file_is_being_made_in(
    tmp_path: Path,
) -> None:
    with _slow_pool(tmp_path / ".pipecache") as pool:
        _release(pool.take(str(tmp_path)))
        _wait_ready(pool, 1 + temppool.LEAD)  # all it makes for one take: the thread waits
        sides = {entry[2] for entry in pool.ready}
        assert sides == set(range(temppool.SIDES))  # made in turn
        pool._making = 0  # as while the thread makes a file there
        taken = pool.take(str(tmp_path))
        assert taken is not None and Path(taken[1]).parent.name == "1"
        _release(taken)
        pool._making = None


def test_files_are_made_ahead_only_while_making_one_is_slow(tmp_path: Path) -> None:
    cache = tmp_path / ".pipecache"
    taken = []
    with temppool.pooled(str(cache)):
        pool = temppool.current()
        assert pool is not None
        assert not pool.active and pool.take(str(cache)) is None  # nothing known yet
        for _ in range(3):
            pool.made(temppool.FAST / 4)  # quick files, made by the writes themselves
        assert not pool.active and pool.take(str(cache)) is None
        pool.made(temppool.SLOW * 4)  # one slow file among quick ones: a moving average
        assert not pool.active
        for _ in range(8):
            pool.made(temppool.SLOW * 4)
        assert pool.active
        taken.append(pool.take(str(cache)))
        _wait_ready(pool, 1 + temppool.LEAD)
        taken.append(pool.take(str(cache)))
        assert taken[-1] is not None
        for _ in range(40):
            pool.made(temppool.FAST / 4)  # quick again: the thread stops making files
        assert not pool.active
        kept = len(pool.ready)
        taken += [pool.take(str(cache)) for _ in range(3)]  # those made are still taken
        assert len(pool.ready) == max(0, kept - 3)
    for each in taken:
        _release(each)
    assert not list(cache.rglob("*.tmp"))


def test_a_file_kept_ready_too_long_is_removed_rather_than_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / ".pipecache"
    with _slow_pool(cache) as pool:
        _release(pool.take(str(cache)))
        _wait_ready(pool, 1 + temppool.LEAD)
        old = [path for _, path, _, _ in pool.ready]
        monkeypatch.setattr(temppool, "FRESH_FOR", -1.0)  # all of them made too long ago
        assert pool.take(str(cache)) is None
        assert not any(Path(path).exists() for path in old)


def test_a_file_that_cannot_be_renamed_into_place_is_copied_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder on another mount of the same file system (a bind mount keeps the device
    number): renaming a pool file into it fails with EXDEV."""
    cache, other = tmp_path / ".pipecache", tmp_path / "mounted"
    rename = os.replace

    def across(src: str, dst: str) -> None:
        if os.path.dirname(os.fspath(dst)) == str(other) and str(cache / "tmp") in str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link", src)
        rename(src, dst)

    monkeypatch.setattr(os, "replace", across)
    with _slow_pool(cache) as pool:
        _release(pool.take(str(cache)))
        _wait_ready(pool, 1 + temppool.LEAD)
        atomic_write(other / "first.bin", b"first")  # from the pool, then copied
        assert pool.take(str(other)) is None  # that folder takes no more of them
        atomic_write(other / "second.bin", b"second", durable=False)
    assert (other / "first.bin").read_bytes() == b"first"
    assert (other / "second.bin").read_bytes() == b"second"
    assert not list(tmp_path.rglob("*.tmp"))


def test_files_are_made_where_the_cache_is_whatever_folder_a_step_moves_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    with _slow_pool(Path(".pipecache")) as pool:
        _release(pool.take(".pipecache"))
        os.chdir(tmp_path / "elsewhere")  # as a step may, while the thread makes files
        _wait_ready(pool, 1 + temppool.LEAD)
        assert all(os.path.isabs(path) for _, path, _, _ in pool.ready)
        os.chdir(tmp_path)
    assert not list((tmp_path / "elsewhere").iterdir())


def test_an_interrupt_while_the_thread_starts_ends_the_block_with_that_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside ``Thread.start`` (while it waits for the new thread to run): the block
    ends with the interrupt, not with a RuntimeError from joining a thread never started."""
    cache = tmp_path / ".pipecache"

    def interrupted(self: threading.Thread) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), _slow_pool(cache), monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", interrupted)
        atomic_write(cache / "objects" / "ab" / "first", b"1", durable=False)
    assert temppool.current() is None
