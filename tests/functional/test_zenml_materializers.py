"""Custom materializers written the ZenML 0.x way (``BaseMaterializer``, ``ASSOCIATED_TYPES``,
``handle_input``/``handle_return``, ``self.artifact.uri``, ``fileio``), chosen by type, by
``with_return_materializers`` or ``@step(output_materializers=...)``, and inputs typed
``DataArtifact``: run as a script and by ``incr repro``, edited and reverted."""

from __future__ import annotations

import pytest

from .conftest import MakeProject

HISTOGRAM = '''\
    """A histogram type of the project's own, stored as JSON by its materializer."""

    import json
    import os

    import numpy as np

    from incr import BaseMaterializer, fileio, pipeline, step
    from incr.artifacts import DataArtifact
    from pipelines.mark import mark


    class Histogram:
        def __init__(self, edges, counts):
            self.edges = list(edges)
            self.counts = list(counts)


    class HistogramMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Histogram,)

        def handle_input(self, data_type):
            super().handle_input(data_type)
            with fileio.open(os.path.join(self.artifact.uri, "histogram.json"), "r") as f:
                data = json.load(f)
            return Histogram(data["edges"], data["counts"])

        def handle_return(self, histogram):
            super().handle_return(histogram)
            data = {"edges": histogram.edges, "counts": histogram.counts}
            with fileio.open(os.path.join(self.artifact.uri, "histogram.json"), "w") as f:
                json.dump(data, f)


    class CountsOnlyMaterializer(BaseMaterializer):
        kind = "counts-only"

        def handle_input(self, data_type):
            with fileio.open(os.path.join(self.artifact.uri, "counts.txt"), "r") as f:
                counts = [int(c) for c in f.read().split()]
            return Histogram(range(len(counts) + 1), counts)

        def handle_return(self, histogram):
            with fileio.open(os.path.join(self.artifact.uri, "counts.txt"), "w") as f:
                f.write(" ".join(str(c) for c in histogram.counts))


    @step
    def sampler() -> np.ndarray:
        mark("sampler")
        return np.array([0.1, 0.2, 0.25, 0.7, 0.8, 0.85, 0.9])


    @step
    def binner(values: np.ndarray) -> Histogram:
        mark("binner")
        counts, edges = np.histogram(values, bins=2, range=(0.0, 1.0))
        return Histogram(edges.tolist(), counts.tolist())


    @step
    def peak(histogram: Histogram) -> int:
        mark("peak")
        return int(np.argmax(histogram.counts))


    @step
    def files(histogram: DataArtifact) -> list:
        mark("files")
        return sorted(os.listdir(histogram.uri))


    @pipeline
    def histogram_pipeline(sample, bin_, find_peak, list_files):
        histogram = bin_(sample())
        find_peak(histogram)
        list_files(histogram)


    instance = histogram_pipeline(sampler(), BINNER, peak(), files())

    if __name__ == "__main__":
        instance.run()
        run = instance.get_runs()[-1]
        print("peak:", run.get_step("peak").output.read())
        print("files:", run.get_step("files").output.read())
'''


def project_files(binner: str) -> dict[str, str]:
    return {"pipelines/histogram.py": HISTOGRAM.replace("BINNER", binner)}


