"""Failing steps, and bad input: each a one-line error naming the place, never a traceback."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest

from .conftest import FLOW_FILES, MakeProject, Project, run_command

# --------------------------------------------------------------------------- a failing step

FAILING_STEPS = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    LIMIT = 10


    def check(value):
        if value > LIMIT:
            raise ValueError(f"value {value} is over the limit")
        return value


    @step
    def side() -> int:
        mark("side")
        return 1


    @step
    def load() -> int:
        mark("load")
        return 42


    @step
    def explode(value: int) -> int:
        mark("explode")
        return check(value)


    @step
    def after(value: int) -> int:
        mark("after")
        return value + 1


    @step
    def last(value: int) -> int:
        mark("last")
        return value * 2


    @pipeline
    def fragile():
    """
FRAGILE_STEPS = ["side", "load", "explode", "after", "last"]
FAILING = textwrap.dedent(FAILING_STEPS) + "    side()\n    last(after(explode(load())))\n"


@pytest.fixture
def fragile(make_project: MakeProject) -> Project:
    return make_project({"pipelines/fragile.py": FAILING})


def test_failing_step_exit_code_and_user_traceback(fragile: Project) -> None:
    result = fragile.incr("repro")

    assert result.returncode != 0
    assert fragile.take_ran() == ["side", "load", "explode"]
    assert "in explode" in result.stderr
    assert "in check" in result.stderr
    assert "ValueError: value 42 is over the limit" in result.stderr
    assert "incr/runner.py" not in result.stderr, "the engine's frames are noise"


def test_failing_step_keeps_finished_steps_in_the_lockfile(fragile: Project) -> None:
    assert fragile.incr("repro").returncode != 0

    lock = fragile.lock()
    assert sorted(lock) == ["fragile.load", "fragile.side"]
    status = {s["step"]: s for s in fragile.status()["steps"]}
    assert not status["side"]["dirty"]
    assert not status["load"]["dirty"]
    assert status["explode"]["reasons"][0]["kind"] == "new step"


def test_failing_step_names_its_skipped_dependents(fragile: Project) -> None:
    result = fragile.incr("repro")

    assert result.returncode != 0
    skipped = [line for line in result.output.splitlines() if line.startswith("Skipped ")]
    assert len(skipped) == 1, result.output
    assert "after" in skipped[0]
    assert "last" in skipped[0]
    assert "explode failed" in skipped[0]


def test_skipped_line_does_not_name_finished_steps(fragile: Project) -> None:
    result = fragile.incr("repro")

    assert result.returncode != 0
    skipped = [line for line in result.output.splitlines() if line.startswith("Skipped ")]
    assert skipped == ["Skipped after, last: explode failed."], result.output


