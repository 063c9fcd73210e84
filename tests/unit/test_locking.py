"""incr/locking.py: one writer per project, through flock on .pipecache/lock."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from incr.errors import IncrError
from incr.locking import LockBusy, project_lock

#: A child process that takes the lock, says so, and holds it until killed.
HOLDER = """\
import sys, time
from pathlib import Path
from incr.locking import project_lock

with project_lock(Path(sys.argv[1]), "incr repro"):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / ".pipecache"


@pytest.fixture
def child(cache: Path) -> Iterator[subprocess.Popen]:
    """Start a process holding the lock; yields it once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(cache)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_the_lock_creates_the_cache_folder_and_says_who_holds_it(cache: Path) -> None:
    with project_lock(cache, "incr repro"):
        info = json.loads((cache / "lock").read_text(encoding="utf-8"))
        assert info["pid"] == os.getpid()
        assert info["command"] == "incr repro"
        assert abs(info["started"] - time.time()) < 60
    assert (cache / ".gitignore").is_file()


def test_a_shorter_command_after_a_longer_one_is_said_whole(cache: Path) -> None:
    """The holder's line overwrites the last one without truncating the file: what is left
    of a longer line is covered by spaces, which JSON reads past."""
    with project_lock(cache, "incr repro " + "a_step_with_a_long_name " * 40):
        pass
    with project_lock(cache, "incr gc"):
        info = json.loads((cache / "lock").read_text(encoding="utf-8"))
        assert info["command"] == "incr gc" and info["pid"] == os.getpid()
    with project_lock(cache, "incr repro " + "x" * 2000):  # longer than the file
        info = json.loads((cache / "lock").read_text(encoding="utf-8"))
        assert info["command"] == "incr repro " + "x" * 2000


def test_a_second_open_in_the_same_process_conflicts(cache: Path) -> None:
    holders = []
    with (
        project_lock(cache, "first"),
        pytest.raises(LockBusy) as busy,
        project_lock(cache, "second", wait=False),
    ):
        holders.append("second")
    assert holders == [], "two holders at once"
    assert f"pid {os.getpid()}" in busy.value.message
    assert "`first`" in busy.value.message


def test_busy_is_a_one_line_user_error_with_a_way_out(cache: Path) -> None:
    with (
        project_lock(cache, "incr repro"),
        pytest.raises(LockBusy) as busy,
        project_lock(cache, "incr gc", wait=False),
    ):
        pass

    assert isinstance(busy.value, IncrError)
    text = busy.value.format()
    assert text.startswith("error: another incr is running in this project (")
    assert len(text.splitlines()) == 2 and text.splitlines()[1].startswith("  hint: ")


def test_the_lock_is_released_after_the_block_and_after_an_error(cache: Path) -> None:
    with project_lock(cache, "one"):
        pass
    with pytest.raises(RuntimeError), project_lock(cache, "two"):
        raise RuntimeError("a failing run")

    with project_lock(cache, "three", wait=False):
        info = json.loads((cache / "lock").read_text(encoding="utf-8"))
    assert info["command"] == "three"


def test_a_waiter_says_so_once_and_gets_the_lock_after_the_holder(cache: Path) -> None:
    held, released = threading.Event(), []

    def hold() -> None:
        with project_lock(cache, "holder"):
            held.set()
            time.sleep(0.5)
            released.append(time.monotonic())

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    told: list[str] = []
    with project_lock(cache, "waiter", on_wait=told.append, poll=0.02):
        got = time.monotonic()
    thread.join()

    assert len(told) == 1
    assert told[0].startswith("waiting for another incr to finish (")
    assert f"pid {os.getpid()}" in told[0] and "`holder`" in told[0]
    assert got >= released[0]


def test_the_lock_excludes_threads(cache: Path) -> None:
    inside, most = [0], [0]

    def work() -> None:
        with project_lock(cache, "worker", poll=0.005):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most[0] == 1


def test_another_process_holding_the_lock_is_named(cache: Path, child) -> None:
    with pytest.raises(LockBusy) as busy, project_lock(cache, "incr gc", wait=False):
        pass

    assert f"pid {child.pid}" in busy.value.message
    assert "`incr repro`" in busy.value.message


def test_the_kernel_drops_the_lock_of_a_killed_process(cache: Path, child) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()

    told: list[str] = []
    with project_lock(cache, "next", wait=False, on_wait=told.append):  # raises when held
        pass
    assert told == []


def test_a_holder_that_has_not_written_its_name_yet(cache: Path) -> None:
    cache.mkdir()
    fd = os.open(cache / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LockBusy) as busy, project_lock(cache, "second", wait=False):
            pass
    finally:
        os.close(fd)

    assert "has not said who it is yet" in busy.value.message
