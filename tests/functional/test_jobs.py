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


DYING = """\
    import os
    import time

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def dies() -> int:
        mark("dies")
        time.sleep(0.2)
        os._exit(3)  # as a crash in C code or the out-of-memory killer ends a process


    @step
    def fine1() -> int:
        mark("fine1")
        time.sleep(0.5)
        return 1


    @step
    def fine2() -> int:
        mark("fine2")
        time.sleep(0.5)
        return 2


    @step
    def fine3() -> int:
        mark("fine3")
        return 3


    @pipeline
    def many():
        dies()
        fine1()
        fine2()
        fine3()
    """


def test_a_worker_that_dies_fails_its_own_step_alone(make_project: MakeProject) -> None:
    """The pool fails every job it holds when a worker dies: those are run again one at a
    time, and the step that dies alone is the one that failed. Before, ``fine1``, ``fine2``
    and ``fine3`` failed too (`the worker process running this step died`), with ``-k``."""
    project = make_project({"pipelines/many.py": DYING})
    result = project.incr("repro", "-j", "2", "-k")
    assert result.returncode == 1, result.output
    assert "error: the worker process running this step died" in result.stderr
    assert result.stderr.count("the worker process running this step died") == 1
    assert set(project.lock()) == {"many.fine1", "many.fine2", "many.fine3"}
    assert set(project.dirty()) == {"dies"}
    project.take_ran()
    assert project.incr("repro", "-j", "2", "-k").returncode == 1
    assert project.take_ran() == ["dies"]
