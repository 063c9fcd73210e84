"""A script run as ``python pipelines/x.py`` that starts processes out of any step: a pool
made at its top level or in its main block, which its steps then use. Its workers run the
script's own functions, and report what they read to the step using them; a process a step
left running reports nothing to a later step."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import MakeProject, Project

AT_TOP = """\
    import multiprocessing

    from incr import pipeline, step


    def read_num(path):  # the script's own function, sent to the pool's workers
        with open(path, encoding="utf-8") as fh:
            return int(fh.read())


    POOL = multiprocessing.get_context("{method}").Pool(2)  # at the top level


    @step
    def total() -> int:
        return sum(POOL.map(read_num, ["data/a.txt", "data/b.txt"]))


    @step
    def show(value: int) -> None:
        print("TOTAL", value)


    @pipeline
    def pooled():
        show(total())


    if __name__ == "__main__":
        pooled().run()
    """

IN_MAIN = """\
    import multiprocessing

    from incr import pipeline, step
    from pipelines.work import read_num


    @step
    def total() -> int:
        return sum(POOL.map(read_num, ["data/a.txt", "data/b.txt"]))


    @step
    def show(value: int) -> None:
        print("TOTAL", value)


    @pipeline
    def pooled():
        show(total())


    if __name__ == "__main__":
        POOL = multiprocessing.get_context("{method}").Pool(2)  # made before the run
        pooled().run()
    """

WORK = """\
    def read_num(path):
        with open(path, encoding="utf-8") as fh:
            return int(fh.read())
    """


def _script(project: Project) -> str:
    """Run ``pipelines/pooled.py`` as a script; what it printed. A hang fails the test."""
    done = subprocess.run(
        [sys.executable, "pipelines/pooled.py"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("text", "method"),
    [(AT_TOP, "fork"), (IN_MAIN, "fork"), (IN_MAIN, "spawn")],
    ids=["top-level-fork", "main-block-fork", "main-block-spawn"],
)
def test_a_pool_a_script_makes_out_of_any_step_reports_to_the_step(
    make_project: MakeProject, text: str, method: str
) -> None:
    """Its workers record what they read from the start, and the step using them takes it
    in: an edit of a file they read reruns the step. The script's own functions reach workers
    forked before its first run: they used to import the script again, making a pool inside a
    pool's worker, and the run never ended."""
    project = make_project(
        {
            "pipelines/pooled.py": text.replace("{method}", method),
            "pipelines/work.py": WORK,
            "data/a.txt": "1",
            "data/b.txt": "2",
        }
    )
    assert "TOTAL 3" in _script(project)
    assert sorted(project.lock()["pooled.total"].reads) == ["data/a.txt", "data/b.txt"]
    (project.root / "data" / "b.txt").write_text("5", encoding="utf-8")
    assert project.dirty()["total"] == [("read changed", "data/b.txt")]
    assert "TOTAL 6" in _script(project)
    assert project.dirty() == {}


LEFT_RUNNING = """\
    import os
    import subprocess
    import sys
    import time

    from incr import pipeline, step

    LATE = "import os, time\\n" \\
        "while not os.path.exists('go'): time.sleep(0.02)\\n" \\
        "open('data/late.txt').read()\\n" \\
        "open('done', 'w').close()\\n"


    @step
    def starts() -> str:
        subprocess.Popen([sys.executable, "-c", LATE])  # not waited for
        return "started"


    @step
    def later() -> str:
        with open("data/a.txt", encoding="utf-8") as fh:
            return fh.read()


    @pipeline
    def first():
        starts()


    @pipeline
    def second():
        later()


    if __name__ == "__main__":
        first().run()
        open("go", "w").close()  # the process reads now, out of any step
        while not os.path.exists("done"):
            time.sleep(0.02)
        second().run()
    """


def test_what_a_process_left_running_reads_between_steps_is_no_step_s(
    make_project: MakeProject,
) -> None:
    """A process a step did not wait for reads after the step ended: that read is neither
    that step's nor the next one's (an edit of the file would rerun the next step for
    nothing)."""
    project = make_project(
        {"pipelines/pooled.py": LEFT_RUNNING, "data/a.txt": "1", "data/late.txt": "x"}
    )
    _script(project)
    assert (project.root / "done").exists()
    assert list(project.lock()["second.later"].reads) == ["data/a.txt"]
    assert list(project.lock()["first.starts"].reads) == []


EARLY_SUBPROCESS = """\
    import subprocess  # imported before incr: it holds the real fork_exec
    import sys

    from incr import pipeline, step


    @step
    def export() -> str:
        code = "print(open('data/a.txt').read())"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return done.stdout


    @pipeline
    def pooled():
        export()


    if __name__ == "__main__":
        pooled().run()
    """


def test_a_script_that_imports_subprocess_before_incr_has_its_processes_followed(
    make_project: MakeProject,
) -> None:
    """``subprocess`` keeps the ``fork_exec`` it found when it was imported: the hook that
    follows the processes a step starts replaces that one too."""
    project = make_project({"pipelines/pooled.py": EARLY_SUBPROCESS, "data/a.txt": "1"})
    assert "does not follow" not in _script(project)
    assert list(project.lock()["pooled.export"].reads) == ["data/a.txt"]
    (project.root / "data" / "a.txt").write_text("2", encoding="utf-8")
    assert project.dirty() == {"export": [("read changed", "data/a.txt")]}
