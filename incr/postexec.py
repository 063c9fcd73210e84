"""The post-execution API of ZenML's 0.x era, read from incr's own records.

``Repository().get_pipeline("first_pipeline")`` gives the pipeline's runs (``.runs``,
``.get_runs()``, oldest first), each run its steps (``run.get_step("trainer")``,
``run.steps``, ``run.status``, ``run.name`` as the console line names it), each step its
outputs (``step.output``, ``step.outputs["X_train"]``) and each output its value
(``.read()``, loaded from the cache). Runs are the records of ``incr.history``; a pipeline
with lock entries and no record yet has one run read from ``pipeline.lock``.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from typing import Any

from incr import lockfile, reads, runhistory
from incr.errors import IncrError
from incr.executors import load_artifact
from incr.model import Artifact
from incr.project import Project
from incr.store import ObjectCorrupt, ObjectMissing, Store


class PostExecutionError(IncrError):
    """A past run, step or output asked for is not there."""


class ArtifactView:
    """One output of a step in a past run."""

    def __init__(
        self, store: Store, name: str, kind: str, digest: str, step: str = "", refs: Any = ()
    ) -> None:
        self._store = store
        self.name = name
        self.kind = kind
        self.digest = digest
        self._step = step  # ``PIPELINE.STEP``, told to the step reading it (``read``)
        self._refs = tuple(str(r) for r in refs)  # ``module:Class`` (``Artifact.refs``)

    @property
    def uri(self) -> str:
        """Where the stored object lives in the cache."""
        return str(self._store.loose_path(self.digest))

    def read(self, output_data_type: Any = None, materializer_class: Any = None) -> Any:
        """The value, loaded from the cache (the arguments of that era are accepted); for a
        file the step wrote (``outs``), its bytes; for a folder, the bytes of each file in it
        by path inside it. Read by a step as it runs, it counts for that step as an input:
        the step runs again once the step making it has another result."""
        if self._step:
            reads.output_read(self._step, self.name, f"{self.kind}:{self.digest}")
        if self._refs and self.kind not in ("file", "dir"):
            from incr import materializers  # here: as ``load_artifact`` loads it

            if not materializers.knows(self.kind):
                _import_refs(self._refs)  # a project materializer a script has not imported
        try:
            if self.kind == "file":
                return self._store.get(self.digest)
            if self.kind == "dir":
                files = self._store.manifest(self.digest)
                return {path: self._store.get(digest) for path, digest in sorted(files.items())}
            return load_artifact(self._store, Artifact(self.kind, self.digest))
        except (ObjectMissing, ObjectCorrupt) as exc:
            raise PostExecutionError(
                f"output {self.name}: {exc}",
                hint="rerun the pipeline (`incr repro`) to compute it again",
            ) from None

    def __repr__(self) -> str:
        return f"ArtifactView(name={self.name!r}, kind={self.kind!r})"


def _import_refs(refs: tuple[str, ...]) -> None:
    """Import the modules of the project definitions ``refs`` names (``module:Class``): the
    materializer that stored an output registers itself when its module is imported. One
    that fails to import is left: reading then says which kind is missing."""
    for ref in refs:
        module = ref.partition(":")[0]
        if module and module not in sys.modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)


class StepView:
    """One step of a past run."""

    def __init__(self, store: Store, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.status = str(data.get("status", "completed"))
        self.entrypoint_name = str(data.get("entrypoint", name))
        self.parameters: dict[str, Any] = dict(data.get("config") or {})
        outs = data.get("outputs") or {}
        key = str(data.get("key", ""))
        self.outputs = {
            k: ArtifactView(store, k, v["kind"], v["digest"], key, v.get("refs", ()))
            for k, v in outs.items()
        }

    @property
    def is_cached(self) -> bool:
        return self.status == "cached"

    @property
    def output(self) -> ArtifactView:
        """The step's one output (an error when it has several: use ``outputs[NAME]``)."""
        if len(self.outputs) != 1:
            raise PostExecutionError(
                f"step {self.name} has {len(self.outputs)} outputs "
                f"({', '.join(self.outputs) or 'none'})",
                hint='use step.outputs["NAME"] with one of them',
            )
        return next(iter(self.outputs.values()))

    def __repr__(self) -> str:
        return f"StepView(name={self.name!r}, status={self.status!r})"


