"""incr/outputs.py: recorded outputs checked against the store, by listings past a few."""

import os

import pytest
from blake3 import blake3

from incr import outputs
from incr.hashing import StatCache
from incr.model import Artifact, Facts, LockEntry
from incr.outputs import OutputCheck
from incr.store import Store


@pytest.fixture
def check(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "LIST_AFTER", 2)
    return OutputCheck(StatCache(tmp_path, None), Store(tmp_path / ".pipecache"))


def entry(*digests: str) -> LockEntry:
    facts = Facts(code={}, config={}, inputs={}, deps={})
    arts = {f"out{i}": Artifact("pickle", d) for i, d in enumerate(digests)}
    return LockEntry(key="p.s", fingerprint="f", facts=facts, outputs=arts)


def listings(monkeypatch) -> list[str]:
    listed: list[str] = []
    real = os.listdir

    def listdir(path):
        listed.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(outputs.os, "listdir", listdir)
    return listed


def test_listed_shards_answer_like_the_files(check, monkeypatch):
    stored = [check.store.put(f"value {i}".encode()) for i in range(40)]
    gone = [check.store.put(f"gone {i}".encode()) for i in range(10)]
    for digest in gone:
        check.store.object_path(digest).unlink()
    listed = listings(monkeypatch)
    assert check.problems(entry(*stored), listed=True) == ([], [])
    missing, _ = check.problems(entry(*gone, "ab" + "0" * 62), listed=True)
    assert missing == [f"out{i}" for i in range(11)]
    shards = {d[:2] for d in stored[2:] + gone} | {"ab"}
    assert sorted(listed) == sorted(shards)  # each shard listed once, past the first two


def test_an_object_stored_after_its_shard_was_listed_is_found(check, monkeypatch):
    first = check.store.put(b"first")
    same_shard = next(
        data
        for i in range(100_000)
        if blake3(data := f"later {i}".encode()).hexdigest()[:2] == first[:2]
    )
    listed = listings(monkeypatch)
    for _ in range(3):
        assert check.stored(first)
    assert listed == [first[:2]]
    later = check.store.put(same_shard)  # after the listing
    assert check.stored(later)


def test_outside_the_status_walk_every_object_is_looked_at_now(check, monkeypatch) -> None:
    stored = [check.store.put(f"value {i}".encode()) for i in range(10)]
    listed = listings(monkeypatch)
    assert check.problems(entry(*stored), listed=True) == ([], [])
    check.store.object_path(stored[-1]).unlink()  # a damaged object removed by a run
    assert check.problems(entry(*stored)) == (["out9"], [])
    assert listed  # the walk listed the shards: the run did not take their word
