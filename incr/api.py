"""The user-facing objects: ``@step``, ``@pipeline``, ``Output`` and ``StepConfig``.

A step called inside a pipeline body is traced (it adds a node and returns output handles);
called anywhere else it makes a configured step instance, as in ZenML's classic style.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from incr import artifacts, fanin, hooks, integrations, pipeparams, stepcontext, stepsig, tracing
from incr.errors import DefinitionError
from incr.instances import Named, as_run, instance_name
from incr.materializers import check_overrides, producer_classes
from incr.model import PipelineGraph, StepCode, TracedPipeline
from incr.outputspec import Engine as Engine
from incr.outputspec import Output as Output
from incr.outputspec import PastRuns, StepExtras, run_with_engine
from incr.outputspec import set_engine as set_engine
from incr.stepconfig import BaseStepConfig as BaseStepConfig
from incr.stepconfig import StepConfig as StepConfig
from incr.stepcontext import current_folder
from incr.stepsig import resource_amounts
from incr.tracing import OutputHandle, env_names, metric_names, parse_duration, relative_source

if TYPE_CHECKING:
    from datetime import timedelta

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- steps


#: Each step's parameters as ``fanin.bind`` takes them (not an attribute: those define it).
_PARAMS: weakref.WeakKeyDictionary[Step, tuple[tuple[str | None, str | None], fanin.Params]] = (
    weakref.WeakKeyDictionary()
)


class Step(StepExtras):
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
        materializers: dict[str, Any] | None = None,
    ) -> None:
        self.func, self.call, origin = stepsig.parts(func)
        if hooks.step_made is not None:  # a script's module imported before incr
            hooks.step_made(self.func)
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
        self.signature, shape = stepsig.signed(origin, self.name, StepConfig)
        (self.config_param, self.config_class), self.context_param, params = shape[:3]
        self.output_names, self.multi_output, types = shape[3:]
        self.artifact_params, self.output_types = dict(params), dict(types)  # its own
        if self.context_param and enable_cache is None:  # it can read history: see StepContext
            self.enable_cache = False
        self.materializers = dict(materializers or {})
        check_overrides(self.name, self.output_names, self.materializers)
        self.metrics = metric_names(metrics, self.name, (*self.outs, *self.output_names))
        self.__doc__ = origin.__doc__
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def code(self, root: Path) -> StepCode:
        """Where this step's code (and its ``code_deps``) lives, for fingerprinting."""
        from incr.captures import with_bound, with_captures  # here: decorators load no AST
        from incr.coderef import code_ref

        deps = tuple(code_ref(obj, root) for obj in self.code_deps)
        code = with_captures(
            StepCode(code_ref(self.func, root), deps, self.version), self.func, root
        )
        if self.call is not self.func or inspect.ismethod(self.call):
            code = with_bound(code, self.call, root)
        annotations = {name: self.output_types.get(name) for name in self.output_names}
        formats = producer_classes(annotations, self.materializers)
        if not formats:
            return code
        refs = tuple(code_ref(cls, root) for cls in formats)
        return dataclasses.replace(code, captured=(*code.captured, *refs))

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
        if config is None and args and isinstance(args[0], StepConfig):  # trainer(Config(...))
            config, args = args[0], args[1:]
        tracer = tracing.active()
        if tracer is not None:
            handles = tracer.add(self, config, args, kwargs, self.call_name(kwargs))
            tracer.called(self)
            return handles
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
        keywords = [k for k in inspect.signature(step).parameters if k not in stepsig.ALIASES]
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
        return stepsig.config_values(self.name, self.config_class, config)

    def make_config(self, values: dict[str, Any]) -> StepConfig | None:
        return None if self.config_class is None else self.config_class(**values)

    def bind_inputs(self, args: tuple, kwargs: dict) -> dict[str, OutputHandle]:
        """The call's inputs by slot (see ``incr.fanin``): a parameter's name, or one slot per
        step output of a list, dict or ``*parts`` (``parts[0]``, ``parts[1]``...)."""
        skip = (self.config_param, self.context_param)
        known = _PARAMS.get(self)
        if known is None or known[0] != skip:  # the config parameter may be found late
            params = [p for p in self.signature.parameters.values() if p.name not in skip]
            known = _PARAMS[self] = (skip, fanin.Params(params))
        return fanin.bind(self.name, known[1], args, kwargs, _is_output)

    def run_function(self, config: StepConfig | None, inputs: dict[str, Any]) -> Any:
        kwargs = dict(inputs)
        if self.config_param:
            kwargs[self.config_param] = config
        if self.context_param:
            kwargs[self.context_param] = stepcontext.StepContext()
        if self.artifact_params:
            kwargs = artifacts.as_artifacts(kwargs, self.artifact_params, current_folder())
        params = list(self.signature.parameters.values())
        if fanin.is_plain(kwargs, params):
            return self.call(**kwargs)
        args, kwargs = fanin.call_args(params, kwargs)
        return self.call(*args, **kwargs)


