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
from incr.version import __version__


def _run(instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """The engine behind ``PipelineInstance.run()``: loaded on the first call, so ``import
    incr`` stays as cheap as the decorators."""
    from incr.runner import run_instance

    return run_instance(instance, enable_cache)


set_engine(_run)
install_for_script()

__all__ = [
    "BaseStepConfig",
    "Materializer",
    "Output",
    "StepConfig",
    "__version__",
    "pipeline",
    "register_materializer",
    "step",
]
