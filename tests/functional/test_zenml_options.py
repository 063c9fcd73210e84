"""Pipeline options and step ordering as ZenML's 0.x docs wrote them: ``step_2.after(step_1)``
in a pipeline body, ``@pipeline(required_integrations=[SKLEARN], requirements_file=...,
dockerignore_file=..., enable_cache=...)`` on incr's one local stack."""

from __future__ import annotations

import pytest

from .conftest import MakeProject

# The era's "control the step order" page: a cleanup step that shares no data with the steps
# that run after it.
ORDERED = """\
    import time
    from pathlib import Path

    import pandas as pd

    from incr import pipeline, step
    from incr.integrations import PANDAS, SKLEARN
    from pipelines.mark import mark


    @step
    def clear_reports() -> None:
        time.sleep(0.4)
        for old in Path("reports").glob("*.csv"):
            old.unlink()
        mark("clear_reports")


    @step
    def make_table() -> pd.DataFrame:
        mark("make_table")
        return pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [6.1, 19.2]})


    @step
    def describe(table: pd.DataFrame) -> dict:
        mark("describe")
        return {"mean": float(table["temp"].mean())}


    @pipeline(
        enable_cache=True,
        required_integrations=[SKLEARN, PANDAS],
        requirements_file="requirements.txt",
        dockerignore_file=".dockerignore",
    )
    def report_pipeline(cleaner, maker, describer):
        maker.after(cleaner)
        cleaner()
        describer(maker())


    if __name__ == "__main__":
        report_pipeline(clear_reports(), make_table(), describe()).run()
"""


@pytest.mark.timeout(240)
def test_after_orders_steps_without_data(make_project: MakeProject) -> None:
    project = make_project({"pipelines/report.py": ORDERED})

    dag = project.incr("dag")
    assert dag.returncode == 0, dag.output
    assert "make_table     <- after clear_reports" in dag.stdout
    mermaid = project.incr("dag", "--format", "mermaid")
    assert "s0 --> s1" in mermaid.stdout

    project.repro("--jobs", "2")  # the slow cleaner still finishes before make_table starts
    assert project.take_ran() == ["clear_reports", "make_table", "describe"]
    script = project.python("pipelines/report.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == []
    assert project.dirty() == {}

    # The order turned around: nothing reruns (order is not data), and the graph says so.
    project.edit("pipelines/report.py", "maker.after(cleaner)", "cleaner.after(maker)")
    assert project.dirty() == {}
    assert "clear_reports  <- after make_table" in project.incr("dag").stdout
    project.edit("pipelines/report.py", "cleaner.after(maker)", "maker.after(cleaner)")
    project.repro("--force", "--jobs", "2")
    assert project.take_ran() == ["clear_reports", "make_table", "describe"]


@pytest.mark.timeout(240)
def test_after_names_a_step_the_body_never_calls(make_project: MakeProject) -> None:
    project = make_project(
        {"pipelines/report.py": ORDERED.replace("        cleaner()\n", "        pass\n")}
    )
    line = project.incr("status").user_error()
    assert "clear_reports is not called in this pipeline" in line


@pytest.mark.timeout(240)
def test_after_given_what_is_no_step_says_so(make_project: MakeProject) -> None:
    project = make_project(
        {"pipelines/report.py": ORDERED.replace("maker.after(cleaner)", "maker.after([cleaner])")}
    )
    line = project.incr("status").user_error()
    assert "is not called in this pipeline" in line, line


@pytest.mark.timeout(240)
def test_a_missing_integration_is_named(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/report.py": ORDERED.replace(
                "from incr.integrations import PANDAS, SKLEARN",
                "from incr.integrations import EVIDENTLY, SKLEARN",
            ).replace("[SKLEARN, PANDAS]", "[SKLEARN, EVIDENTLY]")
        }
    )
    line = project.incr("repro").user_error()
    assert "report_pipeline requires the evidently integration" in line
    assert "'evidently' is not installed" in line
    script = project.python("pipelines/report.py")
    assert script.returncode != 0 and "'evidently' is not installed" in script.stderr

    unknown = ORDERED.replace("dockerignore_file=", "docker_ignore=")
    project.write({"pipelines/report.py": unknown})
    assert "unknown option 'docker_ignore'" in project.incr("status").user_error()


