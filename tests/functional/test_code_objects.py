"""Outputs that carry project code: a fitted project class, a scikit-learn Pipeline holding a
project transformer, a dict holding a project function, a ``functools.partial`` of one.

Such an output pickles to the same bytes whatever the code of its class says, yet the step that
receives it runs that code: an edit to it must reach every consumer (``input changed (from
fit)``), and early cutoff must still hold when that code did not change.
"""

from __future__ import annotations

import json
import shutil

from incr import lockfile
from incr.fingerprint import fingerprint
from incr.model import Artifact, LockEntry

from .conftest import MakeProject, Project

SCALERS = "pipelines/scalers.py"
FLOW = "pipelines/flow.py"

SCALER_FILES = {
    SCALERS: '''\
        """Scalers used by the pipeline (and one it does not use)."""


        class MeanScaler:
            def fit(self, xs):
                self.mean = sum(xs) / len(xs)
                return self

            def transform(self, xs):
                return [x - self.mean for x in xs]


        class Unused:
            def transform(self, xs):
                return xs
        ''',
    "pipelines/funcs.py": """\
        def offset(value, by):
            return value + by
        """,
    FLOW: """\
        import functools

        from incr import pipeline, step
        from pipelines.funcs import offset
        from pipelines.mark import mark
        from pipelines.scalers import MeanScaler


        @step
        def load() -> list:
            mark("load")
            return [1.0, 2.0, 3.0, 6.0]


        @step
        def fit(xs: list) -> object:
            mark("fit")
            return MeanScaler().fit(xs)


        @step
        def apply(scaler, xs: list) -> list:
            mark("apply")
            return scaler.transform(xs)


        @step
        def tools() -> dict:
            mark("tools")
            return {"shift": functools.partial(offset, by=100), "raw": offset}


        @step
        def use(kit: dict, xs: list) -> list:
            mark("use")
            return [kit["shift"](x) + kit["raw"](x, 1) for x in xs]


        @pipeline
        def flow():
            xs = load()
            apply(fit(xs), xs)
            use(tools(), xs)
        """,
}

#: ``fit`` finds its class by name at run time: its code fingerprint does not include it.
REGISTRY_FIT = """\
        @step
        def fit(xs: list) -> object:
            mark("fit")
            import importlib

            module = importlib.import_module(".".join(["pipelines", "scalers"]))
            return getattr(module, "Mean" + "Scaler")().fit(xs)
"""

TRANSFORM = "return [x - self.mean for x in xs]"
TRANSFORM_2 = "return [(x - self.mean) * 2 for x in xs]"


def scaler_project(make_project: MakeProject, **files: str) -> Project:
    project = make_project({**SCALER_FILES, **files})
    project.repro()
    assert project.take_ran() == ["load", "fit", "apply", "tools", "use"]
    return project


def values(project: Project) -> dict[str, object]:
    """Each step's output value, loaded from the project's cache (a pickle, or a value that
    names project classes: its digest, as the project's classes cannot be imported here)."""
    from incr.runner import load_artifact
    from incr.store import Store

    store = Store(project.root / ".pipecache")
    found = {}
    for key, entry in project.lock().items():
        for artifact in entry.outputs.values():
            opaque = artifact.kind == "pickle" or bool(artifact.refs)
            found[key] = artifact.digest if opaque else load_artifact(store, artifact)
    return found


def from_scratch(project: Project, make_project: MakeProject, where: str = "scratch") -> Project:
    """A copy of the project's sources, without lockfile or cache, brought up to date."""
    copy = make_project({}, where=where)
    shutil.copytree(project.root / "pipelines", copy.root / "pipelines", dirs_exist_ok=True)
    copy.repro()
    return copy


# --------------------------------------------------------------------------- edits that reach


