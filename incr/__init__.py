"""incr: an incremental pipeline engine for Python data and ML work.

Steps and pipelines are written ZenML style; runs are incremental like Make and DVC: a committed
``pipeline.lock`` records each step's fingerprint, and only dirty steps rerun.
"""

from typing import Any

from incr.api import (
    BaseStepConfig,
    Output,
    PipelineInstance,
    StepConfig,
    pipeline,
    set_engine,
    step,
)
from incr.imports import install_for_script
from incr.materializers import Materializer, register_materializer
from incr.stepcontext import StepContext
from incr.version import __version__


def _run(instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """The engine behind ``PipelineInstance.run()``: loaded on the first call, so ``import
    incr`` stays as cheap as the decorators."""
    from incr.runner import run_instance

    return run_instance(instance, enable_cache)


def _get_runs(instance: PipelineInstance) -> Any:
    """``pipeline_instance.get_runs()``: its past runs, oldest first (``incr.postexec``)."""
    from incr.postexec import runs_of

    return runs_of(instance)


set_engine(_run)
setattr(PipelineInstance, "get_runs", _get_runs)  # noqa: B010 (api cannot import postexec)
install_for_script()


def __getattr__(name: str) -> Any:
    """Loaded on first use: what the CLI does, as library calls (``incr.status``,
    ``incr.show``, ``incr.commit``, ``incr.to_networkx``; see ``incr.commands``), and ZenML's
    names of the 0.x era (``Repository``, ``BaseStep``, ``BasePipeline``,
    ``BaseMaterializer``)."""
    if name in ("status", "show", "commit", "to_networkx"):
        from incr import commands

        return getattr(commands, name)
    if name == "Repository":  # ZenML's post-execution API of the 0.x era
        from incr.postexec import Repository

        return Repository
    if name in ("BaseStep", "BasePipeline", "BaseMaterializer"):
        from incr import zenmlcompat

        return getattr(zenmlcompat, name)
    raise AttributeError(f"module 'incr' has no attribute {name!r}")


__all__ = [
    "BaseMaterializer",
    "BasePipeline",
    "BaseStep",
    "BaseStepConfig",
    "Materializer",
    "Output",
    "Repository",
    "StepConfig",
    "StepContext",
    "__version__",
    "commit",
    "pipeline",
    "register_materializer",
    "show",
    "status",
    "step",
    "to_networkx",
]
