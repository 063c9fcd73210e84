"""A project module that puts an object in its own place in ``sys.modules`` (module-level
properties: ``sys.modules[__name__] = _Config()``): its steps run, and an edit of the class
reruns them."""

from __future__ import annotations

from .conftest import MakeProject

CONFIG = """\
    import sys


    class _Config:
        BASE = 10

        @property
        def LR(self):
            return self.BASE * 0.01


    sys.modules[__name__] = _Config()
    """

FLOW = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step
    def run() -> float:
        mark("run")
        return config.LR


    @step
    def show(value: float) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(str(value))


    @pipeline
    def flow():
        show(run())
    """


def test_a_module_replaced_by_an_object_runs_and_counts_by_its_class(
    make_project: MakeProject,
) -> None:
    """Before, the first ``incr repro`` failed inside incr (AttributeError: '_Config' object
    has no attribute '__name__'), emptying the caches of the step's code parts."""
    project = make_project({"pipelines/config.py": CONFIG, "pipelines/flow.py": FLOW})
    result = project.repro()
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == "0.1"
    project.edit("pipelines/config.py", "self.BASE * 0.01", "self.BASE * 0.02")
    assert project.dirty()["run"] == [("code changed", "_Config in pipelines/config.py")]
    project.repro()
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == "0.2"
