"""incr/reads.py: what a step is seen to read, list and test, and what is left out."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incr import reads
from incr.pathfacts import listing_digest
from incr.reads import recording
from incr.session import exists_value, listing_value

STEP_CODE = """\
import glob
import os
from pathlib import Path


def run(action):
    return action()


def lists(folder):
    return sorted(glob.glob(folder + "/*")) + sorted(os.listdir(folder))


def tests(path):
    return os.path.exists(path), Path(path).is_file(), os.path.isdir(path)
"""


def load_code(path: Path) -> dict[str, Any]:
    """The functions above, compiled as if they lived in ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STEP_CODE, encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(compile(STEP_CODE, str(path), "exec"), namespace)
    return namespace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data/parts").mkdir(parents=True)
    (root / "data/parts/a.txt").write_text("a", encoding="utf-8")
    return root


@pytest.fixture
def step(root: Path) -> dict[str, Any]:
    return load_code(root / "pipelines/flow.py")


def test_listings_and_tests_by_project_code_are_recorded(
    root: Path, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    with recording(root, (".pipecache", "pipeline.lock")) as seen:
        step["lists"]("data/parts")
        step["tests"]("data/override.txt")
        step["tests"]("data")
    assert seen.learned() == {
        "ls:data/parts": listing_value(root, "data/parts"),
        "exists:data/override.txt": "missing",
        "exists:data": "dir",
    }
    assert exists_value(root, "data") == "dir"


def test_listings_by_other_code_are_not_recorded(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = load_code(tmp_path / "site/lib.py")  # outside the project
    hidden = load_code(root / ".venv/lib/python/site-packages/lib.py")
    monkeypatch.chdir(root)
    with recording(root) as seen:
        library["lists"]("data/parts")
        library["tests"]("data/override.txt")
        hidden["lists"]("data/parts")
        os.listdir("data/parts")  # this test module is not project code either
    # a library's existence test counts, whatever code called it (but incr's): a thread's
    assert seen.learned() == {"exists:data/override.txt": "missing"}


def test_a_change_by_the_step_records_the_folder_as_it_left_it(
    root: Path, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    with recording(root) as seen:
        step["lists"]("data/parts")
        step["tests"]("data/new.txt")
        Path("data/parts/b.txt").write_text("b", encoding="utf-8")
        Path("data/new.txt").write_text("new", encoding="utf-8")
    assert seen.learned() == {
        "ls:data/parts": listing_value(root, "data/parts"),
        "exists:data/new.txt": "file",
    }


def test_a_change_by_someone_else_keeps_what_the_step_saw(
    root: Path, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    before = listing_value(root, "data/parts")
    with recording(root) as seen:
        step["lists"]("data/parts")
        step["tests"]("data/new.txt")
        subprocess.run(["touch", "data/parts/b.txt", "data/new.txt"], check=True)  # unseen
    assert seen.learned() == {"ls:data/parts": before, "exists:data/new.txt": "missing"}
    assert listing_value(root, "data/parts") != before


def test_a_listing_of_the_root_leaves_out_incr_s_own_paths(
    root: Path, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    own = (".pipecache", "pipeline.lock")
    with recording(root, own) as seen:
        step["run"](os.listdir)
    (root / ".pipecache").mkdir()
    (root / "pipeline.lock").write_text("", encoding="utf-8")
    assert seen.learned() == {"ls:.": listing_value(root, ".", own)}
    assert listing_value(root, ".", own) != listing_value(root, ".")


def opened(root: Path, *actions: Callable[[], object]) -> list[str]:
    with recording(root, (".pipecache",)) as seen:
        for action in actions:
            action()
    return seen.paths()


def test_read_then_rewritten_is_a_read_written_then_read_is_not(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    clean = Path("data/clean.txt")
    made = Path("data/made.txt")
    clean.write_text(" x ", encoding="utf-8")
    assert opened(
        root,
        lambda: clean.write_text(clean.read_text(encoding="utf-8").strip(), encoding="utf-8"),
        lambda: made.write_text("made", encoding="utf-8"),
        lambda: made.read_text(encoding="utf-8"),
        lambda: open("data/log.txt", "a", encoding="utf-8").close(),
    ) == ["data/clean.txt"]


def test_appended_to_then_read_is_a_read(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append keeps the bytes before it: reading the file afterwards reads them too."""
    monkeypatch.chdir(root)
    labels = Path("data/labels.csv")
    labels.write_text("a,1\n", encoding="utf-8")

    def append_then_read() -> None:
        with open(labels, "a", encoding="utf-8") as fh:
            fh.write("")
        labels.read_text(encoding="utf-8")

    assert opened(root, append_then_read) == ["data/labels.csv"]


def test_dotfiles_count_and_tooling_does_not(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [
        "data/.thresholds.json",
        ".settings.yaml",
        ".venv/x.txt",
        ".tox/x.txt",
        ".nox/x.txt",
        ".git/x.txt",
        ".hg/x.txt",
        "tools/pyvenv.cfg",
        "tools/x.txt",
        "env/x.txt",
        "pkg.egg-info/PKG-INFO",
        "node_modules/x.js",
        ".pipecache/x.txt",
        "data/code.py",
    ]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x", encoding="utf-8")
    monkeypatch.chdir(root)
    read = opened(root, *[lambda rel=rel: Path(rel).read_bytes() for rel in files])
    # data/code.py is read as data here (read_bytes), not imported: a read like any file.
    assert read == [".settings.yaml", "data/.thresholds.json", "data/code.py", "env/x.txt"]


def test_the_stat_wrapper_is_in_place_only_while_recording(root: Path) -> None:
    real = os.stat
    with recording(root):
        assert os.stat is not real
        with recording(root):
            assert os.stat is not real
        assert os.stat is not real
    assert os.stat is real
    assert reads._active is None


def test_listing_digest_is_missing_for_a_file_or_nothing(root: Path) -> None:
    assert listing_digest(str(root / "data/parts/a.txt")) == "missing"
    assert listing_digest(str(root / "nothing")) == "missing"
    assert listing_value(root, "nothing") == "missing"


def test_making_folders_is_no_existence_test(
    root: Path, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether ``makedirs(exist_ok=True)`` looks depends on whether the folder was there: the
    lockfile must not depend on that history."""
    monkeypatch.chdir(root)
    with recording(root) as seen:
        step["run"](lambda: os.makedirs("data/parts", exist_ok=True))
        step["run"](lambda: Path("data/parts").mkdir(exist_ok=True))
        step["run"](lambda: os.makedirs("out/deeper", exist_ok=True))
    assert not any(k.startswith("exists:") for k in seen.learned())


def test_what_incr_reads_for_itself_on_one_thread_is_not_recorded(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.chdir(root)
    for name in ("own.txt", "other.txt", "after.txt"):
        Path("data", name).write_text(name, encoding="utf-8")

    def other_thread() -> None:
        Path("data/other.txt").read_text(encoding="utf-8")

    with recording(root, (".pipecache",)) as seen:
        with reads.unrecorded():
            Path("data/own.txt").read_text(encoding="utf-8")
            os.stat("data/own.txt")
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join()
        Path("data/after.txt").read_text(encoding="utf-8")
    assert seen.paths() == ["data/after.txt", "data/other.txt"]


def test_a_relay_takes_whole_lines_and_costs_no_folder_until_a_child_is_started() -> None:
    import os

    from incr.readrelay import Relay

    relay = Relay()
    assert list(relay.events()) == [] and relay.folder is None  # nothing forked: no look
    relay.forking()  # the step's process, about to fork: it makes the folder
    assert relay.folder is not None
    assert list(relay.events()) == [] and os.path.isdir(relay.folder)
    folder = relay.folder
    relay.start_child()  # as a forked child does
    relay.send("open", "/mnt/data/a.csv", "r", 0)
    relay.send("ls", "/mnt/data", "abc")
    assert relay.fd is not None
    os.write(relay.fd, b'["open", "/mnt/data/cut')  # a child killed mid-line
    assert list(relay.events()) == [["open", "/mnt/data/a.csv", "r", 0], ["ls", "/mnt/data", "abc"]]
    assert list(relay.events()) == []  # each event is taken once
    os.write(relay.fd, b'"]\n')  # the line finished: a child still at work, in the next step
    relay.send("test", "/mnt/data/b.csv", "file")
    os.close(relay.fd)
    assert list(relay.events()) == [
        ["open", "/mnt/data/cut"],
        ["test", "/mnt/data/b.csv", "file"],
    ]
    relay.close()
    assert not os.path.exists(folder)
    relay.folder = folder  # a child that starts after the process that named it ended
    relay.start_child()
    assert relay.fd is None and not os.path.exists(folder)  # reports nothing, leaves nothing


def test_a_child_forked_while_reads_are_recorded_names_the_relay_first(tmp_path) -> None:
    """The folder is named in the step's process before the fork (the child inherits the
    name), so the step looks for the child's reports only when it forked."""
    import os

    from incr.readrelay import for_this_process
    from incr.reads import recording

    for_this_process().close()  # as in a process that never forked (an earlier test may have)
    (tmp_path / "data.txt").write_text("x", encoding="utf-8")
    with recording(tmp_path, children=True) as recorder:
        assert recorder.relay is not None and recorder.relay.folder is None
        pid = os.fork()
        if pid == 0:  # the child reads a file of the project, then leaves at once
            try:
                with open(tmp_path / "data.txt", encoding="utf-8") as fh:
                    fh.read()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert recorder.relay.folder is not None
    assert str(tmp_path / "data.txt") in recorder.read
