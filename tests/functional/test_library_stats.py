"""What a library learns of the project's files without reading them itself: a stat it takes
for the bytes (``filecmp.cmp``), and existence tests made on a thread of the step's or of an
import. They count as the project's own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

COMPARES = """\
    import filecmp
    from concurrent.futures import ThreadPoolExecutor

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def same_folder() -> bool:
        mark("same_folder")
        return filecmp.cmp("data/x.txt", "data/y.txt")


    @step
    def two_folders() -> bool:
        mark("two_folders")
        return filecmp.cmp("data/x.txt", "ref/x.txt")


    @step
    def on_threads() -> list:
        mark("on_threads")
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(filecmp.cmp, ["data/x.txt"], ["data/y.txt"]))


    @pipeline
    def compares():
        same_folder()
        two_folders()
        on_threads()
    """


def _compares(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/compares.py": COMPARES, "data/x.txt": "same1\n"})
    (project.root / "ref").mkdir()
    shutil.copy2(project.root / "data/x.txt", project.root / "data/y.txt")  # same stat
    shutil.copy2(project.root / "data/x.txt", project.root / "ref/x.txt")
    project.repro()
    assert sorted(project.take_ran()) == ["on_threads", "same_folder", "two_folders"]
    return project


def test_a_shallow_filecmp_counts_the_bytes_of_the_files_it_compared(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``filecmp.cmp`` takes two files with the same size and times for equal without reading
    them: the files whose times a library asked count by their bytes. An edit of the same size
    reruns the steps comparing that file (False, as from scratch), and only those."""
    project = _compares(make_project)
    assert set(project.lock()["compares.two_folders"].reads) >= {"data/x.txt", "ref/x.txt"}

    (project.root / "data/y.txt").write_text("same2\n", encoding="utf-8")
    assert project.dirty() == {
        "same_folder": [("read changed", "data/y.txt")],
        "on_threads": [("read changed", "data/y.txt")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["on_threads", "same_folder"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.repro()
    assert project.take_ran() == []

    (project.root / "ref/x.txt").write_text("same3\n", encoding="utf-8")
    project.repro()
    assert project.take_ran() == ["two_folders"]


def test_a_file_a_library_compared_touched_without_an_edit_reruns_nothing(
    make_project: MakeProject,
) -> None:
    """The same bytes with a newer time (a copy, a checkout): nothing to rerun."""
    project = _compares(make_project)
    later = os.stat(project.root / "data/y.txt").st_mtime + 5
    os.utime(project.root / "data/y.txt", (later, later))
    os.utime(project.root / "ref/x.txt", (later, later))
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


THREADED_TESTS = """\
    import os
    from concurrent.futures import ThreadPoolExecutor

    import jinja2
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def present() -> list:
        mark("present")
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(os.path.exists, ["data/a.txt", "data/b.txt"]))


    @step
    def report() -> str:
        mark("report")
        search = ["templates/override", "templates/default"]
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(search))
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(env.get_template, "report.txt").result().render(x=1)


    @pipeline
    def threaded():
        present()
        report()
    """


def test_existence_tests_a_library_makes_on_a_step_s_thread_count(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``pool.map(os.path.exists, paths)`` and jinja's search path looked through on a worker
    thread: a file appearing where they looked reruns the step (file appeared); a file
    elsewhere does not."""
    project = make_project(
        {
            "pipelines/threaded.py": THREADED_TESTS,
            "data/a.txt": "a\n",
            "templates/default/report.txt": "default {{ x }}\n",
        }
    )
    (project.root / "templates/override").mkdir()
    project.repro()
    assert sorted(project.take_ran()) == ["present", "report"]

    project.write({"data/other.txt": "o\n", "templates/other.txt": "o\n"})
    assert project.dirty() == {}

    project.write({"data/b.txt": "b\n", "templates/override/report.txt": "custom {{ x }}\n"})
    assert project.dirty() == {
        "present": [("file appeared", "data/b.txt")],
        "report": [("file appeared", "templates/override/report.txt")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["present", "report"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


AT_IMPORT = """\
    import os
    from concurrent.futures import ThreadPoolExecutor

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    NAMES = ["data/a.txt", "data/b.txt"]
    with ThreadPoolExecutor(2) as pool:
        FOUND = [n for n, there in zip(NAMES, pool.map(os.path.exists, NAMES)) if there]


    class Files(StepConfig):
        files: list = []


    @step
    def count(config: Files) -> int:
        mark("count")
        return len(config.files)


    @pipeline
    def found():
        count(Files(files=FOUND))
    """


def test_existence_tests_made_on_a_thread_at_import_key_the_pipeline(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The same tests made on a thread while the pipeline module is imported: the body that
    passes what they found is traced again when a file appears there."""
    project = make_project({"pipelines/found.py": AT_IMPORT, "data/a.txt": "a\n"})
    project.repro()
    assert project.take_ran() == ["count"]
    project.write({"data/other.txt": "o\n"})
    assert project.dirty() == {}

    project.write({"data/b.txt": "b\n"})
    assert project.dirty() == {
        "count": [("config changed", "files: ['data/a.txt'] -> ['data/a.txt', 'data/b.txt']")]
    }
    project.repro()
    assert project.take_ran() == ["count"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
