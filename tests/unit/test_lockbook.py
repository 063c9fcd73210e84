"""incr/lockbook.py: how often a run rewrites the lockfile."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from incr import lockbook, lockfile
from incr.hashing import StatCache
from incr.lockbook import LockBook
from incr.model import Facts, LockEntry
from incr.project import Project


@dataclass
class Writes:
    """A clock the LockBook reads, and the lockfile writes it made (each takes ``took``)."""

    now: float = 1000.0
    took: float = 0.0
    at: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now


@pytest.fixture
def writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writes:
    seen = Writes()
    real = lockfile.write

    def write(path: Path, entries: Any) -> Any:
        seen.at.append(seen.now)
        seen.now += seen.took
        return real(path, entries)

    monkeypatch.setattr(lockbook, "time", SimpleNamespace(monotonic=seen.clock))
    monkeypatch.setattr(lockfile, "write", write)
    return seen


@pytest.fixture
def book(tmp_path: Path) -> LockBook:
    (tmp_path / "pyproject.toml").write_text("[tool.incr]\n")
    return LockBook(Project.find(tmp_path), StatCache(tmp_path, None))


def test_quick_writes_come_at_most_every_interval(book: LockBook, writes: Writes) -> None:
    for _ in range(11):  # a step finishes every tenth of a second
        book.write(soon=True)
        writes.now += 0.1
    assert len(writes.at) == 4  # at 0, 0.3, 0.6 and 0.9 s; the one at 1.0 s waits
    book.flush()
    assert len(writes.at) == 5  # what was left, at the end


def test_a_slow_write_spaces_the_next_ones_out(book: LockBook, writes: Writes) -> None:
    writes.took = 0.1  # a large lockfile: each rewrite takes a tenth of a second
    for _ in range(60):
        book.write(soon=True)
        writes.now += 0.1
    gaps = [b - a for a, b in itertools.pairwise(writes.at)]
    assert gaps and min(gaps) >= lockbook.LOCK_WRITE_SHARE * writes.took
    spent = writes.took * len(writes.at)
    assert spent <= 0.15 * (writes.now - writes.at[0])  # about a tenth of the run, no more


def test_a_large_lockfile_waits_a_second_per_its_bytes_rate(
    book: LockBook, writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each rewrite is an fsync of the whole file: a large one waits longer, however quickly
    it was formatted."""
    monkeypatch.setattr(lockbook, "LOCK_BYTES_PER_SECOND", 50)  # the file: about 90 bytes
    for _ in range(60):
        book.write(soon=True)
        writes.now += 0.1
    size = len(book.project.lockfile.read_bytes())
    gaps = [b - a for a, b in itertools.pairwise(writes.at)]
    assert gaps and min(gaps) >= size / 50 > lockbook.LOCK_WRITE_INTERVAL


def _books(root: Path) -> Callable[[], LockBook]:
    """A project at ``root`` with its cache folder, and a maker of its lock books (each as a
    command opens it)."""
    (root / "pyproject.toml").write_text("[tool.incr]\n")
    (root / ".pipecache").mkdir()
    return lambda: LockBook(Project.find(root), StatCache(root, None))


def _entry(key: str, fingerprint: str) -> LockEntry:
    facts = Facts(code={key: "c" * 32}, config={}, inputs={}, deps={})
    return LockEntry(key=key, fingerprint=fingerprint, facts=facts, outputs={})


def test_a_lockfile_incr_wrote_lends_its_blocks_while_it_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries read from the parsed copy of a lockfile that incr wrote name its text for the
    next write to take their blocks from; a hand edit since, or a copy made by parsing a
    lockfile, names nothing that write could take."""
    named: list[Any] = []
    real = lockfile.blocks_in

    def spy(text_of: Any, entries: Any) -> None:
        named.append(text_of)
        real(text_of, entries)

    monkeypatch.setattr(lockfile, "blocks_in", spy)
    book = _books(tmp_path)

    first = book()
    first.entries = {k: _entry(k, f"{i:032x}") for i, k in enumerate(["p.a", "p.b", "p.c"])}
    first.write()
    first.flush()
    path = first.project.lockfile
    written = path.read_text()

    again = book()
    assert len(named) == 1 and named[0]() == written
    path.write_text(written.replace('\n\n[steps."p.b".code]', '\n# a note\n[steps."p.b".code]'))
    assert named[0]() is None  # edited since: nothing to take
    again.entries["p.c"] = _entry("p.c", "f" * 32)
    again.write()
    assert path.read_text() == lockfile.dumps(
        _entry(k, e.fingerprint) for k, e in again.entries.items()
    )
    assert "# a note" not in path.read_text()

    book()  # the copy is older than the lockfile: parsed, and the copy made from it names nothing
    assert len(named) == 1


def test_entries_a_run_fingerprinted_are_kept_consistent_without_a_digest_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsed copy lists the entries whose fingerprint is that of their facts. For an
    entry whose fingerprint ``fingerprint_of`` computed from its very facts (each step a run
    records), that is known: no digest is taken again. An entry whose fingerprint is not that
    of its facts is never listed, whatever was computed for facts like them."""
    from incr.fingerprint import fingerprint

    (tmp_path / "pyproject.toml").write_text("[tool.incr]\n")
    (tmp_path / ".pipecache").mkdir()
    book = LockBook(Project.find(tmp_path), StatCache(tmp_path, None))
    made = _entry("p.made", "")
    made = LockEntry("p.made", book.fingerprint_of(made.facts, None), made.facts, {})
    twin = _entry("p.made", "")  # equal facts, another value: its fingerprint is not known
    wrong = LockEntry("p.wrong", "0" * 32, twin.facts, {})
    book.entries = {"p.made": made, "p.wrong": wrong}
    digests: list[Facts] = []

    def counted(facts: Facts) -> str:
        digests.append(facts)
        return fingerprint(facts)

    monkeypatch.setattr(lockbook, "fingerprint", counted)
    book.write()
    book.flush()

    assert digests == [wrong.facts], "only the entry whose fingerprint was not computed here"
    again = LockBook(Project.find(tmp_path), StatCache(tmp_path, None))
    assert again.checked(again.entries["p.made"]) and not again.checked(again.entries["p.wrong"])


