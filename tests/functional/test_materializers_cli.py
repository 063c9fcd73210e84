"""Materializers seen from the command line: outputs stored by the format their type chooses
(Parquet for a pandas frame, skops for a scikit-learn model, a project's own materializer),
early cutoff through them, and a project materializer's code in the fingerprints of the steps
that store and load with it."""

from __future__ import annotations

import pytest
from blake3 import blake3

from .conftest import MakeProject, Project

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FRAMES = {
    "pipelines/frames.py": """\
        import pandas as pd

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def make() -> pd.DataFrame:
            mark("make")
            names = ["ann", "bob", "cy"]
            return pd.DataFrame(
                {"name": names, "score": [1.5, 2.5, 3.0]},
                index=pd.date_range("2024-01-01", periods=3, freq="D", name="day"),
            )


        @step
        def summarise(frame: pd.DataFrame) -> dict:
            mark("summarise")
            return {"rows": len(frame), "first": frame["name"].iloc[0], "freq": frame.index.freqstr}


        @pipeline
        def frames():
            summarise(make())
        """,
}


def test_a_refactored_frame_producer_keeps_its_consumer_cached(make_project: MakeProject):
    project = make_project(FRAMES)
    project.repro()
    assert project.take_ran() == ["make", "summarise"]
    entry = project.lock()["frames.make"]
    assert entry.outputs["output"].kind == "parquet"
    # the same frame, built another way: strings made at run time, not constants
    project.edit("pipelines/frames.py", '["ann", "bob", "cy"]', '"ann,bob,cy".split(",")')
    assert project.dirty()["make"][0][0] == "code changed"
    project.repro()
    assert project.take_ran() == ["make"]  # early cutoff: summarise stays cached
    assert project.lock()["frames.make"].outputs == entry.outputs
    assert project.dirty() == {}


def test_a_frame_parquet_cannot_hold_is_pickled_with_a_note(make_project: MakeProject):
    project = make_project(FRAMES)
    project.edit("pipelines/frames.py", "[1.5, 2.5, 3.0]", '[1.5, "two", 3]')
    result = project.repro()
    assert project.lock()["frames.make"].outputs["output"].kind == "pickle"
    assert "note: step frames.make, output output: not stored as parquet" in result.stderr


PROJECT_FORMAT = {
    "pipelines/temperature.py": '''\
        """A project's own value type and its materializer."""

        from incr import Materializer, register_materializer


        class Temperature:
            def __init__(self, celsius):
                self.celsius = celsius


        class TemperatureMaterializer(Materializer):
            types = (Temperature,)
            kind = "temperature"

            def save(self, obj, folder):
                (folder / "celsius.txt").write_text(repr(obj.celsius))

            def load(self, folder):
                return Temperature(float((folder / "celsius.txt").read_text()))


        register_materializer(TemperatureMaterializer)
        ''',
    "pipelines/weather.py": """\
        from incr import pipeline, step
        from pipelines.mark import mark
        from pipelines.temperature import Temperature


        @step
        def measure() -> Temperature:
            mark("measure")
            return Temperature(21.5)


        @step
        def report(temperature: Temperature) -> str:
            mark("report")
            return f"{temperature.celsius} C"


        @step
        def unrelated() -> int:
            mark("unrelated")
            return 3


        @pipeline
        def weather():
            report(measure())
            unrelated()
        """,
}


def test_a_project_materializer_stores_and_its_code_counts(make_project: MakeProject):
    project = make_project(PROJECT_FORMAT)
    project.repro()
    assert project.take_ran() == ["measure", "report", "unrelated"]
    out = project.lock()["weather.measure"].outputs["output"]
    assert out.kind == "temperature@1"
    assert out.refs == ("pipelines.temperature:TemperatureMaterializer",)
    assert project.lock()["weather.report"].outputs["output"].kind == "json"

    project.edit(
        "pipelines/temperature.py",
        "        return Temperature(float(",
        "        # read\n        return Temperature(float(",
    )
    assert project.dirty() == {}  # a comment

    project.edit("pipelines/temperature.py", "repr(obj.celsius)", "str(obj.celsius)")
    dirty = project.dirty()
    assert set(dirty) == {"measure", "report"}, dirty  # the annotated int step does not
    assert dirty["measure"][0][0] == "code changed"
    project.repro()
    assert sorted(project.take_ran()) == ["measure", "report"]


