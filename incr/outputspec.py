"""``Output`` (the names and types of a step's outputs) and the engine hook behind
``PipelineInstance.run()``: small pieces of the API kept out of ``api`` itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from incr import hooks, instances, tracing
from incr.errors import DefinitionError
from incr.materializers import check_overrides


class Output:
    """Names and types of a multi-output step: ``-> Output(X=np.ndarray, y=np.ndarray)``."""

    def __init__(self, **outputs: Any) -> None:
        if not outputs:
            raise DefinitionError("Output() needs at least one name=type pair")
        self.outputs = dict(outputs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in self.outputs.items())
        return f"Output({inner})"


#: Runs a pipeline instance for ``.run()`` (``incr/__init__.py`` installs the runner's in
#: ``incr.hooks``).
Engine = Callable[[Any, "bool | None"], Any]


def set_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` run every ``PipelineInstance.run()``; returns the previous one."""
    previous, hooks.engine = hooks.engine, engine
    return previous


def run_with_engine(instance: Any, enable_cache: bool | None) -> Any:
    """Run ``instance`` with the installed engine."""
    if hooks.engine is None:
        raise DefinitionError(f"pipeline {instance.name}: no engine to run it (import incr)")
    try:
        return hooks.engine(instance, enable_cache)
    finally:
        instances.ran(instance.environ)


class PastRuns:
    """ZenML's ``pipeline_instance.get_runs()``, read by the reader ``incr`` installs."""

    def get_runs(self) -> Any:
        """The past runs of this pipeline instance, oldest first (see ``incr.postexec``)."""
        if hooks.past_runs is None:
            raise DefinitionError(f"{self!r}: no reader of past runs (import incr)")
        return hooks.past_runs(self)


class StepExtras:
    """Methods of ZenML's era shared by steps and configured step instances."""

    def after(self, *steps: Any) -> None:
        """In a pipeline body: run this step after ``steps``, which share no data with it."""
        tracing.order_after(self, steps)

    def with_return_materializers(self, materializers: Any) -> Any:
        """A copy that stores its outputs with ``materializers``: one class for every output,
        or a dict by output name (``@step(materializers=...)`` does the same)."""
        import copy

        step: Any = getattr(self, "step", self)
        if not isinstance(materializers, dict):
            materializers = dict.fromkeys(step.output_names, materializers)
        made = copy.copy(step)
        made.materializers = {**step.materializers, **materializers}
        check_overrides(made.name, made.output_names, made.materializers)
        if made is step or step is self:
            return made
        instance = copy.copy(self)
        instance.step = made  # type: ignore[attr-defined]
        return instance
