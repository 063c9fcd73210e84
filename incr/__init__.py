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
from incr.version import __version__


def _run(instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """The engine behind ``PipelineInstance.run()``: loaded on the first call, so ``import
    incr`` stays as cheap as the decorators."""
    from incr.runner import run_instance

    return run_instance(instance, enable_cache)


set_engine(_run)
install_for_script()


def __getattr__(name: str) -> Any:
    """What the CLI does, as library calls, loaded on first use: ``incr.status``,
    ``incr.show``, ``incr.commit`` and ``incr.to_networkx`` (see ``incr.commands``)."""
    if name in ("status", "show", "commit", "to_networkx"):
        from incr import commands

        return getattr(commands, name)
    raise AttributeError(f"module 'incr' has no attribute {name!r}")


__all__ = [
    "BaseStepConfig",
    "Output",
    "StepConfig",
    "__version__",
    "commit",
    "pipeline",
    "show",
    "status",
    "step",
    "to_networkx",
]
