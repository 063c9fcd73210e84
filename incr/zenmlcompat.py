"""ZenML's class-based API of the 0.x era: ``class MyStep(BaseStep)`` with
``entrypoint(self, ...)`` and ``class MyPipeline(BasePipeline)`` with ``connect(self, ...)``.

Each ``BaseStep`` subclass is one step (named after the class), like an ``@step`` function:
its ``entrypoint`` is fingerprinted with the whole class (its other methods and attributes
count too). An instance is the step with its config bound (``MyStep(config)`` or
``MyStep(config=...)``), usable wherever ``my_step(...)`` is. Each ``BasePipeline`` subclass
is one pipeline named after the class; an instance binds its steps (by keyword or in
order) and runs with ``.run()``. A class attribute ``enable_cache = False`` sets caching off
for the step or the pipeline, as the decorators' argument does.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, ClassVar

from incr.api import Pipeline, PipelineInstance, Step, StepConfig, StepInstance
from incr.artifacts import BaseArtifact
from incr.errors import DefinitionError
from incr.materializers import Materializer, register_materializer, registered


def _unbound_signature(func: Any) -> inspect.Signature:
    try:
        sig = inspect.signature(func, eval_str=True)
    except (NameError, SyntaxError, TypeError):
        sig = inspect.signature(func)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


class _ClassStep(Step):
    """The step of a ``BaseStep`` subclass: ``entrypoint`` called on a fresh instance."""

    def __init__(self, owner: Any, **options: Any) -> None:
        func = owner.entrypoint  # its own, or the one it inherits (its signature made once)
        if "__signature__" not in vars(func):
            func.__signature__ = _unbound_signature(func)  # ``self``: no input nor config
        super().__init__(func, **options)
        self.owner = owner

    def run_function(self, config: StepConfig | None, inputs: dict[str, Any]) -> Any:
        this = self.owner.__new__(self.owner)
        this.step, this.config = self, config
        bound = Step.__new__(Step)  # Step.run_function with ``this`` passed first
        bound.__dict__.update(self.__dict__)
        call = self.call  # the function, or what a user's decorator wrapped around it
        bound.func = bound.call = lambda *args, **kwargs: call(this, *args, **kwargs)
        return Step.run_function(bound, config, inputs)


class BaseStep(StepInstance):
    """Subclass it and define ``entrypoint(self, ...)`` to make a step."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.entrypoint is not BaseStep.entrypoint:  # its own, or a base class's
            cache = cls.__dict__.get("enable_cache")
            step = _ClassStep(cls, name=cls.__name__, enable_cache=cache, code_deps=[cls])
            cls._incr_step = step  # type: ignore[attr-defined]

    def __init__(self, *args: Any, config: StepConfig | None = None, **kwargs: Any) -> None:
        if config is None and args and isinstance(args[0], StepConfig):
            config, args = args[0], args[1:]
        if config is None and kwargs:
            config = next((v for v in kwargs.values() if isinstance(v, StepConfig)), None)
        step = getattr(type(self), "_incr_step", None)
        if step is None:
            raise TypeError(f"{type(self).__name__} must define entrypoint(self, ...)")
        StepInstance.__init__(self, step, config)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        own = sorted(set(vars(self)) - {"step", "config"})
        if own:  # ``entrypoint`` runs on a fresh instance, in any process: they would be lost
            raise DefinitionError(
                f"step {type(self).__name__} sets {', '.join(own)} on its instance, which "
                "its entrypoint would not see",
                hint="pass such values in a BaseStepConfig (a config counts in the step's "
                "fingerprint), or as class attributes",
            )
        return StepInstance.__call__(self, *args, **kwargs)

    def entrypoint(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


class BasePipeline(PipelineInstance):
    """Subclass it and define ``connect(self, ...)`` to make a pipeline."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "connect" in cls.__dict__:
            cache = cls.__dict__.get("enable_cache", True)
            proto = object.__new__(cls)  # ``connect`` is called on it while tracing
            cls._incr_pipeline = Pipeline(  # type: ignore[attr-defined]
                proto.connect, name=cls.__name__, enable_cache=cache is not False
            )

    def __init__(self, *args: Any, **steps: Any) -> None:
        definition = getattr(type(self), "_incr_pipeline", None)
        if definition is None:
            raise TypeError(f"{type(self).__name__} must define connect(self, ...)")
        made = definition(*args, **steps)
        PipelineInstance.__init__(self, definition, made.bound)

    def connect(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------- materializers


def _kind_of(name: str) -> str:
    """The kind a ZenML materializer gets from its name (ZenML named none)."""
    return "zenml-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class OnlyWhenChosen:
    """The type a materializer without ``ASSOCIATED_TYPES`` lists: no value is one."""


class BaseMaterializer(Materializer):
    """A materializer written the 0.x way, on incr's registry: ``ASSOCIATED_TYPES``,
    ``handle_return(data)`` writing files under ``self.artifact.uri`` (with ``incr.fileio``)
    and ``handle_input(data_type)`` reading them back. A subclass with ``ASSOCIATED_TYPES``
    is registered for those types when it is defined, as ZenML did; its code counts in the
    fingerprint of the steps whose outputs it may store."""

    ASSOCIATED_TYPES: ClassVar[tuple[Any, ...]] = ()
    ASSOCIATED_ARTIFACT_TYPES: ClassVar[tuple[Any, ...]] = ()
    #: Set on a subclass whose ``kind`` incr made from its name (it wrote none).
    _named_by_incr: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Without ASSOCIATED_TYPES it stores only the outputs it is chosen for.
        cls.types = tuple(cls.ASSOCIATED_TYPES) or (f"{__name__}.OnlyWhenChosen",)
        if "kind" not in cls.__dict__:
            cls.kind, cls._named_by_incr = _kind_of(cls.__name__), True
            here = (cls.__module__, cls.__qualname__)
            for other in registered():  # a name two share: each takes its module's name too
                if other.kind == cls.kind and (other.__module__, other.__qualname__) != here:
                    cls.kind = _kind_of(f"{cls.__module__}-{cls.__qualname__}")
                    if other.__dict__.get("_named_by_incr"):
                        other.kind = _kind_of(f"{other.__module__}-{other.__qualname__}")
                        register_materializer(other)
        if cls.ASSOCIATED_TYPES:
            register_materializer(cls)

    def __init__(self, artifact: Any = None) -> None:
        self.artifact = artifact if artifact is not None else BaseArtifact()

    def handle_input(self, data_type: type) -> Any:
        """Read the value stored under ``self.artifact.uri`` (subclasses implement it)."""
        self._check(data_type)
        return None

    def handle_return(self, data: Any) -> None:
        """Write ``data`` under ``self.artifact.uri`` (subclasses implement it)."""
        self._check(type(data))

    def _check(self, data_type: type) -> None:
        if self.ASSOCIATED_TYPES and not any(
            isinstance(t, type) and issubclass(data_type, t) for t in self.ASSOCIATED_TYPES
        ):
            raise TypeError(f"{type(self).__name__} cannot handle {data_type.__name__}")

    def save(self, obj: Any, folder: Path) -> None:
        self.artifact = BaseArtifact(str(folder))
        self.handle_return(obj)

    def load(self, folder: Path) -> Any:
        self.artifact = BaseArtifact(str(folder))
        types = [t for t in self.ASSOCIATED_TYPES if isinstance(t, type)]
        return self.handle_input(types[0] if types else object)
