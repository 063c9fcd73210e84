"""Values a step's code sees that come from outside the project's files: a module constant
taken from the clock as the module is imported (``TODAY = date.today()``), another program's
output while the pipelines are wired (``git rev-parse HEAD``), the command line a script was
run with. None may leave a step reused when a run now would compute something else.

Each test builds a real project, drives ``incr`` and ``python pipelines/x.py`` in subprocesses,
and checks which steps ran (``ran.txt``), what ``incr status`` says and what
``pipeline.lock`` holds.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import MakeProject, Project

DATES = """\
    import datetime
    import time


    def _today():
        return datetime.date.today()


    TODAY = _today()  # changes once a day
    STAMP = time.time_ns()  # changes on every import
    """

CLOCK_FLOW = """\
    from incr import pipeline, step
    from pipelines.dates import STAMP, TODAY
    from pipelines.mark import mark


    def day_text():
        return TODAY.isoformat()


    @step
    def day() -> str:
        mark("day")
        return day_text()


    @step
    def stamp() -> int:
        mark("stamp")
        return STAMP


    @pipeline
    def flow():
        day()
        stamp()


    if __name__ == "__main__":
        flow().run()
    """

#: The same, the clock read at the top of the pipeline module itself (the script).
CLOCK_SCRIPT = (
    CLOCK_FLOW.replace(
        "    from pipelines.dates import STAMP, TODAY\n",
        "    import datetime\n    import time\n",
    )
    .replace(
        "    def day_text():\n",
        "    TODAY = datetime.date.today()\n    STAMP = time.time_ns()\n\n\n    def day_text():\n",
    )
    .replace("from incr import pipeline, step\n", "from incr import pipeline, step\n", 1)
)


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"pipelines/dates.py": DATES, "pipelines/flow.py": CLOCK_FLOW}, "pipelines/dates.py"),
        ({"pipelines/flow.py": CLOCK_SCRIPT}, "pipelines/flow.py"),
    ],
    ids=["helper-in-other-module", "in-the-script"],
)
def test_a_module_value_taken_from_the_clock_at_import_counts_by_its_value(
    make_project: MakeProject, files: dict[str, str], where: str
) -> None:
    """A step reading ``TODAY`` reruns when the day changes, not on every command; one
    reading a value that changes on every import reruns on every command, saying why."""
    project = make_project(files)
    project.repro()
    assert sorted(project.take_ran()) == ["day", "stamp"]
    assert project.dirty() == {"stamp": [("code changed", f"value of STAMP in {where}")]}
    code = project.lock()["flow.day"].facts.code
    assert f"value:{where}:TODAY" in code, code

    project.repro()
    assert project.take_ran() == ["stamp"]

    result = project.python("pipelines/flow.py")  # a script sees the same day as incr
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["stamp"]
    assert project.dirty() == {"stamp": [("code changed", f"value of STAMP in {where}")]}


def test_a_value_taken_from_the_clock_in_a_step_body_is_left_alone(
    make_project: MakeProject,
) -> None:
    """``datetime.now()`` inside a step, or ``import time`` at the top of its module, counts
    as code, as before: the step is reused. ``incr status`` notes the call that gives another
    value on each run, where a run now would compute something else (not ``time.time_ns()``,
    which steps mostly time themselves with)."""
    text = CLOCK_FLOW.replace("    from pipelines.dates import STAMP, TODAY\n", "").replace(
        "return day_text()", "return str(datetime.datetime.now())"
    )
    text = text.replace("return STAMP", "return time.time_ns()")
    text = "    import datetime\n    import time\n\n" + text
    project = make_project({"pipelines/flow.py": text})
    project.repro()
    assert sorted(project.take_ran()) == ["day", "stamp"]
    assert project.dirty() == {}
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert notes["day"] == [
        "datetime.now() in pipelines/flow.py:day gives another value on each run: the"
        " step's result, cached, keeps the one of the run that made it; when the result depends"
        " on it, set @step(enable_cache=False) to run the step each time, or pass the value as"
        " a config"
    ]
    assert notes["stamp"] == []
    project.edit("pipelines/flow.py", "@step\ndef day", "@step(enable_cache=False)\ndef day")
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert notes["day"] == []  # it runs each time: nothing to say
    project.edit("pipelines/flow.py", "@step(enable_cache=False)\ndef day", "@step\ndef day")
    project.repro()
    assert project.take_ran() == []
    assert not any(k.startswith("value:") for e in project.lock().values() for k in e.facts.code)


GIT_FLOW = """\
    import subprocess

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark
    from pipelines.meta import SHA


    def git_sha() -> str:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()


    class TagConfig(StepConfig):
        commit: str = ""


    @step
    def tag(config: TagConfig) -> str:
        mark("tag")
        return f"model@{config.commit}"


    @step
    def label() -> str:
        mark("label")
        return f"built at {SHA}"


    @step
    def shell() -> str:
        mark("shell")
        return subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout


    @pipeline
    def flow():
        tag(config=TagConfig(commit=git_sha()))
        label()
        shell()
    """

GIT_META = """\
    from subprocess import run


    def _sha():
        return run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


    SHA = _sha()
    """


def _git(project: Project, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=project.root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_another_programs_output_while_wiring_is_taken_anew_on_every_command(
    make_project: MakeProject,
) -> None:
    """A commit changes what ``git rev-parse HEAD`` gives: the config made from it in the
    body, and the module value made from it at import, rerun the steps that take them."""
    files = {"pipelines/flow.py": GIT_FLOW, "pipelines/meta.py": GIT_META}
    project = make_project({**files, ".gitignore": ".pipecache/\n"})
    _git(project, "init", "-q", ".")
    for key, value in (("user.email", "t@t"), ("user.name", "t")):
        _git(project, "config", key, value)
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "one")
    project.repro()
    assert sorted(project.take_ran()) == ["label", "shell", "tag"]
    volatile = (project.root / ".pipecache" / "graph.volatile").read_text()
    assert "pipelines/flow.py: subprocess.check_output() (line 9)" in volatile, volatile
    assert project.dirty() == {}
    old = _git(project, "rev-parse", "--short", "HEAD")

    (project.root / "NOTES.md").write_text("notes\n")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "two")
    new = _git(project, "rev-parse", "--short", "HEAD")

    assert project.dirty() == {
        "tag": [("config changed", f"commit: {old!r} -> {new!r}")],
        "label": [("code changed", "value of SHA in pipelines/meta.py")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["label", "tag"]
    assert project.dirty() == {}


ARGV_FLOW = """\
    import argparse
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark


    def get_args():
        parser = argparse.ArgumentParser()
        parser.add_argument("--n", type=int, default=3)
        parser.add_argument("--debug", action="store_true")
        return parser.parse_args()


    @step
    def make() -> list:
        mark("make")
        return list(range(get_args().n))


    @step
    def debug_flag() -> bool:
        mark("debug_flag")
        return "--debug" in sys.argv


    @step
    def plain() -> int:
        mark("plain")
        return 1


    @pipeline
    def flow():
        make()
        debug_flag()
        plain()


    if __name__ == "__main__":
        flow().run()
    """


def test_a_step_reading_the_command_line_counts_the_arguments_of_a_script(
    make_project: MakeProject,
) -> None:
    """``python pipelines/flow.py --n 5 --debug`` records results of its own for the steps
    that read the command line; ``incr repro`` (no arguments) runs them again. A script run
    without arguments and ``incr repro`` share their results."""
    project = make_project({"pipelines/flow.py": ARGV_FLOW})
    result = project.python("pipelines/flow.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["make", "debug_flag", "plain"]
    assert project.dirty() == {}
    notes = {s["step"]: s["notes"] for s in project.status()["steps"]}
    assert "reads the command line" in notes["make"][0], notes
    assert notes["plain"] == []

    result = project.python("pipelines/flow.py", "--n", "5", "--debug")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["make", "debug_flag"]
    assert "argv" in project.lock()["flow.make"].facts.code
    assert "argv" not in project.lock()["flow.plain"].facts.code
    result = project.python("pipelines/flow.py", "--n", "5", "--debug")
    assert project.take_ran() == []

    why = [("code changed", "the script's command line arguments")]
    assert project.dirty() == {"make": why, "debug_flag": why}
    project.repro()
    assert project.take_ran() == []  # restored: the results of the run without arguments
    assert project.dirty() == {}
    assert _results(project) == ([0, 1, 2], False)

    shutil.rmtree(project.root / ".pipecache")  # from scratch: incr gives each step the
    project.lockfile.unlink()  # command line of its script run without arguments
    project.repro()
    assert project.take_ran() == ["make", "debug_flag", "plain"]
    assert _results(project) == ([0, 1, 2], False)


def _results(project: Project) -> tuple[list[int], bool]:
    from incr import Repository  # read here: the project's records

    run = Repository(project.root).get_pipeline("flow").runs[-1]
    return run.get_step("make").output.read(), run.get_step("debug_flag").output.read()


CLOCK_AT_DEFINITION = """\
    import time

    from incr import pipeline, step
    from pipelines.mark import mark
    {imports}

    WIDTH = 3
    {top}


    @step
    def clocked() -> int:
        mark("clocked")
        return {read}


    @step
    def plain() -> int:
        mark("plain")
        return WIDTH


    @pipeline
    def flow():
        clocked()
        plain()
    """

CLOCK_UTILS = """\
    import time


    def stamp():
        return _now()


    def _now():
        return time.time_ns()
    """


@pytest.mark.parametrize(
    ("imports", "top", "read", "name"),
    [
        ("", "class Cfg:\n        STAMP = time.time_ns()", "Cfg.STAMP", "Cfg"),
        ("", "def run(at=time.time_ns()):\n        return at", "run()", "run"),
        ("from pipelines.utils import stamp", "STAMP = stamp()", "STAMP", "STAMP"),
    ],
    ids=["class-body", "default-argument", "imported-helper"],
)
def test_a_clock_read_in_a_class_body_a_default_or_an_imported_helper_counts_by_value(
    make_project: MakeProject, imports: str, top: str, read: str, name: str
) -> None:
    """``class Cfg: STAMP = ...``, ``def run(at=...)`` and ``STAMP = stamp()`` with ``stamp``
    from another project module reading the clock: what the step reads counts by its value
    (here it changes on every import: the step reruns on every command, saying why); a step
    reading a value that does not change stays clean."""
    text = CLOCK_AT_DEFINITION.format(imports=imports, top=top, read=read)
    project = make_project({"pipelines/utils.py": CLOCK_UTILS, "pipelines/flow.py": text})
    project.repro()
    assert sorted(project.take_ran()) == ["clocked", "plain"]
    assert project.dirty() == {
        "clocked": [("code changed", f"value of {name} in pipelines/flow.py")]
    }
    assert f"value:pipelines/flow.py:{name}" in project.lock()["flow.clocked"].facts.code
    project.repro()
    assert project.take_ran() == ["clocked"]