def test_a_per_output_override_chooses_the_format(make_project: MakeProject):
    project = make_project(PROJECT_FORMAT)
    project.edit(
        "pipelines/weather.py",
        "@step\ndef unrelated() -> int:",
        "@step(materializers={'output': Lines})\ndef unrelated() -> list:",
    )
    project.edit("pipelines/weather.py", "return 3", "return [1, 2, 3]")
    project.edit(
        "pipelines/weather.py",
        "from pipelines.temperature import Temperature",
        "from pipelines.temperature import Temperature\nfrom pipelines.lines import Lines",
    )
    project.write(
        {
            "pipelines/lines.py": """\
                from incr import Materializer


                class Lines(Materializer):
                    types = (list,)
                    kind = "lines"
                    version = 2

                    def save(self, obj, folder):
                        (folder / "lines.txt").write_text("\\n".join(map(str, obj)))

                    def load(self, folder):
                        return [int(x) for x in (folder / "lines.txt").read_text().split()]
                """
        }
    )
    project.repro()
    assert project.lock()["weather.unrelated"].outputs["output"].kind == "lines@2"
    project.take_ran()
    project.edit("pipelines/lines.py", 'kind = "lines"', 'kind = "lines"  # one per line')
    assert project.dirty() == {}
    project.edit("pipelines/lines.py", "version = 2", "version = 3")
    assert set(project.dirty()) == {"unrelated"}


SKOPS = {
    "pipelines/estimators.py": """\
        from sklearn.base import BaseEstimator, TransformerMixin


        class Shift(BaseEstimator, TransformerMixin):
            def fit(self, X, y=None):
                self.mean_ = float(X.mean())
                return self

            def transform(self, X):
                return X - self.mean_
        """,
    "pipelines/model.py": """\
        import fractions

        import numpy as np
        from sklearn.dummy import DummyClassifier
        from sklearn.linear_model import LogisticRegression

        from incr import pipeline, step
        from pipelines.estimators import Shift
        from pipelines.mark import mark


        @step
        def shift() -> Shift:
            mark("shift")
            return Shift().fit(np.arange(4.0))


        @step
        def shifted(model) -> list:  # does not name Shift: its code comes with the input
            mark("shifted")
            return [float(v) for v in model.transform(np.arange(2.0))]


        @step
        def fit() -> LogisticRegression:
            mark("fit")
            X = np.arange(20.0).reshape(10, 2)
            return LogisticRegression().fit(X, np.arange(10) % 2)


        @step
        def odd() -> DummyClassifier:
            mark("odd")
            model = DummyClassifier().fit([[0], [1]], [0, 1])
            model.ratio = fractions.Fraction(1, 3)
            return model


        @step
        def predict(model: LogisticRegression, other: DummyClassifier) -> list:
            mark("predict")
            found = [int(v) for v in model.predict(np.arange(4.0).reshape(2, 2))]
            return found + [str(other.ratio)]


        @pipeline
        def models():
            predict(fit(), odd())
            shifted(shift())
        """,
}


def test_models_go_to_skops_and_untrusted_types_are_refused(make_project: MakeProject):
    pytest.importorskip("skops")
    project = make_project(SKOPS)
    result = project.repro()
    lock = project.lock()
    assert lock["models.fit"].outputs["output"].kind == "skops"
    assert lock["models.odd"].outputs["output"].kind == "pickle"
    shift = lock["models.shift"].outputs["output"]  # the project's own class is trusted
    assert (shift.kind, shift.refs) == ("skops", ("pipelines.estimators:Shift",))
    assert "untrusted types fractions.Fraction" in result.stderr
    assert "[tool.incr] trusted_types" in result.stderr
    project.take_ran()

    _trust(project, ["fractions.Fraction"])
    project.repro("--force", "odd")
    assert project.lock()["models.odd"].outputs["output"].kind == "skops"
    assert project.take_ran() == ["odd"]

    project.repro("--force", "predict")  # loads both models from the cache
    assert project.take_ran() == ["predict"]

    # the project class a skops output holds: its code is the producer's and the consumer's
    project.edit("pipelines/estimators.py", "return X - self.mean_", "return X + self.mean_")
    dirty = project.dirty()
    assert dirty == {
        "shift": [("code changed", "Shift in pipelines/estimators.py")],
        "shifted": [("after", "shift")],
    }
    project.repro()
    assert project.take_ran() == ["shift", "shifted"]


