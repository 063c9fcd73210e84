"""Small objects packed by a run (``incr.packs``): read back by any process, never lost or
mistaken after a kill, damage or a repack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr import packs
from incr.hashing import buffers_digest
from incr.store import ObjectCorrupt, ObjectMissing, Store


def fresh(cache: Path) -> Store:
    """A store of ``cache`` as another process would open it (nothing this one holds)."""
    packs._STATES.pop(os.path.abspath(cache / "packs"), None)
    return Store(cache)


def packed_store(cache: Path, values: list[bytes]) -> tuple[Store, list[str]]:
    store = Store(cache)
    with store.packing():
        digests = [store.put(v) for v in values]
    store.sync()
    store.end_packing()
    return store, digests


def test_a_run_packs_small_objects_and_any_reader_finds_them(tmp_path: Path) -> None:
    big = os.urandom(packs.PACKED_MAX)
    store, (small, empty, large) = packed_store(tmp_path, [b"[1, 2, 3]", b"", big])

    assert not store.object_path(small).exists() and not store.object_path(empty).exists()
    assert store.object_path(large).is_file(), "an object of PACKED_MAX bytes gets a file"
    reader = fresh(tmp_path)
    assert reader.has(small) and reader.has(empty) and reader.has(large)
    assert reader.get(small) == b"[1, 2, 3]" and bytes(reader.get_view(empty)) == b""
    reader.check(small)
    assert reader.size_of(small) == 9 and reader.size_of("ab" * 32) is None
    assert not reader.has("ab" * 32)
    with pytest.raises(ObjectMissing):
        reader.get("ab" * 32)


def test_outside_a_run_objects_get_files_and_a_packed_one_is_not_stored_twice(
    tmp_path: Path,
) -> None:
    store, (digest,) = packed_store(tmp_path, [b"value"])
    assert store.put(b"value") == digest and not store.object_path(digest).exists()
    other = store.put(b"other")
    assert store.object_path(other).is_file()
    with store.packing():
        assert store.put(b"other") == other
    assert other not in store.packed_objects(), "stored already: not appended"


def test_an_object_stored_after_a_reader_looked_is_found(tmp_path: Path) -> None:
    reader = fresh(tmp_path)
    assert not reader.has(buffers_digest((b"late",)))
    script = _PUT.format(cache=str(tmp_path), value=b"late")
    subprocess.run([sys.executable, "-c", script], check=True)
    assert reader.get(buffers_digest((b"late",))) == b"late"


_PUT = """
from pathlib import Path
from incr.store import Store
store = Store(Path({cache!r}))
with store.packing():
    store.put({value!r})
