"""Tracing: calling a pipeline's body with tracing on turns each step call into a graph node.

``Tracer`` needs from a step only what ``Traceable`` lists (``api.Step`` provides it); while
discovery imports pipeline modules, ``.run()`` calls are recorded here instead of executed.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from incr.errors import DefinitionError
from incr.model import InputRef, StepNode
from incr.valueclass import valueclass

if TYPE_CHECKING:
    from datetime import timedelta


@valueclass(frozen=True)
class OutputHandle:
    """What a traced step call returns: a reference to one of its outputs."""

    step: str
    output: str


class Traceable(Protocol):
    """What a step object gives the tracer."""

    name: str
    func: Callable[..., Any]
    output_names: tuple[str, ...]
    multi_output: bool
    deps: Any
    outs: Any
    enable_cache: bool | None
    track_reads: bool
    cache_expires: float | None
    env: tuple[str, ...]
    metrics: tuple[str, ...]

    def bind_inputs(self, args: tuple, kwargs: dict) -> dict[str, OutputHandle]: ...
    def config_values(self, config: Any) -> dict[str, Any]: ...


S = TypeVar("S", bound=Traceable)


class Tracer(Generic[S]):
    """Builds one pipeline's graph while its body runs: each step call adds a node."""

    def __init__(self, pipeline: str, root: Path, light: bool = False) -> None:
        self.pipeline = pipeline
        self.root = root
        #: Only names and step objects, no nodes: the graph is known (see ``names``).
        self.light = light
        self.nodes: list[StepNode] = []
        #: The node names, in the order the calls were made.
        self.names: list[str] = []
        self.steps: dict[str, S] = {}
        #: The config each call passed (``light`` only: a full trace keeps it in its node).
        self.configs: dict[str, Any] = {}
        self._named: dict[str, S] = {}  # step name -> the first step of that name
        #: Node names made by each step object called (hashed by identity), and ``.after()``
        #: pairs.
        self.made: dict[Any, list[str]] = {}
        self.afters: list[tuple[Any, Any]] = []
        self._next: dict[str, int] = {}  # step name -> where to look for the next free suffix
        self.prefix = ""  # ``inner.`` while a pipeline called inside this one adds its steps
        self.cache_off = False  # inside a nested ``@pipeline(enable_cache=False)``
        #: ``relative_source`` by (code file, module name): all it depends on in one trace.
        self._sources: dict[tuple[str, str], str] = {}

    def unique_name(self, step: S) -> str:
        """The step's name, or ``name_2``, ``name_3`` for further uses of the same step.

        Two different steps with one name are an error: their lock entries would clash.
        """
        base = self.prefix + step.name
        other = self._named.setdefault(base, step)
        if other is not step and other.func is not step.func:
            first, second = where(other.func, self.root), where(step.func, self.root)
            if first == second:  # one factory, called twice
                raise DefinitionError(
                    f"two different steps are named {base!r}, both made at {first}",
                    hint="give each its own name: @step(name=...) in the factory (from its "
                    "arguments), or name=... where the pipeline calls it",
                )
            raise DefinitionError(
                f"two different steps are named {base!r} ({first} and {second})",
                hint="rename one function, or give it @step(name=...), or name=... in the call",
            )
        if base not in self.steps:
            return base
        n = self._next.get(base, 2)  # names are never freed: the ones below are still taken
        while f"{base}_{n}" in self.steps:
            n += 1
        self._next[base] = n + 1
        return f"{base}_{n}"

    def add(self, step: S, config: Any, args: tuple, kwargs: dict, name: str | None = None) -> Any:
        """Add a node for one call of ``step``; ``name`` is the call's own (``name=``)."""
        name = self.unique_name(step) if name is None else self.call_name(step, name)
        self.names.append(name)
        if self.light:
            self.steps[name] = step
            self.configs[name] = config
            return self._handles(step, name)
        inputs = step.bind_inputs(args, kwargs)
        node = StepNode(
            pipeline=self.pipeline,
            name=name,
            func_name=step.func.__name__,
            source_file=self.source_of(step.func),
            config=step.config_values(config),
            inputs={p: InputRef(h.step, h.output) for p, h in inputs.items()},
            outputs=step.output_names,
            deps=tuple(clean_path(p, step.name, "deps") for p in step.deps),
            outs=tuple(clean_path(p, step.name, "outs") for p in step.outs),
            enable_cache=False if self.cache_off else step.enable_cache,
            track_reads=step.track_reads,
            cache_expires=step.cache_expires,
            env=step.env,
            metrics=step.metrics,
        )
        self.nodes.append(node)
        self.steps[name] = step
        return self._handles(step, name)

    def source_of(self, func: Callable[..., Any]) -> str:
        """``relative_source(func)``, found once per source file and trace: the steps of one
        module ask it for each call."""
        key = (func.__code__.co_filename, func.__module__)
        found = self._sources.get(key)
        if found is None:
            found = self._sources[key] = relative_source(func, self.root)
        return found

    def _handles(self, step: S, name: str) -> Any:
        handles = tuple(OutputHandle(name, out) for out in step.output_names)
        if not handles:
            return None
        return handles[0] if len(handles) == 1 and not step.multi_output else handles

    def call_name(self, step: S, name: str) -> str:
        """The name given to one call (``train(..., name="train_fold1")``): used as is, so
        it stays the same wherever the call moves in a loop; taken twice, it is an error."""
        full = self.prefix + check_name(name, step.name)
        if full in self.steps or full in self._named:
            raise DefinitionError(
                f"two steps are named {full!r} in pipeline {self.pipeline}",
                hint=f'give each call its own name, e.g. name=f"{step.name}_{{item}}"',
            )
        self._named[full] = step
        return full

    @contextmanager
    def nested(self, name: str, enable_cache: bool = True) -> Iterator[str]:
        """Add the steps of a pipeline called inside this one under ``name.`` (``name_2.``
        for its next call), uncached when that pipeline is; yields the prefix."""
        base, n = self.prefix + name, 2
        prefix = base
        while any(k.startswith(prefix + ".") for k in self.steps):
            prefix, n = f"{base}_{n}", n + 1
        outer = self.prefix, self.cache_off
        self.prefix, self.cache_off = prefix + ".", self.cache_off or not enable_cache
        try:
            yield self.prefix
        finally:
            self.prefix, self.cache_off = outer

    def called(self, caller: Any) -> None:
        """The step object ``caller`` made the node added last."""
        self.made.setdefault(_identity(caller), []).append(self.names[-1])

    def made_by(self, step: Any) -> list[str]:
        """The node names the step object ``step`` made."""
        return self._made(step)

    def _made(self, step: Any) -> list[str]:
        """The node names ``step`` made (none for what is no step object: ``.after([...])``)."""
        return self.made.get(_identity(step), [])

    def ordered(self) -> list[StepNode]:
        """The nodes, each with the steps ``.after()`` put before it."""
        extra: dict[str, list[str]] = {}
        for later, earlier in self.afters:
            before = self._made(earlier)
            if not before or _identity(later) not in self.made:
                missing = earlier if not before else later
                raise DefinitionError(
                    f"{_label(later)}.after({_label(earlier)}): {_label(missing)} is not "
                    "called in this pipeline",
                    hint="call both steps in the pipeline body",
                )
            for name in self.made[_identity(later)]:
                extra.setdefault(name, []).extend(b for b in before if b != name)
        return [
            dataclasses.replace(n, after=tuple(dict.fromkeys(extra[n.name])))
            if n.name in extra
            else n
            for n in self.nodes
        ]