def _trust(project: Project, names: list[str]) -> None:
    listed = ", ".join(f'"{n}"' for n in names)
    text = project.read("pyproject.toml") + f"\n[tool.incr]\ntrusted_types = [{listed}]\n"
    project.write({"pyproject.toml": text})


def test_a_model_holding_a_lambda_fails_with_the_way_out(make_project: MakeProject):
    """skops stores a lambda by a name it cannot load back, and pickle cannot store one: the
    producer fails at once, saying what to do, rather than its consumer failing later."""
    pytest.importorskip("skops")
    project = make_project(
        {
            "pipelines/models.py": """\
                import numpy as np
                from sklearn.linear_model import LinearRegression
                from sklearn.pipeline import make_pipeline
                from sklearn.preprocessing import FunctionTransformer

                from incr import pipeline, step


                @step
                def fit():
                    square = FunctionTransformer(lambda z: z * z)
                    X = np.array([[1.0], [2.0]])
                    return make_pipeline(square, LinearRegression()).fit(X, [1, 4])


                @step
                def predict(model) -> list:
                    return model.predict(np.array([[3.0]])).tolist()


                @pipeline
                def models():
                    predict(fit())
                """
        }
    )
    for args in ((), ("--jobs", "2")):
        result = project.incr("repro", *args)
        assert result.returncode == 1, result.output
        assert "step models.fit, output output: cannot store" in result.stderr
        assert "define the function it holds with def" in result.stderr
        assert "models.fit" not in project.lock()


UNLOADABLE = {
    "pipelines/flaky.py": '''\
        """A project format whose files do not load back."""

        from incr import Materializer, register_materializer


        class Reading:
            def __init__(self, value):
                self.value = value


        class ReadingMaterializer(Materializer):
            types = (Reading,)
            kind = "reading"

            def save(self, obj, folder):
                (folder / "value.txt").write_text(repr(obj.value))

            def load(self, folder):
                raise ValueError("this format cannot be read back")


        register_materializer(ReadingMaterializer)
        ''',
    "pipelines/sensor.py": """\
        from incr import pipeline, step
        from pipelines.flaky import Reading
        from pipelines.mark import mark


        @step
        def measure() -> Reading:
            mark("measure")
            return Reading(3)


        @step
        def report(reading: Reading) -> int:
            mark("report")
            return reading.value


        @pipeline
        def sensor():
            report(measure())
        """,
}


def test_an_input_that_never_loads_fails_its_step_after_one_recompute(
    make_project: MakeProject,
) -> None:
    project = make_project(UNLOADABLE)
    result = project.incr("repro")  # report loads what measure stored, as on any run
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["measure", "measure"]  # recomputed once, not forever
    assert result.stderr.count("recomputing measure") == 1
    assert "this format cannot be read back" in result.stderr
    # where the materializer's own code raised: its bug may be the reason, not the bytes
    assert "(ValueError: this format cannot be read back, raised in pipelines/" in result.stderr
    assert "Step report has failed" in result.stderr
    assert "sensor.report" not in project.lock()


def test_a_project_format_is_what_the_next_step_gets_in_the_run_that_made_it(
    make_project: MakeProject,
) -> None:
    """A project's format may keep less than the value (here: one decimal): the step taking
    it gets it as stored in the run that made it too, as with --jobs and on later runs."""
    lossy = {
        "pipelines/temperature.py": PROJECT_FORMAT["pipelines/temperature.py"].replace(
            "repr(obj.celsius)", "repr(round(obj.celsius, 1))"
        ),
        "pipelines/weather.py": PROJECT_FORMAT["pipelines/weather.py"].replace(
            "Temperature(21.5)", "Temperature(21.456)"
        ),
    }
    project = make_project(lossy)
    project.repro()
    serial = project.lock()["weather.report"].outputs["output"].digest
    project.take_ran()
    other = make_project(lossy, where="jobs")
    other.repro("--jobs", "2")
    assert other.lock()["weather.report"].outputs["output"].digest == serial


