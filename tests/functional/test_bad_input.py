"""Reliability, bad input: mistakes in a pipeline get one error line and a hint, not a traceback."""

from __future__ import annotations

import pytest

from .conftest import MakeProject, Result
from .reliability import _objects, _pipeline


def _step_error(result: Result) -> str:
    """The one error line of a run whose step failed: no traceback, a hint under it."""
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "  hint: " in result.stderr, result.stderr
    return errors[0]


def test_two_different_steps_with_one_name(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step(name="x")
            def one() -> int:
                mark("one")
                return 1


            @step(name="x")
            def two() -> int:
                mark("two")
                return 2


            @pipeline
            def dup():
                one()
                two()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "'x'" in line, line
        assert "pipelines/bad.py:7" in line and "pipelines/bad.py:13" in line, line
        assert "name=" in result.stderr  # the fix
    assert project.take_ran() == []


def test_a_step_returning_fewer_values_than_it_declares(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step
            def split() -> Output(a=int, b=int, c=int):
                mark("split")
                return 1, 2


            @step
            def after(a: int) -> int:
                mark("after")
                return a


            @pipeline
            def bad():
                a, b, c = split()
                after(a)
            """)
    )

    line = _step_error(project.incr("repro"))

    assert "bad.split" in line and "2 values" in line and "3 outputs (a, b, c)" in line, line
    assert project.take_ran() == ["split"]
    assert project.lock() == {}
    assert _objects(project.root) == {}


def test_an_output_no_materializer_can_store(make_project: MakeProject) -> None:
    project = make_project(
        _pipeline("""\
            @step
            def numbers() -> object:
                mark("numbers")
                return (n * n for n in range(3))


            @pipeline
            def bad():
                numbers()
            """)
    )

    line = _step_error(project.incr("repro"))

    assert "bad.numbers" in line and "generator" in line, line
    assert project.take_ran() == ["numbers"]
    assert project.lock() == {}


@pytest.mark.parametrize("graph_cache", [True, False])
def test_a_deps_path_that_does_not_exist(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, graph_cache: bool
) -> None:
    """A one-line error before anything runs, whether saved graphs stand in for a trace (the
    status pass finds it) or the modules are imported and traced first (a first run)."""
    if not graph_cache:
        monkeypatch.setenv("INCR_NO_GRAPH_CACHE", "1")
    project = make_project(
        _pipeline("""\
            @step(deps=["data/missing.csv"])
            def load() -> int:
                mark("load")
                return 1


            @pipeline
            def bad():
                load()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "bad.load" in line and "'data/missing.csv'" in line, line
        assert "deps=[...]" in result.stderr  # the fix
    assert project.take_ran() == []


def test_a_deps_pattern_is_told_apart_from_a_missing_path(make_project: MakeProject) -> None:
    """``deps=["data/*.csv"]`` names no file: the error says deps takes no patterns and
    gives the folder to list instead."""
    project = make_project(
        {
            "data/parts/a.csv": "1\n",
            **_pipeline("""\
                @step(deps=["data/parts/*.csv"])
                def load() -> int:
                    mark("load")
                    return 1


                @pipeline
                def bad():
                    load()
                """),
        }
    )
    result = project.incr("repro")
    line = result.user_error()
    assert "bad.load" in line and "'data/parts/*.csv' is a pattern" in line, line
    assert "deps=['data/parts']" in result.stderr
    assert project.take_ran() == []


def test_a_deps_path_gone_from_a_writer_found_by_its_reads_is_named_first(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``incr repro use`` also runs the step seen writing a file ``use`` reads (a learned
    edge), so that writer's missing deps path is the one-line error, before anything runs."""
    monkeypatch.setenv("INCR_NO_GRAPH_CACHE", "1")
    project = make_project(
        {
            **_pipeline("""\
                @step(deps=["data/raw.csv"])
                def make() -> int:
                    mark("make")
                    text = Path("data/raw.csv").read_text()
                    Path("data/notes.txt").write_text(text)
                    return 1


                @step
                def use() -> str:
                    mark("use")
                    return Path("data/notes.txt").read_text()


                @pipeline
                def bad():
                    make()
                    use()
                """),
            "data/raw.csv": "1\n",
            "data/notes.txt": "old\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["make", "use"]
    (project.root / "data" / "raw.csv").unlink()
    result = project.incr("repro", "use")
    line = result.user_error()
    assert "bad.make" in line and "'data/raw.csv'" in line, line
    assert project.take_ran() == []


@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("outs", "../out.txt"),
        ("outs", "/tmp/incr-abs-out.txt"),
        ("outs", "data/../../out.txt"),
        ("outs", "~/out.txt"),
    ],
)
def test_outs_outside_the_root_are_refused_before_anything_runs(
    make_project: MakeProject, what: str, path: str
) -> None:
    project = make_project(
        _pipeline(f"""\
            @step
            def fine() -> int:
                mark("fine")
                return 1


            @step({what}=["{path}"])
            def escape() -> None:
                mark("escape")
                Path("{path}").write_text("escaped")


            @pipeline
            def bad():
                fine()
                escape()
            """)
    )

    for command in ("status", "repro"):
        result = project.incr(command)
        line = result.user_error()
        assert "escape" in line and repr(path) in line and "outside the project root" in line
        assert "relative to the project root" in result.stderr
    assert project.take_ran() == []


def test_a_module_left_with_merge_conflict_markers_is_named_so(make_project: MakeProject) -> None:
    """A git merge left conflict markers in a pipeline module: the error says so (not
    `invalid syntax`), with the line of the first marker."""
    steps = """\
        from incr import pipeline, step


        @step
        def load() -> int:
        <<<<<<< HEAD
            return 1
        =======
            return 2
        >>>>>>> other
        """
    project = make_project({})
    project.write({"pipelines/merged.py": steps})
    assert project.incr("status").user_error() == (
        "error: pipelines/merged.py:6: unresolved git merge conflict"
    )
