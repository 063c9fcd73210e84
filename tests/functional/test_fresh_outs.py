"""Before a step executes, its ``outs`` hold nothing of its last run, as in a run from scratch:
what its last run left there (held by the cache) is removed, anything else is moved aside into
``.pipecache/kept/`` with a warning, never deleted."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

PARTS = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class C(StepConfig):
        n: int = 3


    @step(outs=["out"])
    def write_parts(config: C) -> None:
        mark("write_parts")
        os.makedirs("out/shards", exist_ok=True)
        for i in range(config.n):
            with open(f"out/shards/part{i}.csv", "w") as f:
                f.write(f"{i}\\n")


    @step(deps=["out"])
    def count() -> int:
        mark("count")
        return len(os.listdir("out/shards"))


    @pipeline
    def parts():
        write_parts(config=C(n=3))
        count()
    """


def _kept(root: Path) -> list[str]:
    """The files moved aside, by their path inside ``kept/TIMESTAMP/``."""
    kept = root / ".pipecache" / "kept"
    if not kept.is_dir():
        return []
    return sorted("/".join(p.relative_to(kept).parts[1:]) for p in kept.rglob("*") if p.is_file())


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")])
def test_a_step_writing_fewer_files_in_its_outs_folder_leaves_none_of_its_last_run(
    make_project: MakeProject, tmp_path: Path, jobs: tuple[str, ...]
) -> None:
    """``write_parts`` writes one shard fewer: ``out/shards/part2.csv`` of its last run stayed
    in the folder, was stored as part of its new result, and ``count`` gave 3 where a run from
    scratch gives 2 (``incr verify --rerun`` found nothing wrong either)."""
    project = make_project({"pipelines/parts.py": PARTS})
    project.repro(*jobs)
    assert project.take_ran() == ["write_parts", "count"]
    project.edit("pipelines/parts.py", "C(n=3)", "C(n=2)")
    result = project.repro(*jobs)
    assert project.take_ran() == ["write_parts", "count"]
    assert "warning" not in result.output  # all it held was its last run's, in the cache
    assert sorted(p.name for p in (project.root / "out/shards").iterdir()) == [
        "part0.csv",
        "part1.csv",
    ]
    assert _kept(project.root) == []
    _same_as_scratch(project, tmp_path)
    verified = project.incr("verify", "--rerun")
    assert verified.returncode == 0, verified.output

    project.edit("pipelines/parts.py", "C(n=2)", "C(n=3)")  # back: from the cache
    project.repro(*jobs)
    assert project.take_ran() == []
    assert len(list((project.root / "out/shards").iterdir())) == 3
    assert project.dirty() == {}


def _same_as_scratch(project: Project, tmp_path: Path) -> None:
    """Every output is that of a run from scratch of a copy of the project without its outs."""
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "out")
    assert_same_as_scratch(project, fresh)


def test_a_file_the_user_put_in_an_outs_folder_is_moved_aside_with_a_warning(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A file that the step's last run did not leave in its outs folder (one the user added,
    one edited by hand) is not part of its new result, and is not lost: it is moved to
    ``.pipecache/kept/TIMESTAMP/``, with a warning naming it."""
    project = make_project({"pipelines/parts.py": PARTS})
    project.repro()
    project.take_ran()
    (project.root / "out/notes.txt").write_text("mine\n", encoding="utf-8")
    (project.root / "out/shards/part1.csv").write_text("edited\n", encoding="utf-8")
    project.edit("pipelines/parts.py", "C(n=3)", "C(n=2)")
    result = project.repro()
    assert project.take_ran() == ["write_parts", "count"]
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.output
    assert any(
        "out/notes.txt is not from the last run of parts.write_parts: moved it to "
        ".pipecache/kept/" in w
        for w in warnings
    ), warnings
    assert _kept(project.root) == ["out/notes.txt", "out/shards/part1.csv"]
    kept = next((project.root / ".pipecache/kept").iterdir())
    assert (kept / "out/notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in (project.root / "out").rglob("*")) == [
        "part0.csv",
        "part1.csv",
        "shards",
    ]
    assert project.read("out/shards/part1.csv") == "1\n"
    _same_as_scratch(project, tmp_path)


def test_a_step_run_for_the_first_time_moves_aside_what_its_outs_hold(
    make_project: MakeProject,
) -> None:
    """Files already in the outs folder of a step never run (left by an older version of the
    project, copied in): not part of what it makes, moved aside as one folder."""
    project = make_project({"pipelines/parts.py": PARTS, "out/shards/part7.csv": "7\n"})
    result = project.repro()
    assert "warning: out is not from the last run of parts.write_parts" in result.output
    assert _kept(project.root) == ["out/shards/part7.csv"]
    assert not (project.root / "out/shards/part7.csv").exists()
    assert project.dirty() == {}


def test_a_placeholder_keeping_the_outs_folder_in_git_stays(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``out/.gitkeep``, committed so that the folder is in a clone, is what a run from
    scratch finds in the folder: it stays, and nothing is moved aside. Before, the first run
    moved the whole folder aside with a warning (git showed the file deleted)."""
    project = make_project({"pipelines/parts.py": PARTS, "out/.gitkeep": ""})
    result = project.repro()
    assert "warning" not in result.output, result.output
    assert (project.root / "out/.gitkeep").is_file()
    project.take_ran()
    project.edit("pipelines/parts.py", "C(n=3)", "C(n=2)")
    result = project.repro()
    assert project.take_ran() == ["write_parts", "count"]
    assert "warning" not in result.output, result.output
    assert sorted(p.name for p in (project.root / "out").rglob("*")) == [
        ".gitkeep",
        "part0.csv",
        "part1.csv",
        "shards",
    ]
    assert _kept(project.root) == []
    fresh = fresh_copy(project, tmp_path / "fresh")
    shutil.rmtree(fresh.root / "out/shards")  # a clone: the placeholder alone
    assert_same_as_scratch(project, fresh)


