"""A step that runs a program incr does not follow (``cp``, ``bash script.sh``, a shell line
through ``os.system``): the project files its command line names, as they are when it starts,
count as read (``processes.arguments``, ``RecordedReads.note_named``); what else it reads is
an input only when listed in ``deps``, as the note says."""

from __future__ import annotations

from .conftest import MakeProject

FLOW = """\
import os
import subprocess

from incr import pipeline, step

from pipelines.mark import mark


@step
def copy() -> int:
    mark("copy")
    subprocess.run(["cp", "data/a.txt", "data/b.txt"], check=True)
    return 1


@step
def script() -> int:
    mark("script")
    subprocess.run(["bash", "scripts/count.sh", "data/a.txt"], check=True)
    return 2


@step
def shell() -> int:
    mark("shell")
    os.system("wc -c < data/c.txt > data/size.txt")
    return 3


@pipeline
def flow():
    copy()
    script()
    shell()
"""

COUNT = """\
wc -l "$1" > data/lines.txt
"""


def test_the_files_a_command_line_names_are_read(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/flow.py": FLOW,
            "scripts/count.sh": COUNT,
            "data/a.txt": "one\ntwo\n",
            "data/c.txt": "three\n",
        }
    )
    result = project.repro()
    assert project.take_ran() == ["copy", "script", "shell"]
    assert (
        "note: runs `cp` in a process incr does not follow: the files its command line names "
        "count as read (data/a.txt); what else it reads is an input only when listed in "
        "deps=[...]" in result.output
    )
    lock = project.lock()
    assert set(lock["flow.copy"].reads) == {"data/a.txt", "runs:cp"}  # not data/b.txt
    assert set(lock["flow.script"].reads) == {"data/a.txt", "scripts/count.sh", "runs:bash"}
    assert set(lock["flow.shell"].reads) == {"data/c.txt", "runs:sh"}  # not what it writes
    assert project.dirty() == {}
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert notes["copy"] == [
        "ran `cp` in a process incr does not follow: what it reads beyond the files its "
        "command line names is an input only when listed in deps=[...]"
    ]

    project.edit("scripts/count.sh", "wc -l", "wc -w")
    assert project.dirty() == {"script": [("read changed", "scripts/count.sh")]}
    project.repro()
    assert project.take_ran() == ["script"]
    (project.root / "data/a.txt").write_text("one\n")
    assert set(project.dirty()) == {"copy", "script"}
    (project.root / "data/c.txt").write_text("four\n")
    assert set(project.dirty()) == {"copy", "script", "shell"}
