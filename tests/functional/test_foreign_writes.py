"""A step writing into a folder another step declares: inside another step's ``outs`` folder,
or inside a ``deps`` folder of a step it runs after. Either never settled (a restore moved the
file aside and its reader failed every other run; the deps holder ran again after every
change): the writer fails with an error naming both steps and the fix."""

from __future__ import annotations

from .conftest import MakeProject, Project, Result

REPORTS = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["reports"])
    def make_reports() -> None:
        mark("make_reports")
        os.makedirs("reports", exist_ok=True)
        with open("reports/main.json", "w", encoding="utf-8") as fh:
            json.dump({"a": 1}, fh)


    @step
    def extra() -> None:
        mark("extra")
        os.makedirs("EXTRA_DIR", exist_ok=True)
        with open("EXTRA_DIR/extra.json", "w", encoding="utf-8") as fh:
            json.dump({"b": 2}, fh)


    @step
    def read_extra() -> dict:
        mark("read_extra")
        with open("EXTRA_DIR/extra.json", encoding="utf-8") as fh:
            return json.load(fh)


    @pipeline
    def flow():
        BODY
    """

IN_ORDER = "make_reports()\n        extra()\n        read_extra()"


def reports(folder: str, body: str = IN_ORDER) -> dict[str, str]:
    return {"pipelines/flow.py": REPORTS.replace("EXTRA_DIR", folder).replace("BODY", body)}


def test_a_step_writing_into_another_steps_outs_folder_fails_naming_both(
    make_project: MakeProject,
) -> None:
    project = make_project(reports("reports"))

    for _ in range(2):  # the same error every time, never a run that passes every other time
        result = project.incr("repro")
        assert result.returncode != 0, result.output
        assert "Traceback" not in result.output, result.output
        assert (
            "error: step flow.extra wrote reports/extra.json, inside reports, which step "
            "flow.make_reports lists in outs=['reports']"
        ) in result.stderr, result.output
        assert "hint: write it outside reports" in result.stderr
        assert "read_extra" not in project.take_ran()
        assert "flow.extra" not in project.lock()  # its result is not recorded
        assert "flow.read_extra" not in project.lock()

    # written before the folder's producer runs: the same
    project = make_project(
        reports("reports", "extra()\n        make_reports()\n        read_extra()"), "before"
    )
    error = project.incr("repro").stderr
    assert "step flow.extra wrote reports/extra.json, inside reports" in error


def test_a_file_beside_an_outs_folder_settles_after_an_edit_and_revert(
    make_project: MakeProject,
) -> None:
    # reports_extra/ only starts like reports/: no error, and no loop
    project = make_project(reports("reports_extra"))
    project.repro()
    assert project.take_ran() == ["make_reports", "extra", "read_extra"]
    assert project.dirty() == {}

    project.edit("pipelines/flow.py", '{"a": 1}', '{"a": 2}')
    project.repro()
    project.edit("pipelines/flow.py", '{"a": 2}', '{"a": 1}')
    project.take_ran()
    project.repro()
    assert project.take_ran() == []  # restored from the run cache
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert (project.root / "reports_extra/extra.json").exists()


DEPS = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["DEPS"])
    def load() -> list:
        mark("load")
        with open("data/raw.csv", encoding="utf-8") as fh:
            return [int(x) for x in fh.read().split(",")]


    @step
    def cache_feats(xs: list) -> int:
        mark("cache_feats")
        os.makedirs("data/cache", exist_ok=True)
        with open("data/cache/feats.txt", "w", encoding="utf-8") as fh:
            fh.write(str(sum(xs)))
        return sum(xs)


    @pipeline
    def flow():
        cache_feats(load())
    """


def deps_project(make_project: MakeProject, deps: str) -> Project:
    return make_project({"data/raw.csv": "1,2", "pipelines/flow.py": DEPS.replace("DEPS", deps)})


def test_a_step_writing_into_the_deps_folder_of_a_step_before_it_fails_naming_both(
    make_project: MakeProject,
) -> None:
    project = deps_project(make_project, "data")

    for ran in (["load", "cache_feats"], ["load", "cache_feats"]):  # every run, same bytes or not
        result = project.incr("repro")
        check_deps_error(result)
        assert project.take_ran() == ran
        assert "flow.cache_feats" not in project.lock()
    project.write({"data/raw.csv": "1,2,3"})
    check_deps_error(project.incr("repro"))


def check_deps_error(result: Result) -> None:
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    assert (
        "error: step flow.cache_feats wrote data/cache/feats.txt, inside data, which step "
        "flow.load lists in deps=['data'] and cache_feats runs after"
    ) in result.stderr, result.output
    assert "hint: write it outside data, or list in the deps of load only the files it reads" in (
        result.stderr
    )


def test_a_writer_outside_the_deps_it_follows_reruns_nothing_needlessly(
    make_project: MakeProject,
) -> None:
    project = deps_project(make_project, "data/raw.csv")  # the fix the hint gives
    project.repro()
    assert project.take_ran() == ["load", "cache_feats"]
    project.repro()
    assert project.take_ran() == []

    project.write({"data/raw.csv": "1,2,3"})
    project.repro()
    assert project.take_ran() == ["load", "cache_feats"]
    assert project.read("data/cache/feats.txt") == "6"
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []  # load did not run again on what cache_feats wrote
