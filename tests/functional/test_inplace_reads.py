"""A file a step reads and then rewrites in place is an input of that step.

The rule: the step's input is the file's bytes before it ran; after its run the file holds
the step's output, and that is what the lockfile records (in ``reads``, or in ``deps`` when
declared). So a no-op repro runs nothing, and any later edit of the file makes the step dirty.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

CLEANING = '''\
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    def clean_file(path):
        """Strip, lower-case and drop blank lines, in place; the rows kept."""
        file = Path(path)
        rows = [r.strip().lower() for r in file.read_text(encoding="utf-8").splitlines()]
        rows = [r for r in rows if r]
        file.write_text("\\n".join(rows) + "\\n", encoding="utf-8")
        return rows


    @step
    def clean() -> list:
        mark("clean")
        return clean_file("data/raw.txt")


    @step(deps=["data/declared.txt"])
    def clean_declared() -> list:
        mark("clean_declared")
        return clean_file("data/declared.txt")


    @step
    def count(rows: list) -> int:
        mark("count")
        return len(rows)


    @pipeline
    def cleaning():
        count(clean())
        clean_declared()
    '''
RAW = " Alpha \n\nBETA\n"
CLEANED = "alpha\nbeta\n"


@pytest.fixture
def cleaning(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/cleaning.py": CLEANING, "data/raw.txt": RAW, "data/declared.txt": RAW}
    )
    project.repro()
    assert project.take_ran() == ["clean", "count", "clean_declared"]
    assert project.read("data/raw.txt") == CLEANED
    return project


def test_the_rewritten_file_is_recorded_as_the_step_left_it(cleaning: Project) -> None:
    lock = cleaning.lock()
    fresh_digest = lock["cleaning.clean_declared"].facts.deps["data/declared.txt"]
    assert lock["cleaning.clean"].reads == {"data/raw.txt": fresh_digest}  # both hold CLEANED
    assert cleaning.read("data/declared.txt") == CLEANED


def test_a_no_op_repro_runs_nothing(cleaning: Project) -> None:
    lock_before = cleaning.lock_bytes()
    assert cleaning.dirty() == {}
    cleaning.repro()
    assert cleaning.take_ran() == []
    assert cleaning.lock_bytes() == lock_before


def test_a_hand_edit_after_the_run_reruns_the_step(cleaning: Project, tmp_path: Path) -> None:
    cleaning.write({"data/raw.txt": CLEANED + "  Gamma\n"})
    assert cleaning.dirty() == {
        "clean": [("read changed", "data/raw.txt")],
        "count": [("after", "clean")],
    }
    assert "clean dirty: read changed (data/raw.txt)" in " ".join(
        cleaning.incr("status").stdout.split()
    )
    fresh = fresh_copy(cleaning, tmp_path / "fresh")
    cleaning.repro()
    assert cleaning.take_ran() == ["clean", "count"]
    assert cleaning.read("data/raw.txt") == "alpha\nbeta\ngamma\n"
    assert_same_as_scratch(cleaning, fresh, ("data/raw.txt", "data/declared.txt"))
    cleaning.repro()
    assert cleaning.take_ran() == []


def test_a_hand_edit_of_a_declared_file_reruns_the_step_once(
    cleaning: Project, tmp_path: Path
) -> None:
    cleaning.write({"data/declared.txt": "DELTA\n"})
    assert cleaning.dirty() == {"clean_declared": [("dep changed", "data/declared.txt")]}
    fresh = fresh_copy(cleaning, tmp_path / "fresh")
    cleaning.repro()
    assert cleaning.take_ran() == ["clean_declared"]
    assert_same_as_scratch(cleaning, fresh, ("data/declared.txt",))
    cleaning.repro()
    assert cleaning.take_ran() == []


def test_the_raw_file_put_back_is_cleaned_again(cleaning: Project, tmp_path: Path) -> None:
    """The first run's record holds the cleaned bytes: the raw ones match no record, so the
    step runs (a run-cache restore would leave the file uncleaned)."""
    cleaning.write({"data/raw.txt": RAW})
    assert cleaning.dirty()["clean"] == [("read changed", "data/raw.txt")]
    fresh = fresh_copy(cleaning, tmp_path / "fresh")
    cleaning.repro()
    assert cleaning.take_ran() == ["clean"]  # count's input is the same rows: early cutoff
    assert cleaning.read("data/raw.txt") == CLEANED
    assert_same_as_scratch(cleaning, fresh, ("data/raw.txt",))


def test_unrelated_files_run_nothing(cleaning: Project) -> None:
    cleaning.write({"data/other.txt": "x\n"})
    cleaning.repro()
    assert cleaning.take_ran() == []


WRITE_THEN_READ = """\
    from pathlib import Path

    from incr import pipeline, step


    @step
    def scratch() -> str:
        Path("data/tmp.txt").write_text("made here", encoding="utf-8")
        return Path("data/tmp.txt").read_text(encoding="utf-8")


    @pipeline
    def writes():
        scratch()
    """


def test_a_file_written_before_it_is_read_is_not_an_input(make_project: MakeProject) -> None:
    project = make_project({"pipelines/writes.py": WRITE_THEN_READ, "data/keep.txt": ""})
    project.repro()
    assert project.lock()["writes.scratch"].reads == {}


SCRATCH_FOLDERS = """\
    import os
    import shutil
    import tempfile

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def with_tempdir() -> str:
        mark("with_tempdir")
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            with open(os.path.join(tmp, "x.txt"), "w") as fh:
                fh.write("1")
        return "ok"


    @step
    def scratch_folder() -> str:
        mark("scratch_folder")
        os.makedirs("work/scratch", exist_ok=True)
        with open("work/scratch/x.txt", "w") as fh:
            fh.write("1")
        shutil.rmtree("work/scratch")
        return "ok"


    @pipeline
    def scratch():
        with_tempdir()
        scratch_folder()
    """


def test_a_folder_the_step_made_and_removed_is_not_an_input(make_project: MakeProject) -> None:
    """``shutil.rmtree`` (and ``TemporaryDirectory``'s cleanup) opens the folder to remove
    what it holds: that is no read, and the step is clean after its run."""
    project = make_project({"pipelines/scratch.py": SCRATCH_FOLDERS})
    project.repro()
    assert sorted(project.take_ran()) == ["scratch_folder", "with_tempdir"]
    assert all(
        project.lock()[k].reads == {} for k in ("scratch.with_tempdir", "scratch.scratch_folder")
    )
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


READ_BY_ANOTHER = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    RAW = "data/raw.csv"


    @step
    def fix_header() -> int:
        mark("fix_header")
        with open(RAW) as fh:
            lines = fh.readlines()
        lines[0] = lines[0].lower()
        with open(RAW, "w") as fh:
            fh.writelines(lines)
        return len(lines)


    @step
    def total(rows: int) -> float:
        mark("total")
        with open(RAW) as fh:
            return sum(float(line.split(",")[1]) for line in fh.readlines()[1:])


    @pipeline
    def weather():
        total(fix_header())
    """


def test_a_hand_edit_of_a_file_another_step_reads_too_is_kept_and_cleaned(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A step cleaning a file in place that another step reads too: a row added by hand after
    the run is what the step cleans next, and so is the file as that edit left it when the
    step's code changes later. Before, the file was put back as it was before the first run
    (its writers start from there), over the edit: the row was lost, with no word."""
    project = make_project(
        {"pipelines/weather.py": READ_BY_ANOTHER, "data/raw.csv": "ID,T\n1,20.0\n2,21.0\n"}
    )
    project.repro()
    assert project.take_ran() == ["fix_header", "total"]
    assert project.read("data/raw.csv") == "id,t\n1,20.0\n2,21.0\n"

    project.write({"data/raw.csv": "ID,T\n1,20.0\n2,21.0\n3,5.0\n"})
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["fix_header", "total"]
    assert project.read("data/raw.csv") == "id,t\n1,20.0\n2,21.0\n3,5.0\n"
    assert_same_as_scratch(project, fresh, ("data/raw.csv",))
    assert project.dirty() == {}

    project.edit(
        "pipelines/weather.py", "lines[0].lower()", "lines[0].lower().replace('t', 'temp')"
    )
    project.repro()
    assert project.take_ran() == ["fix_header", "total"]
    assert project.read("data/raw.csv") == "id,temp\n1,20.0\n2,21.0\n3,5.0\n"
    assert project.dirty() == {}
