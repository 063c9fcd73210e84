"""incr/storage.py: atomic writes keep the old file on failure and leave no temp file."""

import os
import stat
import sys
from pathlib import Path

import pytest

from incr import storage
from incr.storage import atomic_write


def test_writes_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b" / "file.bin"
    atomic_write(path, b"data")
    assert path.read_bytes() == b"data"
    assert os.listdir(path.parent) == ["file.bin"]


def test_replaces_an_existing_file(tmp_path):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(b"old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["pipeline.lock"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(b"old contents")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, b"new contents")
    monkeypatch.undo()
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["pipeline.lock"]


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(b"old")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["pipeline.lock"]


def test_a_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(storage.os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "new.lock", b"x")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    atomic_write(tmp_path / "pipeline.lock", b"x")
    mode = stat.S_IMODE((tmp_path / "pipeline.lock").stat().st_mode)
    assert mode == 0o666 & ~_umask()


def test_atomic_copy_copies_and_replaces(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(1 << 20))
    dest = tmp_path / "sub" / "dest.bin"
    storage.atomic_copy(source, dest)
    assert dest.read_bytes() == source.read_bytes()
    storage.atomic_copy(tmp_path / "sub" / "dest.bin", source)  # onto an existing file
    assert sorted(os.listdir(tmp_path)) == ["source.bin", "sub"]


def test_atomic_copy_keeps_the_old_file_when_the_check_fails(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.write_bytes(b"new")
    dest.write_bytes(b"old")
    seen = []

    def refuse(copy: str) -> None:
        seen.append(Path(copy).read_bytes())
        raise ValueError("no")

    with pytest.raises(ValueError):
        storage.atomic_copy(source, dest, check=refuse)
    assert seen == [b"new"]
    assert dest.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["dest", "source"]


@pytest.mark.parametrize("size", [5, 3_000_001])
@pytest.mark.parametrize("why", ["EINVAL", "not Linux"])
def test_atomic_copy_without_sendfile(tmp_path, monkeypatch, why, size):
    # The buffered fallback: the check must see every byte, the small tail included.
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.write_bytes(os.urandom(size))

    def refuse(*args):
        raise OSError(22, "not here")

    if why == "not Linux":
        monkeypatch.setattr(storage, "_KERNEL_COPY", False)
    monkeypatch.setattr(storage.os, "sendfile", refuse)
    seen = []
    storage.atomic_copy(source, dest, check=lambda copy: seen.append(Path(copy).read_bytes()))
    assert seen == [source.read_bytes()]
    assert dest.read_bytes() == source.read_bytes()


def test_atomic_copy_of_a_full_disk_names_the_file(tmp_path, monkeypatch):
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.write_bytes(b"data")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "sendfile", full)
    with pytest.raises(OSError, match="No space left") as info:
        storage.atomic_copy(source, dest)
    assert info.value.filename == str(dest)
    assert sorted(os.listdir(tmp_path)) == ["source"]


def test_a_write_that_only_saves_work_is_not_fsynced(tmp_path, monkeypatch):
    def no_fsync(*args):
        raise AssertionError("fsync called")

    monkeypatch.setattr(storage.os, "fsync", no_fsync)
    atomic_write(tmp_path / "cache.json", b"{}", durable=False)
    assert (tmp_path / "cache.json").read_bytes() == b"{}"
    with pytest.raises(AssertionError, match="fsync called"):
        atomic_write(tmp_path / "pipeline.lock", b"x")
    assert sorted(os.listdir(tmp_path)) == ["cache.json"]


def test_unsynced_writes_are_synced_together(tmp_path, monkeypatch):
    paths = [tmp_path / "objects" / f"o{i}" for i in range(3)]
    for path in paths:
        atomic_write(path, b"data", durable=False)
    synced: list[str] = []
    real_open, real_fsync = os.open, os.fsync
    opened: dict[int, str] = {}

    def tracked_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        opened[fd] = os.fspath(path)
        return fd

    monkeypatch.setattr(storage.os, "open", tracked_open)
    monkeypatch.setattr(storage.os, "fsync", lambda fd: (synced.append(opened[fd]), real_fsync(fd)))
    storage.sync_written([str(p) for p in paths] + [str(tmp_path / "objects" / "removed since")])
    assert sorted(synced[:3]) == sorted(str(p) for p in paths)  # the files, then their folder
    assert synced[3:] == [str(tmp_path / "objects")]
    assert [p.read_bytes() for p in paths] == [b"data"] * 3


def _many_unsynced(tmp_path, count=storage.SYNCFS_FROM):
    paths = [tmp_path / "objects" / f"{i % 4:02x}" / f"o{i}" for i in range(count)]
    for path in paths:
        atomic_write(path, b"data", durable=False)
    return [str(p) for p in paths]


def _counting_fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(storage.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    return calls


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_many_files_are_made_durable_by_one_syncfs(tmp_path, monkeypatch):
    paths = _many_unsynced(tmp_path)
    monkeypatch.setattr(storage, "_pending_bytes", lambda: 0)  # a quiet machine
    fsyncs = _counting_fsyncs(monkeypatch)
    synced: list[int] = []
    real = storage._syncfs()
    assert real is not None
    monkeypatch.setattr(storage, "_syncfs", lambda: lambda fd: (synced.append(fd), real(fd))[1])
    storage.sync_written(paths)
    assert fsyncs == [] and len(synced) == 1  # one file system: one call
    assert all(Path(p).read_bytes() == b"data" for p in paths)


def test_few_files_or_a_busy_disk_or_a_failing_syncfs_get_their_fsyncs(tmp_path, monkeypatch):
    """syncfs waits for every pending write of the file system: it is not used for a handful
    of files, nor while the machine has much to write, and an error it reports is left to
    the fsyncs to name."""
    monkeypatch.setattr(storage, "_syncfs", lambda: lambda fd: 0)
    fsyncs = _counting_fsyncs(monkeypatch)
    monkeypatch.setattr(storage, "_pending_bytes", lambda: 0)
    storage.sync_written(_many_unsynced(tmp_path / "few", storage.SYNCFS_FROM - 1))
    assert len(fsyncs) >= storage.SYNCFS_FROM - 1
    fsyncs.clear()
    monkeypatch.setattr(storage, "_pending_bytes", lambda: 1 << 40)
    storage.sync_written(_many_unsynced(tmp_path / "busy"))
    assert len(fsyncs) >= storage.SYNCFS_FROM
    fsyncs.clear()
    monkeypatch.setattr(storage, "_pending_bytes", lambda: 0)
    monkeypatch.setattr(storage, "_syncfs", lambda: lambda fd: -1)
    storage.sync_written(_many_unsynced(tmp_path / "failing"))
    assert len(fsyncs) >= storage.SYNCFS_FROM


@pytest.mark.parametrize("count", [1, 5])
def test_a_failing_fsync_is_raised_to_the_caller(tmp_path, monkeypatch, count):
    import errno

    paths = _many_unsynced(tmp_path, count)

    def failing(path):
        if path == paths[-1]:
            raise OSError(errno.EIO, "input/output error", path)

    monkeypatch.setattr(storage, "_fsync", failing)
    with pytest.raises(OSError) as caught:
        storage.sync_written(paths)
    assert caught.value.errno == errno.EIO and caught.value.filename == paths[-1]


def test_a_few_files_are_synced_without_importing_a_thread_pool(tmp_path):
    """``concurrent.futures`` (and ``logging`` with it) costs more to import than a few
    fsyncs take: a run that stores a handful of objects does without."""
    import subprocess

    paths = _many_unsynced(tmp_path, 5)
    code = (
        "import sys; from incr import storage; "
        f"storage.sync_written({paths!r}); "
        "print(sorted(m for m in ('concurrent.futures', 'logging') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pending_bytes_are_read_where_the_system_tells_them():
    pending = storage._pending_bytes()
    if sys.platform.startswith("linux"):
        assert isinstance(pending, int) and pending >= 0
    else:
        assert pending is None


def test_temp_files_of_one_process_never_collide(tmp_path):
    """A temp file left by a process that had this pid is stepped over, never reused."""
    folder = tmp_path / "new" / "folder"
    fd, first = storage._new_temp(folder, "x")
    os.close(fd)
    number = int(first.rsplit("-", 1)[1].split(".")[0])
    taken = folder / f".x.{os.getpid()}-{number + 1}.tmp"
    taken.write_bytes(b"left")
    fd, second = storage._new_temp(folder, "x")
    os.close(fd)
    assert second not in (first, str(taken)) and taken.read_bytes() == b"left"


def test_kernel_releases_are_read_for_syncfs():
    """syncfs reports a failed write-back only from Linux 5.8 on: older kernels get fsyncs."""
    assert storage._kernel("6.18.44-fc-v769") == (6, 18)
    assert storage._kernel("5.8.0") == (5, 8)
    assert storage._kernel("5.4.0-150-generic") == (5, 4)
    assert storage._kernel("4.19.0+") == (4, 19)
    assert storage._kernel("5.10rc1") == (5, 10)
    assert storage._kernel("weird") == storage._kernel("") == (0, 0)
    assert storage._kernel("5.4.0") < (5, 8) <= storage._kernel("5.15.1")
