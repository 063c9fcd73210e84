"""Two pipelines that write one ``outs`` path are refused at discovery, naming both steps."""

from __future__ import annotations

import pytest

from .conftest import MakeProject, Project

WRITER = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["{out}"])
    def {name}() -> None:
        mark("{name}")
        os.makedirs("reports/all", exist_ok=True)
        with open("{path}", "w", encoding="utf-8") as fh:
            fh.write("{name}")


    @pipeline
    def {pipeline}():
        {name}()
    """


def writer(pipeline: str, name: str, out: str, path: str | None = None) -> str:
    return WRITER.format(pipeline=pipeline, name=name, out=out, path=path or out)


@pytest.mark.parametrize(
    ("alpha_out", "beta_out", "shown"),
    [
        ("reports/all/x.txt", "reports/all/x.txt", "reports/all/x.txt"),
        ("reports/all", "reports/all/x.txt", "reports/all"),
        ("reports/all/x.txt", "reports/all", "reports/all"),
    ],
    ids=["same-file", "folder-then-file", "file-then-folder"],
)
def test_two_pipelines_writing_one_path_are_refused(
    make_project: MakeProject, alpha_out: str, beta_out: str, shown: str
) -> None:
    project = make_project(
        {
            "pipelines/alpha.py": writer("alpha", "write_a", alpha_out, "reports/all/x.txt"),
            "pipelines/beta.py": writer("beta", "write_b", beta_out, "reports/all/x.txt"),
        }
    )

    for command in (["repro"], ["status"], ["repro", "alpha"], ["dag"]):
        error = project.incr(*command).user_error()
        assert error == (
            f"error: steps alpha.write_a and beta.write_b both write {shown} "
            f"(outs {alpha_out!r} and {beta_out!r})"
        )
    result = project.incr("status")
    assert "give each file or folder one producing step" in result.stderr
    assert project.take_ran() == []
    assert not project.lockfile.exists()


def test_a_clash_added_later_is_refused_although_graphs_are_cached(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/alpha.py": writer("alpha", "write_a", "reports/a.txt")})
    project.write({"pipelines/beta.py": writer("beta", "write_b", "reports/b.txt")})
    project.repro()
    assert sorted(project.take_ran()) == ["write_a", "write_b"]
    assert project.dirty() == {}  # the graphs are cached now

    project.edit("pipelines/beta.py", 'outs=["reports/b.txt"]', 'outs=["reports/a.txt"]')

    error = project.incr("status").user_error()
    assert "steps alpha.write_a and beta.write_b both write reports/a.txt" in error
    assert "both write" in project.incr("status", "--check").user_error()
    assert "both write" in project.incr("repro").user_error()
    assert project.take_ran() == []


def test_a_step_used_in_two_pipelines_with_outs_is_refused(make_project: MakeProject) -> None:
    shared = """\
        from incr import pipeline, step


        @step(outs=["model.txt"])
        def fit() -> None:
            with open("model.txt", "w", encoding="utf-8") as fh:
                fh.write("m")


        @pipeline
        def train():
            fit()


        @pipeline
        def evaluate():
            fit()
        """
    project = make_project({"pipelines/shared.py": shared})

    error = project.incr("repro").user_error()
    assert error == "error: steps train.fit and evaluate.fit both write model.txt " + (
        "(outs 'model.txt' and 'model.txt')"
    )


def test_separate_outs_in_two_pipelines_settle(make_project: MakeProject) -> None:
    project: Project = make_project(
        {
            "pipelines/alpha.py": writer("alpha", "write_a", "reports/a.txt"),
            "pipelines/beta.py": writer("beta", "write_b", "reports/b.txt"),
        }
    )
    project.repro()
    project.take_ran()

    project.repro()
    assert project.take_ran() == []
    assert project.dirty() == {}


SWEEP = """\
    import os

    from incr import BaseStepConfig, pipeline, step
    from pipelines.mark import mark


    class TrainConfig(BaseStepConfig):
        lr: float = 0.1


    @step
    def train(config: TrainConfig) -> float:
        mark("train")
        return 10 * config.lr


    @step(outs=["reports/metrics.txt"])
    def evaluate(score: float) -> None:
        mark("evaluate")
        os.makedirs("reports", exist_ok=True)
        with open("reports/metrics.txt", "w", encoding="utf-8") as fh:
            fh.write(str(score))


    @pipeline
    def sweep(trainer, evaluator):
        evaluator(trainer())


    if __name__ == "__main__":
        for lr in [0.1, 0.2]:
            sweep(trainer=train(config=TrainConfig(lr=lr)), evaluator=evaluate()).run()
    """


def test_a_script_running_two_instances_that_write_one_path_stops_at_the_second(
    make_project: MakeProject,
) -> None:
    """A sweep whose instances write one ``outs`` file: the script stops at the second
    ``.run()`` with the error ``incr status`` gives, before that instance runs (the lockfile
    keeps the first one only), instead of leaving a project that ``incr`` refuses."""
    project = make_project({"pipelines/sweep.py": SWEEP})
    result = project.python("pipelines/sweep.py")
    assert result.returncode != 0
    error = "steps sweep.evaluate and sweep@train.lr=0.2.evaluate both write reports/metrics.txt"
    assert error in result.output
    assert "  hint: give each file or folder one producing step" in result.output  # the fix too
    assert sorted(project.take_ran()) == ["evaluate", "train"]  # the first instance only
    assert sorted(project.lock()) == ["sweep.evaluate", "sweep.train"]
    assert project.read("reports/metrics.txt") == "1.0"
    assert error in project.incr("status").user_error()


def test_a_script_reusing_a_step_with_outs_of_another_pipeline_is_refused(
    make_project: MakeProject,
) -> None:
    """A script whose pipeline uses a step with ``outs`` that another pipeline of the project
    runs: refused when ``incr`` has seen the other pipeline (its graphs are cached)."""
    project = make_project({"pipelines/alpha.py": writer("alpha", "write_a", "reports/a.txt")})
    project.repro()
    assert project.take_ran() == ["write_a"]
    other = """\
        from incr import pipeline
        from pipelines.alpha import write_a


        @pipeline
        def other():
            write_a()


        if __name__ == "__main__":
            other().run()
        """
    project.write({"scripts/other.py": other})
    result = project.python("scripts/other.py")
    assert result.returncode != 0
    assert "steps alpha.write_a and other.write_a both write reports/a.txt" in result.output
    assert project.take_ran() == []
    assert sorted(project.lock()) == ["alpha.write_a"]
