"""Objects of classes defined in a pipeline script, stored by a script run and read by
``incr repro`` (and the other way round), and a module-level ``.run()`` in a module that a
cached value's class brings in again: it never waits on its own process."""

from __future__ import annotations

import pytest

from .conftest import MakeProject

# In the era's style: a pandas step, a result class of the script's own, a report.
SCRIPT = """\
    import pandas as pd

    from incr import pipeline, step
    from pipelines.mark import mark


    class ColumnSummary:
        def __init__(self, means: dict):
            self.means = means


    @step
    def data_loader() -> pd.DataFrame:
        mark("data_loader")
        return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})


    @step
    def summarizer(df: pd.DataFrame) -> ColumnSummary:
        mark("summarizer")
        return ColumnSummary(df.mean().to_dict())


    @step
    def reporter(summary: ColumnSummary) -> str:
        mark("reporter")
        return ", ".join(f"{k}={v:.1f}" for k, v in sorted(summary.means.items()))


    @pipeline
    def summary_pipeline(loader, summarizer, reporter):
        reporter(summarizer(loader()))


    instance = summary_pipeline(data_loader(), summarizer(), reporter())
    RUN
"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize("guarded", [True, False], ids=["main-guard", "module-level"])
def test_a_script_class_is_read_both_ways(make_project: MakeProject, guarded: bool) -> None:
    run = 'if __name__ == "__main__":\n        instance.run()' if guarded else "instance.run()"
    project = make_project({"pipelines/summary.py": SCRIPT.replace("RUN", run)})

    script = project.python("pipelines/summary.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == ["data_loader", "summarizer", "reporter"]

    # incr repro loads the script's ColumnSummary from the cache: no warning, no recompute.
    project.edit("pipelines/summary.py", 'f"{k}={v:.1f}"', 'f"{k}: {v:.1f}"')
    result = project.repro()
    assert project.take_ran() == ["reporter"]
    assert "Can't get attribute" not in result.output and "warning" not in result.output

    # And the script loads what incr repro stored, without importing itself a second time
    # (whose module-level .run() would wait on this very process).
    project.edit("pipelines/summary.py", 'f"{k}: {v:.1f}"', 'f"{k}={v:.1f}"')
    project.edit("pipelines/summary.py", 'mark("reporter")', 'mark("reporter")  # v2\n    x = 1')
    script = project.python("pipelines/summary.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == ["reporter"]
    assert "Can't get attribute" not in script.output and "skipped" not in script.output
    assert project.dirty() == {}


OTHER = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def make() -> object:
        from pipelines.summary import ColumnSummary  # imported here only

        mark("make")
        return ColumnSummary({"x": 1.0})


    @step
    def show(summary: object) -> str:
        mark("show")
        return str(summary.means)


    @pipeline
    def other():
        show(make())


    if __name__ == "__main__":
        other().run()
"""


@pytest.mark.timeout(120)
def test_a_module_level_run_brought_in_by_a_value_never_waits(make_project: MakeProject) -> None:
    # summary.py runs its pipeline when imported; other.py's cached value is of its class, so
    # loading it imports summary.py while other's run holds the project lock.
    summary = SCRIPT.replace("RUN", "instance.run()")
    project = make_project({"pipelines/summary.py": summary, "pipelines/other.py": OTHER})
    project.repro()
    project.take_ran()
    project.edit("pipelines/other.py", 'mark("show")', 'mark("show")  # edited\n    y = 2')

    script = project.python("pipelines/other.py")

    assert script.returncode == 0, script.output
    assert project.take_ran() == ["show"]
    assert "summary_pipeline.run() skipped: this process is already running" in script.stderr
