"""Existence tests a library makes of the project's files on a thread of the step's, or of an
import: they count as the project's own."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

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