def test_editing_a_method_reruns_the_producer_and_every_consumer(make_project):
    project = scaler_project(make_project)
    entry = project.lock()["flow.fit"]
    assert entry.outputs["output"].refs == ("pipelines.scalers:MeanScaler",)
    project.edit(SCALERS, TRANSFORM, TRANSFORM_2)
    assert project.dirty() == {
        "fit": [("code changed", "MeanScaler in pipelines/scalers.py")],
        "apply": [("after", "fit")],
    }
    result = project.repro()
    assert project.take_ran() == ["fit", "apply"]
    assert "because: input changed (from fit)" in result.output
    assert project.dirty() == {}
    scratch = from_scratch(project, make_project)
    assert values(project) == values(scratch)
    assert project.lock_bytes() == scratch.lock_bytes()


def test_class_reached_at_run_time_still_reaches_the_consumer(make_project):
    """``fit`` does not name MeanScaler in its code: it counts the module it imported by name,
    and ``apply`` runs again because the code its input refers to changed."""
    flow = SCALER_FILES[FLOW]
    start = flow.index("        @step\n        def fit(")
    end = flow.index("        @step\n        def apply(")
    project = scaler_project(
        make_project, **{FLOW: flow[:start] + REGISTRY_FIT + "\n\n" + flow[end:]}
    )
    project.edit(SCALERS, TRANSFORM, TRANSFORM_2)
    assert project.dirty() == {
        "fit": [("code changed", "pipelines.scalers, imported by name")],
        "apply": [("after", "fit")],
    }
    project.repro()
    assert project.take_ran() == ["fit", "apply"]
    assert values(project)["flow.apply"] == [-4.0, -2.0, 0.0, 6.0]
    assert values(project) == values(from_scratch(project, make_project))
    # Back as it was: restored from the run cache, nothing executes.
    project.edit(SCALERS, TRANSFORM_2, TRANSFORM)
    assert project.dirty() == {
        "fit": [("code changed", "pipelines.scalers, imported by name")],
        "apply": [("after", "fit")],
    }
    project.repro()
    assert project.take_ran() == []
    assert values(project)["flow.apply"] == [-2.0, -1.0, 0.0, 3.0]


def test_functions_held_in_an_output_reach_the_consumer(make_project):
    project = scaler_project(make_project)
    assert project.lock()["flow.tools"].outputs["output"].refs == ("pipelines.funcs:offset",)
    project.edit("pipelines/funcs.py", "return value + by", "return value + 2 * by")
    result = project.repro()
    # tools names offset itself; its output's bytes stay the same, use (which does not name
    # offset) still reruns.
    assert project.take_ran() == ["tools", "use"]
    assert "because: input changed (from tools)" in result.output
    assert values(project)["flow.use"] == values(from_scratch(project, make_project))["flow.use"]


def test_revert_restores_from_the_cache_without_executing(make_project):
    project = scaler_project(make_project)
    before = project.lock_bytes()
    project.edit(SCALERS, TRANSFORM, TRANSFORM_2)
    project.repro()
    assert project.take_ran() == ["fit", "apply"]
    project.edit(SCALERS, TRANSFORM_2, TRANSFORM)
    result = project.repro("-v")
    assert project.take_ran() == []
    assert result.output.count("Using cached version of") == 5
    assert project.lock_bytes() == before
    assert values(project)["flow.apply"] == [-2.0, -1.0, 0.0, 3.0]


# --------------------------------------------------------------------------- early cutoff holds


def test_comments_and_unused_definitions_rerun_nothing(make_project):
    project = scaler_project(make_project)
    before = project.lock_bytes()
    project.edit(SCALERS, TRANSFORM, TRANSFORM + "  # centred")
    project.edit(SCALERS, "class Unused:\n", 'class Unused:\n    """Not used."""\n\n    k = 1\n')
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.lock_bytes() == before


def test_producer_code_change_with_the_same_output_keeps_consumers_cached(make_project):
    project = scaler_project(make_project)
    project.edit(FLOW, 'mark("fit")\n', 'mark("fit")\n    xs = list(xs)\n')
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.dirty() == {}


# --------------------------------------------------------------------------- scikit-learn