@pytest.mark.timeout(240)
def test_a_materializer_of_that_era_stores_its_type(make_project: MakeProject) -> None:
    project = make_project(project_files("binner()"))

    script = project.python("pipelines/histogram.py")
    assert script.returncode == 0, script.output
    assert "peak: 1" in script.stdout and "files: ['histogram.json']" in script.stdout
    assert project.take_ran() == ["sampler", "binner", "peak", "files"]
    lock = project.lock()
    kind = lock["histogram_pipeline.binner"].outputs["output"].kind
    assert kind == "zenml-histogrammaterializer@1"
    project.repro()
    assert project.take_ran() == []

    # The materializer's code counts for the step whose output it stores.
    project.edit("pipelines/histogram.py", "json.dump(data, f)", "json.dump(data, f, indent=1)")
    dirty = project.dirty()
    assert dirty["binner"] == [("code changed", "HistogramMaterializer in pipelines/histogram.py")]
    project.repro()
    assert project.take_ran()[:1] == ["binner"]

    # Reverted: restored from the cache, nothing runs.
    project.edit("pipelines/histogram.py", "json.dump(data, f, indent=1)", "json.dump(data, f)")
    script = project.python("pipelines/histogram.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == []
    assert project.dirty() == {}

    # Read back by a script of its own, which imports nothing of the project: the module of
    # the materializer that stored it is imported from the run record's refs.
    readback = (
        "from incr import Repository\n"
        'run = Repository().get_pipeline("histogram_pipeline").runs[-1]\n'
        'print("counts:", run.get_step("binner").output.read().counts)\n'
    )
    project.write({"readback.py": readback})
    result = project.python("readback.py")
    assert result.returncode == 0, result.output
    assert "counts: [3, 4]" in result.stdout


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "binner",
    [
        "binner().with_return_materializers(CountsOnlyMaterializer)",
        'binner().with_return_materializers({"output": CountsOnlyMaterializer})',
    ],
    ids=["one-class", "dict"],
)
def test_with_return_materializers_chooses_the_format(
    make_project: MakeProject, binner: str
) -> None:
    project = make_project(project_files(binner))

    script = project.python("pipelines/histogram.py")
    assert script.returncode == 0, script.output
    # A DataArtifact input holds the files of the materializer registered for its type.
    assert "peak: 1" in script.stdout and "files: ['histogram.json']" in script.stdout
    assert project.lock()["histogram_pipeline.binner"].outputs["output"].kind == "counts-only@1"
    project.repro()
    assert project.take_ran() == ["sampler", "binner", "peak", "files"]  # the script's run
    assert project.dirty() == {}


@pytest.mark.timeout(240)
def test_output_materializers_on_the_decorator(make_project: MakeProject) -> None:
    files = project_files("binner()")
    text = files["pipelines/histogram.py"].replace(
        "    @step\n    def binner",
        '    @step(output_materializers={"output": CountsOnlyMaterializer})\n    def binner',
    )
    project = make_project({"pipelines/histogram.py": text})
    project.repro()
    assert project.lock()["histogram_pipeline.binner"].outputs["output"].kind == "counts-only@1"
    project.edit("pipelines/histogram.py", '" ".join(str(c)', '"  ".join(str(c)')
    assert project.dirty()["binner"] == [
        ("code changed", "CountsOnlyMaterializer in pipelines/histogram.py")
    ]


def _named_materializer(value_type: str) -> str:
    return f"""\
        import os

        from incr import BaseMaterializer, fileio


        class {value_type}:
            def __init__(self, v):
                self.v = v


        class Materializer(BaseMaterializer):
            ASSOCIATED_TYPES = ({value_type},)

            def handle_input(self, data_type):
                with fileio.open(os.path.join(self.artifact.uri, "v.txt"), "r") as f:
                    return {value_type}(f.read())

            def handle_return(self, data):
                with fileio.open(os.path.join(self.artifact.uri, "v.txt"), "w") as f:
                    f.write(data.v)
        """


def test_two_materializers_of_one_class_name_in_two_modules_both_work(
    make_project: MakeProject,
) -> None:
    """ZenML named no kind: two classes of one name each take one with their module's name,
    whichever was imported first."""
    project = make_project(
        {
            "pipelines/ma.py": _named_materializer("Ta"),
            "pipelines/mb.py": _named_materializer("Tb"),
            "pipelines/p.py": """\
                from incr import pipeline, step
                from pipelines.ma import Ta
                from pipelines.mb import Tb


                @step
                def a() -> Ta:
                    return Ta("a")


                @step
                def b() -> Tb:
                    return Tb("b")


                @pipeline
                def p():
                    a()
                    b()
                """,
        }
    )
    project.repro()
    lock = project.lock()
    kinds = {lock["p.a"].outputs["output"].kind, lock["p.b"].outputs["output"].kind}
    assert kinds == {"zenml-pipelines-ma-materializer@1", "zenml-pipelines-mb-materializer@1"}
