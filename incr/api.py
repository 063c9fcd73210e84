"""The user-facing objects: ``@step``, ``@pipeline``, ``Output`` and ``StepConfig``.

A step called inside a pipeline body is traced (it adds a node and returns output handles);
called anywhere else it makes a configured step instance, as in ZenML's classic style.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

from incr import fanin, pipeparams, stepsig, tracing
from incr.captures import with_bound, with_captures
from incr.coderef import code_ref
from incr.errors import DefinitionError
from incr.fingerprint import canonical_json
from incr.model import PipelineGraph, StepCode, TracedPipeline
from incr.stepsig import Output as Output  # re-exported: `from incr.api import Output`
from incr.stepsig import resource_amounts
from incr.tracing import (
    OutputHandle,
    env_names,
    metric_names,
    parse_duration,
    relative_source,
)

F = TypeVar("F", bound=Callable[..., Any])


class StepConfig:
    """Base class of step configs: typed fields with defaults, made a keyword-only dataclass.

    The values (not the class's source) are part of the step's fingerprint.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        stepsig.copy_mutable_defaults(cls)  # ZenML's configs take ``x: dict = {}``
        dataclasses.dataclass(kw_only=True)(cls)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


BaseStepConfig = StepConfig


# --------------------------------------------------------------------------- running


#: Runs a pipeline instance for ``.run()`` (``incr/__init__.py`` installs the runner's).
Engine = Callable[["PipelineInstance", "bool | None"], Any]
_engine: Engine | None = None


def set_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` run every ``PipelineInstance.run()``; returns the previous one."""
    global _engine
    previous, _engine = _engine, engine
    return previous


# --------------------------------------------------------------------------- steps


class Step:
    """A function decorated with ``@step``."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        enable_cache: bool | None = None,
        deps: list[str] | tuple[str, ...] = (),
        outs: list[str] | tuple[str, ...] = (),
        track_reads: bool = True,
        code_deps: list[Any] | tuple[Any, ...] = (),
        version: str | None = None,
        cache_expires: str | timedelta | float | None = None,
        env: list[str] | tuple[str, ...] = (),
        metrics: list[str] | tuple[str, ...] = (),
        resources: dict[str, float] | None = None,
    ) -> None:
        self.func, self.call, origin = stepsig.parts(func)
        self.name: str = name or getattr(origin, "__name__", None) or self.func.__name__
        self.enable_cache = enable_cache
        self.deps = tuple(deps)
        self.outs = tuple(outs)
        self.track_reads = track_reads
        self.code_deps = tuple(code_deps)
        self.version = None if version is None else str(version)
        self.cache_expires = parse_duration(cache_expires, self.name)
        self.env = env_names(env, self.name)
        self.resources = resource_amounts(resources, self.name)
        self.signature = stepsig.signature(origin)
        self.config_param, self.config_class = stepsig.find_config(
            self.name, self.signature, StepConfig
        )
        self.output_names, self.multi_output = stepsig.step_outputs(self.signature)
        self.metrics = metric_names(metrics, self.name, (*self.outs, *self.output_names))
        self.__doc__ = origin.__doc__
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def code(self, root: Path) -> StepCode:
        """Where this step's code (and its ``code_deps``) lives, for fingerprinting."""
        deps = tuple(code_ref(obj, root) for obj in self.code_deps)
        code = with_captures(
            StepCode(code_ref(self.func, root), deps, self.version), self.func, root
        )
        return with_bound(code, self.call, root) if self.call is not self.func else code

    def entrypoint(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function, outside any pipeline and cache."""
        return self.call(*args, **kwargs)

    def late_config(self, given: Any = None) -> None:
        """Find the config class of an annotation that was a string no module defined when
        the step was made (imported only under ``TYPE_CHECKING``)."""
        if self.config_param is None and stepsig.pending(self.signature):
            self.config_param, self.config_class = stepsig.find_config(
                self.name, self.signature, StepConfig, given
            )

    def __call__(self, *args: Any, config: StepConfig | None = None, **kwargs: Any) -> Any:
        self.late_config(config or next((v for v in kwargs.values() if _is_config(v)), None))
        if self.config_param and self.config_param in kwargs and config is None:
            config = kwargs.pop(self.config_param)
        tracer = tracing.active()
        if tracer is not None:
            return tracer.add(self, config, args, kwargs, self.call_name(kwargs))
        if args or kwargs:
            raise DefinitionError(
                f"step {self.name} was called with data outside a pipeline",
                hint=f"call {self.name}.entrypoint(...) to run the plain function",
            )
        return StepInstance(self, config)

    def call_name(self, kwargs: dict[str, Any]) -> str | None:
        """Take ``name=`` out of a call's keywords (unless the function has an input of
        that name): the name of this one call, stable wherever it moves in a loop."""
        if "name" in kwargs and "name" not in self.signature.parameters:
            return tracing.check_name(kwargs.pop("name"), self.name)
        return None

    def with_options(self, **options: Any) -> Step:
        """A copy of this step with other ``@step`` options (``name``, ``enable_cache``,
        ``deps``, ``outs``...); ``train.with_options(name=f"train_{fold}")`` in a loop."""
        keywords = [k for k in inspect.signature(step).parameters if k != "func"]
        stepsig.check_options(self.name, options, keywords)
        if "name" in options:
            tracing.check_name(options["name"], self.name)
        made = Step(self.func, **{**{k: getattr(self, k) for k in keywords}, **options})
        made.call, made.signature = self.call, self.signature
        made.config_param, made.config_class = self.config_param, self.config_class
        made.output_names, made.multi_output = self.output_names, self.multi_output
        return made

    def config_values(self, config: StepConfig | None) -> dict[str, Any]:
        self.late_config(config)
        if self.config_class is None:
            if config is not None:
                raise DefinitionError(f"step {self.name} takes no config, but one was given")
            return {}
        if config is None:
            try:
                config = self.config_class()
            except TypeError as exc:
                raise DefinitionError(
                    f"step {self.name}: {self.config_class.__name__} has fields without a "
                    f"default ({exc})",
                    hint=f"pass config={self.config_class.__name__}(...) where the step is used",
                ) from None
        if not isinstance(config, self.config_class):
            raise DefinitionError(
                f"step {self.name}: config must be a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        values = config.to_dict()
        for key, value in values.items():
            try:
                canonical_json(value)  # the encoding the fingerprint will use
            except (TypeError, ValueError):
                raise DefinitionError(
                    f"step {self.name}: config field {key!r} holds a "
                    f"{type(value).__name__}, which is not JSON-serialisable",
                    hint="use str, int, float, bool, None, lists and str-keyed dicts of them",
                ) from None
        return values

    def make_config(self, values: dict[str, Any]) -> StepConfig | None:
        return None if self.config_class is None else self.config_class(**values)

    def bind_inputs(self, args: tuple, kwargs: dict) -> dict[str, OutputHandle]:
        """The call's inputs by slot (see ``incr.fanin``): a parameter's name, or one slot per
        step output of a list, dict or ``*parts`` (``parts[0]``, ``parts[1]``...)."""
        params = [p for p in self.signature.parameters.values() if p.name != self.config_param]
        return fanin.bind(self.name, params, args, kwargs, _is_output)

    def run_function(self, config: StepConfig | None, inputs: dict[str, Any]) -> Any:
        kwargs = dict(inputs)
        if self.config_param:
            kwargs[self.config_param] = config
        params = list(self.signature.parameters.values())
        if fanin.is_plain(kwargs, params):
            return self.call(**kwargs)
        args, kwargs = fanin.call_args(params, kwargs)
        return self.call(*args, **kwargs)


class StepInstance:
    """A step with its config bound, made by calling a step outside a pipeline."""

    def __init__(self, step: Step, config: StepConfig | None) -> None:
        step.config_values(config)  # validate early, at the call site
        self.step = step
        self.config = config

    def __repr__(self) -> str:
        return f"<step instance {self.step.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = tracing.active()
        if tracer is None:
            raise DefinitionError(
                f"step instance {self.step.name} can only be called in a pipeline"
            )
        name = self.step.call_name(kwargs)
        return tracer.add(self.step, self.config, args, kwargs, name)


def _is_output(value: Any) -> bool:
    return isinstance(value, OutputHandle)


def _is_config(value: Any) -> bool:
    return isinstance(value, StepConfig)


@overload
def step(func: F) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    deps: list[str] | tuple[str, ...] = (),
    outs: list[str] | tuple[str, ...] = (),
    track_reads: bool = True,
    code_deps: list[Any] | tuple[Any, ...] = (),
    version: str | None = None,
    cache_expires: str | timedelta | float | None = None,
    env: list[str] | tuple[str, ...] = (),
    metrics: list[str] | tuple[str, ...] = (),
    resources: dict[str, float] | None = None,
) -> Callable[[F], Step]: ...
def step(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    deps: list[str] | tuple[str, ...] = (),
    outs: list[str] | tuple[str, ...] = (),
    track_reads: bool = True,
    code_deps: list[Any] | tuple[Any, ...] = (),
    version: str | None = None,
    cache_expires: str | timedelta | float | None = None,
    env: list[str] | tuple[str, ...] = (),
    metrics: list[str] | tuple[str, ...] = (),
    resources: dict[str, float] | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step.

    - ``enable_cache=False`` reruns it on every run.
    - ``deps`` lists files and folders it reads: their bytes are part of its fingerprint.
      Files it opens while running are found and tracked too, unless ``track_reads=False``.
    - ``outs`` lists files and folders it writes: they are cached and restored on a hit.
    - ``code_deps`` lists functions, classes or modules whose code counts although incr cannot
      see the step use them (``getattr(module, name)``); ``version`` is a string to change by
      hand when something invisible changed.
    - ``cache_expires`` (``"90s"``, ``"30m"``, ``"1h"``, ``"2d"``, a ``timedelta`` or seconds)
      reruns it when its cached result is older than that.
    - ``env`` lists environment variables it depends on (a digest of each value is recorded,
      never the value): needed only for those read by a third-party package or a child
      process; the ones its own code reads are found while it runs.
    - ``metrics`` names JSON files of ``outs`` (or ``"output"``, a returned dict) that hold
      metrics: ``incr metrics show`` and ``incr metrics diff`` print them.
    - ``resources`` (``{"GPU": 1, "MEMORY": 8e9}``) are what a Dask worker must offer to run
      it (``--executor dask``); not part of its fingerprint, ignored by the other executors.
    """

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(
            f,
            name=name,
            enable_cache=enable_cache,
            deps=deps,
            outs=outs,
            track_reads=track_reads,
            code_deps=code_deps,
            version=version,
            cache_expires=cache_expires,
            env=env,
            metrics=metrics,
            resources=resources,
        )

    return wrap(func) if func is not None else wrap


# --------------------------------------------------------------------------- pipelines


class Pipeline:
    """A function decorated with ``@pipeline``; calling it binds steps and makes an instance."""

    def __init__(
        self, func: Callable[..., Any], *, name: str | None = None, enable_cache: bool = True
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        self.params = tuple(inspect.signature(func).parameters)
        self.signature = inspect.signature(func)
        self.nested = False  # called inside another pipeline's body (then part of that one)
        self.__doc__ = func.__doc__

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __call__(self, *args: Any, **steps: Any) -> Any:
        if args:
            raise DefinitionError(
                f"pipeline {self.name}: bind steps by name, e.g. {self.name}(step_1=load())"
            )
        steps, values = pipeparams.split(self.name, self.signature, steps, _is_step)
        bound: dict[str, StepInstance] = {}
        for key, value in steps.items():
            if isinstance(value, Step):
                value = StepInstance(value, None)
            if not isinstance(value, StepInstance):
                raise DefinitionError(
                    f"pipeline {self.name}: {key} must be a step instance such as load(), "
                    f"got {type(value).__name__}"
                )
            bound[key] = value
        instance = PipelineInstance(self, bound, values)
        tracer = tracing.active()
        return instance if tracer is None else instance.add_to(tracer)

    @property
    def takes_no_steps(self) -> bool:
        """True when every parameter has a default: discovery makes the default instance."""
        return all(p.default is not p.empty for p in self.signature.parameters.values())


def _is_step(value: Any) -> bool:
    return isinstance(value, Step | StepInstance)


class PipelineInstance:
    """A pipeline with its steps bound; ``run()`` brings it up to date.

    ``values`` are its parameter values (see ``incr.pipeparams``): an instance made with other
    values than the defaults is named with them (``cv@n_folds=3``).
    """

    def __init__(
        self,
        definition: Pipeline,
        bound: dict[str, StepInstance],
        values: dict[str, Any] | None = None,
    ) -> None:
        self.definition = definition
        self.bound = bound
        self.values = dict(values or {})
        self.implicit = False  # made by discovery with the defaults, not by the user
        self._name = pipeparams.instance_name(definition.name, definition.signature, self.values)

    @property
    def name(self) -> str:
        return self._name

    def add_to(self, tracer: tracing.Tracer[Any]) -> Any:
        """Called inside another pipeline's body: add this pipeline's steps to that pipeline,
        under this one's name (``prep.load``), and give back what its body returns."""
        self.definition.nested = True
        with tracer.nested(self.name, self.enable_cache):
            return self.definition.func(**self.bound, **self.values)

    @property
    def enable_cache(self) -> bool:
        return self.definition.enable_cache

    def __repr__(self) -> str:
        return f"<pipeline instance {self.name}>"

    def trace(self, root: Path) -> TracedPipeline:
        """Call the pipeline body with tracing on and return the graph it built."""
        with tracing.tracing(self.name, root) as tracer:
            self.definition.func(**self.bound, **self.values)
        graph = PipelineGraph(
            name=self.name,
            source_file=relative_source(self.definition.func, root),
            steps=tuple(tracer.nodes),
            enable_cache=self.enable_cache,
        )
        configs = {n.name: tracer.steps[n.name].make_config(n.config) for n in tracer.nodes}
        code = {name: step.code(root) for name, step in tracer.steps.items()}
        return TracedPipeline(graph, dict(tracer.steps), configs, code)

    def run(self, enable_cache: bool | None = None) -> Any:
        """Run the pipeline: steps whose fingerprint is in the cache are not executed.

        ``enable_cache=False`` reruns every step for this run only.
        """
        if tracing.record_run(self):
            return None
        if _engine is None:
            raise DefinitionError(f"pipeline {self.name}: no engine to run it (import incr)")
        return _engine(self, enable_cache)


@overload
def pipeline(func: Callable[..., Any]) -> Pipeline: ...
@overload
def pipeline(
    *, name: str | None = None, enable_cache: bool = True
) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(
    func: Callable[..., Any] | None = None, *, name: str | None = None, enable_cache: bool = True
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline. ``enable_cache=False`` turns caching off for all its steps."""

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, enable_cache=enable_cache)

    return wrap(func) if func is not None else wrap
