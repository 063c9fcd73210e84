"""incr/store.py: the content-addressed object store and the run cache."""

import contextlib
import json
import os
import threading
import types

import pytest
from blake3 import blake3

from incr import cachefile
from incr import store as store_module
from incr.model import Artifact
from incr.store import ObjectCorrupt, ObjectMissing, RunRecord, Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / ".pipecache")


def test_put_get_round_trip(store):
    data = b"hello, objects"
    digest = store.put(data)
    assert digest == blake3(data).hexdigest()
    assert store.get(digest) == data
    assert store.has(digest)
    path = store.object_path(digest)
    assert path == store.dir / "objects" / digest[:2] / digest[2:]
    assert path.read_bytes() == data


def test_put_of_empty_bytes(store):
    digest = store.put(b"")
    assert store.get(digest) == b""


def test_put_creates_the_cache_gitignore(store):
    store.put(b"x")
    ignore = store.dir / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"


def test_put_is_idempotent_and_write_once(store, monkeypatch):
    digest = store.put(b"data")
    path = store.object_path(digest)
    old = 1_000_000_000_000_000_000
    os.utime(path, ns=(old, old))
    writes = []
    monkeypatch.setattr(store_module, "atomic_write", lambda p, d: writes.append(p))
    assert store.put(b"data") == digest
    assert writes == []
    assert path.stat().st_mtime_ns == old


def test_put_leaves_no_temp_files(store):
    for i in range(5):
        store.put(str(i).encode())
    names = [p.name for p in store.objects.rglob("*") if p.is_file()]
    assert len(names) == 5
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]


def test_get_of_a_missing_object(store):
    with pytest.raises(ObjectMissing):
        store.get("ab" * 32)
    assert not store.has("ab" * 32)


def test_get_of_a_corrupt_object_raises_and_removes_it(store):
    digest = store.put(b"the real bytes")
    path = store.object_path(digest)
    path.write_bytes(b"the rea1 bytes")
    with pytest.raises(ObjectCorrupt):
        store.get(digest)
    assert not path.exists()
    with pytest.raises(ObjectMissing):
        store.get(digest)
    # the next put of the right bytes stores it again
    assert store.put(b"the real bytes") == digest
    assert store.get(digest) == b"the real bytes"


def test_truncated_object_is_corrupt(store):
    digest = store.put(b"0123456789" * 100)
    store.object_path(digest).write_bytes(b"0123")
    with pytest.raises(ObjectCorrupt):
        store.get(digest)


def test_errors_are_lookup_errors(store):
    assert issubclass(ObjectMissing, LookupError)
    assert issubclass(ObjectCorrupt, LookupError)


# --------------------------------------------------------------------------- run cache


def test_record_and_lookup_run(store):
    a = Artifact("json", store.put(b"[1,2]"))
    b = Artifact("npy", store.put(b"npy bytes"))
    store.record_run("f" * 32, {"y": b, "x": a}, {"data/notes.txt": "9" * 64}, 1234.5)
    assert store.lookup_run("f" * 32) == RunRecord(
        {"x": a, "y": b}, {"data/notes.txt": "9" * 64}, 1234.5
    )


def test_record_run_overwrites(store):
    a = Artifact("json", store.put(b"1"))
    b = Artifact("json", store.put(b"2"))
    store.record_run("e" * 32, {"output": a}, {}, 1.0)
    store.record_run("e" * 32, {"output": b}, {}, 2.0)
    assert store.lookup_run("e" * 32) == RunRecord({"output": b}, {}, 2.0)


def test_lookup_of_an_unknown_fingerprint(store):
    assert store.lookup_run("0" * 32) is None


def test_lookup_returns_none_when_an_object_is_gone(store):
    a = Artifact("json", store.put(b"1"))
    b = Artifact("json", store.put(b"2"))
    store.record_run("c" * 32, {"a": a, "b": b}, {}, 1.0)
    store.object_path(b.digest).unlink()
    assert store.lookup_run("c" * 32) is None


