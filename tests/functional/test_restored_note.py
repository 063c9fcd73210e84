"""A step that writes a file its ``outs`` do not list, which no other step reads (a report
beside the value it returns): incr cannot put that file back from the cache, so it checks it.
Each run record keeps the file's digest as the run left it; a step whose file holds another
run's bytes executes to write it (an edit reverted, a branch checked out), one whose file
holds what the run left is put back, and an edit or removal of the file by hand makes it
dirty."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

EVALUATE = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    BONUS = 0


    @step
    def score() -> int:
        mark("score")
        value = 10 + BONUS
        os.makedirs("reports", exist_ok=True)
        with open("reports/score.json", "w") as fh:
            json.dump(value, fh)
        with open("reports/about.txt", "w") as fh:
            fh.write("scores of the evaluation\\n")
        return value


    @step(outs=["reports/listed.json"])
    def listed(value: int) -> None:
        mark("listed")
        with open("reports/listed.json", "w") as fh:
            json.dump(value, fh)


    @pipeline
    def evaluate():
        listed(score())
    """


def test_a_reverted_step_whose_report_holds_another_runs_bytes_executes(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Before, the revert put ``score`` back from the cache and left ``reports/score.json``
    holding 15, the edited run's, with a note saying so: a stale report."""
    project = make_project({"pipelines/evaluate.py": EVALUATE})
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    project.edit("pipelines/evaluate.py", "BONUS = 0", "BONUS = 5")
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    project.edit("pipelines/evaluate.py", "BONUS = 5", "BONUS = 0")  # reverted
    result = project.repro()
    assert project.take_ran() == ["score"]  # listed, given the same value, is put back
    assert project.read("reports/score.json") == "10"
    assert project.read("reports/listed.json") == "10"
    assert "was put back" not in result.output
    assert project.dirty() == {}
    assert project.repro().output.count("reused from the cache") == 1  # a no-op run
    assert project.take_ran() == []
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_reverted_step_whose_reports_its_edited_run_removed_executes_without_a_note(
    make_project: MakeProject,
) -> None:
    """The edited run writes ``score2.json`` and ``about2.txt``: the files of the run before
    are removed as it starts (``freshouts.clear_written``: a run from scratch of the edited
    code has no ``score.json``). Reverted, ``score`` executes to write them again (the cache
    does not hold them), ``listed`` is put back, and nothing is said of files not put
    back."""
    project = make_project({"pipelines/evaluate.py": EVALUATE})
    project.repro()
    project.take_ran()
    project.edit("pipelines/evaluate.py", '"reports/score.json"', '"reports/score2.json"')
    project.edit("pipelines/evaluate.py", '"reports/about.txt"', '"reports/about2.txt"')
    project.edit("pipelines/evaluate.py", "value = 10 + BONUS", "value = 11 + BONUS")
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    assert not (project.root / "reports/score.json").exists()
    project.edit("pipelines/evaluate.py", '"reports/score2.json"', '"reports/score.json"')
    project.edit("pipelines/evaluate.py", '"reports/about2.txt"', '"reports/about.txt"')
    project.edit("pipelines/evaluate.py", "value = 11 + BONUS", "value = 10 + BONUS")
    result = project.repro()
    assert project.take_ran() == ["score"]  # listed, given the same value, is put back
    assert "was put back" not in result.stderr
    assert project.read("reports/score.json") == "10"
    assert project.dirty() == {}


def test_a_report_of_another_branch_makes_its_writer_dirty(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``git checkout`` of a branch puts back its code and its ``pipeline.lock``, not an
    ignored report its runs wrote: the lock's run of ``score`` left 10 in it, the other
    branch's 15. Before, every step was clean and ``score.json`` kept 15."""
    project = make_project({"pipelines/evaluate.py": EVALUATE})
    project.repro()
    project.take_ran()
    saved = tmp_path / "main"
    saved.mkdir()
    for rel in ("pipelines/evaluate.py", "pipeline.lock"):
        shutil.copy2(project.root / rel, saved / Path(rel).name)
    project.edit("pipelines/evaluate.py", "BONUS = 0", "BONUS = 5")  # the other branch
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    for rel in ("pipelines/evaluate.py", "pipeline.lock"):  # back to the first branch
        shutil.copy2(saved / Path(rel).name, project.root / rel)
    assert project.dirty() == {
        "score": [("written file changed", "reports/score.json")],
        "listed": [("after", "score"), ("output modified", "reports/listed.json")],
    }
    project.repro()
    assert project.take_ran() == ["score"]
    assert project.read("reports/score.json") == "10"
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_files_left_as_the_run_wrote_them_rerun_nothing(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The check costs no needless rerun: a copy of the project (other times, same bytes), a
    file the step appends to, a file two steps write, one in a listed out folder."""
    files = {
        "pipelines/evaluate.py": EVALUATE,
        "pipelines/logs.py": """\
            from incr import pipeline, step


            @step
            def first() -> int:
                with open("shared.txt", "w") as fh:
                    fh.write("first\\n")
                with open("events.log", "a") as fh:
                    fh.write("first ran\\n")
                return 1


            @step(outs=["plots"])
            def second(n: int) -> int:
                with open("shared.txt", "w") as fh:
                    fh.write("second\\n")
                import os

                os.makedirs("plots", exist_ok=True)
                with open("plots/a.txt", "w") as fh:
                    fh.write(str(n))
                return n + 1


            @pipeline
            def logs():
                second(first())
            """,
    }
    project = make_project(files)
    project.repro()
    project.take_ran()
    assert project.dirty() == {}
    copy = tmp_path / "copy"
    shutil.copytree(project.root, copy)  # new times, the same bytes
    for path in copy.rglob("*"):
        path.touch()
    moved = type(project)(copy)
    assert moved.dirty() == {}
    moved.repro()
    assert moved.take_ran() == []
    assert project.read("shared.txt") == "second\n"
    assert project.dirty() == {}
