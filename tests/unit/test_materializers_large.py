"""Large numpy arrays: dumped without copying (materializers.dump_parts + Store.put_parts) and
loaded without copying (Store.get_view + materializers.load), with the same bytes and the same
safety as the small path: no pickle, the digest verified before any data is returned."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from blake3 import blake3

from incr import store as store_module
from incr.hashing import MMAP_THRESHOLD
from incr.materializers import LARGE_ARRAY, dump, dump_parts, load
from incr.store import ObjectCorrupt, ObjectMissing, Store

ROWS = MMAP_THRESHOLD // 8 // 16 + 3  # float64 rows of 16: a little over the mmap threshold


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def large_arrays():
    rng = np.random.default_rng(0)
    base = rng.random((ROWS, 16))
    padded = np.dtype({"names": ["a", "b"], "formats": ["u1", "f8"]}, align=True)
    n = MMAP_THRESHOLD + 5  # elements: every array below is over the mmap threshold
    return {
        "c_order": base,
        "fortran": np.asfortranarray(base),
        "non_contiguous": base[::2, ::-1],
        "transposed_view": base.T,
        "big_endian": base.astype(">f8"),
        "int8_3d": rng.integers(-128, 127, (64, 512, 130), dtype=np.int8),
        "bool": rng.random(n) > 0.5,
        "padded_struct": np.zeros(n // 8, dtype=padded),
        "datetime": np.arange(n // 8).astype("datetime64[s]"),
        "strings": np.array(["abc", "de"] * (n // 16)),
        "between_thresholds": np.arange(LARGE_ARRAY // 4 + 1, dtype=np.int32),
    }


ARRAYS = large_arrays()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / ".pipecache")


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_the_parts_are_the_bytes_np_save_writes(name):
    array = ARRAYS[name]
    kind, parts = dump_parts(array, "x")
    assert kind == "npy"
    assert b"".join(parts) == npy(array)
    assert dump(array, "x") == ("npy", npy(array))


def test_a_large_contiguous_array_is_not_copied():
    array = ARRAYS["c_order"]
    _, (header, data) = dump_parts(array, "x")
    assert header.startswith(b"\x93NUMPY\x01\x00")
    assert data.readonly
    assert np.shares_memory(np.frombuffer(data, dtype=np.uint8), array)


def test_small_values_are_one_part():
    assert dump_parts(np.arange(3), "x") == ("npy", (npy(np.arange(3)),))
    assert dump_parts({"a": 1}, "x") == ("json", (b'{"a":1}',))


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_round_trip_through_the_store(store, name):
    array = ARRAYS[name]
    kind, parts = dump_parts(array, "x")
    digest = store.put_parts(parts)
    assert digest == blake3(npy(array)).hexdigest()
    assert store.object_path(digest).read_bytes() == npy(array)
    back = load(kind, store.get_view(digest))
    assert type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_a_loaded_array_maps_the_object_privately(store):
    array = ARRAYS["c_order"]
    digest = store.put_parts(dump_parts(array, "x")[1])
    view = store.get_view(digest)
    assert not view.readonly
    back = load("npy", view)
    assert not back.flags.owndata  # built on the mapping, not copied
    assert back.flags.f_contiguous == array.flags.f_contiguous
    back[0, 0] = -1.0  # copy-on-write: the object is not changed
    assert store.get(digest) == npy(array)


def test_fortran_order_survives(store):
    array = ARRAYS["fortran"]
    back = load("npy", store.get_view(store.put_parts(dump_parts(array, "x")[1])))
    assert back.flags.f_contiguous and not back.flags.c_contiguous
    np.testing.assert_array_equal(back, array)


def test_read_only_bytes_load_as_a_writable_copy(store):
    array = ARRAYS["c_order"]
    data = store.get(store.put_parts(dump_parts(array, "x")[1]))
    back = load("npy", data)
    assert back.flags.writeable
    back[0, 0] = -1.0
    assert data == npy(array)


def test_a_small_object_view_is_read_only_bytes(store):
    digest = store.put(b"small")
    view = store.get_view(digest)
    assert view.readonly and bytes(view) == b"small"


def test_a_corrupt_large_object_is_never_returned(store):
    digest = store.put_parts(dump_parts(ARRAYS["c_order"], "x")[1])
    path = store.object_path(digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ObjectCorrupt):
        store.get_view(digest)
    assert not path.exists()
    with pytest.raises(ObjectMissing):
        store.get_view(digest)


def test_a_missing_object(store):
    with pytest.raises(ObjectMissing):
        store.get_view("ab" * 32)


def test_a_large_object_array_header_is_refused_without_pickle():
    objects = np.array([b"x" * 64] * (LARGE_ARRAY // 64), dtype=object)
    buf = io.BytesIO()
    np.save(buf, objects, allow_pickle=True)
    with pytest.raises(ValueError):
        load("npy", memoryview(bytearray(buf.getvalue())))
    with pytest.raises(ValueError):
        load("npy", buf.getvalue())


def test_a_short_large_npy_is_an_error():
    data = npy(ARRAYS["c_order"])[:-8]
    with pytest.raises(ValueError):
        load("npy", memoryview(bytearray(data)))
    with pytest.raises(ValueError):
        load("npy", data)


def test_a_failed_write_leaves_neither_object_nor_temp_file(store, monkeypatch):
    parts = dump_parts(ARRAYS["c_order"], "x")[1]
    replace = os.replace

    def fail(src, dst):
        if store.objects in Path(dst).parents:
            raise OSError("disk full")
        replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", fail)
    with pytest.raises(OSError) as info:
        store.put_parts(parts)
    assert Path(info.value.filename).parent.parent == store.objects  # names the object
    monkeypatch.undo()
    assert [p for p in store.objects.rglob("*") if p.is_file()] == []
    digest = store.put_parts(parts)
    assert store.get(digest) == npy(ARRAYS["c_order"])


def test_put_parts_of_an_existing_object_writes_nothing(store):
    parts = dump_parts(ARRAYS["c_order"], "x")[1]
    digest = store.put_parts(parts)
    path = store.object_path(digest)
    old = 1_000_000_000_000_000_000
    os.utime(path, ns=(old, old))
    assert store.put_parts(parts) == digest
    assert path.stat().st_mtime_ns == old