def check_name(name: Any, step: str) -> str:
    """A step name given by ``name=``: a non-empty string without white space or quotes
    (it is a target on the command line and a key in the lockfile)."""
    if not isinstance(name, str) or not name or any(c in name for c in " \t\n\r\"'\\"):
        raise DefinitionError(
            f"step {step}: name={name!r} is not a step name",
            hint="use letters, digits, '_', '-' and '.' (no spaces or quotes)",
        )
    return name


def order_after(later: Any, steps: tuple[Any, ...]) -> None:
    """``later.after(*steps)`` in the pipeline body being traced."""
    if _active is None:
        raise DefinitionError(f"{later!r}.after(...) orders steps inside a pipeline body only")
    _active.afters.extend((later, earlier) for earlier in steps)


def _identity(obj: Any) -> Any:
    """``obj`` as a key that tells objects apart by identity: the object itself when its class
    hashes and compares by identity (a step, a step instance), else its id (a user's
    ``BaseStep`` made a dataclass, a list). Not always the id: once a run records reads, each
    ``id()`` call is an audit event incr's hooks hear."""
    kind = type(obj)
    if kind.__hash__ is object.__hash__ and kind.__eq__ is object.__eq__:
        return obj
    return ("id", id(obj))


def _label(obj: Any) -> str:
    return str(getattr(getattr(obj, "step", obj), "name", obj))


