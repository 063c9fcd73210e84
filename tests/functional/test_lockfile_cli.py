"""pipeline.lock on disk, and the command line's targets and switches."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from .conftest import FLOW_FILES, FLOW_ORDER, MakeProject, Project, run_command

FLOW = "pipelines/flow.py"


# --------------------------------------------------------------------------- the lockfile


def test_lockfile_is_byte_identical_in_two_folders(make_project: MakeProject) -> None:
    one = make_project(FLOW_FILES, where="one")
    two = make_project(FLOW_FILES, where="elsewhere/deeper/two")
    one.repro()
    # The second copy is run from outside, through -C.
    result = run_command(
        [sys.executable, "-m", "incr.cli", "-C", str(two.root), "repro"], two.root.parents[2]
    )
    assert result.returncode == 0, result.output

    assert one.take_ran() == FLOW_ORDER
    assert two.take_ran() == FLOW_ORDER
    assert one.lock_bytes() == two.lock_bytes()
    text = one.lock_bytes().decode()
    assert str(one.root) not in text and str(two.root) not in text
    assert "/" + one.root.parent.name + "/" not in text, "no absolute paths"
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", text), "no timestamps"


def test_lockfile_records_each_step(flow: Project) -> None:
    lock = flow.lock()

    assert sorted(lock) == sorted(f"flow.{name}" for name in FLOW_ORDER)
    load = lock["flow.load"]
    assert list(load.facts.deps) == ["data/raw.csv"]
    assert re.fullmatch(r"[0-9a-f]{64}", load.facts.deps["data/raw.csv"])
    assert lock["flow.double"].facts.config == {"factor": 2}
    assert lock["flow.double"].facts.inputs == {"values": load.outputs["output"].digest}
    assert lock["flow.total"].facts.inputs == {
        "left": lock["flow.shift"].outputs["output"].digest,
        "right": lock["flow.scaled"].outputs["output"].digest,
    }
    assert "pipelines/helpers.py:scale" in lock["flow.scaled"].facts.code
    assert "pipelines/flow.py:add_shift" in lock["flow.shift"].facts.code
    assert "pipelines/flow.py:unused_helper" not in lock["flow.shift"].facts.code
    text = flow.lock_bytes().decode()
    assert re.search(r"^schema = \d+$", text, re.MULTILINE)
    headers = re.findall(r'^\[steps\."([^"]+)"\]$', text, re.MULTILINE)
    assert headers == sorted(headers) == sorted(lock)


def test_noop_repro_leaves_the_lockfile_untouched(flow: Project) -> None:
    before = flow.lockfile.stat()
    data = flow.lock_bytes()

    flow.repro()
    flow.repro()

    assert flow.take_ran() == []
    after = flow.lockfile.stat()
    assert flow.lock_bytes() == data
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_status_does_not_write_the_lockfile(flow: Project) -> None:
    flow.edit(FLOW, "SHIFT = 10", "SHIFT = 11")
    before = flow.lockfile.stat()

    flow.status()

    after = flow.lockfile.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert flow.take_ran() == []


def test_lockfile_permissions_follow_the_umask(flow: Project) -> None:
    umask = os.umask(0)
    os.umask(umask)

    mode = stat.S_IMODE(flow.lockfile.stat().st_mode)

    assert mode == 0o666 & ~umask, oct(mode)


def test_deleted_pipeline_leaves_the_lockfile(make_project: MakeProject) -> None:
    project = make_project(TWO_PIPELINES)
    project.repro()
    assert sorted(project.lock()) == ["alpha.a_one", "beta.b_one"]

    (project.root / "pipelines/beta.py").unlink()
    result = project.repro()

    assert sorted(project.lock()) == ["alpha.a_one"]
    said = " ".join(result.output.split())  # what goes is said, not dropped silently
    assert "note: dropped 1 lock entry of beta: no module under pipelines/ defines it" in said
    assert "note: dropped" not in project.repro().output


def test_status_check_exit_codes(make_project: MakeProject) -> None:
    project = make_project(FLOW_FILES)
    fresh = project.incr("status", "--check")
    assert fresh.returncode == 1, fresh.output
    assert "new step" in fresh.stdout

    project.repro()
    assert project.take_ran() == FLOW_ORDER
    clean = project.incr("status", "--check")
    assert clean.returncode == 0, clean.output
    assert clean.stdout.splitlines()[-2:] == [
        "all 5 steps clean",
        "check passed: pipeline.lock matches the code, configs, data and environment",
    ]

    project.edit(FLOW, "SHIFT = 10", "SHIFT = 11")
    dirty = project.incr("status", "--check")
    assert dirty.returncode == 1, dirty.output
    assert "code changed (SHIFT in pipelines/flow.py)" in dirty.stdout
    as_json = project.incr("status", "--check", "--json")
    assert as_json.returncode == 1
    assert as_json.stdout.lstrip().startswith("{")
    assert project.take_ran() == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_lockfiles_of_two_branches_merge_without_conflict(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/pair.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def left() -> int:
                    mark("left")
                    return 1


                @step
                def right() -> int:
                    mark("right")
                    return 2


                @pipeline
                def pair():
                    left()
                    right()
                """,
            ".gitignore": ".pipecache/\nran.txt\n",
        }
    )
    project.repro()

    def git(*args: str) -> str:
        result = run_command(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], project.root
        )
        assert result.returncode == 0, result.output
        return result.stdout

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "other")
    project.edit("pipelines/pair.py", "return 2", "return 20")
    project.repro()
    git("commit", "-q", "-am", "right")
    git("checkout", "-q", "main")
    project.edit("pipelines/pair.py", "return 1", "return 10")
    project.repro()
    git("commit", "-q", "-am", "left")
    assert project.take_ran() == ["left", "right", "right", "left"]

    git("merge", "-q", "--no-edit", "other")

    assert "<<<<<<<" not in project.read("pipeline.lock")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