def test_lookup_of_a_run_with_no_outputs(store):
    store.record_run("d" * 32, {}, {}, 1.0)
    assert store.lookup_run("d" * 32) == RunRecord({}, {}, 1.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[1, 2]",
        '{"format": 2, "runs": []}',
        '{"format": 2, "runs": {"BB": 3}}',
        '{"format": 2, "runs": {"BB": [{"outputs": {"a": "no-kind"}, "reads": {}, "created": 1}]}}',
        '{"format": 2, "runs": {"BB": [{"outputs": {"a": 3}, "reads": {}, "created": 1}]}}',
        '{"format": 2, "runs": {"BB": [{"outputs": {}, "reads": [], "created": "soon"}]}}',
        '{"format": 2, "runs": {"BB": [{"outputs": {}}]}}',
        '{"format": 3, "runs": {"BB": [{"outputs": {}, "reads": {}, "created": 1}]}}',
        "\xff",
    ],
)
@pytest.mark.parametrize("older", [False, True])
def test_lookup_of_a_damaged_run_record_is_a_miss(store, text, older):
    store.record_run("b" * 32, {}, {}, 1.0)
    text = text.replace("BB", "b" * 32)
    if older:  # a shard an older incr wrote, as JSON
        (store.runs / "b.bin").unlink()
        (store.runs / "b.json").write_text(text, encoding="latin-1")
    else:
        try:
            data = cachefile.dumps(json.loads(text))
        except ValueError:
            data = text.encode("latin-1")
        (store.runs / "b.bin").write_bytes(data)
    with store.batched():  # read afresh, as by the next writer
        assert store.lookup_run("b" * 32) is None


# ---------------------------------------------------------------------- files, by the kernel


def test_put_file_and_restore_file_round_trip(store, tmp_path):
    source = tmp_path / "out.bin"
    source.write_bytes(os.urandom(3 << 20) + b"tail")
    digest = store.put_file(source)
    assert digest == blake3(source.read_bytes()).hexdigest()
    assert store.object_path(digest).read_bytes() == source.read_bytes()

    dest = tmp_path / "restored" / "out.bin"
    store.restore_file(digest, dest, tmp_path)
    assert dest.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["out.bin"]


def test_put_file_of_a_file_rewritten_while_stored_keeps_what_it_holds(
    store, tmp_path, monkeypatch
):
    # The first digest is taken, then the file changes before its copy is checked: the
    # object must be named by the bytes it really holds.
    source = tmp_path / "out.bin"
    source.write_bytes(b"first")
    real = store_module.file_digest

    def rewrite_after_hashing(path, size=None):
        digest = real(path, size)
        if os.fspath(path) == os.fspath(source):
            source.write_bytes(b"second, longer")
        return digest

    monkeypatch.setattr(store_module, "file_digest", rewrite_after_hashing)
    digest = store.put_file(source)
    monkeypatch.undo()
    assert digest == blake3(b"second, longer").hexdigest()
    assert store.get(digest) == b"second, longer"
    assert not store.has(blake3(b"first").hexdigest())
    assert not list(store.objects.rglob("*.tmp"))


def test_restore_file_of_a_corrupt_object_leaves_the_file_alone(store, tmp_path):
    digest = store.put(b"good bytes")
    store.object_path(digest).write_bytes(b"bad bytes!")
    dest = tmp_path / "out.txt"
    dest.write_text("as it was")

    with pytest.raises(ObjectCorrupt):
        store.restore_file(digest, dest, tmp_path)
    assert dest.read_text() == "as it was"
    assert not store.has(digest)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pipecache", "out.txt"]


def test_restore_file_of_a_missing_object(store, tmp_path):
    with pytest.raises(ObjectMissing):
        store.restore_file("ab" * 32, tmp_path / "out.txt", tmp_path)
    assert not (tmp_path / "out.txt").exists()


# ---------------------------------------------------------------------- large objects: racing put


@pytest.fixture
def racing(store, monkeypatch):
    """Objects of 1 KiB and more take the racing path, written in 256-byte chunks."""
    monkeypatch.setattr(store_module, "RACE_THRESHOLD", 1024)
    monkeypatch.setattr(store_module, "_WRITE_CHUNK", 256)
    return store


def _written(monkeypatch, gate: threading.Event | None = None) -> list[int]:
    """Bytes written through ``staged`` files, per write (each waiting for ``gate``)."""
    sizes: list[int] = []
    real = store_module.staged

    @contextlib.contextmanager
    def counting(folder, name, durable=True):
        with real(folder, name, durable) as out:
            write = out.file.write

            def counted(data):
                if gate is not None:
                    assert gate.wait(10)
                sizes.append(memoryview(data).nbytes)
                return write(data)

            out.file = types.SimpleNamespace(write=counted)
            yield out

    monkeypatch.setattr(store_module, "staged", counting)
    return sizes


def _slow_disk(monkeypatch) -> list[int]:
    """Each write of a racing put waits until the hash is known (a disk slower than the hash);
    the bytes written, per write."""
    real = store_module.buffers_digest
    hashed = threading.Event()

    def hash_then_say(parts, one_thread=False):
        digest = real(parts, one_thread)
        hashed.set()
        return digest

    monkeypatch.setattr(store_module, "buffers_digest", hash_then_say)
    return _written(monkeypatch, gate=hashed)


