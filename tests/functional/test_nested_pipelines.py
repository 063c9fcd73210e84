"""A pipeline called inside another adds its steps to it, under its own name as a prefix
(``prepare.read``; ``prepare@source=...`` for other parameter values, ``prepare_2`` for a
second call), and gives back what its body returns. A pipeline only ever called inside
others is not run on its own as well."""

from __future__ import annotations

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

NESTED = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class ReadConfig(StepConfig):
        path: str = ""


    @step
    def read(config: ReadConfig) -> list:
        mark("read:" + config.path)
        with open(config.path, encoding="utf-8") as fh:
            return [int(line) for line in fh]


    @step
    def clean(rows: list) -> list:
        mark("clean")
        return [r for r in rows if r >= 0]


    @step
    def fit(*sets: list) -> int:
        mark("fit")
        return sum(sum(s) for s in sets)


    @pipeline
    def prepare(source: str = "data/a.csv"):
        return clean(read(config=ReadConfig(path=source)))


    @pipeline
    def train_all():
        fit(prepare(), prepare(source="data/b.csv"), prepare())
    """


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/nested.py": NESTED, "data/a.csv": "1\n-2\n3\n", "data/b.csv": "10\n20\n"}
    )
    project.repro()
    return project


def test_nested_steps_under_a_prefix(make_project: MakeProject) -> None:
    project = make(make_project)
    assert sorted(project.take_ran()) == [
        "clean",
        "clean",
        "fit",
        "read:data/a.csv",
        "read:data/b.csv",
    ]
    names = [s["step"] for s in project.status()["steps"]]
    b = "prepare@source=data_b_csv"
    assert names == [
        "prepare.read",
        "prepare.clean",
        f"{b}.read",
        f"{b}.clean",
        "prepare_2.read",
        "prepare_2.clean",
        "fit",
    ]
    assert {k.split(".", 1)[0] for k in project.lock()} == {"train_all"}  # none of its own
    lock = project.lock()
    assert list(lock["train_all.fit"].facts.inputs) == ["sets[0]", "sets[1]", "sets[2]"]
    assert lock["train_all.fit"].facts.inputs["sets[1]"] == (
        lock[f"train_all.{b}.clean"].outputs["output"].digest
    )

    project.write({"data/b.csv": "10\n-20\n30\n"})
    assert set(project.dirty()) == {f"{b}.read", f"{b}.clean", "fit"}
    project.repro()
    assert project.take_ran() == ["read:data/b.csv", "clean", "fit"]
    assert project.incr("status", "--check").returncode == 0
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_an_inner_edit_and_an_inner_target(make_project: MakeProject) -> None:
    project = make(make_project)
    project.take_ran()
    project.edit("pipelines/nested.py", "if r >= 0]", "if r > 1]")
    dirty = project.dirty()
    assert dirty["prepare.clean"] == [("code changed", "clean in pipelines/nested.py")]
    project.repro("prepare.clean")
    assert project.take_ran() == ["clean"]
    project.repro("train_all")  # prepare_2.clean is prepare.clean again: restored, not run
    assert sorted(project.take_ran()) == ["clean", "fit"]
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))