def test_a_step_the_first_failure_stopped_is_not_said_to_depend_on_it(
    make_project: MakeProject,
) -> None:
    """Without ``--keep-going`` the run stops at the first failure: a step that does not
    depend on the failed one is named apart, with the way to run it."""
    project = make_project(
        {
            "pipelines/stops.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def fails() -> int:
                    raise ValueError("no")


                @step
                def apart() -> int:
                    mark("apart")
                    return 1


                @pipeline
                def stops():
                    fails()
                    apart()
                """
        }
    )
    result = project.incr("repro")
    assert result.returncode != 0
    skipped = [line for line in result.output.splitlines() if line.startswith("Skipped ")]
    expected = "Skipped apart: the run stops at the first failure (--keep-going runs them)."
    assert skipped == [expected], result.output
    assert project.take_ran() == []
    assert project.incr("repro", "--keep-going").returncode != 0
    assert project.take_ran() == ["apart"]


def test_fixing_the_failed_step_runs_it_and_its_dependents_only(fragile: Project) -> None:
    assert fragile.incr("repro").returncode != 0
    assert fragile.take_ran() == ["side", "load", "explode"]

    fragile.edit("pipelines/fragile.py", "LIMIT = 10", "LIMIT = 100")
    assert set(fragile.dirty()) == {"explode", "after", "last"}
    fragile.repro()

    assert fragile.take_ran() == ["explode", "after", "last"]
    assert sorted(fragile.lock()) == sorted(f"fragile.{n}" for n in FRAGILE_STEPS)
    assert fragile.dirty() == {}


def test_keep_going_runs_independent_steps(make_project: MakeProject) -> None:
    body = "    last(after(explode(load())))\n    side()\n"  # side runs after the failure
    project = make_project({"pipelines/fragile.py": textwrap.dedent(FAILING_STEPS) + body})

    plain = project.incr("repro")
    assert plain.returncode != 0
    assert project.take_ran() == ["load", "explode"]

    going = project.incr("repro", "--keep-going")
    assert going.returncode != 0
    assert project.take_ran() == ["explode", "side"]
    assert "fragile.side" in project.lock()


# --------------------------------------------------------------------------- bad input


def test_syntax_error_in_a_pipeline_module(flow: Project) -> None:
    flow.write({"pipelines/x.py": "from incr import step\n\n\ndef f(:\n    pass\n"})

    for command in (("status",), ("repro",), ("status", "--json")):
        line = flow.incr(*command).user_error()
        assert line.startswith("error: pipelines/x.py:4: "), line
        assert "syntax" in line
    assert flow.take_ran() == []


def test_syntax_error_in_an_imported_helper_names_the_helper(flow: Project) -> None:
    flow.edit("pipelines/helpers.py", "def unused(value):", "def unused(value)")

    line = flow.incr("status").user_error()

    assert line.startswith("error: pipelines/helpers.py:10: "), line


def test_module_that_fails_to_import(flow: Project) -> None:
    flow.write({"pipelines/broken.py": "from incr import step\nimport no_such_module_xyz\n"})

    line = flow.incr("repro").user_error()

    assert line.startswith("error: pipelines/broken.py:2: "), line
    assert "ModuleNotFoundError" in line
    assert "no_such_module_xyz" in line
    assert flow.take_ran() == []


def test_module_that_raises_while_importing(flow: Project) -> None:
    flow.write({"pipelines/broken.py": "X = 1\nY = {}['missing']\n"})

    line = flow.incr("status").user_error()

    assert line.startswith("error: pipelines/broken.py:2: "), line
    assert "KeyError" in line


def test_cycle_through_files_names_the_steps(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/cyc.py": """\
                from pathlib import Path

                from incr import pipeline, step


                @step(deps=["data/b.txt"], outs=["data/a.txt"])
                def make_a() -> None:
                    Path("data/a.txt").write_text("a")


                @step(deps=["data/a.txt"], outs=["data/b.txt"])
                def make_b() -> None:
                    Path("data/b.txt").write_text("b")


                @pipeline
                def cyc():
                    make_a()
                    make_b()
                """
        }
    )

    for command in ("status", "repro"):
        line = project.incr(command).user_error()
        assert "cycle" in line
        assert re.search(r"\bmake_a\b", line) and re.search(r"\bmake_b\b", line), line
    assert not (project.root / "data/a.txt").exists()


def test_unknown_target_suggests_the_close_name(flow: Project) -> None:
    result = flow.incr("repro", "flow.shfit")

    line = result.user_error()
    assert "flow.shfit" in line
    assert "did you mean" in result.stderr
    assert "flow.shift" in result.stderr
    assert flow.take_ran() == []
    status = flow.incr("status", "flwo")
    assert "'flwo'" in status.user_error()
    assert "flow" in status.stderr


def test_merge_conflicted_lockfile(flow: Project) -> None:
    lines = flow.lock_bytes().decode().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("fingerprint = "))
    theirs = 'fingerprint = "' + "0" * 32 + '"\n'
    lines[at : at + 1] = ["<<<<<<< HEAD\n", lines[at], "=======\n", theirs, ">>>>>>> other\n"]
    flow.lockfile.write_text("".join(lines), encoding="utf-8")

    for command in ("status", "repro"):
        line = flow.incr(command).user_error()
        assert line.startswith(f"error: pipeline.lock:{at + 1}: "), line
        assert "conflict" in line
    assert flow.take_ran() == []


def test_truncated_lockfile(flow: Project) -> None:
    text = flow.lock_bytes().decode()
    cut = text.index("[steps", len(text) // 2) + len("[steps")
    flow.lockfile.write_text(text[:cut], encoding="utf-8")

    line = flow.incr("status").user_error()

    assert re.match(r"error: pipeline\.lock:\d+: ", line), line
    assert flow.incr("repro").user_error() == line
    assert flow.take_ran() == []


def test_garbled_lockfile_entry(flow: Project) -> None:
    text = flow.lock_bytes().decode()
    fingerprints = re.findall(r'^fingerprint = "([0-9a-f]+)"$', text, re.MULTILINE)
    flow.lockfile.write_text(text.replace(fingerprints[1], "not-a-digest"), encoding="utf-8")
    # The line of the damaged fingerprint, just below the block's header.
    where = text.splitlines().index('[steps."flow.load"]') + 2

    line = flow.incr("status").user_error()

    assert line.startswith(f"error: pipeline.lock:{where}: "), line
    assert "flow.load" in line


def test_binary_lockfile(flow: Project) -> None:
    flow.lockfile.write_bytes(b"\x00\xff\xfe garbage \x81")

    line = flow.incr("status").user_error()

    assert line.startswith("error: pipeline.lock:1: "), line


def test_lockfile_with_unknown_schema(flow: Project) -> None:
    text = flow.lock_bytes().decode()
    flow.lockfile.write_text(re.sub(r"^schema = \d+", "schema = 999", text, flags=re.M))

    line = flow.incr("status").user_error()

    assert re.match(r"error: pipeline\.lock:\d+: .*schema", line), line


def test_missing_project_folder(make_project: MakeProject) -> None:
    project = make_project(FLOW_FILES)
    missing = project.root / "no" / "such" / "folder"

    for command in ("status", "repro"):
        line = project.incr("-C", str(missing), command).user_error()
        assert str(missing) in line, line


def test_folder_outside_any_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    bare = tmp_path_factory.mktemp("bare")
    result = run_command([sys.executable, "-m", "incr.cli", "-C", str(bare), "status"], bare)

    assert "not inside an incr project" in result.user_error()


NOT_JSON = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Config(StepConfig):
        labels: object = None


    @step
    def work(config: Config) -> int:
        mark("work")
        return 1


    @pipeline
    def odd():
        work(config=Config(labels={"a", "b"}))
    """


def test_config_value_that_is_not_json(make_project: MakeProject) -> None:
    project = make_project({"pipelines/odd.py": NOT_JSON})

    line = project.incr("status").user_error()
    assert "pipeline odd" in line and "step work" in line
    assert "'labels'" in line and "JSON" in line

    repro = project.incr("repro")
    assert repro.returncode != 0
    assert "Traceback" not in repro.output
    assert "step work" in repro.stderr and "JSON" in repro.stderr
    assert project.take_ran() == []
    assert "odd.work" not in project.lock()


def test_two_pipelines_with_the_same_name(flow: Project) -> None:
    flow.write(
        {
            "pipelines/again.py": """\
                from incr import pipeline, step


                @step
                def other() -> int:
                    return 1


                @pipeline(name="flow")
                def second_flow():
                    other()
                """
        }
    )

    line = flow.incr("status").user_error()

    assert "'flow'" in line
    assert "pipelines/flow.py" in line and "pipelines/again.py" in line


def test_overlapping_outs_name_both_steps(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/clash.py": """\
                from incr import pipeline, step


                @step(outs=["data/out"])
                def whole() -> None:
                    pass


                @step(outs=["data/out/part.txt"])
                def part() -> None:
                    pass


                @pipeline
                def clash():
                    whole()
                    part()
                """
        }
    )

    line = project.incr("repro").user_error()

    assert "whole" in line and "part" in line
    assert "data/out" in line


def test_dep_outside_the_project(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/outside.py": """\
                from incr import pipeline, step


                @step(deps=["../secrets.txt"])
                def peek() -> int:
                    return 1


                @pipeline
                def outside():
                    peek()
                """
        }
    )

    line = project.incr("status").user_error()

    assert "../secrets.txt" in line
    assert "peek" in line


def test_pipeline_body_that_raises(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/typo.py": """\
                from incr import pipeline, step


                @step
                def first() -> int:
                    return 1


                @pipeline
                def typo():
                    value = first()
                    secnd(value)
                """
        }
    )

    line = project.incr("status").user_error()

    assert line.startswith("error: pipelines/typo.py:12: "), line
    assert "NameError" in line and "secnd" in line


def test_config_with_a_required_field_left_out(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/needs.py": """\
                from incr import StepConfig, pipeline, step


                class Settings(StepConfig):
                    rate: float


                @step
                def tune(config: Settings) -> float:
                    return config.rate


                @pipeline
                def needs():
                    tune()
                """
        }
    )

    line = project.incr("status").user_error()

    assert "pipelines/needs.py" in line, line
    assert "tune" in line and "rate" in line, line


def test_missing_pipelines_folder(make_project: MakeProject) -> None:
    project = make_project({})
    for path in sorted((project.root / "pipelines").iterdir()):
        path.unlink()
    (project.root / "pipelines").rmdir()

    line = project.incr("status").user_error()

    assert "pipelines" in line


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("csv", "raise RuntimeError('not the standard csv')\n"),  # imported while tracing
    ],
)
def test_a_project_module_named_like_a_standard_one_is_named_in_one_line(
    make_project: MakeProject, name: str, text: str
) -> None:
    project = make_project({**FLOW_FILES, f"{name}.py": text})
    if name == "csv":
        project.edit("pipelines/flow.py", '"""The pipeline under test."""\n', "import csv\n")

    line = project.incr("repro").user_error()

    assert line == f"error: {name}.py hides Python's standard module {name}"
    assert not (project.root / "pipeline.lock").exists()