NOTES = {
    "pipelines/notes.py": """\
        from incr import Materializer, pipeline, register_materializer, step
        from pipelines.mark import mark


        class Note:
            def __init__(self, text):
                self.text = text


        class NoteMaterializer(Materializer):
            types = (Note,)
            kind = "note"

            def save_bytes(self, obj):
                return obj.text.encode()  # plain bytes: one part

            def load_bytes(self, data):
                return Note(bytes(data).decode())


        class Broken:
            pass


        class BrokenMaterializer(Materializer):
            types = (Broken,)
            kind = "broken"

            def save_bytes(self, obj):
                return [1, 2, 3]

            def load_bytes(self, data):
                return Broken()


        register_materializer(NoteMaterializer)
        register_materializer(BrokenMaterializer)


        @step
        def write() -> Note:
            mark("write")
            return Note("hi")


        @step
        def read(note: Note) -> str:
            mark("read")
            return note.text + "!"


        @step
        def broken() -> Broken:
            mark("broken")
            return Broken()


        @pipeline
        def notes():
            read(write())
            broken()
        """,
}


def test_save_bytes_may_return_plain_bytes_and_a_wrong_result_fails_its_step(
    make_project: MakeProject,
):
    """A project materializer's ``save_bytes`` may return the bytes themselves; one that
    returns something else fails its step with one line naming the materializer, and
    ``--keep-going`` goes on with the other steps."""
    project = make_project(NOTES)
    result = project.incr("repro", "--keep-going")
    assert result.returncode == 1
    assert "Traceback" not in result.output, result.output
    assert sorted(project.take_ran()) == ["broken", "read", "write"]
    assert project.lock()["notes.write"].outputs["output"].kind == "note@1"
    assert "notes.broken" not in project.lock()
    assert (
        "step notes.broken, output output: materializer BrokenMaterializer (broken): save_bytes "
        "returned a list, not bytes or a list of bytes parts"
    ) in result.output
    assert project.incr("show", "notes.read").returncode == 0


OVERRIDE = {
    "pipelines/lines.py": """\
        from incr import Materializer


        class Lines(Materializer):
            types = (list,)
            kind = "lines"

            def save_bytes(self, obj):
                return "\\n".join(str(round(x)) for x in obj).encode()

            def load_bytes(self, data):
                return [int(x) for x in bytes(data).decode().split()]
        """,
    "pipelines/flow.py": """\
        from incr import pipeline, step
        from pipelines.lines import Lines
        from pipelines.mark import mark


        @step(materializers={"output": Lines})
        def counts() -> list:
            mark("counts")
            return [1, 2, 3]


        @step
        def ratios() -> list:
            mark("ratios")
            return [0.25, 0.5]


        @step
        def total(r: list) -> float:
            mark("total")
            return sum(r)


        @pipeline
        def flow():
            counts()
            total(ratios())
        """,
}


def test_an_override_stores_its_own_output_only(make_project: MakeProject):
    """``@step(materializers={"output": Lines})`` on one step stores that output with
    ``Lines``; another step's list is stored as its type chooses (not rounded by ``Lines``),
    and an edit of ``Lines`` reruns only the step naming it."""
    project = make_project(OVERRIDE)
    project.repro()
    lock = project.lock()
    assert lock["flow.counts"].outputs["output"].kind == "lines@1"
    assert lock["flow.ratios"].outputs["output"].kind == "json"
    total = lock["flow.total"].outputs["output"]  # 0.25 + 0.5: not rounded by Lines
    assert (total.kind, total.digest) == ("json", blake3(b"0.75").hexdigest())
    project.take_ran()
    project.edit("pipelines/lines.py", "str(round(x))", "str(int(x))")
    assert set(project.dirty()) == {"counts"}
