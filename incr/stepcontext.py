"""``StepContext``: what a step learns about its own run, as ZenML's 0.x steps did.

A step parameter annotated ``StepContext`` receives one (it is neither an input nor the
config). It gives the step's name, a folder per output (``get_output_artifact_uri``), the
materializer of an output (``get_output_materializer``) and ``metadata_store``, the
post-execution API over the project's past runs (``incr.postexec``). A step that takes a
context reads history, so it is not cached unless it says ``@step(enable_cache=True)``.

The runner says which step runs (``running``); this module imports nothing above it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incr import hooks
from incr.errors import IncrError
from incr.valueclass import valueclass


@valueclass(frozen=True)
class _Running:
    """The step running now in this process."""

    key: str
    name: str
    outputs: tuple[str, ...]
    cache: str  # the cache folder: the step's output folders go under ``folder``
    repository: Callable[[], Any]

    @property
    def folder(self) -> Path:
        """Where the step's output folders go (made when asked: most steps never ask)."""
        return Path(self.cache) / "artifacts"


_current: _Running | None = None


def history(root: Path) -> Callable[[], Any]:
    """A ``repository`` for ``running``: the project's run history, opened when asked."""

    def open_history() -> Any:
        if hooks.history is None:
            raise IncrError("the run history (metadata_store) is not available in this process")
        return hooks.history(root)

    return open_history


class Running:
    """The step ``key`` runs inside the block (contexts made meanwhile are its); ``cache``: the
    project's cache folder. A class, not a generator: it is entered once per executed step."""

    __slots__ = ("previous", "step")

    def __init__(
        self,
        key: str,
        name: str,
        outputs: tuple[str, ...],
        cache: str,
        repository: Callable[[], Any],
    ) -> None:
        self.step = _Running(key, name, outputs, cache, repository)
        self.previous: _Running | None = None

    def __enter__(self) -> None:
        global _current
        self.previous, _current = _current, self.step

    def __exit__(self, *exc: object) -> None:
        global _current
        _current = self.previous


def current_folder() -> Path | None:
    """The folder of the step running now (``.pipecache/artifacts/PIPELINE.STEP``), if any."""
    return None if _current is None else _current.folder / _current.key


class _ArtifactRef:
    """What a materializer of that era was made with: an artifact with a ``uri``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri


class StepContext:
    """Given to a step parameter annotated ``StepContext`` while the step runs."""

    def __init__(self) -> None:
        if _current is None:
            raise IncrError(
                "a StepContext exists only while incr runs the step",
                hint="call the step through a pipeline run (or pass a context yourself)",
            )
        self._run = _current
        self.step_name = _current.name
        #: Materializer classes chosen per output, when known (``@step(output_materializers)``).
        self.materializers: dict[str, Any] = {}

    @property
    def metadata_store(self) -> Any:
        """The project's past runs: ``get_pipeline(name).runs[-1].get_step(...)``."""
        return self._run.repository()

    @property
    def stack(self) -> None:
        """incr has one local stack and no stack object."""
        return None

    def _output(self, output_name: str | None) -> str:
        outputs = self._run.outputs
        if output_name is None:
            if len(outputs) != 1:
                raise IncrError(
                    f"step {self.step_name} has {len(outputs)} outputs "
                    f"({', '.join(outputs) or 'none'}): name the one you mean"
                )
            return outputs[0]
        if output_name not in outputs:
            raise IncrError(
                f"step {self.step_name} has no output {output_name!r}",
                hint=f"its outputs: {', '.join(outputs) or 'none'}",
            )
        return output_name

    def get_output_artifact_uri(self, output_name: str | None = None) -> str:
        """A folder of its own for an output (created; scratch space: incr caches what the
        step returns, and files it lists in ``outs``, not this folder), relative to the
        working folder (the project root, as a step starts): a step returning it gives the
        same value in a copy of the project, whose steps read their own files there. Absolute
        when the step moved out of the root (``os.chdir``)."""
        name = self._output(output_name)
        folder = self._run.folder / self._run.key / name
        folder.mkdir(parents=True, exist_ok=True)
        here = os.getcwd()
        return os.path.relpath(folder, here) if folder.is_relative_to(here) else str(folder)

    def get_output_materializer(
        self, output_name: str | None = None, custom_materializer_class: Any = None
    ) -> Any:
        """A materializer for an output, made with an artifact whose ``uri`` is the output's
        folder: ``custom_materializer_class`` when given, else the one chosen for it."""
        name = self._output(output_name)
        cls = custom_materializer_class or self.materializers.get(name)
        if cls is None:
            raise IncrError(
                f"step {self.step_name}: no materializer class is set for output {name!r}",
                hint="pass custom_materializer_class=...",
            )
        return cls(_ArtifactRef(self.get_output_artifact_uri(name)))


def context_param(signature: inspect.Signature) -> str | None:
    """The name of the parameter annotated ``StepContext``, if any."""
    for param in signature.parameters.values():
        ann = param.annotation
        if ann is StepContext or (isinstance(ann, str) and ann.split(".")[-1] == "StepContext"):
            return param.name
    return None