def test_a_new_book_shares_the_entries_read_until_another_process_changes_the_lockfile(
    tmp_path: Path,
) -> None:
    """A script calling ``.run()`` again makes a new LockBook: while the lockfile's digest is
    the one this process last read or wrote, it takes those entries without decoding the
    parsed copy again; once another writer changed the lockfile, it reads what is there."""
    book = _books(tmp_path)

    from incr.fingerprint import fingerprint

    first = book()
    first.entries = {k: _entry(k, "") for k in ["p.a", "p.b"]}
    first.entries = {
        k: replace(e, fingerprint=fingerprint(e.facts)) for k, e in first.entries.items()
    }
    first.write()
    first.flush()
    again = book()
    assert again.entries == first.entries
    assert again.entries["p.a"] is first.entries["p.a"], "taken, not decoded again"
    assert again.entries is not first.entries  # each book adds and drops its own keys
    assert again.checked(again.entries["p.a"])

    lockfile.write(first.project.lockfile, [_entry("p.a", "e" * 32)])  # another process
    later = book()
    assert set(later.entries) == {"p.a"} and later.entries["p.a"].fingerprint == "e" * 32
    assert not later.checked(later.entries["p.a"])  # its fingerprint is not that of its facts


def test_the_parsed_copy_saved_again_encodes_only_the_entries_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved again after one entry changed, the parsed copy takes the other entries as it held
    them (not encoded again), and a process that reads it finds every entry as written."""
    book = _books(tmp_path)

    first = book()
    first.entries = {k: _entry(k, f"{i:032x}") for i, k in enumerate(["p.a", "p.b", "p.c"])}
    first.write()
    first.flush()
    monkeypatch.setattr(lockbook, "_known", {})  # as a new process: the copy is decoded
    monkeypatch.setattr(lockbook, "_encoded", {})
    again = book()
    encoded: list[str] = []
    real = lockfile.entry_to_json

    def counted(entry: LockEntry) -> Any:
        encoded.append(entry.key)
        return real(entry)

    monkeypatch.setattr(lockfile, "entry_to_json", counted)
    again.entries["p.b"] = _entry("p.b", "f" * 32)
    again.write()
    again.flush()
    assert encoded == ["p.b"]

    monkeypatch.setattr(lockbook, "_known", {})
    monkeypatch.setattr(lockbook, "_encoded", {})
    read = book().entries
    assert read == again.entries
    assert read["p.b"].fingerprint == "f" * 32


def test_the_same_facts_asked_twice_in_a_row_are_fingerprinted_once(
    book: LockBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step after an executed one is fingerprinted when the run checks whether it is still
    clean, then again when it is decided: the second time takes the first's answer, but only
    for facts that give the same fingerprint (a config value 1.0 is not 1)."""
    from incr.fingerprint import fingerprint

    made: list[Facts] = []

    def counted(facts: Facts) -> str:
        made.append(facts)
        return fingerprint(facts)

    monkeypatch.setattr(lockbook, "fingerprint", counted)
    first = Facts({"python": "3.11"}, {"lr": 1}, {"x": "a" * 64}, {})
    again = Facts(dict(first.code), {"lr": 1}, dict(first.inputs), {})
    assert book.fingerprint_of(first, None) == book.fingerprint_of(again, None)
    assert len(made) == 1
    other = Facts(dict(first.code), {"lr": 1.0}, dict(first.inputs), {})
    assert book.fingerprint_of(other, None) == fingerprint(other) != fingerprint(first)
    assert len(made) == 2