store.sync()
"""


def test_a_loose_file_is_made_from_the_pack_for_what_needs_one(tmp_path: Path) -> None:
    store, (digest,) = packed_store(tmp_path, [b"payload"])
    path = store.loose_path(digest)
    assert path == store.object_path(digest) and path.read_bytes() == b"payload"
    with pytest.raises(ObjectMissing):
        store.loose_path("cd" * 32)


def test_a_damaged_packed_object_is_removed_for_every_reader_and_stored_again(
    tmp_path: Path,
) -> None:
    store, (digest, other) = packed_store(tmp_path, [b"good bytes", b"neighbour"])
    name, offset, size = store.packed(digest) or ("", 0, 0)
    with open(tmp_path / "packs" / name, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"X" * size)

    with pytest.raises(ObjectCorrupt, match=digest):
        fresh(tmp_path).get(digest)
    assert not fresh(tmp_path).has(digest), "discarded for the next process too"
    assert fresh(tmp_path).get(other) == b"neighbour"
    packed_store(tmp_path, [b"good bytes"])
    assert fresh(tmp_path).get(digest) == b"good bytes"


def test_a_line_cut_short_is_skipped_and_the_next_writer_starts_a_new_line(
    tmp_path: Path,
) -> None:
    _, (first,) = packed_store(tmp_path, [b"first"])
    index = tmp_path / "packs" / packs.INDEX
    with open(index, "ab") as fh:
        fh.write(b"ffff0000 half-a-li")  # a writer killed in the middle of its line
    assert fresh(tmp_path).packed_objects().keys() == {first}

    _, (second,) = packed_store(tmp_path, [b"second"])

    assert fresh(tmp_path).packed_objects().keys() == {first, second}
    assert fresh(tmp_path).get(second) == b"second"


def test_a_run_killed_while_packing_leaves_only_whole_objects(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from incr.store import Store
        store = Store(Path({str(tmp_path)!r}))
        with store.packing():
            for i in range(2000):
                store.put(b"value %d " % i * (1 + i % 50))
                if i == 1500:
                    os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL

    found = fresh(tmp_path).packed_objects()
    assert len(found) == 1501
    reader = fresh(tmp_path)
    for digest in found:
        assert buffers_digest((reader.get(digest),)) == digest


def test_a_forked_child_appending_beside_its_parent_leaves_each_object_where_indexed(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    with store.packing():
        parent = store.put(b"parent")
        pid = os.fork()
        if pid == 0:  # the child: appends to the same pack, then gone without cleanup
            child = Store(tmp_path)
            with child.packing():
                child.put(b"child value, longer")
            os._exit(0)
        os.waitpid(pid, 0)
        again = store.put(b"parent again")
    store.sync()

    reader = fresh(tmp_path)
    assert reader.get(parent) == b"parent" and reader.get(again) == b"parent again"
    assert reader.get(buffers_digest((b"child value, longer",))) == b"child value, longer"


def test_runs_add_to_the_last_pack_until_it_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests = [packed_store(tmp_path, [b"run %d" % i])[1][0] for i in range(3)]
    assert len(list((tmp_path / "packs").glob("*.pack"))) == 1, "one pack for three runs"

    monkeypatch.setattr(packs, "PACK_LIMIT", 1)
    digests += packed_store(tmp_path, [b"run 3"])[1]

    assert len(list((tmp_path / "packs").glob("*.pack"))) == 2, "full: a new pack"
    reader = fresh(tmp_path)
    assert [reader.get(d) for d in digests] == [b"run %d" % i for i in range(4)]


def test_repack_keeps_what_is_asked_in_one_pack_and_drops_leftover_packs(
    tmp_path: Path,
) -> None:
    _, (a, b) = packed_store(tmp_path, [b"aaa", b"bbb"])
    _, (c,) = packed_store(tmp_path, [b"ccc"])
    (tmp_path / "packs" / "1-dead.pack").write_bytes(b"left by a crash")

    fresh(tmp_path).repack({a, c})

    folder = tmp_path / "packs"
    assert len(list(folder.glob("*.pack"))) == 1
    reader = fresh(tmp_path)
    assert reader.packed_objects().keys() == {a, c}
    assert reader.get(a) == b"aaa" and reader.get(c) == b"ccc" and not reader.has(b)
    before = sorted(folder.iterdir())
    fresh(tmp_path).repack({a, c})
    assert sorted(folder.iterdir()) == before, "nothing to drop: nothing rewritten"


def test_repack_of_nothing_leaves_no_pack(tmp_path: Path) -> None:
    packed_store(tmp_path, [b"x"])
    fresh(tmp_path).repack(set())
    assert not list((tmp_path / "packs").glob("*.pack"))
    assert fresh(tmp_path).packed_objects() == {}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "discard", "repack", "reopen"]),
            st.integers(min_value=0, max_value=7),
        ),
        max_size=25,
    )
)
def test_packed_objects_follow_a_model(tmp_path_factory: pytest.TempPathFactory, ops) -> None:
    """Puts in runs, discards, repacks (keeping the even values) and new readers in any order:
    the store holds exactly what the model says, each with its own bytes."""
    cache = tmp_path_factory.mktemp("cache")
    values = [b"value %d" % i for i in range(8)]
    digests = [buffers_digest((v,)) for v in values]
    model: set[int] = set()
    store = fresh(cache)
    for op, i in ops:
        if op == "put":
            with store.packing():
                store.put(values[i])
            store.sync()
            store.end_packing()
            model.add(i)
        elif op == "discard":
            store.discard(digests[i])
            model.discard(i)
        elif op == "repack":
            store.repack({digests[k] for k in range(0, 8, 2)})
            model = {k for k in model if k % 2 == 0}
        else:
            store = fresh(cache)
    reader = fresh(cache)
    assert {k for k in range(8) if reader.has(digests[k])} == model
    assert all(reader.get(digests[k]) == values[k] for k in model)


def test_an_index_made_anew_in_place_is_read_from_its_start(tmp_path: Path) -> None:
    """A cache removed and made again can give the new index the old one's inode: a reader
    that read the old one reads the new one from its start, not from where it had got to."""
    _, (a,) = packed_store(tmp_path, [b"aaa"])
    reader = fresh(tmp_path)
    assert reader.has(a)
    index = tmp_path / "packs" / packs.INDEX
    old = index.read_bytes()
    b = packed_store(tmp_path / "other", [b"bbb", b"ccc", b"ddd"])[1][0]
    for name in os.listdir(tmp_path / "other" / "packs"):
        if name.endswith(packs.SUFFIX):
            (tmp_path / "packs" / name).write_bytes((tmp_path / "other/packs" / name).read_bytes())
    new = (tmp_path / "other" / "packs" / packs.INDEX).read_bytes()
    assert len(new) > len(old)
    with open(index, "r+b") as fh:  # the same file, other lines
        fh.write(new)

    assert reader.get(b) == b"bbb"
    assert not reader.has(a)


def test_a_reader_whose_packs_were_rewritten_reads_the_new_ones(tmp_path: Path) -> None:
    """``incr gc`` rewrote the packs after a reader read the index: the reader finds its
    object in the new pack, and takes nothing for damaged."""
    _, (a, b) = packed_store(tmp_path, [b"kept", b"dropped"])
    reader = fresh(tmp_path)
    assert reader.has(a)

    fresh(tmp_path).repack({a})  # another process

    assert reader.get(a) == b"kept"
    assert fresh(tmp_path).get(a) == b"kept", "not discarded"
    assert not reader.has(b)


def test_a_line_being_written_is_read_once_it_is_whole(tmp_path: Path) -> None:
    """A reader that meets the index while a writer's line is half written takes it later."""
    _, (first,) = packed_store(tmp_path, [b"first"])
    reader = fresh(tmp_path)
    assert reader.has(first)
    _, (second,) = packed_store(tmp_path / "other", [b"second"])
    line = (tmp_path / "other/packs" / packs.INDEX).read_bytes()
    name = line.split(b" ")[1].decode()
    (tmp_path / "packs" / name).write_bytes((tmp_path / "other/packs" / name).read_bytes())
    index = tmp_path / "packs" / packs.INDEX
    with open(index, "ab") as fh:
        fh.write(line[:40])  # the writer is in the middle of its line
    assert not reader.has(second)
    with open(index, "ab") as fh:
        fh.write(line[40:])

    assert reader.get(second) == b"second"


def test_a_run_syncs_what_its_worker_processes_packed(tmp_path: Path) -> None:
    """A worker of ``--jobs`` packs without syncing; the run's next sync names its pack."""
    store = Store(tmp_path)
    with store.packing():
        mine = store.put(b"the run's own")
        pid = os.fork()
        if pid == 0:  # a worker: packs for its life, never syncs (into a pack of its own)
            packs.PACK_LIMIT = 1
            worker = Store(tmp_path)
            worker.start_packing()
            worker.put(b"a worker's")
            os._exit(0)
        os.waitpid(pid, 0)
        to_sync = store.unsynced_packs()
    store.end_packing()

    theirs = buffers_digest((b"a worker's",))
    packs_named = {os.path.basename(p) for p in to_sync}
    reader = fresh(tmp_path)
    both = {reader.packed(mine)[0], reader.packed(theirs)[0]}  # type: ignore[index]
    assert len(both) == 2 and both <= packs_named
    assert str(tmp_path / "packs" / packs.INDEX) in to_sync
    assert store.unsynced_packs() == [], "nothing new since"