SKLEARN_FILES = {
    "pipelines/transformers.py": """\
        from sklearn.base import BaseEstimator, TransformerMixin


        class Shift(BaseEstimator, TransformerMixin):
            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X + 1.0
        """,
    FLOW: """\
        from typing import Any

        import numpy as np
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import Pipeline

        from incr import pipeline, step
        from pipelines.mark import mark
        from pipelines.transformers import Shift


        @step
        def train() -> Pipeline:
            mark("train")
            X = np.arange(8.0).reshape(-1, 1)
            model = Pipeline([("shift", Shift()), ("lr", LinearRegression())])
            return model.fit(X, 3.0 * X.ravel())


        @step
        def predict(model: Any) -> list:
            mark("predict")
            return [round(v, 6) for v in model.predict(np.array([[1.0], [2.0]])).tolist()]


        @pipeline
        def learn():
            predict(train())
        """,
}


def test_sklearn_pipeline_with_a_project_transformer(make_project):
    project = make_project(SKLEARN_FILES)
    project.repro()
    assert project.take_ran() == ["train", "predict"]
    refs = project.lock()["learn.train"].outputs["output"].refs
    assert refs == ("pipelines.transformers:Shift",)
    assert values(project)["learn.predict"] == [3.0, 6.0]
    # Predicting with a transform other than the one it was trained with.
    project.edit("pipelines/transformers.py", "return X + 1.0", "return X * 2.0")
    assert project.dirty() == {
        "train": [("code changed", "Shift in pipelines/transformers.py")],
        "predict": [("after", "train")],
    }
    result = project.repro()
    assert project.take_ran() == ["train", "predict"]
    assert "because: input changed (from train)" in result.output
    assert values(project) == values(from_scratch(project, make_project))


# --------------------------------------------------------------------------- lockfiles


def test_lockfile_without_refs_reads_without_reruns(make_project):
    """A lockfile written before outputs recorded the code they refer to: outputs are
    ``KIND:DIGEST`` and inputs plain digests. It stays clean; the next edit to the code an
    output refers to reaches its consumer once the producer reran."""
    project = scaler_project(make_project)
    old = {}
    for key, entry in project.lock().items():
        outputs = {k: Artifact(a.kind, a.digest) for k, a in entry.outputs.items()}
        inputs = {k: v.partition("+")[0] for k, v in entry.facts.inputs.items()}
        facts = type(entry.facts)(entry.facts.code, entry.facts.config, inputs, entry.facts.deps)
        old[key] = LockEntry(key, fingerprint(facts), facts, outputs, entry.reads)
    lockfile.write(project.lockfile, old.values())
    text = project.lock_bytes()
    assert b"+" not in text
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.lock_bytes() == text
    project.edit(SCALERS, TRANSFORM, TRANSFORM_2)
    project.repro()
    assert project.take_ran() == ["fit", "apply"]


def test_plain_outputs_keep_the_lockfile_format(flow):
    text = flow.read("pipeline.lock")
    assert "+" not in text
    for entry in flow.lock().values():
        assert all(not a.refs for a in entry.outputs.values())


def test_jobs_give_the_same_lockfile_as_a_serial_run(make_project):
    serial = make_project(SCALER_FILES, where="serial")
    serial.repro()
    parallel = make_project(SCALER_FILES, where="parallel")
    parallel.repro("--jobs", "2")
    assert parallel.lock_bytes() == serial.lock_bytes()
    for project in (serial, parallel):
        project.edit(SCALERS, TRANSFORM, TRANSFORM_2)
        project.take_ran()
    serial.repro()
    parallel.repro("--jobs", "2")
    assert sorted(parallel.take_ran()) == sorted(serial.take_ran()) == ["apply", "fit"]
    assert parallel.lock_bytes() == serial.lock_bytes()


def test_status_json_shows_the_input_identity(make_project):
    project = scaler_project(make_project)
    steps = {s["step"]: s for s in project.status()["steps"]}
    assert steps["apply"]["reasons"] == []
    shown = json.loads(project.incr("show", "apply", "--json").stdout)
    digest = project.lock()["flow.fit"].outputs["output"].digest
    assert shown["now"]["inputs"]["scaler"].startswith(digest + "+")
