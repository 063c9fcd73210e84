"""Small things users hit: outs left on disk by a removed step (status says so, gc --outs
removes them), a multi-output step passed as one input, a package no longer used."""

from __future__ import annotations

from .conftest import MakeProject

TWO = """\
from pathlib import Path

from incr import pipeline, step
from pipelines.mark import mark


@step
def load() -> int:
    mark("load")
    return 3


@step(outs=["reports/a.txt", "reports/extra/"])
def write(n: int) -> None:
    mark("write")
    Path("reports/extra").mkdir(parents=True, exist_ok=True)
    Path("reports/a.txt").write_text(str(n))
    Path("reports/extra/b.txt").write_text("b")


@pipeline
def two():
    write(load())
"""


def test_outs_of_a_removed_step_are_noted_and_gc_outs_removes_them(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/two.py": TWO})
    project.repro()
    project.edit("pipelines/two.py", "    write(load())", "    load()")
    note = (
        "note: removed step two.write left reports/a.txt, reports/extra on disk; "
        "`incr gc --outs` removes them"
    )

    before = project.incr("status").stdout.splitlines()
    project.repro()  # drops two.write from pipeline.lock
    after = project.incr("status").stdout.splitlines()
    dry = project.incr("gc", "--outs", "--dry-run")

    assert note not in before  # two.write is still in pipeline.lock: the next repro drops it
    assert note in after
    assert "two.write" not in project.lock()
    assert "would remove reports/a.txt (outs of removed step two.write)" in dry.stdout
    assert (project.root / "reports/a.txt").exists()
    gc = project.incr("gc", "--outs")
    assert gc.returncode == 0, gc.output
    assert "removed reports/extra (outs of removed step two.write)" in gc.stdout
    assert not (project.root / "reports/a.txt").exists()
    assert not (project.root / "reports/extra").exists()
    assert not any(line.startswith("note:") for line in project.incr("status").stdout.splitlines())


def test_an_out_a_step_writes_now_is_never_a_leftover(make_project: MakeProject) -> None:
    project = make_project({"pipelines/two.py": TWO})
    project.repro()
    renamed = TWO.replace("def write(", "def write_all(").replace(
        "write(load())", "write_all(load())"
    )
    project.write({"pipelines/two.py": renamed})
    project.repro()

    assert "note:" not in project.incr("status").stdout
    project.incr("gc", "--outs")
    assert (project.root / "reports/a.txt").read_text() == "3"


def test_a_step_with_two_outputs_passed_as_one_input_says_unpack_them(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {
            "pipelines/p.py": """\
                from incr import Output, pipeline, step


                @step
                def slow_b() -> Output(n=int, m=int):
                    return 1, 2


                @step
                def use(value: int) -> int:
                    return value


                @pipeline
                def p():
                    use(slow_b())
                """
        }
    )

    line = project.incr("status").user_error()

    assert line.endswith("slow_b returns 2 outputs (n, m); unpack them")
    assert "StepConfig" not in project.incr("status").stderr