_active: Tracer[Any] | None = None


def active() -> Tracer[Any] | None:
    """The tracer of the pipeline body running now, if any."""
    return _active


@contextmanager
def tracing(pipeline: str, root: Path, light: bool = False) -> Iterator[Tracer[Any]]:
    """Trace the body run inside the block (``light``: see ``Tracer.light``); a pipeline run
    inside another is an error."""
    global _active
    if _active is not None:
        raise DefinitionError(f"pipeline {pipeline} was run inside another pipeline")
    from incr.project import forget_real_paths  # here, as below: decorators load no project

    tracer = _active = Tracer[Any](pipeline, root, light)
    forget_real_paths()  # links may have changed since the last trace
    try:
        yield tracer
    finally:
        _active = None


#: While discovery imports pipeline modules, ``.run()`` calls are appended here, not executed.
_recorded_runs: list[Any] | None = None


@contextmanager
def recording_runs() -> Iterator[list[Any]]:
    """Record (instead of executing) every ``PipelineInstance.run()`` made inside the block."""
    global _recorded_runs
    previous, _recorded_runs = _recorded_runs, []
    try:
        yield _recorded_runs
    finally:
        _recorded_runs = previous


def record_run(instance: Any, enable_cache: bool | None) -> bool:
    """Record ``instance.run(enable_cache)`` when runs are being recorded (True), else do
    nothing. The value is kept on the instance (``run_caches``, see ``incr.runlevel``)."""
    if _recorded_runs is None:
        return False
    _recorded_runs.append(instance)
    instance.run_caches.append(enable_cache)
    return True


def relative_source(func: Callable[..., Any], root: Path) -> str:
    from incr.notebook import NOTEBOOK, is_interactive  # here: decorators load no notebook
    from incr.project import module_file, real_path, source_file

    file = source_file(func) or func.__code__.co_filename
    if func.__module__ == "__main__" and is_interactive(file):
        return NOTEBOOK
    inside = module_file(file, root)  # found once per file and trace
    return inside[0] if inside is not None else real_path(file).as_posix()


def where(func: Callable[..., Any], root: Path) -> str:
    return f"{relative_source(func, root)}:{func.__code__.co_firstlineno}"


def clean_path(path: str | os.PathLike[str], step: str, what: str) -> str:
    """A ``deps`` or ``outs`` path as the lockfile keys it: relative to the project root,
    POSIX style. A dep may be outside the project (``/mnt/data``, ``~/datasets/x.csv``,
    ``../shared/x.csv``: kept as written, normalised; see ``incr.outside``); an out may not,
    since incr restores outs."""
    text = Path(path).as_posix()
    escapes = Path(text).is_absolute() or ".." in Path(text).parts or text.startswith("~/")
    if escapes and what == "deps":
        home, rest = ("~/", text[2:]) if text.startswith("~/") else ("", text)
        return home + posixpath.normpath(rest)
    if escapes:
        raise DefinitionError(
            f"step {step}: {what} path {text!r} is outside the project root",
            hint=f"list {what} relative to the project root, without '..': incr stores and "
            "restores them (a step may write elsewhere too, untracked)",
        )
    return text.rstrip("/") if text not in ("", ".") else "."


def env_names(env: Any, step: str) -> tuple[str, ...]:
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


def metric_names(metrics: Any, step: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The names of ``@step(metrics=[...])``: each an ``outs`` path or an output name."""
    if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
        raise DefinitionError(
            f"step {step}: metrics must be a list, got {metrics!r}",
            hint='write metrics=["reports/metrics.json"] (a JSON file it lists in outs)',
        )
    for name in metrics:
        if name not in known:
            raise DefinitionError(
                f"step {step}: metrics lists {name!r}, which is neither one of its outs nor "
                "one of its outputs",
                hint=f"list it in outs=[...] too; its outputs are {', '.join(known)}",
            )
    return tuple(dict.fromkeys(metrics))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: str | timedelta | float | None, step: str) -> float | None:
    """Seconds from ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"``, a timedelta or a number."""
    if value is None:
        return None
    from datetime import timedelta  # here: most steps never expire

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
