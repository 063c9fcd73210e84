"""How a step's function runs and what it leaves: the values shared by the serial runner, the
``--jobs`` workers and ``verify --rerun`` (``Outcome``, ``load_artifact``, ``split_outputs``,
``user_traceback``). The one scheduling loop and an ``Executor`` protocol are still to come:
``runner.Runner`` and ``parallel.run_parallel`` each keep their own loop for now.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from incr import materializers
from incr.errors import IncrError, MaterializeError
from incr.model import Artifact, StepNode
from incr.store import ObjectCorrupt, Store


@dataclass
class Outcome:
    """What executing a step left: its stored outputs and reads, or why it failed."""

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    #: Declared deps the step wrote into, with their digests as it left them.
    deps: dict[str, str] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)  # files it wrote, besides its outs
    notes: list[str] = field(default_factory=list)  # how its outputs were stored, when not as asked


class StepFailure(Exception):
    """Raised inside the runner when a step (or a producer it needed) failed."""


def load_artifact(store: Store, artifact: Artifact) -> Any:
    """An output's value from the verified store. Bytes that do not decode as their recorded
    kind (a hand-edited lockfile) are treated like a damaged object: ObjectCorrupt. A
    materializer's refusal (skops naming untrusted types) is a MaterializeError."""
    data = store.get_view(artifact.digest)
    try:
        return materializers.load(artifact.kind, data)
    except MaterializeError:
        raise
    except Exception as exc:
        raise ObjectCorrupt(
            f"cache object {artifact.digest} does not decode as {artifact.kind!r} ({exc})"
        ) from None


def split_outputs(node: StepNode, result: Any) -> dict[str, Any]:
    """The step's return value by output name; IncrError when it does not match Output(...)."""
    names = node.outputs
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: result}
    if not isinstance(result, tuple | list) or len(result) != len(names):
        got = f"{len(result)} values" if isinstance(result, tuple | list) else type(result).__name__
        raise IncrError(
            f"step {node.key} returned {got}, but declares {len(names)} outputs "
            f"({', '.join(names)})",
            hint="return a tuple with one value per name in Output(...)",
        )
    return dict(zip(names, result, strict=True))


def user_traceback(exc: BaseException, code: Any) -> str:
    """The traceback from the step function's frame down: the engine's frames are noise."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
