"""Fan-in: a step fed by a variable number of steps, as loops over files and folds write it.

``combine(*parts)``, ``combine([train(f) for f in folds])`` and a dict of step outputs: each
output is one input of the fingerprint, in order, so a changed, added or reordered part reruns
the step that combines them, and nothing else.
"""

from __future__ import annotations

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy
from .test_factories import values

# One step per input file, named after the file; a sum over ``*parts`` and a dict by name.
FILES = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class FileConfig(StepConfig):
        path: str = ""


    @step
    def count(config: FileConfig) -> int:
        mark("count_" + os.path.basename(config.path)[:-4])
        with open(config.path, encoding="utf-8") as fh:
            return len(fh.read().split())


    @step
    def total(*parts: int) -> list:
        mark("total")
        return list(parts)


    @step
    def by_name(counts: dict) -> dict:
        mark("by_name")
        return counts


    @pipeline
    def files():
        names = sorted(os.listdir("data/parts"))
        counts = {n: count(config=FileConfig(path=f"data/parts/{n}"), name=f"count_{n[:-4]}")
                  for n in names}
        total(*counts.values())
        by_name(counts)
    """

# Cross-validation folds: a list of models fed to one step.
FOLDS = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    FOLDS = [1, 2, 3]


    class FoldConfig(StepConfig):
        fold: int = 0


    @step
    def load() -> list:
        mark("load")
        return list(range(12))


    @step
    def train(config: FoldConfig, data: list) -> int:
        mark(f"train_fold{config.fold}")
        return sum(data[config.fold::4])


    @step
    def combine(models: list) -> list:
        mark("combine")
        return models


    @pipeline
    def cv():
        data = load()
        combine([train(data, config=FoldConfig(fold=f), name=f"train_fold{f}") for f in FOLDS])
    """


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/files.py": FILES,
            "pipelines/cv.py": FOLDS,
            "data/parts/a.txt": "one two\n",
            "data/parts/b.txt": "one two three\n",
            "data/parts/c.txt": "one\n",
        }
    )
    project.repro()
    return project


def test_parts_in_order_and_only_what_changed_reruns(make_project: MakeProject) -> None:
    project = make(make_project)
    ran = project.take_ran()
    folds = ["train_fold1", "train_fold2", "train_fold3"]
    assert sorted(ran) == sorted(
        ["count_a", "count_b", "count_c", "total", "by_name", "load", "combine", *folds]
    )
    got = values(project)
    assert got["total"] == [2, 3, 1]
    assert got["by_name"] == {"a.txt": 2, "b.txt": 3, "c.txt": 1}
    assert got["combine"] == [sum(range(12)[f::4]) for f in (1, 2, 3)]
    lock = project.lock()
    assert list(lock["files.total"].facts.inputs) == ["parts[0]", "parts[1]", "parts[2]"]
    assert (
        lock["files.total"].facts.inputs["parts[1]"]
        == lock["files.count_b"].outputs["output"].digest
    )
    assert sorted(lock["files.by_name"].facts.inputs) == [
        "counts[0:a.txt]",
        "counts[1:b.txt]",
        "counts[2:c.txt]",
    ]
    assert sorted(lock["cv.combine"].facts.inputs) == ["models[0]", "models[1]", "models[2]"]

    project.write({"data/parts/b.txt": "one\n"})
    assert project.dirty("files") == {
        "count_b": [("read changed", "data/parts/b.txt")],
        "total": [("after", "count_b")],
        "by_name": [("after", "count_b")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["by_name", "count_b", "total"]
    assert values(project)["total"] == [2, 1, 1]
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_a_new_part_and_a_new_order_rerun_the_combining_step(make_project: MakeProject) -> None:
    project = make(make_project)
    project.take_ran()

    project.write({"data/parts/0.txt": "a b c d\n"})  # sorts first
    project.repro()
    assert sorted(project.take_ran()) == ["by_name", "count_0", "total"]
    assert values(project)["total"] == [4, 2, 3, 1]

    project.edit("pipelines/cv.py", "FOLDS = [1, 2, 3]", "FOLDS = [3, 2, 1]")
    assert project.dirty("cv") == {"combine": [("input changed", "order of models")]}
    project.repro()
    assert project.take_ran() == ["combine"]
    assert values(project)["combine"] == [sum(range(12)[f::4]) for f in (3, 2, 1)]
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))

    project.edit("pipelines/cv.py", "FOLDS = [3, 2, 1]", "FOLDS = [3, 2]")  # one part fewer
    assert project.dirty("cv") == {"combine": [("input changed", "models[2] no longer given")]}
    project.repro()
    assert project.take_ran() == ["combine"]
    assert values(project)["combine"] == [sum(range(12)[f::4]) for f in (3, 2)]


def test_fan_in_under_jobs_matches_a_serial_run(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/cv.py": FOLDS,
            "data/parts/a.txt": "x\n",
        }
    )
    project.repro("--jobs", "2")
    assert values(project)["combine"] == [sum(range(12)[f::4]) for f in (1, 2, 3)]
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_wiring_mistakes_name_the_input(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/cv.py": FOLDS.replace("combine([train(", "combine([1] + [train("),
        }
    )
    line = project.incr("status").user_error()
    assert "item 0 of input 'models' must be the output of another step, got int" in line
    project.write({"pipelines/cv.py": FOLDS.replace("for f in FOLDS]", "for f in []]")})
    assert "input 'models' is an empty list" in project.incr("status").user_error()
