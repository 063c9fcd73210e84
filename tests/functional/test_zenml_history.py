"""``StepContext``, the post-execution API (``Repository``, ``get_runs``) and the class-based
API (``BaseStep``, ``BasePipeline``) written the way ZenML's 0.x docs wrote them, run as
scripts and by ``incr repro``, edited and reverted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

MONITOR = '''\
    """A drift check that reads the trainer's past scores through its StepContext."""

    from pathlib import Path

    import pandas as pd

    from incr import Repository, StepContext, pipeline, step
    from pipelines.mark import mark


    @step
    def data_loader() -> pd.DataFrame:
        mark("data_loader")
        return pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0], "y": [1.0, 2.0, 3.0, 4.0]})


    @step
    def trainer(df: pd.DataFrame) -> float:
        mark("trainer")
        return float(df["y"].mean())


    @step
    def drift_check(context: StepContext, score: float) -> dict:
        mark("drift_check")
        folder = Path(context.get_output_artifact_uri())
        (folder / "note.txt").write_text(str(score))
        view = context.metadata_store.get_pipeline("monitor_pipeline")
        scores = [r.get_step("trainer").output.read() for r in view.runs] if view else []
        return {"step": context.step_name, "past": scores, "score": score}


    @pipeline
    def monitor_pipeline(loader, trainer, checker):
        checker(score=trainer(loader()))


    if __name__ == "__main__":
        instance = monitor_pipeline(data_loader(), trainer(), drift_check())
        instance.run()
        last = instance.get_runs()[-1]
        print("trainer output:", last.get_step("trainer").output.read())
        runs = Repository().get_pipeline(pipeline_name="monitor_pipeline").runs
        print("runs:", len(runs), last.status, [s.name for s in last.steps])
        print("check:", last.get_step(name="drift_check").outputs["output"].read()["past"])
'''

# Reading past runs at module level, in a module discovery imports: it must not break it.
INSPECT = """\
    from incr import Repository

    view = Repository().get_pipeline("monitor_pipeline")
    LAST_SCORE = view.runs[-1].get_step("trainer").output.read() if view else None
"""


@pytest.mark.timeout(240)
def test_a_step_context_reads_past_runs(make_project: MakeProject) -> None:
    project = make_project({"pipelines/monitor.py": MONITOR, "pipelines/inspect_runs.py": INSPECT})

    first = project.python("pipelines/monitor.py")
    assert first.returncode == 0, first.output
    assert project.take_ran() == ["data_loader", "trainer", "drift_check"]
    assert "trainer output: 2.5" in first.stdout
    assert "runs: 1 completed ['data_loader', 'trainer', 'drift_check']" in first.stdout
    assert "check: []" in first.stdout
    assert (project.root / ".pipecache/artifacts/monitor_pipeline.drift_check/output").is_dir()

    # The step with a context is not cached; the others are.
    second = project.python("pipelines/monitor.py")
    assert project.take_ran() == ["drift_check"]
    assert "runs: 2 completed" in second.stdout and "check: [2.5]" in second.stdout
    assert project.dirty() == {"drift_check": [("cache disabled", "")]}

    # incr repro records its run too, and the module reading history at import is fine.
    project.repro()
    assert project.take_ran() == ["drift_check"]
    project.edit("pipelines/monitor.py", 'df["y"].mean()', 'df["y"].median()')
    project.repro()
    assert project.take_ran() == ["trainer", "drift_check"]
    third = project.python("pipelines/monitor.py")
    assert "runs: 5 completed" in third.stdout
    assert "check: [2.5, 2.5, 2.5, 2.5]" in third.stdout
    project.take_ran()

    # Reverted: the old score comes back from the cache.
    project.edit("pipelines/monitor.py", 'df["y"].median()', 'df["y"].mean()')
    fourth = project.python("pipelines/monitor.py")
    assert project.take_ran() == ["drift_check"]
    assert "trainer output: 2.5" in fourth.stdout


@pytest.mark.timeout(240)
def test_a_context_step_that_asks_for_the_cache_is_cached(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/monitor.py": MONITOR.replace(
                "    @step\n    def drift", "    @step(enable_cache=True)\n    def drift"
            )
        }
    )
    project.repro()
    project.take_ran()
    project.repro()
    assert project.take_ran() == []


CLASSY = '''\
    """The class-based API: steps and a pipeline as classes."""

    import numpy as np

    from incr import BasePipeline, BaseStep, BaseStepConfig, Output, step
    from pipelines.mark import mark


    class ImporterStep(BaseStep):
        def entrypoint(self) -> Output(X=np.ndarray, y=np.ndarray):
            mark("ImporterStep")
            X = np.arange(12.0).reshape(6, 2)
            return X, X.sum(axis=1)


    class ScalerConfig(BaseStepConfig):
        factor: float = 2.0


    class ScalerStep(BaseStep):
        def entrypoint(self, config: ScalerConfig, X: np.ndarray) -> np.ndarray:
            mark("ScalerStep")
            return X * config.factor + self.offset()

        def offset(self) -> float:
            return 0.0


    @step
    def summer(X: np.ndarray) -> float:
        mark("summer")
        return float(X.sum())


    class SumPipeline(BasePipeline):
        def connect(self, importer, scaler, summer):
            X, y = importer()
            summer(scaler(X=X))


    instance = SumPipeline(
        importer=ImporterStep(), scaler=ScalerStep(ScalerConfig(factor=3.0)), summer=summer()
    )

    if __name__ == "__main__":
        instance.run()
        print("sum:", instance.get_runs()[-1].get_step("summer").output.read())
