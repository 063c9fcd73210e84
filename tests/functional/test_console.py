"""The calmer console of incr repro: executed steps keep the seed's lines, reused steps are
one line per pipeline (all of them with -v), a live progress line on a terminal; plurals."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from .conftest import MakeProject, Project

SLOW = """\
import time

from incr import pipeline, step
from pipelines.mark import mark


@step
def first() -> int:
    mark("first")
    return 1


@step
def slow(n: int) -> int:
    mark("slow")
    time.sleep(1.6)
    return n + 1


@pipeline
def queue():
    slow(first())
"""


def on_a_terminal(project: Project, *args: str) -> str:
    """Run ``incr ARGS`` with its output on a pseudo-terminal; everything it wrote."""
    main, other = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "incr.cli", *args],
        cwd=project.root,
        stdin=subprocess.DEVNULL,
        stdout=other,
        stderr=other,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    os.close(other)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 4096)
            except OSError:  # the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    assert proc.returncode == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode()


def test_reused_steps_are_one_line_unless_verbose(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": SLOW.replace("1.6", "0")})
    first = project.repro()
    project.edit("pipelines/queue.py", "return n + 1", "return n + 2")

    second = project.repro()
    third = project.repro()
    verbose = project.repro("-v")

    assert "Step first has started." in first.stdout and "Step slow has finished in" in first.stdout
    assert "reused" not in first.stdout
    assert "Step slow has started.\n  because: code changed (slow in pipelines/queue.py)" in (
        second.stdout
    )
    assert "1 step reused from the cache\nPipeline run queue-" in second.stdout
    assert "Step first" not in second.stdout and "Using cached version" not in second.stdout
    assert "2 steps reused from the cache" in third.stdout and "Step " not in third.stdout
    assert "Using cached version of first." in verbose.stdout and "reused" not in verbose.stdout
    assert "\r" not in first.output + second.output  # no progress line off a terminal


def test_a_long_run_on_a_terminal_shows_a_live_progress_line(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": SLOW})

    screen = on_a_terminal(project, "repro")

    assert project.take_ran() == ["first", "slow"]
    progress = [part for part in screen.split("\r\x1b[K") if "steps done" in part]
    assert progress, screen
    assert any(p.startswith("queue: 1 of 2 steps done, running slow, ") for p in progress), progress
    assert "Step slow has finished in" in screen
    assert "Pipeline run queue-" in screen
    assert screen.endswith("\r\x1b[K")  # the progress line is cleared at the end


def test_the_progress_line_waits_for_the_first_second(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": SLOW.replace("1.6", "0")})

    screen = on_a_terminal(project, "repro")

    # a quick run shows none (a loaded machine may make this run last over a second)
    shown = [p for p in screen.split("\r\x1b[K") if "steps done" in p]
    assert all(float(p.rsplit(", ", 1)[1].rstrip("s")) >= 1.0 for p in shown), shown
    assert "Step slow has finished in" in screen


def test_one_step_and_one_problem_are_singular(make_project: MakeProject) -> None:
    project = make_project({"pipelines/queue.py": SLOW.replace("1.6", "0")})
    project.repro()
    project.edit("pipelines/queue.py", "    slow(first())", "    first()")
    project.repro()
    status = project.incr("status").stdout.splitlines()
    good = project.incr("verify")
    digest = project.lock()["queue.first"].outputs["output"].digest
    project.damage_object(digest)
    bad = project.incr("verify")

    assert status[-1] == "1 step clean"
    assert good.stdout == "1 object matches its digest\n"
    assert "1 problem in 1 object;" in bad.stderr
