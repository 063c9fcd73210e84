"""Messages met by pipelines built in loops: target suggestions (each once, never an ambiguous
bare name), ``incr dag | head`` (quiet), a symlink loop in a deps folder (named as such), and
``--jobs`` step times (a step's own run time, not its wait for a free worker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import MakeProject

LOOPS = """\
    import time

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Part(StepConfig):
        i: int = 0


    @step
    def work(config: Part) -> int:
        mark(f"work_{config.i}")
        time.sleep(float(open("sleep.txt").read()))
        return config.i


    @step
    def total(*parts: int) -> int:
        return sum(parts)


    @pipeline
    def wide():
        total(*[work(config=Part(i=i)) for i in range(N)])


    @pipeline
    def narrow():
        total(*[work(config=Part(i=i)) for i in range(3)])
    """


def test_suggestions_are_unique_and_unambiguous(make_project: MakeProject) -> None:
    project = make_project({"pipelines/loops.py": "    N = 6\n" + LOOPS, "sleep.txt": "0"})
    line, hint = project.incr("status", "work_9").stderr.splitlines()
    assert line == "error: unknown target 'work_9'"
    named = re.findall(r"[\w.]+", hint.removeprefix("  hint: did you mean "))
    assert len(named) == len(set(named)) == 3, hint
    for name in named:  # each one a target that works on its own
        assert project.incr("status", name).returncode == 0, name
    assert "work_3" in named or "work_5" in named or "work_6" in named
    assert "work_2" not in named  # in both pipelines: only wide.work_2 / narrow.work_2


def test_dag_into_head_exits_quietly(make_project: MakeProject) -> None:
    project = make_project({"pipelines/loops.py": "    N = 3000\n" + LOOPS, "sleep.txt": "0"})
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m incr.cli dag | head -n 2"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.splitlines() == ["wide:", "  work"]
    assert proc.stderr == ""


def test_a_symlink_loop_in_a_deps_folder_is_named(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/reader.py": """\
                from incr import pipeline, step


                @step(deps=["data/set", "data/set/nested/x.txt"])
                def read() -> int:
                    return 1


                @pipeline
                def reader():
                    read()
                """,
            "data/set/a.txt": "1\n",
        }
    )
    os.symlink("nested", project.root / "data/set/nested")
    line = project.incr("status").user_error()
    assert line == (
        "error: step reader.read: deps path 'data/set/nested/x.txt' leads into a symlink loop "
        "(links that lead back to themselves, never to a file)"
    )


def test_jobs_times_are_run_times_not_waits(make_project: MakeProject) -> None:
    project = make_project({"pipelines/loops.py": "    N = 4\n" + LOOPS, "sleep.txt": "2.0"})
    result = project.repro("--jobs", "2", "wide")
    times = [float(t) for t in re.findall(r"Step work\w* has finished in ([\d.]+)s", result.stdout)]
    assert len(times) == 4, result.stdout
    # The last two waited 2 s for a worker: counted, they would show 4 s and more.
    assert all(1.9 < t < 3.9 for t in times), times


def test_a_step_of_an_instance_named_with_a_dot_is_a_target(make_project: MakeProject) -> None:
    """An instance named by a float config value (``tp@train.gamma=0.5``) holds a dot: its
    steps are still ``PIPELINE.STEP`` targets."""
    project = make_project(
        {
            "pipelines/train.py": """\
                from incr import BaseStepConfig, pipeline, step
                from pipelines.mark import mark


                class C(BaseStepConfig):
                    gamma: float = 0.1


                @step
                def load() -> int:
                    return 4


                @step
                def train(config: C, a: int) -> float:
                    mark("train")
                    return a * config.gamma


                @pipeline
                def tp(step_1, step_2):
                    step_2(step_1())


                if __name__ == "__main__":
                    for g in (0.1, 0.5):
                        tp(step_1=load(), step_2=train(config=C(gamma=g))).run()
                """
        }
    )
    project.repro()
    project.take_ran()
    project.repro("--force", "tp@train.gamma=0.5.train")
    assert project.take_ran() == ["train"]
