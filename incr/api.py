"""The user-facing objects: ``@step``, ``@pipeline``, ``Output`` and ``StepConfig``.

A step called inside a pipeline body is traced (it adds a node and returns output handles);
called anywhere else it makes a configured step instance, as in ZenML's classic style.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

from incr.captures import with_captures
from incr.coderef import code_ref
from incr.errors import DefinitionError
from incr.fingerprint import canonical_json
from incr.model import InputRef, PipelineGraph, StepCode, StepNode, TracedPipeline
from incr.notebook import NOTEBOOK, is_interactive

F = TypeVar("F", bound=Callable[..., Any])


class StepConfig:
    """Base class of step configs: typed fields with defaults, made a keyword-only dataclass.

    The values (not the class's source) are part of the step's fingerprint.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(kw_only=True)(cls)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


BaseStepConfig = StepConfig


class Output:
    """Names and types of a multi-output step: ``-> Output(X=np.ndarray, y=np.ndarray)``."""

    def __init__(self, **outputs: Any) -> None:
        if not outputs:
            raise DefinitionError("Output() needs at least one name=type pair")
        self.outputs = dict(outputs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in self.outputs.items())
        return f"Output({inner})"


@dataclasses.dataclass(frozen=True)
class OutputHandle:
    """What a traced step call returns: a reference to one of its outputs."""

    step: str
    output: str


# --------------------------------------------------------------------------- tracing


class _Tracer:
    def __init__(self, pipeline: str, root: Path) -> None:
        self.pipeline = pipeline
        self.root = root
        self.nodes: list[StepNode] = []
        self.steps: dict[str, Step] = {}
        self._named: dict[str, Step] = {}  # step name -> the first step of that name
        self._next: dict[str, int] = {}  # step name -> where to look for the next free suffix

    def unique_name(self, step: Step) -> str:
        """The step's name, or ``name_2``, ``name_3`` for further uses of the same step.

        Two different steps with one name are an error: their lock entries would clash.
        """
        base = step.name
        other = self._named.setdefault(base, step)
        if other is not step:
            raise DefinitionError(
                f"two different steps are named {base!r} "
                f"({_where(other.func, self.root)} and {_where(step.func, self.root)})",
                hint="rename one function, or give it @step(name=...)",
            )
        if base not in self.steps:
            return base
        n = self._next.get(base, 2)  # names are never freed: the ones below are still taken
        while f"{base}_{n}" in self.steps:
            n += 1
        self._next[base] = n + 1
        return f"{base}_{n}"

    def add(self, step: Step, config: StepConfig | None, args: tuple, kwargs: dict) -> Any:
        name = self.unique_name(step)
        inputs = step.bind_inputs(args, kwargs)
        node = StepNode(
            pipeline=self.pipeline,
            name=name,
            func_name=step.func.__name__,
            source_file=_relative_source(step.func, self.root),
            config=step.config_values(config),
            inputs={p: InputRef(h.step, h.output) for p, h in inputs.items()},
            outputs=step.output_names,
            deps=tuple(_clean_path(p, step.name, "deps") for p in step.deps),
            outs=tuple(_clean_path(p, step.name, "outs") for p in step.outs),
            enable_cache=step.enable_cache,
            track_reads=step.track_reads,
            cache_expires=step.cache_expires,
            env=step.env,
        )
        self.nodes.append(node)
        self.steps[name] = step
        handles = tuple(OutputHandle(name, out) for out in step.output_names)
        if not handles:
            return None
        return handles[0] if len(handles) == 1 and not step.multi_output else handles


_tracer: _Tracer | None = None
#: Runs a pipeline instance for ``.run()`` (``incr/__init__.py`` installs the runner's).
Engine = Callable[["PipelineInstance", "bool | None"], Any]
_engine: Engine | None = None


def set_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` run every ``PipelineInstance.run()``; returns the previous one."""
    global _engine
    previous, _engine = _engine, engine
    return previous


#: While discovery imports pipeline modules, ``.run()`` calls are appended here, not executed.
_recorded_runs: list[PipelineInstance] | None = None


@contextmanager
def recording_runs() -> Iterator[list[PipelineInstance]]:
    """Record (instead of executing) every ``PipelineInstance.run()`` made inside the block."""
    global _recorded_runs
    previous, _recorded_runs = _recorded_runs, []
    try:
        yield _recorded_runs
    finally:
        _recorded_runs = previous


def _relative_source(func: Callable[..., Any], root: Path) -> str:
    file = inspect.getsourcefile(func) or func.__code__.co_filename
    if func.__module__ == "__main__" and is_interactive(file):
        return NOTEBOOK
    path = Path(file).resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _where(func: Callable[..., Any], root: Path) -> str:
    return f"{_relative_source(func, root)}:{func.__code__.co_firstlineno}"


def _clean_path(path: str | os.PathLike[str], step: str, what: str) -> str:
    text = Path(path).as_posix()
    if Path(text).is_absolute() or ".." in Path(text).parts:
        raise DefinitionError(
            f"step {step}: {what} path {text!r} is outside the project root",
            hint=f"list {what} relative to the project root, without '..'",
        )
    return text.rstrip("/") if text not in ("", ".") else "."


# --------------------------------------------------------------------------- steps


def _env_names(env: Any, step: str) -> tuple[str, ...]:
    """The variable names of ``@step(env=[...])``, checked, without repeats."""
    if isinstance(env, str) or not isinstance(env, list | tuple):
        raise DefinitionError(
            f"step {step}: env must be a list of variable names, got {env!r}",
            hint='write env=["NAME", ...]',
        )
    for name in env:
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            raise DefinitionError(
                f"step {step}: env lists {name!r}, which is not an environment variable name",
                hint='write env=["NAME", ...]',
            )
    return tuple(dict.fromkeys(env))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: str | timedelta | float | None, step: str) -> float | None:
    """Seconds from ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"``, a timedelta or a number."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"(\s*\d+(\.\d+)?\s*[smhdw])+\s*", value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value))
    else:
        raise DefinitionError(
            f"step {step}: cache_expires={value!r} is not a duration",
            hint='write it like "90s", "30m", "1h30m", "2d", or pass a timedelta',
        )
    if seconds <= 0:
        raise DefinitionError(f"step {step}: cache_expires must be positive, got {value!r}")
    return seconds


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
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        self.deps = tuple(deps)
        self.outs = tuple(outs)
        self.track_reads = track_reads
        self.code_deps = tuple(code_deps)
        self.version = None if version is None else str(version)
        self.cache_expires = parse_duration(cache_expires, self.name)
        self.env = _env_names(env, self.name)
        self.signature = _signature(func)
        self.config_param, self.config_class = _find_config(self.signature)
        self.output_names, self.multi_output = _output_names(self.signature)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def code(self, root: Path) -> StepCode:
        """Where this step's code (and its ``code_deps``) lives, for fingerprinting."""
        deps = tuple(code_ref(obj, root) for obj in self.code_deps)
        return with_captures(
            StepCode(code_ref(self.func, root), deps, self.version), self.func, root
        )

    def entrypoint(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function, outside any pipeline and cache."""
        return self.func(*args, **kwargs)

    def __call__(self, *args: Any, config: StepConfig | None = None, **kwargs: Any) -> Any:
        if self.config_param and self.config_param in kwargs and config is None:
            config = kwargs.pop(self.config_param)
        if _tracer is not None:
            return _tracer.add(self, config, args, kwargs)
        if args or kwargs:
            raise DefinitionError(
                f"step {self.name} was called with data outside a pipeline",
                hint=f"call {self.name}.entrypoint(...) to run the plain function",
            )
        return StepInstance(self, config)

    def config_values(self, config: StepConfig | None) -> dict[str, Any]:
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
        params = [p for p in self.signature.parameters.values() if p.name != self.config_param]
        if len(args) > len(params):
            raise DefinitionError(
                f"step {self.name} takes {len(params)} inputs, {len(args)} were given"
            )
        bound = dict(zip((p.name for p in params), args, strict=False))
        for key, value in kwargs.items():
            if key not in {p.name for p in params} or key in bound:
                raise DefinitionError(f"step {self.name}: unexpected or repeated input {key!r}")
            bound[key] = value
        for param in params:
            if param.name not in bound and param.default is inspect.Parameter.empty:
                raise DefinitionError(f"step {self.name}: input {param.name!r} is not connected")
        for key, value in bound.items():
            if not isinstance(value, OutputHandle):
                raise DefinitionError(
                    f"step {self.name}: input {key!r} must be the output of another step, "
                    f"got {type(value).__name__}",
                    hint="pass constants through a StepConfig field",
                )
        return bound

    def run_function(self, config: StepConfig | None, inputs: dict[str, Any]) -> Any:
        kwargs = dict(inputs)
        if self.config_param:
            kwargs[self.config_param] = config
        return self.func(**kwargs)


class StepInstance:
    """A step with its config bound, made by calling a step outside a pipeline."""

    def __init__(self, step: Step, config: StepConfig | None) -> None:
        step.config_values(config)  # validate early, at the call site
        self.step = step
        self.config = config

    def __repr__(self) -> str:
        return f"<step instance {self.step.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _tracer is None:
            raise DefinitionError(
                f"step instance {self.step.name} can only be called in a pipeline"
            )
        return _tracer.add(self.step, self.config, args, kwargs)


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(func, eval_str=True)
    except (NameError, SyntaxError, TypeError):
        return inspect.signature(func)


def _find_config(sig: inspect.Signature) -> tuple[str | None, type[StepConfig] | None]:
    for param in sig.parameters.values():
        ann = param.annotation
        if isinstance(ann, type) and issubclass(ann, StepConfig):
            return param.name, ann
    return None, None


def _output_names(sig: inspect.Signature) -> tuple[tuple[str, ...], bool]:
    ann = sig.return_annotation
    if isinstance(ann, Output):
        return tuple(ann.outputs), len(ann.outputs) > 1
    if ann is None or ann == "None":
        return (), False
    return ("output",), False


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
        self.__doc__ = func.__doc__

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __call__(self, *args: Any, **steps: Any) -> PipelineInstance:
        if args:
            raise DefinitionError(
                f"pipeline {self.name}: bind steps by name, e.g. {self.name}(step_1=load())"
            )
        missing = [p for p in self.params if p not in steps]
        extra = [k for k in steps if k not in self.params]
        if missing or extra:
            raise DefinitionError(
                f"pipeline {self.name} takes {list(self.params)}; "
                f"missing {missing}, unexpected {extra}"
            )
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
        return PipelineInstance(self, bound)

    @property
    def takes_no_steps(self) -> bool:
        return not self.params


class PipelineInstance:
    """A pipeline with its steps bound; ``run()`` brings it up to date."""

    def __init__(self, definition: Pipeline, bound: dict[str, StepInstance]) -> None:
        self.definition = definition
        self.bound = bound

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def enable_cache(self) -> bool:
        return self.definition.enable_cache

    def __repr__(self) -> str:
        return f"<pipeline instance {self.name}>"

    def trace(self, root: Path) -> TracedPipeline:
        """Call the pipeline body with tracing on and return the graph it built."""
        global _tracer
        if _tracer is not None:
            raise DefinitionError(f"pipeline {self.name} was run inside another pipeline")
        tracer = _tracer = _Tracer(self.name, root)
        try:
            self.definition.func(**self.bound)
        finally:
            _tracer = None
        graph = PipelineGraph(
            name=self.name,
            source_file=_relative_source(self.definition.func, root),
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
        if _recorded_runs is not None:
            _recorded_runs.append(self)
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
