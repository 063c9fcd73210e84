"""``incr verify --rerun``: clean steps run again, twice, in a scratch copy of the project;
outputs that differ from pipeline.lock are named with their likely cause. Nothing real is
written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import FLOW_ORDER, MakeProject, Project

FLOW = "pipelines/flow.py"


def snapshot(project: Project) -> dict[str, tuple[bytes, int]]:
    """The bytes and modification times of the lockfile, the cache's objects and run records,
    and every file outside the cache (the outs among them)."""
    found = {}
    for path in sorted(project.root.rglob("*")):
        rel = path.relative_to(project.root).as_posix()
        kept = not rel.startswith(".pipecache/") or rel.startswith(
            (".pipecache/objects/", ".pipecache/runs/")
        )
        if path.is_file() and kept and "__pycache__" not in rel:
            found[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def verify(project: Project, *args: str) -> tuple[int, list[str]]:
    result = project.incr("verify", "--rerun", *args)
    assert "Traceback" not in result.stderr, result.output
    return result.returncode, result.stdout.splitlines()


def test_deterministic_steps_pass_and_nothing_real_is_written(flow: Project) -> None:
    before = snapshot(flow)

    code, lines = verify(flow)

    assert code == 0, lines
    assert [line.split()[0] for line in lines[:-1]] == [f"flow.{s}" for s in FLOW_ORDER]
    assert all(" same outputs in 2 runs (" in line for line in lines[:-1])
    assert lines[-1] == "5 steps run again: every output as recorded"
    assert flow.take_ran() == []  # the steps ran, but in the scratch copy
    assert snapshot(flow) == before
    assert flow.dirty() == {}


def test_a_non_deterministic_step_is_named(make_project: MakeProject) -> None:
    module = """\
        import time

        from incr import pipeline, step


        @step
        def stamp() -> int:
            return time.perf_counter_ns()


        @step
        def fixed() -> int:
            return 1


        @pipeline
        def p():
            stamp()
            fixed()
        """
    project = make_project({"pipelines/x.py": module})
    project.repro()

    code, lines = verify(project)

    assert code == 1
    assert lines[0] == (
        "p.stamp  outputs differ (output): non-deterministic "
        "(two runs in a row gave different outputs)"
    )
    assert lines[1].startswith("p.fixed  same outputs in 2 runs")
    assert lines[-1] == ("2 steps run again: 1 not as recorded: p.stamp (non-deterministic)")


HIDDEN = """\
    import json
    import os
    import subprocess

    from incr import StepConfig, pipeline, step


    def hidden_read(path):
        # read by a child process: incr does not see it
        return subprocess.run(["cat", path], capture_output=True, text=True, check=True).stdout


    class Where(StepConfig):
        path: str = ""


    @step
    def load(config: Where) -> int:
        return int(hidden_read(config.path))


    @step(outs=["reports/value.json"])
    def report(value: int) -> None:
        os.makedirs("reports", exist_ok=True)
        with open("reports/value.json", "w", encoding="utf-8") as fh:
            json.dump({{"value": value}}, fh)


    @step(outs=["reports/seen.txt"])
    def copy_outside(config: Where) -> None:
        os.makedirs("reports", exist_ok=True)
        with open("reports/seen.txt", "w", encoding="utf-8") as dst:
            dst.write(hidden_read(config.path))


    @pipeline
    def p():
        report(load(config=Where(path={path!r})))
        copy_outside(config=Where(path={path!r}))
    """


def test_a_hidden_input_is_told_apart(make_project: MakeProject, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("1", encoding="utf-8")
    project = make_project({"pipelines/x.py": HIDDEN.format(path=str(outside))})
    project.repro()
    assert verify(project)[0] == 0

    outside.write_text("2", encoding="utf-8")
    assert project.dirty() == {}  # incr cannot see it: that is what verify is for
    before = snapshot(project)

    code, lines = verify(project)

    assert code == 1
    hidden = "changed when run again: reads something incr does not track"
    assert lines[0] == (
        f"p.load  outputs differ (output): {hidden} (two new runs agree with each other, "
        "not with pipeline.lock: list what it reads in deps=[...])"
    )
    assert lines[1].startswith("p.report  same outputs in 2 runs")  # on load's recorded value
    assert lines[2].startswith(f"p.copy_outside  outputs differ (reports/seen.txt): {hidden}")
    assert lines[-1] == (
        f"3 steps run again: 2 not as recorded: p.load ({hidden}), p.copy_outside ({hidden})"
    )
    assert snapshot(project) == before
    assert (project.root / "reports/seen.txt").read_text(encoding="utf-8") == "1"


def test_dirty_steps_are_skipped_and_targets_pick_steps(flow: Project) -> None:
    flow.edit(FLOW, "return add_shift(values)", "return add_shift(values)[::-1]")

    code, lines = verify(flow)

    assert code == 0, lines
    assert lines == [
        "flow.shift  skipped: dirty (code changed (shift in pipelines/flow.py)); "
        "run `incr repro`, then verify it",
        "flow.total  skipped: dirty (after shift); run `incr repro`, then verify it",
        *[line for line in lines if line.startswith(("flow.load ", "flow.double ", "flow.sc"))],
        "3 steps run again: every output as recorded; 2 steps skipped (dirty)",
    ]
    assert len(lines) == 6

    code, lines = verify(flow, "flow.scaled", "double")
    assert code == 0, lines
    assert [line.split()[0] for line in lines[:-1]] == ["flow.double", "flow.scaled"]
    assert flow.take_ran() == []


def test_a_step_that_changes_its_input_in_place_gets_it_afresh(make_project: MakeProject) -> None:
    module = """\
        from incr import pipeline, step


        @step
        def load() -> list:
            return [3, 1, 2]


        @step
        def grow(values: list) -> list:
            values.append(len(values))
            return values


        @pipeline
        def p():
            grow(load())
        """
    project = make_project({"pipelines/x.py": module})
    project.repro()

    code, lines = verify(project, "grow")

    assert code == 0, lines
    assert lines[-1] == "1 step run again: every output as recorded"


def test_a_step_that_fails_when_run_again_fails_verify(make_project: MakeProject) -> None:
    module = """\
        import os

        from incr import pipeline, step


        @step(track_reads=False)
        def fragile() -> int:
            if os.path.exists("stop.flag"):
                raise ValueError("stop.flag is there")
            return 1


        @pipeline
        def p():
            fragile()
        """
    project = make_project({"pipelines/x.py": module})
    project.repro()
    (project.root / "stop.flag").write_text("", encoding="utf-8")
    assert project.dirty() == {}

    code, lines = verify(project)

    assert code == 1
    assert lines[0] == "p.fragile  failed when run again: ValueError: stop.flag is there"
    assert lines[-1] == ("1 step run again: 1 not as recorded: p.fragile (failed when run again)")


def test_targets_need_rerun(flow: Project) -> None:
    assert flow.incr("verify", "load").user_error() == "error: TARGET is only taken with --rerun"
    assert flow.incr("verify").returncode == 0


def test_a_project_whose_pipelines_folder_has_no_init_file(flow: Project) -> None:
    """``pipelines/`` without ``__init__.py`` (a namespace package) imports under ``incr
    repro``, and so it must in the scratch copy. Before, the rerun put the folder holding
    incr's own package on ``sys.path``: in a source checkout of incr, its ``pipelines``
    package took the name, and every step failed there (``No module named
    'pipelines.flow'``)."""
    taken = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if any(Path(p, "pipelines", "__init__.py").is_file() for p in taken):
        pytest.skip("PYTHONPATH names a folder with a pipelines package: incr repro too fails")
    (flow.root / "pipelines/__init__.py").unlink()
    flow.repro("--force")
    code, lines = verify(flow)
    assert code == 0, lines
    assert [line.split()[0] for line in lines[:-1]] == [f"flow.{s}" for s in FLOW_ORDER]