def test_help_says_the_file_options_are_not_used(make_project: MakeProject) -> None:
    project = make_project({})
    text = " ".join(project.incr("--help").stdout.split())
    assert "dockerignore_file= are accepted and not used" in text


# A config value read from the environment, as the era's examples did with pydantic configs.
FROM_ENVIRONMENT = """\
    import os

    from incr import BaseStepConfig, pipeline, step


    class MulConfig(BaseStepConfig):
        factor: int = 2


    @step(outs=["result.txt"])
    def mul(config: MulConfig) -> None:
        with open("result.txt", "w") as fh:
            fh.write(repr(10 * config.factor))


    @pipeline
    def p(s):
        s()


    inst = p(s=mul(config=MulConfig(factor=os.environ.get("FACTOR", "3"))))
"""


def test_a_config_value_given_as_text_is_converted_or_refused_at_its_line(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``factor: int`` given ``"3"`` is ``3`` (``10 * factor`` is 30, not ``'3333333333'``);
    ``"abc"`` is refused, naming the line, the field and the value."""
    project = make_project({"pipelines/p.py": FROM_ENVIRONMENT})
    project.repro()
    assert project.read("result.txt") == "30"
    assert project.lock()["p.mul"].facts.config == {"factor": 3}

    monkeypatch.setenv("FACTOR", "abc")
    result = project.incr("repro")
    assert result.returncode == 2
    assert "error: pipelines/p.py:21: MulConfig.factor = 'abc': not an int" in result.stderr
    assert project.read("result.txt") == "30"


def test_a_config_value_refused_in_a_pipeline_body_names_its_line(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {
            "pipelines/p.py": """\
                from incr import StepConfig, pipeline, step


                class C(StepConfig):
                    epochs: int = 1


                @step
                def train(config: C) -> int:
                    return config.epochs


                @pipeline
                def p():
                    train(config=C(epochs="ten"))
                """
        }
    )
    result = project.incr("repro")
    assert result.returncode == 2
    assert "error: pipelines/p.py:15: pipeline p: C.epochs = 'ten': not an int" in result.stderr


HANDOFF = """\
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    SCALE = 2


    @step
    def export() -> None:
        mark("export")
        Path("out").mkdir(exist_ok=True)
        Path("out/table.csv").write_text(f"{SCALE}\\n")


    @step
    def summarize() -> int:
        mark("summarize")
        return int(Path("out/table.csv").read_text())


    @pipeline
    def etl(exporter, summarizer):
        summarizer.after(exporter)
        exporter()
        summarizer()


    instance = etl(export(), summarize())
    """


def test_a_step_after_a_dirty_one_waits_on_it_in_status(make_project: MakeProject) -> None:
    """``summarizer.after(exporter)`` for a file the exporter writes: with the exporter dirty,
    ``incr status`` said the summarizer clean, and ``incr repro`` then reran it."""
    project = make_project({"pipelines/etl.py": HANDOFF})
    project.repro()
    assert project.take_ran() == ["export", "summarize"]
    project.edit("pipelines/etl.py", "SCALE = 2", "SCALE = 3")
    assert project.dirty() == {
        "export": [("code changed", "SCALE in pipelines/etl.py")],
        "summarize": [("after", "export")],
    }
    project.repro()
    assert project.take_ran() == ["export", "summarize"]
    assert project.dirty() == {}


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("BaseParameters", "`from incr import StepConfig` and subclass it"),
        ("Client", "`from incr import Repository`"),
        ("get_step_context", "a parameter annotated with StepContext"),
    ],
)
def test_a_name_of_a_later_zenml_is_translated(
    make_project: MakeProject, name: str, advice: str
) -> None:
    """Code written for ZenML 0.20 or later imports names incr spells as ZenML 0.13 did: the
    error says which."""
    project = make_project({"pipelines/train.py": f"from incr import {name}, pipeline, step\n"})
    result = project.incr("status")
    assert result.user_error().startswith(
        f"error: pipelines/train.py:1: import failed: ImportError: cannot import name '{name}'"
    )
    assert advice in result.stderr.splitlines()[1]
