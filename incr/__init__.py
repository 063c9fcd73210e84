"""incr: an incremental pipeline engine for Python data and ML work.

Steps and pipelines are written ZenML style; runs are incremental like Make and DVC: a committed
``pipeline.lock`` records each step's fingerprint, and only dirty steps rerun.
"""

from typing import TYPE_CHECKING, Any

from incr import hooks
from incr.imports import install_for_script, script_root
from incr.version import __version__

if TYPE_CHECKING:
    from incr.api import (
        BaseStepConfig,
        Output,
        PipelineInstance,
        StepConfig,
        pipeline,
        step,
    )
    from incr.materializers import Materializer, register_materializer
    from incr.stepcontext import StepContext


def _run(instance: "PipelineInstance", enable_cache: bool | None) -> Any:
    """The engine behind ``PipelineInstance.run()``: loaded on the first call, so ``import
    incr`` stays as cheap as the decorators."""
    from incr.scriptrun import run_instance

    return run_instance(instance, enable_cache)


def _get_runs(instance: "PipelineInstance") -> Any:
    """``pipeline_instance.get_runs()``: its past runs, oldest first (``incr.postexec``)."""
    from incr.postexec import runs_of

    return runs_of(instance)


def _history(root: Any) -> Any:
    """A ``StepContext``'s ``metadata_store``: the run history of the project at ``root``, in
    whichever process the step runs (``incr.postexec``)."""
    from incr.postexec import Repository

    return Repository(root, lock_runs=False)


# Installed before any other incr module loads (Python imports this package first), so
# every way of loading ``incr.api`` finds them.
hooks.engine = _run
hooks.past_runs = _get_runs
hooks.history = _history
if script_root() is not None:
    # A script in a project uses the API: load it before the project's folders lead
    # ``sys.path``, so that no project module shadows a standard module it needs.
    from incr import api  # noqa: F401
install_for_script()

#: Names loaded on first use, by the module that defines them: ``import incr`` (and so every
#: ``incr`` command) loads none of the API; ``from incr import step, pipeline`` loads it.
_LAZY = {
    "step": "api",
    "pipeline": "api",
    "Output": "api",
    "StepConfig": "api",
    "BaseStepConfig": "api",
    "PipelineInstance": "api",
    "set_engine": "api",
    "Materializer": "materializers",
    "register_materializer": "materializers",
    "StepContext": "stepcontext",
    "status": "commands",  # what the CLI does, as library calls (see ``incr.commands``)
    "show": "commands",
    "commit": "commands",
    "to_networkx": "commands",
    "Repository": "postexec",  # ZenML's post-execution API of the 0.x era
    "BaseStep": "zenmlcompat",  # ZenML's names of the 0.x era
    "BasePipeline": "zenmlcompat",
    "BaseMaterializer": "zenmlcompat",
}


def __getattr__(name: str) -> Any:
    """Load a name of ``_LAZY`` from its module on first use (then it is a plain global)."""
    owner = _LAZY.get(name)
    if owner is None:
        raise AttributeError(f"module 'incr' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"incr.{owner}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BaseMaterializer",
    "BasePipeline",
    "BaseStep",
    "BaseStepConfig",
    "Materializer",
    "Output",
    "PipelineInstance",
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