class StepInstance(StepExtras):
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
        handles = tracer.add(self.step, self.config, args, kwargs, name)
        tracer.called(self)
        return handles


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
    materializers: dict[str, Any] | None = None,
    output_materializers: dict[str, Any] | None = None,  # ZenML's name of it
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
    materializers: dict[str, Any] | None = None,
    output_materializers: dict[str, Any] | None = None,  # ZenML's name of it
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
    - ``materializers`` maps an output name (``output`` for a single one) to the
      ``incr.Materializer`` class that stores it, instead of the one its type chooses.
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
            materializers=materializers or output_materializers,
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
        if len(args) > len(self.params):
            raise DefinitionError(
                f"pipeline {self.name} takes {len(self.params)} steps, {len(args)} were given"
            )
        for param, value in zip(self.params, args, strict=False):  # first_pipeline(load(), ...)
            if param in steps:
                raise DefinitionError(f"pipeline {self.name}: step {param} was given twice")
            steps[param] = value
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


class PipelineInstance(PastRuns, Named):
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
        self.run_caches: list[bool | None] = []  # what the .run() calls discovery recorded pass
        named = pipeparams.instance_name(definition.name, definition.signature, self.values)
        self._name = instance_name(definition, named, bound)  # see incr.instances

    def add_to(self, tracer: tracing.Tracer[Any]) -> Any:
        """Called inside another pipeline's body: add this pipeline's steps to that pipeline,
        under this one's name (``prep.load``), and give back what its body returns."""
        self.definition.nested = True
        with tracer.nested(self.name, self.enable_cache):
            return self.body()

    def body(self) -> Any:
        """Call the pipeline's function with its steps and parameter values."""
        return self.definition.func(**self.bound, **self.values)

    @property
    def enable_cache(self) -> bool:
        return self.definition.enable_cache

    def __repr__(self) -> str:
        return f"<pipeline instance {self.name}>"

    def trace(self, root: Path) -> TracedPipeline:
        """Call the pipeline body with tracing on and return the graph it built."""
        with tracing.tracing(self.name, root) as tracer:
            self.body()
        made = {p: names[0] for p, s in self.bound.items() if len(names := tracer.made_by(s)) == 1}
        params = {name: p for p, name in made.items() if p != name}  # step_2=svc_trainer()
        steps = [
            dataclasses.replace(n, param=params[n.name]) if n.name in params else n
            for n in tracer.ordered()
        ]
        source = relative_source(self.definition.func, root)
        graph = PipelineGraph(self.name, source, tuple(steps), enable_cache=self.enable_cache)
        configs = {n.name: tracer.steps[n.name].make_config(n.config) for n in tracer.nodes}
        code = {name: step.code(root) for name, step in tracer.steps.items()}
        return TracedPipeline(graph, dict(tracer.steps), configs, code)

    def run(self, enable_cache: bool | None = None) -> Any:
        """Run the pipeline: steps whose fingerprint is in the cache are not executed.

        ``enable_cache=False`` reruns every step for this run only.
        """
        if hooks.run_called is not None:  # what this module reads from now on is not read
            hooks.run_called(sys._getframe(1))  # while it is imported (a run's results...)
        ran = as_run(self)  # another instance when run in another environment (a sweep)
        if tracing.record_run(ran, enable_cache):
            return None
        return run_with_engine(ran, enable_cache)


@overload
def pipeline(func: Callable[..., Any]) -> Pipeline: ...
@overload
def pipeline(
    *, name: str | None = None, enable_cache: bool = True, **options: Any
) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    enable_cache: bool = True,
    **options: Any,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline. ``enable_cache=False`` turns caching off for all its steps.
    ZenML's options are checked or accepted unused (``incr.integrations``)."""

    def wrap(f: Callable[..., Any]) -> Pipeline:
        integrations.check_options(name or f.__name__, options)
        return Pipeline(f, name=name, enable_cache=enable_cache)

    return wrap(func) if func is not None else wrap
