"""incr/trees.py: what a folder holds (files with modes, links, empty folders), its manifest
bytes, and how two listings differ."""

import json
import os

import pytest
from blake3 import blake3

from incr import trees
from incr.storage import DIR_MODE, FILE_MODE
from incr.trees import DIR, FILE, LINK, Entry

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes and symlinks")

D1, D2 = "1" * 64, "2" * 64


def digest_of(name, full, st, stored):
    with open(full, "rb") as fh:
        return blake3(fh.read()).hexdigest()


def write(path, data=b"x", mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)
    return path


# --------------------------------------------------------------------------- manifest bytes


ENTRIES = [
    Entry("a.txt", FILE, D1),
    Entry("run.sh", FILE, D2, mode="x"),
    Entry("key", FILE, D1, mode="600"),
    Entry("latest", LINK, D1, "a.txt"),
    Entry("broken", LINK, target="nowhere"),
    Entry(".", DIR, mode="700"),
    Entry("empty", DIR),
    Entry("locked", DIR, mode="555"),
]


def test_entries_round_trip_through_manifest_bytes():
    assert trees.decode(trees.encode(ENTRIES)) == ENTRIES


def test_a_folder_of_plain_files_has_the_older_manifest_bytes():
    pairs = [["a.txt", D1], ["sub/b.txt", D2]]
    old = json.dumps(pairs, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    entries = [Entry("a.txt", FILE, D1), Entry("sub/b.txt", FILE, D2)]
    assert trees.encode(entries) == old
    assert trees.decode(old) == entries


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '[["a.txt"]]',
        '[["a.txt", "not-a-digest"]]',
        f'[["a.txt", "{D1}", "999"]]',
        f'[["a.txt", "{D1}", "x", "y"]]',
        '[["d", "dir", "x"]]',
        '[["l", "link"]]',
        '[["l", "link", "t", "short"]]',
        f'[["a.txt", {1}]]',
        "[5]",
    ],
)
def test_what_is_not_a_manifest_is_refused(text):
    with pytest.raises(ValueError):
        trees.decode(text.encode())


# --------------------------------------------------------------------------- modes


def test_usual_modes_are_not_recorded():
    assert trees.mode_field(FILE_MODE, False) == ""
    assert trees.mode_field(DIR_MODE, True) == ""
    assert trees.mode_field(DIR_MODE, False) == "x"  # chmod +x of a usual file
    assert trees.mode_field(0o604, False) == "604"
    assert trees.mode_field(0o701, True) == "701"
    assert trees.mode_field(0o104755, False) == trees.mode_field(0o755, False)  # no setuid


@pytest.mark.parametrize(
    ("mode", "is_dir"), [("", False), ("", True), ("x", False), ("640", False), ("701", True)]
)
def test_mode_bits_undo_mode_field(mode, is_dir):
    assert trees.mode_field(trees.mode_bits(mode, is_dir), is_dir) == mode


# --------------------------------------------------------------------------- walking


def test_walk_lists_files_and_links_by_name_then_each_folder(tmp_path):
    folder = tmp_path / "out"
    write(folder / "b.txt", b"b")
    write(folder / "sub/deep/c.txt", b"c")
    write(folder / "run.sh", b"#!", 0o701)
    (folder / "empty").mkdir()
    (folder / "a_link").symlink_to("b.txt")
    (folder / "dir_link").symlink_to("sub")
    (folder / "sub/locked").mkdir(mode=0o700)
    os.chmod(folder / "sub/locked", 0o500)

    entries = trees.walk(str(folder), digest_of, str(tmp_path))

    paths = [e.path for e in entries]
    assert paths == [
        "a_link",
        "b.txt",
        "dir_link",
        "run.sh",
        "empty",
        "sub/deep/c.txt",
        "sub/locked",
    ]
    kinds = {e.path: e for e in entries}
    assert kinds["a_link"] == Entry("a_link", LINK, blake3(b"b").hexdigest(), "b.txt")
    assert kinds["dir_link"] == Entry("dir_link", LINK, "", "sub")  # listed, not walked into
    assert kinds["run.sh"].mode == "701"
    assert kinds["empty"] == Entry("empty", DIR)
    assert kinds["sub/locked"] == Entry("sub/locked", DIR, mode="500")
    os.chmod(folder / "sub/locked", 0o700)


