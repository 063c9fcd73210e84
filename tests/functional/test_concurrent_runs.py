"""Reliability, concurrent runs: a second run waits for the first and says for whom, and a killed
run leaves no stale lock."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import MakeProject, Project
from .reliability import INCR, _env, _Running

QUEUE = """\
    import subprocess

    from incr import pipeline, step
    from pipelines.mark import mark

    GATE = "{gate}"  # a file the step waits for, in a process incr does not follow
    PAUSE = 30.0  # at most


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def slow(value: int) -> int:
        mark("slow")
        wait = f"while [ ! -e '{{GATE}}' ]; do sleep 0.01; done"
        try:
            subprocess.run(["sh", "-c", wait], timeout=PAUSE)
        except subprocess.TimeoutExpired:
            pass
        return value + 1


    @pipeline
    def queue():
        slow(first())
    """


def _queue(make_project: MakeProject, pause: float = 30.0) -> tuple[Project, Path]:
    """A project whose step ``slow`` runs until the returned file exists (at most ``pause``
    seconds)."""
    project = make_project({})
    gate = project.root.parent / "gate"
    gate.unlink(missing_ok=True)
    text = QUEUE.format(gate=gate).replace("PAUSE = 30.0", f"PAUSE = {pause}")
    project.write({"pipelines/queue.py": text})
    return project, gate


def test_a_second_repro_waits_for_the_first_and_says_for_whom(make_project: MakeProject) -> None:
    project, gate = _queue(make_project)
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    waiter = _Running(project, "repro")
    said = waiter.err.when("waiting for another incr")
    assert holder.proc.poll() is None, "the waiter must say so while the holder runs"
    gate.touch()
    assert holder.finish() == 0
    assert waiter.finish() == 0

    assert f"pid {holder.proc.pid}" in waiter.err.text()
    assert "`incr repro`" in waiter.err.text()
    finished = holder.out.when("Pipeline run queue-")
    assert said < finished
    assert waiter.out.when("Creating run for pipeline") > finished, "started before the holder"
    assert "2 steps reused from the cache" in waiter.out.text()
    assert project.take_ran() == ["first", "slow"], "slow ran once"
    assert sorted(project.lock()) == ["queue.first", "queue.slow"]


def test_no_wait_fails_at_once_and_status_does_not_wait(make_project: MakeProject) -> None:
    project, gate = _queue(make_project)
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    busy = project.incr("repro", "--no-wait")
    status = project.incr("status")
    still_running = holder.proc.poll() is None
    gate.touch()
    assert holder.finish() == 0

    assert still_running, "--no-wait and status must not wait for the holder"
    line = busy.user_error()
    assert "another incr is running" in line
    assert f"pid {holder.proc.pid}" in line and "`incr repro`" in line
    assert status.returncode == 0, status.output
    assert "slow" in status.stdout and "waiting for" not in status.output
    assert project.take_ran() == ["first", "slow"]


def _wait_for_mark(project: Project, name: str, timeout: float = 30.0) -> None:
    """Wait until step ``name`` has written its mark in ran.txt (it is running)."""
    deadline = time.monotonic() + timeout
    ran = project.root / "ran.txt"
    while time.monotonic() < deadline:
        if ran.exists() and name in ran.read_text(encoding="utf-8").split():
            return
        time.sleep(0.01)
    raise AssertionError(f"step {name} did not start within {timeout} s")


def test_a_killed_holder_leaves_no_stale_lock(make_project: MakeProject) -> None:
    project, gate = _queue(make_project)
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")
    _wait_for_mark(project, "slow")  # the line comes before the step's own first line
    holder.proc.send_signal(signal.SIGKILL)
    holder.finish()
    assert project.take_ran() == ["first", "slow"]
    gate.touch()  # the next run's slow step goes through

    result = project.incr("repro", "--no-wait")  # would fail at once if the lock were held

    assert result.returncode == 0, result.output
    assert "waiting for" not in result.output
    assert project.take_ran() == ["slow"], "first had finished before the kill"


def test_commit_during_a_run_is_not_lost(make_project: MakeProject) -> None:
    project, gate = _queue(make_project, pause=0.0)
    project.repro()
    assert project.take_ran() == ["first", "slow"]
    project.edit("pipelines/queue.py", "PAUSE = 0.0", "PAUSE = 30.0")
    holder = _Running(project, "repro")
    holder.out.when("Step slow has started.")

    project.edit("pipelines/queue.py", "    return 1\n", "    one = 1\n    return one\n")
    committer = _Running(project, "commit", "first")
    committer.err.when("waiting for another incr")  # the run holds the project
    gate.touch()
    assert committer.finish() == 0, committer.err.text()
    assert holder.finish() == 0

    assert project.take_ran() == ["slow"]
    assert project.dirty() == {}, "the run wrote its stale view of first over the commit"


PAIR = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def left() -> int:
        mark("left")
        time.sleep(1.0)
        return 1


    @step
    def right() -> int:
        mark("right")
        time.sleep(1.0)
        return 2


    @pipeline
    def pair():
        left()
        right()
    """


def test_a_killed_parallel_repro_leaves_nothing_holding_the_lock(make_project: MakeProject) -> None:
    project = make_project({"pipelines/pair.py": PAIR})
    parent = subprocess.Popen(
        [*INCR, "repro", "-j", "2"],
        cwd=project.root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers stay in this process group, to clean up by id
    )
    try:
        deadline = time.monotonic() + 30
        while _ran(project) < 2:
            assert time.monotonic() < deadline, "the two steps never started"
            time.sleep(0.02)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        result = project.incr("repro", "--no-wait")
        leftovers = _alive(parent.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)

    assert result.returncode == 0, result.output
    assert not leftovers, "workers of the killed run are still alive"


def _ran(project: Project) -> int:
    """How many steps have started so far (without taking ``ran.txt`` away)."""
    path = project.root / "ran.txt"
    return len(path.read_text(encoding="utf-8").split()) if path.exists() else 0


def _alive(group: int) -> bool:
    """True while any process of the process group ``group`` lives."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


SLOW_AND_QUICK = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def quick() -> int:
        mark("quick")
        return 1


    @step
    def slow() -> int:
        mark("slow")
        time.sleep(60)
        return 2


    @pipeline
    def both():
        quick()
        slow()
    """


def test_ctrl_c_in_a_parallel_run_says_one_line_and_keeps_what_finished(
    make_project: MakeProject,
) -> None:
    """Ctrl-C reaches the whole process group, workers too: the one waiting for a job ends
    without a traceback, and the run keeps the step that finished."""
    project = make_project({"pipelines/both.py": SLOW_AND_QUICK})
    proc = subprocess.Popen(
        [sys.executable, "-m", "incr.cli", "repro", "--jobs", "2"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job is
    )
    try:
        deadline = time.monotonic() + 60
        ran = project.root / "ran.txt"
        while "slow" not in (ran.read_text() if ran.exists() else "") or not (
            project.lockfile.exists() and "both.quick" in project.lockfile.read_text()
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "interrupted: every step that finished is kept in the lockfile" in err
    assert "Traceback" not in err, err
    assert set(project.lock()) == {"both.quick"}