def test_a_large_new_object_is_stored_whole(racing, monkeypatch):
    parts = [os.urandom(1000), b"", memoryview(os.urandom(3000))]
    sizes = _written(monkeypatch)
    digest = racing.put_parts(parts)
    data = b"".join(bytes(p) for p in parts)
    assert digest == blake3(data).hexdigest()
    assert racing.get(digest) == data
    assert sum(sizes) == len(data)
    assert not list(racing.dir.rglob("*.tmp"))


def test_a_large_object_already_stored_is_not_written_again(racing, monkeypatch):
    data = os.urandom(64 * 256)
    digest = racing.put(data)
    before = os.stat(racing.object_path(digest))
    sizes = _slow_disk(monkeypatch)
    assert racing.put(data) == digest
    after = os.stat(racing.object_path(digest))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sum(sizes) <= 256  # the write stopped at the first chunk after the hash was known
    assert not list(racing.dir.rglob("*.tmp"))


def test_a_failed_hash_leaves_nothing(racing, monkeypatch):
    def broken(parts, one_thread=False):
        raise MemoryError("no room")

    monkeypatch.setattr(store_module, "buffers_digest", broken)
    with pytest.raises(MemoryError):
        racing.put(os.urandom(4096))
    assert not [p for p in racing.dir.rglob("*") if p.is_file() and p.name != ".gitignore"]


def test_check_passes_a_good_object_and_removes_a_bad_one(store):
    good = store.put(os.urandom(5 << 20))
    store.check(good)
    bad = store.put(b"right bytes")
    store.object_path(bad).write_bytes(b"wrong bytes")
    with pytest.raises(ObjectCorrupt):
        store.check(bad)
    assert not store.has(bad)
    with pytest.raises(ObjectMissing):
        store.check(bad)


def test_an_object_removed_after_the_racing_write_stopped_is_stored_whole(racing, monkeypatch):
    data = os.urandom(64 * 256)
    digest = racing.put(data)
    real_has = racing.has
    seen = []

    def has_then_gone(d):  # there when the write stops, gone right after (another process)
        seen.append(d)
        if len(seen) == 1:
            return real_has(d)
        racing.object_path(d).unlink(missing_ok=True)
        return False

    _slow_disk(monkeypatch)  # the write waits for the hash, then stops
    monkeypatch.setattr(racing, "has", has_then_gone)
    assert racing.put(data) == digest
    assert len(seen) == 2
    monkeypatch.undo()
    assert racing.get(digest) == data
    assert not list(racing.dir.rglob("*.tmp"))


def test_restore_file_without_sendfile_keeps_the_object(store, tmp_path, monkeypatch):
    from incr import storage

    digest = store.put(b"a small out\n")
    monkeypatch.setattr(storage, "_KERNEL_COPY", False)
    store.restore_file(digest, tmp_path / "out.txt", tmp_path)
    assert (tmp_path / "out.txt").read_bytes() == b"a small out\n"
    assert store.has(digest)


def test_an_object_of_the_wrong_size_is_written_again(store):
    """An unsynced write cut by a power loss can leave an empty object: put stores it again."""
    digest = store.put(b"ten bytes!")
    store.object_path(digest).write_bytes(b"")
    assert store.put(b"ten bytes!") == digest
    assert store.get(digest) == b"ten bytes!"


def test_deferred_objects_are_listed_until_synced(store, monkeypatch):
    synced: list[list[str]] = []
    monkeypatch.setattr(store_module, "sync_written", lambda paths: synced.append(list(paths)))
    store.put(b"synced at once")
    assert store.written == []
    store.defer_sync = True
    first, second = store.put(b"one"), store.put(b"two")
    store.put(b"one")  # stored already: not listed again
    assert store.written == [str(store.object_path(first)), str(store.object_path(second))]
    store.sync()
    assert synced == [[str(store.object_path(first)), str(store.object_path(second))]]
    assert store.written == []


def test_a_run_syncs_its_objects_before_the_lockfile_names_them(tmp_path, monkeypatch):
    from incr import lockbook
    from incr.project import Project
    from incr.session import Workspace

    (tmp_path / "pyproject.toml").write_text("")
    events: list[str] = []
    monkeypatch.setattr(store_module, "sync_written", lambda paths: events.append("sync"))
    monkeypatch.setattr(lockbook.lockfile, "write", lambda *args: events.append("lock"))
    workspace = Workspace(Project(tmp_path))
    workspace.store.defer_sync = True
    workspace.store.put(b"a result")
    workspace.write_lock()
    assert events == ["sync", "lock"]