def test_walk_records_the_folder_own_unusual_mode_first(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    os.chmod(folder, 0o701)
    write(folder / "a.txt")
    entries = trees.walk(str(folder), digest_of)
    assert entries[0] == Entry(".", DIR, mode="701")
    assert [e.path for e in entries[1:]] == ["a.txt"]


def test_walk_of_an_empty_folder_is_empty(tmp_path):
    (tmp_path / "out").mkdir()
    assert trees.walk(str(tmp_path / "out"), digest_of) == []


def test_walk_leaves_out_pipes(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    write(folder / "a.txt")
    assert [e.path for e in trees.walk(str(folder), digest_of)] == ["a.txt"]


# --------------------------------------------------------------------------- links


def test_an_absolute_target_inside_the_root_is_made_relative(tmp_path):
    link = tmp_path / "out" / "sub" / "l"
    target = str(tmp_path / "data" / "x.txt")
    assert trees.relative_target(str(link), target, str(tmp_path)) == "../../data/x.txt"
    assert trees.relative_target(str(link), "/elsewhere/x", str(tmp_path)) == "/elsewhere/x"
    assert trees.relative_target(str(link), "../x", str(tmp_path)) == "../x"


def test_leads_inside_follows_the_text_and_the_links(tmp_path):
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "out" / "jump").symlink_to(tmp_path / "outside")
    link = str(root / "out" / "l")
    assert trees.leads_inside(link, "a.txt", str(root))
    assert trees.leads_inside(link, "../data/missing.txt", str(root))
    assert not trees.leads_inside(link, "../../outside/x", str(root))
    assert not trees.leads_inside(link, str(tmp_path / "outside"), str(root))
    assert not trees.leads_inside(link, "jump/x", str(root))  # through a link out


# --------------------------------------------------------------------------- differences


def test_changes_name_what_was_added_removed_changed():
    recorded = [
        Entry("a.bin", FILE, D1),
        Entry("b.bin", FILE, D1),
        Entry("run.sh", FILE, D1, mode="x"),
        Entry("gone", DIR),
    ]
    current = [
        Entry("a.bin", FILE, D1),
        Entry("b.bin", FILE, D2),
        Entry("c.bin", FILE, D1),
        Entry("run.sh", FILE, D1),
    ]
    assert trees.changes(recorded, current) == ("b.bin changed, c.bin added, gone/ removed, 1 more")
    assert trees.changes(recorded, current, limit=9).endswith("run.sh mode changed")
    assert trees.changes(recorded, recorded) == ""


def test_an_empty_folder_that_got_files_is_named_by_its_files():
    recorded = [Entry("sub", DIR)]
    current = [Entry("sub/x.txt", FILE, D1)]
    assert trees.changes(recorded, current) == "sub/x.txt added"
    assert trees.changes(current, recorded) == "sub/x.txt removed"


def test_a_link_where_a_file_was_is_a_change():
    assert trees.changes([Entry("l", FILE, D1)], [Entry("l", LINK, D1, "x")]) == "l changed"


def test_a_record_without_modes_or_links_may_be_an_older_one():
    plain = [Entry("run.sh", FILE, D1), Entry("a", FILE, D2)]
    executable = [Entry("run.sh", FILE, D1, mode="x"), Entry("a", FILE, D2)]
    assert trees.may_lack_metadata(plain, executable)
    assert trees.may_lack_metadata(plain, [Entry("run.sh", LINK, D1, "a")])
    assert not trees.may_lack_metadata(plain, [*plain, Entry("new", FILE, D1, mode="x")])
    assert not trees.may_lack_metadata([*plain, Entry("e", DIR)], executable)


def test_a_manifest_from_another_umask_is_the_same_here() -> None:
    """A manifest written where files are made 0600 writes out ``644`` and ``755``, which are
    usual here (the tests run under umask 022 or 002: the modes below are read as bits)."""
    e = trees.Entry
    usual_file = format(FILE_MODE, "03o")
    usual_dir = format(DIR_MODE, "03o")
    recorded = [
        e("d", trees.DIR, mode=usual_dir),  # written out there: it holds something
        e("d/a", trees.FILE, "a" * 64, mode=usual_file),
        e("d/key", trees.FILE, "b" * 64, mode="600"),
        e("empty", trees.DIR, mode=usual_dir),
    ]
    current = [
        e("d/a", trees.FILE, "a" * 64),
        e("d/key", trees.FILE, "b" * 64, mode="600"),
        e("empty", trees.DIR),
    ]
    assert trees.same_here(recorded, current)
    assert trees.changes(recorded, current) == ""
    assert not trees.same_here(recorded, [*current[:1], e("d/key", trees.FILE, "b" * 64)])


def test_a_private_usual_mode_is_written_out() -> None:
    """Under umask 077 a file is made 0600 and a folder 0700: usual there, yet written out,
    so that they stay private on a machine whose umask is 022 (a 0700 script is not ``x``)."""
    import subprocess
    import sys

    code = (
        "from incr import trees; "
        "print(trees.mode_field(0o600, False), trees.mode_field(0o700, True), "
        "trees.mode_field(0o700, False), trees.mode_field(0o644, False) or '-')"
    )
    shown = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$0" -c "$1"', sys.executable, code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == ["600", "700", "700", "644"]