REPORT = """\
    import json
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class R(StepConfig):
        extra: bool = True
        fail: bool = False


    @step(outs=["reports/extra.json"])
    def report(config: R) -> None:
        mark("report")
        os.makedirs("reports", exist_ok=True)
        if config.fail:
            raise RuntimeError("boom")
        if config.extra:
            with open("reports/extra.json", "w") as fh:
                json.dump(1, fh)


    @pipeline
    def reports():
        report(config=R(extra=True, fail=False))
    """


@pytest.mark.parametrize("edit", ["extra=False", "fail=True"])
def test_a_file_out_the_step_does_not_write_again_does_not_survive(
    make_project: MakeProject, edit: str
) -> None:
    """``report`` no longer writes ``reports/extra.json`` (or fails before it does): the file
    of its last run stayed and was recorded as its new result (or stayed beside the failure).
    Now the step fails, as in a run from scratch, and the file is gone from the project but
    not from the cache: putting the config back restores it without running the step."""
    project = make_project({"pipelines/reports.py": REPORT})
    project.repro()
    assert project.take_ran() == ["report"]
    key = "extra=True" if edit == "extra=False" else "fail=False"
    project.edit("pipelines/reports.py", key, edit)
    result = project.incr("repro")
    assert result.returncode != 0, result.output
    assert project.take_ran() == ["report"]
    if edit == "extra=False":
        assert "did not write reports/extra.json, which it lists in outs" in result.output
    assert not (project.root / "reports/extra.json").exists()
    assert "warning" not in result.output
    project.edit("pipelines/reports.py", edit, key)
    project.repro()
    assert project.take_ran() == []
    assert project.read("reports/extra.json") == "1"
    assert project.dirty() == {}


def test_a_clone_whose_file_outs_are_committed_moves_nothing_aside(
    make_project: MakeProject,
) -> None:
    """A clone holding the outputs the lockfile records (committed with it) but no cache:
    the file is the last run's, so it is stored and taken away without a warning. Before,
    each such file was moved aside into ``.pipecache/kept/`` with a warning that it was not
    from the last run, on every CI checkout."""
    project = make_project({"pipelines/reports.py": REPORT.replace("json.dump(1,", "json.dump(2,")})
    project.repro()
    project.take_ran()
    shutil.rmtree(project.root / ".pipecache")  # the clone: lockfile and outputs, no cache
    project.edit("pipelines/reports.py", "json.dump(2,", "json.dump(3,")
    result = project.repro()
    assert project.take_ran() == ["report"]
    assert "warning" not in result.output
    assert _kept(project.root) == []
    assert project.read("reports/extra.json") == "3"


def test_a_clone_whose_folder_outs_are_committed_moves_nothing_aside(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The same for an outs folder: the folder's manifest is not in the clone, but the
    folder holds what the lockfile records, so its files are stored and taken away without
    a warning. Before, the whole folder was moved aside with one."""
    project = make_project({"pipelines/parts.py": PARTS})
    project.repro()
    project.take_ran()
    shutil.rmtree(project.root / ".pipecache")  # the clone: lockfile and outputs, no cache
    project.edit("pipelines/parts.py", "C(n=3)", "C(n=2)")
    result = project.repro()
    assert project.take_ran() == ["write_parts", "count"]
    assert "warning" not in result.output, result.output
    assert _kept(project.root) == []
    assert sorted(p.name for p in (project.root / "out/shards").iterdir()) == [
        "part0.csv",
        "part1.csv",
    ]
    assert project.dirty() == {}
    _same_as_scratch(project, tmp_path)


SPLIT = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["work/interim.txt", "work/processed.txt"])
    def prepare() -> None:
        mark("prepare")
        os.makedirs("work", exist_ok=True)
        open("work/interim.txt", "w").write("a\\n")
        open("work/processed.txt", "w").write("a!\\n")


    @step(deps=["work/processed.txt"])
    def train() -> str:
        mark("train")
        return open("work/processed.txt").read()


    @pipeline
    def flow():
        prepare()
        train()
    """


SPLIT_IN_TWO = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["work/interim.txt"])
    def prepare() -> None:
        mark("prepare")
        os.makedirs("work", exist_ok=True)
        open("work/interim.txt", "w").write("a\\n")


    @step(outs=["work/processed.txt"], deps=["work/interim.txt"])
    def finalize() -> None:
        mark("finalize")
        text = open("work/interim.txt").read().strip()
        open("work/processed.txt", "w").write(text + "!\\n")


    @step(deps=["work/processed.txt"])
    def train() -> str:
        mark("train")
        return open("work/processed.txt").read()


    @pipeline
    def flow():
        prepare()
        finalize()
        train()
    """


def test_an_out_taken_over_by_a_new_step_is_not_moved_aside(make_project: MakeProject) -> None:
    """``prepare`` split in two: ``finalize`` now writes ``work/processed.txt``, which the
    cache holds as the old ``prepare``'s output. It is removed without a warning. Before, it
    was moved aside into ``kept/`` with a warning that it was not from ``finalize``'s last
    run."""
    project = make_project({"pipelines/flow.py": SPLIT})
    project.repro()
    assert project.take_ran() == ["prepare", "train"]
    project.write({"pipelines/flow.py": textwrap.dedent(SPLIT_IN_TWO)})
    result = project.repro()
    assert "finalize" in project.take_ran()
    assert "warning" not in result.output, result.output
    assert _kept(project.root) == []
    assert project.read("work/processed.txt") == "a!\n"
    assert project.dirty() == {}