# --------------------------------------------------------------------------- targets and switches


def test_repro_pipeline_step_runs_it_and_its_ancestors_only(make_project: MakeProject) -> None:
    project = make_project(FLOW_FILES)

    project.repro("flow.shift")

    assert project.take_ran() == ["load", "double", "shift"]
    assert sorted(project.lock()) == ["flow.double", "flow.load", "flow.shift"]
    assert set(project.dirty()) == {"scaled", "total"}


def test_repro_unique_step_name_as_target(flow: Project) -> None:
    flow.edit(FLOW, "DoubleConfig(factor=2)", "DoubleConfig(factor=3)")
    flow.edit("pipelines/helpers.py", "return value * factor", "return value * factor + 1")

    flow.repro("scaled")

    assert flow.take_ran() == ["scaled"]
    assert set(flow.dirty()) == {"double", "shift", "total"}


def test_status_target_lists_the_step_and_its_ancestors(flow: Project) -> None:
    assert list(flow.reasons("flow.shift")) == ["load", "double", "shift"]


TWO_PIPELINES = {
    "pipelines/alpha.py": """\
        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def a_one() -> int:
            mark("a_one")
            return 1


        @pipeline
        def alpha():
            a_one()
        """,
    "pipelines/beta.py": """\
        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def b_one() -> int:
            mark("b_one")
            return 2


        @pipeline
        def beta():
            b_one()
        """,
}


def test_repro_pipeline_target_runs_that_pipeline_only(make_project: MakeProject) -> None:
    project = make_project(TWO_PIPELINES)

    project.repro("beta")

    assert project.take_ran() == ["b_one"]
    assert sorted(project.lock()) == ["beta.b_one"]
    status = project.status()
    dirty = {f"{s['pipeline']}.{s['step']}" for s in status["steps"] if s["dirty"]}
    assert dirty == {"alpha.a_one"}
    project.repro()
    assert project.take_ran() == ["a_one"]


def test_dry_run_executes_nothing(flow: Project) -> None:
    flow.edit(FLOW, "SHIFT = 10", "SHIFT = 12")
    lock = flow.lock_bytes()

    result = flow.incr("repro", "--dry-run")

    assert result.returncode == 0, result.output
    assert flow.take_ran() == []
    assert flow.lock_bytes() == lock
    assert "code changed (SHIFT in pipelines/flow.py)" in result.stdout
    assert set(flow.dirty()) == {"shift", "total"}


def test_dry_run_on_a_fresh_project_writes_nothing(make_project: MakeProject) -> None:
    project = make_project(FLOW_FILES)

    result = project.incr("repro", "-n")

    assert result.returncode == 0, result.output
    assert project.take_ran() == []
    assert not project.lockfile.exists()


def test_dry_run_with_force_says_the_forced_steps_would_run(flow: Project) -> None:
    result = flow.incr("repro", "--dry-run", "--force", "flow.double")

    assert result.returncode == 0, result.output
    assert flow.take_ran() == []
    assert "forced" in result.stdout
    assert "all 2 steps clean" not in result.stdout


def test_force_reruns_a_clean_step(flow: Project) -> None:
    lock = flow.lock_bytes()

    result = flow.repro("--force", "flow.double")

    assert flow.take_ran() == ["double"]
    assert "forced" in result.stdout
    assert flow.lock_bytes() == lock  # same code, same output: nothing to record


def test_force_without_target_reruns_everything(flow: Project) -> None:
    flow.repro("--force")

    assert flow.take_ran() == FLOW_ORDER


def test_cli_finds_the_project_from_a_subfolder(flow: Project) -> None:
    flow.edit(FLOW, "SHIFT = 10", "SHIFT = 13")
    sub = flow.root / "data"

    result = run_command([sys.executable, "-m", "incr.cli", "repro"], sub)

    assert result.returncode == 0, result.output
    assert flow.take_ran() == ["shift", "total"]
    assert not (sub / "pipeline.lock").exists()


def test_console_script_runs(flow: Project) -> None:
    script = shutil.which("incr")
    if script is None:
        pytest.skip("the incr console script is not on PATH")

    result = run_command([script, "status", "--check"], flow.root)

    assert result.returncode == 0, result.output
    assert Path(script).name == "incr"
