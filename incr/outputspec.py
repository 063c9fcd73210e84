"""``Output`` (the names and types of a step's outputs) and the engine hook behind
``PipelineInstance.run()``: small pieces of the API kept out of ``api`` itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from incr.errors import DefinitionError


class Output:
    """Names and types of a multi-output step: ``-> Output(X=np.ndarray, y=np.ndarray)``."""

    def __init__(self, **outputs: Any) -> None:
        if not outputs:
            raise DefinitionError("Output() needs at least one name=type pair")
        self.outputs = dict(outputs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in self.outputs.items())
        return f"Output({inner})"


#: Runs a pipeline instance for ``.run()`` (``incr/__init__.py`` installs the runner's).
Engine = Callable[[Any, "bool | None"], Any]
_engine: Engine | None = None


def set_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` run every ``PipelineInstance.run()``; returns the previous one."""
    global _engine
    previous, _engine = _engine, engine
    return previous


def run_with_engine(instance: Any, enable_cache: bool | None) -> Any:
    """Run ``instance`` with the installed engine."""
    if _engine is None:
        raise DefinitionError(f"pipeline {instance.name}: no engine to run it (import incr)")
    return _engine(instance, enable_cache)