class PipelineRunView:
    """One past run of a pipeline."""

    def __init__(self, store: Store, data: dict[str, Any]) -> None:
        self.name = str(data["name"])
        self.pipeline_name = str(data["pipeline"])
        self.status = str(data.get("status", "completed"))
        raw = data.get("steps") or []
        self._steps = {d["name"]: StepView(store, d["name"], d) for d in raw}
        self._params = {str(d["param"]): str(d["name"]) for d in raw if d.get("param")}

    @property
    def steps(self) -> list[StepView]:
        return list(self._steps.values())

    def get_step(self, name: str | None = None, step: str | None = None) -> StepView:
        """The step of this run named ``name``, or bound to the pipeline parameter of that
        name (``first_pipeline(step_2=svc_trainer())``: ``get_step("step_2")``, as ZenML named
        the steps of a run)."""
        wanted = name or step
        if wanted not in self._steps and wanted in self._params:
            wanted = self._params[wanted]
        if wanted not in self._steps:
            raise PostExecutionError(
                f"run {self.name} has no step {wanted!r}",
                hint=f"its steps: {', '.join(self._steps) or 'none'}",
            )
        return self._steps[wanted]

    def __repr__(self) -> str:
        return f"PipelineRunView(name={self.name!r}, status={self.status!r})"


class PipelineView:
    """A pipeline and its past runs, oldest first."""

    def __init__(self, store: Store, name: str, runs: list[dict[str, Any]]) -> None:
        self.name = name
        self._runs = [PipelineRunView(store, r) for r in runs]

    @property
    def runs(self) -> list[PipelineRunView]:
        return list(self._runs)

    def get_runs(self) -> list[PipelineRunView]:
        return self.runs

    def get_run(self, run_name: str) -> PipelineRunView:
        for run in self._runs:
            if run.name == run_name:
                return run
        raise PostExecutionError(f"pipeline {self.name} has no run named {run_name!r}")

    def __repr__(self) -> str:
        return f"PipelineView(name={self.name!r}, runs={len(self._runs)})"


class Repository:
    """A project's past runs (``Repository()`` finds the project like ``incr`` does)."""

    def __init__(self, root: str | Path | None = None, lock_runs: bool = True) -> None:
        with reads.unrecorded():  # incr's own reads (pyproject.toml): no step's
            self.project = _find(root)
        self._store = Store(self.project.cache)
        #: Whether a pipeline without records has a run read from ``pipeline.lock`` (not
        #: inside a run, where the lockfile is being rewritten).
        self._lock_runs = lock_runs

    def get_pipeline(self, pipeline_name: Any = None, pipeline: Any = None) -> PipelineView | None:
        """The pipeline named so (a name, a pipeline or one of its instances); None when it
        never ran."""
        target = pipeline_name if pipeline_name is not None else pipeline
        name = str(getattr(target, "name", target))
        runs = runhistory.load(self.project.cache, name)
        if not runs and self._lock_runs:
            runs = self._from_lock(name)
        return PipelineView(self._store, name, runs) if runs else None

    def get_pipelines(self) -> list[PipelineView]:
        views = [self.get_pipeline(n) for n in runhistory.pipelines(self.project.cache)]
        return [v for v in views if v is not None]

    def _from_lock(self, name: str) -> list[dict[str, Any]]:
        """One run read from ``pipeline.lock`` for a pipeline without records."""
        try:
            entries = lockfile.read(self.project.lockfile)
        except (IncrError, OSError):
            return []
        steps = [
            {
                "name": key[len(name) + 1 :],
                "key": key,
                "status": "completed",
                "config": e.facts.config,
                "outputs": {k: {"kind": a.kind, "digest": a.digest} for k, a in e.outputs.items()},
            }
            for key, e in entries.items()
            if key.startswith(name + ".")
        ]
        if not steps:
            return []
        return [{"pipeline": name, "name": f"{name} (pipeline.lock)", "steps": steps}]


def _find(root: str | Path | None) -> Project:
    if root is not None:
        return Project.find(root)
    try:
        return Project.find()
    except IncrError:
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        if main is None:
            raise
        return Project.for_file(main)


def runs_of(instance: Any) -> list[PipelineRunView]:
    """``pipeline_instance.get_runs()``: the past runs of an instance, oldest first."""
    import inspect

    from incr.notebook import project_for

    func = instance.definition.func
    project = project_for(inspect.getsourcefile(func) or func.__code__.co_filename)
    view = Repository(project.root).get_pipeline(instance.name)
    return view.runs if view is not None else []
