"""A file a step writes by moving another onto it (``os.replace(tmp, path)``, ``Path.rename``,
``shutil.move``: the atomic write of a temporary file, as libraries such as joblib make it)
is written by that step, as one it opens for writing: it orders the step before the steps
reading it, in its pipeline or another, it is checked as a report the step leaves, and a file
the step read and then replaced so is an in-place rewrite, recorded as the step left it."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

CLEAN = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def clean() -> int:
        mark("clean")
        lines = [line.strip() for line in open("data/names.txt")]
        with open("data/names.txt.tmp", "w") as fh:
            fh.write("\\n".join(lines) + "\\n")
        os.replace("data/names.txt.tmp", "data/names.txt")
        return len(lines)


    @pipeline
    def tidy():
        clean()
    """


def test_a_file_read_then_replaced_is_recorded_as_the_step_left_it(
    make_project: MakeProject,
) -> None:
    """Before, the file was recorded as ``changed while read``: the step ran on every
    ``repro``, and ``incr status`` never found it clean."""
    project = make_project({"pipelines/tidy.py": CLEAN, "data/names.txt": " ada \n bob \n"})
    project.repro()
    assert project.take_ran() == ["clean"]
    assert project.read("data/names.txt") == "ada\nbob\n"
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.lock()["tidy.clean"].reads["data/names.txt"] != "changed while read"
    (project.root / "data/names.txt").write_text("ada\nbob\n  cy \n")  # a hand edit
    assert project.dirty() == {"clean": [("read changed", "data/names.txt")]}
    project.repro()
    assert project.take_ran() == ["clean"]
    assert project.read("data/names.txt") == "ada\nbob\ncy\n"


WRITER = """\
    import json
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    FACTOR = 2


    @step
    def make_features() -> None:
        mark("make_features")
        n = int(Path("data/n.txt").read_text())
        part = Path("data/features.json.part")
        part.write_text(json.dumps({"v": n * FACTOR}))
        part.replace("data/features.json")


    @pipeline
    def make():
        make_features()
    """

READER = """\
    import json

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def use_features() -> int:
        mark("use_features")
        with open("data/features.json") as fh:
            return json.load(fh)["v"] + 1


    @pipeline
    def use():
        use_features()
    """


def test_a_step_reading_what_another_pipeline_replaces_runs_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``use`` comes first by its module's name. Before, an edit of the writer left the reader
    clean in ``incr status`` and ran the writer alone: the reader kept 7 where a run from
    scratch gives 10, until a second ``repro``."""
    files = {"pipelines/a_use.py": READER, "pipelines/b_make.py": WRITER, "data/n.txt": "3"}
    project = make_project(files)
    _edit_writer(project, ("FACTOR = 2", "FACTOR = 3"), ["make_features", "use_features"])
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def _edit_writer(project: Project, edit: tuple[str, str], order: list[str]) -> None:
    """Run the project twice, edit the writer in ``pipelines/b_make.py``: the reader waits
    on it in ``incr status``, and ``incr repro`` runs both, in ``order``."""
    project.repro()
    project.take_ran()
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/b_make.py", *edit)
    writer, reader = order
    assert project.dirty()[reader] == [("after", f"make.{writer}")]
    assert project.dirty()[writer] == [
        ("code changed", f"{edit[0].split()[0]} in pipelines/b_make.py")
    ]
    project.repro()
    assert project.take_ran() == order


REPORT = """\
    import json
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def total() -> int:
        mark("total")
        value = sum(range(10))
        Path("out").mkdir(exist_ok=True)
        part = Path("out/report.json.part")
        part.write_text(json.dumps({"total": value}))
        part.replace("out/report.json")
        return value


    @pipeline
    def flow():
        total()
    """


def test_a_report_written_by_a_replace_is_checked_as_one_written_in_place(
    make_project: MakeProject,
) -> None:
    """Before, ``out/report.json`` was not seen as written: once it was removed, every step
    stayed clean and the report was gone for good."""
    project = make_project({"pipelines/flow.py": REPORT})
    project.repro()
    assert project.take_ran() == ["total"]
    assert project.dirty() == {}
    (project.root / "out/report.json").unlink()
    assert project.dirty() == {"total": [("written file missing", "out/report.json")]}
    project.repro()
    assert project.take_ran() == ["total"]
    assert project.read("out/report.json") == '{"total": 45}'
    assert project.dirty() == {}


FOLDER_WRITER = """\
    import os
    import shutil
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    SCALE = 2


    @step
    def train() -> None:
        mark("train")
        staging = Path("models/.staging")
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "weights.txt").write_text(str(3 * SCALE))
        shutil.rmtree("models/final", ignore_errors=True)
        os.replace(staging, "models/final")  # the whole folder, at once


    @pipeline
    def make():
        train()
    """

FOLDER_READER = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def evaluate() -> int:
        mark("evaluate")
        with open("models/final/weights.txt") as fh:
            return int(fh.read()) + 1


    @pipeline
    def check():
        evaluate()
    """


def test_the_files_of_a_folder_moved_into_place_are_written_there(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``train`` writes its files in a staging folder and moves it to ``models/final``:
    ``evaluate``, in a pipeline named before it, reads a file it wrote and runs after it."""
    files = {"pipelines/a_check.py": FOLDER_READER, "pipelines/b_make.py": FOLDER_WRITER}
    project = make_project(files)
    _edit_writer(project, ("SCALE = 2", "SCALE = 5"), ["train", "evaluate"])
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
