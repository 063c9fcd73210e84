"""incr repro --jobs N: independent steps in worker processes, same results as a serial run."""

from __future__ import annotations

from .conftest import MakeProject, Project

PAR = """\
    import os
    import time

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def left() -> int:
        mark(f"left:{os.getpid()}")
        time.sleep(0.3)
        return 1


    @step
    def right() -> int:
        mark(f"right:{os.getpid()}")
        time.sleep(0.3)
        return 2


    @step
    def join(a: int, b: int) -> int:
        mark("join")
        return a + b


    @pipeline
    def par():
        join(left(), right())
    """


def ran(project: Project) -> dict[str, str]:
    return dict([*name.split(":"), ""][:2] for name in project.take_ran())


def test_jobs_run_independent_steps_in_worker_processes(make_project: MakeProject) -> None:
    parallel = make_project({"pipelines/par.py": PAR}, where="parallel")
    serial = make_project({"pipelines/par.py": PAR}, where="serial")

    result = parallel.incr("repro", "--jobs", "2")
    assert result.returncode == 0, result.output
    steps = ran(parallel)
    assert set(steps) == {"left", "right", "join"}
    assert steps["left"] != steps["right"]  # two processes
    serial.repro()
    assert parallel.lock_bytes() == serial.lock_bytes()

    assert parallel.incr("repro", "-j", "2").returncode == 0
    assert parallel.take_ran() == []


def test_jobs_group_console_lines_per_step(make_project: MakeProject) -> None:
    project = make_project({"pipelines/par.py": PAR})

    lines = project.incr("repro", "-j", "2").stdout.splitlines()
    steps = [line for line in lines if line.startswith("Step ")]
    for name in ("left", "right", "join"):
        started = steps.index(f"Step {name} has started.")
        assert steps[started + 1].startswith(f"Step {name} has finished in ")


def test_jobs_stop_at_a_failure_and_keep_what_finished(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/par.py": PAR.replace(
                "time.sleep(0.3)\n        return 2", 'raise ValueError("no")'
            )
        }
    )

    result = project.incr("repro", "-j", "2")
    assert result.returncode == 1
    assert "ValueError: no" in result.stderr
    assert "Traceback" in result.stderr
    assert set(ran(project)) == {"left", "right"}
    assert set(project.lock()) == {"par.left"}
