"""A step that runs a Python tool through ``os.system`` (the step's own Python): what the tool
reads is the step's read, as through ``subprocess`` (incr/processes.py)."""

from __future__ import annotations

from .conftest import MakeProject

FLOW = """\
import os
import sys

from incr import pipeline, step

from pipelines.mark import mark


@step
def doubled() -> str:
    mark("doubled")
    status = os.system(f"{sys.executable} tool.py data/n.txt out.txt")
    assert status == 0, status
    with open("out.txt", encoding="utf-8") as fh:
        return fh.read()


@step
def failing() -> int:
    mark("failing")
    return os.system(f"{sys.executable} -c 'raise SystemExit(3)'")


@pipeline
def p():
    doubled()
    failing()
"""

TOOL = """\
import sys

with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[2], "w", encoding="utf-8") as dst:
    dst.write(str(int(src.read()) * 2))
"""


def test_what_a_python_tool_run_by_os_system_reads_is_the_steps_read(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/flow.py": FLOW, "tool.py": TOOL, "data/n.txt": "4"})
    project.repro()
    assert project.take_ran() == ["doubled", "failing"]
    assert "data/n.txt" in project.lock()["p.doubled"].reads
    read_back = (
        "from incr.postexec import Repository; "
        "print(Repository().get_pipeline('p').runs[-1].get_step('failing').output.read())"
    )
    result = project.python("-c", read_back)
    assert result.stdout.strip() == str(3 << 8), result.output  # a wait status, as os.system's
    (project.root / "data" / "n.txt").write_text("5")
    assert project.dirty() == {"doubled": [("read changed", "data/n.txt")]}
    project.repro()
    assert project.take_ran() == ["doubled"]
    assert project.read("out.txt") == "10"