'''


@pytest.mark.timeout(240)
def test_class_based_steps_and_pipelines(make_project: MakeProject) -> None:
    project = make_project({"pipelines/classy.py": CLASSY})

    script = project.python("pipelines/classy.py")
    assert script.returncode == 0, script.output
    assert "sum: 198.0" in script.stdout
    assert project.take_ran() == ["ImporterStep", "ScalerStep", "summer"]
    assert set(project.lock()) == {
        "SumPipeline.ImporterStep",
        "SumPipeline.ScalerStep",
        "SumPipeline.summer",
    }
    project.repro()
    assert project.take_ran() == []

    # A helper method of the step class is its code.
    project.edit("pipelines/classy.py", "return 0.0", "return 1.0")
    assert project.dirty() == {
        "ScalerStep": [("code changed", "ScalerStep in pipelines/classy.py")],
        "summer": [("after", "ScalerStep")],
    }
    project.repro()
    assert project.take_ran() == ["ScalerStep", "summer"]

    project.edit("pipelines/classy.py", "ScalerConfig(factor=3.0)", "ScalerConfig(factor=4.0)")
    assert project.dirty()["ScalerStep"] == [("config changed", "factor: 3.0 -> 4.0")]

    # Reverted: restored without running.
    project.edit("pipelines/classy.py", "ScalerConfig(factor=4.0)", "ScalerConfig(factor=3.0)")
    project.edit("pipelines/classy.py", "return 1.0", "return 0.0")
    script = project.python("pipelines/classy.py")
    assert "sum: 198.0" in script.stdout
    assert project.take_ran() == []


#: A step that writes a file and a folder (``outs``), read back through ``Repository``.
WRITES = """\
    from pathlib import Path

    from incr import Repository, pipeline, step


    @step(outs=["out/summary.txt", "out/parts"])
    def write() -> int:
        Path("out/parts/sub").mkdir(parents=True, exist_ok=True)
        Path("out/summary.txt").write_text("total 3")
        Path("out/parts/a.txt").write_text("1")
        Path("out/parts/sub/b.txt").write_text("2")
        return 3


    @pipeline
    def writes():
        write()


    if __name__ == "__main__":
        writes().run()
        step = Repository().get_pipeline("writes").runs[-1].get_step("write")
        print("summary:", step.outputs["out/summary.txt"].read())
        print("parts:", step.outputs["out/parts"].read())
        print("value:", step.outputs["output"].read())
"""


def test_files_and_folders_a_step_wrote_read_back_from_past_runs(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/writes.py": WRITES})
    result = project.python("pipelines/writes.py")
    assert result.returncode == 0, result.output
    assert "summary: b'total 3'" in result.stdout
    assert "parts: {'a.txt': b'1', 'sub/b.txt': b'2'}" in result.stdout
    assert "value: 3" in result.stdout


INHERITED = """\
    from incr import BasePipeline, BaseStep
    from pipelines.mark import mark


    class Source(BaseStep):
        def entrypoint(self) -> int:
            return 10


    class Shift(BaseStep):
        OFFSET = 1

        def entrypoint(self, x: int) -> int:
            mark(type(self).__name__)
            return x + self.OFFSET


    class BigShift(Shift):
        OFFSET = 100


    class Both(BaseStep):
        def entrypoint(self, a: int, b: int) -> None:
            with open("both.txt", "w") as fh:
                fh.write(f"{a} {b}")


    class P(BasePipeline):
        def connect(self, source, small, big, both):
            x = source()
            both(small(x), big(x))


    instance = P(source=Source(), small=Shift(), big=BigShift(), both=Both())
"""


def test_a_step_class_that_inherits_its_entrypoint_is_its_own_step(
    make_project: MakeProject,
) -> None:
    """``BigShift(Shift)`` runs ``Shift.entrypoint`` on a ``BigShift``, as ZenML did, and
    counts by its own class: an edit of it reruns it alone."""
    project = make_project({"pipelines/inherited.py": INHERITED})
    project.repro()
    assert sorted(project.take_ran()) == ["BigShift", "Shift"]
    assert project.read("both.txt") == "11 110"

    project.edit("pipelines/inherited.py", "OFFSET = 100", "OFFSET = 200")
    dirty = project.dirty()
    assert dirty["BigShift"] == [("code changed", "BigShift in pipelines/inherited.py")]
    assert "Shift" not in dirty
    project.repro()
    assert project.take_ran() == ["BigShift"]


def test_a_step_instance_with_its_own_attributes_is_refused(make_project: MakeProject) -> None:
    """``entrypoint`` runs on a fresh instance (in a worker too): what ``__init__`` sets on
    the instance would be lost, so it is refused, naming the way out."""
    module = INHERITED.replace(
        "    class BigShift(Shift):\n        OFFSET = 100\n",
        "    class BigShift(Shift):\n        def __init__(self, offset=100, **kwargs):\n"
        "            super().__init__(**kwargs)\n            self.offset = offset\n",
    )
    project = make_project({"pipelines/inherited.py": module})
    result = project.incr("repro")
    assert result.returncode != 0
    assert "step BigShift sets offset on its instance" in result.stderr
    assert "BaseStepConfig" in result.stderr and "Traceback" not in result.stderr


ARTIFACT_FOLDER = """\
    import os

    from incr import StepContext, pipeline, step
    from pipelines.mark import mark


    @step
    def train(context: StepContext) -> str:
        uri = context.get_output_artifact_uri()
        with open(os.path.join(uri, "model.txt"), "w") as fh:
            fh.write("weights-v1")
        return os.path.relpath(uri)


    @step
    def evaluate(model_uri: str) -> str:
        mark("evaluate")
        with open(os.path.join(model_uri, "model.txt")) as fh:
            return fh.read()


    @pipeline
    def p():
        evaluate(train())
    """


def test_a_file_read_in_another_step_s_artifact_folder_is_a_read(
    make_project: MakeProject,
) -> None:
    """A step writes its model into ``get_output_artifact_uri()`` and returns the folder: the
    path stays the same when the model changes, so the file the next step reads there counts
    (it is under incr's cache folder, whose other files are incr's own)."""
    project = make_project({"pipelines/p.py": ARTIFACT_FOLDER})
    project.repro()
    assert project.take_ran() == ["evaluate"]
    reads = project.lock()["p.evaluate"].reads
    assert list(reads) == [".pipecache/artifacts/p.train/output/model.txt"]

    project.repro()  # train runs each time (a step with a context is not cached)
    assert project.take_ran() == []  # the same model: evaluate is cut off
    project.edit("pipelines/p.py", "weights-v1", "weights-v2")
    project.repro()
    assert project.take_ran() == ["evaluate"]


RETURNED_URI = """\
    import os

    from incr import StepContext, pipeline, step
    from pipelines.mark import mark


    @step(enable_cache=True)
    def train(context: StepContext) -> str:
        mark("train")
        uri = context.get_output_artifact_uri()
        with open(os.path.join(uri, "model.txt"), "w") as fh:
            fh.write("weights-v1")
        return uri


    @step
    def evaluate(uri: str) -> str:
        mark("evaluate")
        with open(os.path.join(uri, "model.txt")) as fh:
            return fh.read()


    @pipeline
    def artifacts():
        evaluate(train())
    """


def test_a_copied_project_reads_its_own_artifact_folder(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The folder ``get_output_artifact_uri()`` gives is relative to the project root: a
    step returning it gives the same value in a copy of the project (cache and all), whose
    later steps read the copy's files, not the first project's, even after it moved on."""
    first = make_project({"pipelines/artifacts.py": RETURNED_URI}, where="first")
    first.repro()
    assert first.take_ran() == ["train", "evaluate"]
    shutil.copytree(first.root, tmp_path / "copy", symlinks=True)
    copy = Project(tmp_path / "copy")

    first.edit("pipelines/artifacts.py", "weights-v1", "weights-v2")
    first.repro()
    assert first.take_ran() == ["train", "evaluate"]

    copy.edit("pipelines/artifacts.py", "return fh.read()", "return fh.read().upper()")
    copy.repro()
    assert copy.take_ran() == ["evaluate"]
    uri = ".pipecache/artifacts/artifacts.train/output"
    assert copy.lock()["artifacts.evaluate"].reads.keys() == {f"{uri}/model.txt"}
    assert_same_as_scratch(copy, fresh_copy(copy, tmp_path / "fresh"))


BY_PARAMETER = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def load_digits() -> list:
    mark("load_digits")
    return [1, 2, 3]


@step
def svc_trainer(xs: list) -> int:
    mark("svc_trainer")
    return sum(xs)


@pipeline
def first_pipeline(step_1, step_2):
    step_2(step_1())


instance = first_pipeline(step_1=load_digits(), step_2=svc_trainer())
"""

READ_BACK = """\
from incr import Repository

run = Repository().get_pipeline("first_pipeline").runs[-1]
print(run.get_step("step_2").output.read(), run.get_step(step="svc_trainer").output.read())
"""


def test_a_step_of_a_run_is_found_by_its_pipeline_parameter(make_project: MakeProject) -> None:
    """ZenML 0.x named a run's steps by the pipeline's parameters (``get_step("step_2")``
    for ``first_pipeline(step_2=svc_trainer())``): both names find it, after a run by
    ``incr repro`` as after one from the graph cache."""
    project = make_project({"pipelines/first.py": BY_PARAMETER, "read_back.py": READ_BACK})
    for _ in range(2):  # traced, then from the graph cache
        project.repro("--force")
        result = project.python("read_back.py")
        assert result.returncode == 0, result.output
        assert result.stdout.split() == ["6", "6"]
