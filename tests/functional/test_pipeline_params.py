"""Pipeline parameters: ``@pipeline def cv(n_folds: int = 5)`` is found with its defaults, and
``cv(n_folds=3)`` is an instance of its own, named with its values (``cv@n_folds=3``). The
values are part of the wiring: the graph cache re-traces when they change (in the module, in
the signature's defaults, or in a file read while importing) and a no-op status imports
nothing."""

from __future__ import annotations

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy
from .test_factories import values
from .test_graph_cache import imports

CV = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("cv\\n")

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class FoldConfig(StepConfig):
        fold: int = 0
        n_folds: int = 1


    @step
    def load() -> list:
        mark("load")
        return list(range(30))


    @step
    def score(config: FoldConfig, data: list) -> int:
        mark(f"score_{config.fold}_of_{config.n_folds}")
        return sum(data[config.fold :: config.n_folds])


    @step
    def mean(scores: list) -> float:
        mark("mean")
        return sum(scores) / len(scores)


    @pipeline
    def cv(n_folds: int = 4):
        data = load()
        mean([
            score(data, config=FoldConfig(fold=i, n_folds=n_folds), name=f"score_fold{i}")
            for i in range(n_folds)
        ])
    """

SMALL = """\
    import json

    from pipelines.cv import cv

    with open("params.json", encoding="utf-8") as fh:
        small = cv(n_folds=json.load(fh)["folds"])
    """


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/cv.py": CV, "pipelines/small.py": SMALL, "params.json": '{"folds": 2}'}
    )
    project.repro()
    imports(project)
    return project


def keys(project: Project, pipeline: str) -> list[str]:
    return sorted(k.split(".", 1)[1] for k in project.lock() if k.split(".", 1)[0] == pipeline)


def test_defaults_and_other_values_are_two_instances(make_project: MakeProject) -> None:
    project = make(make_project)
    ran = project.take_ran()
    folds = [*(f"score_{i}_of_4" for i in range(4)), "score_0_of_2", "score_1_of_2"]
    assert sorted(ran) == sorted(["load", "mean", "mean", *folds])
    assert keys(project, "cv") == ["load", "mean", *(f"score_fold{i}" for i in range(4))]
    assert keys(project, "cv@n_folds=2") == ["load", "mean", "score_fold0", "score_fold1"]
    got = values(project)  # by step name: the last instance's, checked against a scratch run
    assert got["score_fold1"] in (sum(range(30)[1::4]), sum(range(30)[1::2]))
    assert project.status("cv@n_folds=2")["steps"][0]["pipeline"] == "cv@n_folds=2"

    assert project.incr("status", "--check").returncode == 0
    assert imports(project) == 0  # the graph cache holds both instances

    project.write({"params.json": '{"folds": 3}'})  # read while importing: part of the wiring
    status = project.status()
    assert {s["pipeline"] for s in status["steps"]} == {"cv", "cv@n_folds=3"}
    project.repro()
    assert sorted(project.take_ran()) == ["mean", *(f"score_{i}_of_3" for i in range(3))]
    assert keys(project, "cv@n_folds=3") == ["load", "mean", *(f"score_fold{i}" for i in range(3))]
    assert keys(project, "cv@n_folds=2") == []
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_a_new_default_rewires_the_default_instance(make_project: MakeProject) -> None:
    project = make(make_project)
    project.take_ran()
    project.edit("pipelines/cv.py", "def cv(n_folds: int = 4):", "def cv(n_folds: int = 2):")
    # The default instance now has the values the other instance had: one name each.
    assert "two pipelines are named 'cv'" not in project.incr("status").output
    assert imports(project) >= 1
    project.write({"params.json": '{"folds": 5}'})
    project.repro()
    assert keys(project, "cv") == ["load", "mean", "score_fold0", "score_fold1"]
    assert keys(project, "cv@n_folds=5") == ["load", "mean", *(f"score_fold{i}" for i in range(5))]
    assert project.incr("status", "--check").returncode == 0
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_parameter_mistakes_are_one_line(make_project: MakeProject) -> None:
    project = make_project({"pipelines/cv.py": CV, "pipelines/bad.py": SMALL})
    project.write(
        {
            "params.json": '{"folds": 2}',
            "pipelines/bad.py": "from pipelines.cv import cv\n\nbad = cv(folds=3)\n",
        }
    )
    line = project.incr("status").user_error()
    assert "pipeline cv takes ['n_folds']; missing [], unexpected ['folds']" in line


def test_an_instance_run_by_the_main_block_is_the_only_one(make_project: MakeProject) -> None:
    """A module that runs its pipeline with other values in its ``__main__`` block makes its
    own instance: discovery makes no instance with the defaults beside it."""
    main = CV + '\n\n    if __name__ == "__main__":\n        cv(n_folds=2).run()\n'
    project = make_project({"pipelines/cv.py": main})
    project.repro()
    assert sorted(project.take_ran()) == ["load", "mean", "score_0_of_2", "score_1_of_2"]
    assert {key.split(".")[0] for key in project.lock()} == {"cv@n_folds=2"}
    assert project.dirty() == {}
