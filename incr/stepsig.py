"""What ``@step`` reads from the function it is given, for the Python people really write:

- a ``functools.partial``: it runs the partial; its code is the function's, and the arguments
  it binds count like captured values;
- a decorator written without ``functools.wraps`` (``def wrapper(*args, **kwargs)``): the
  wrapped function (the one function in the wrapper's closure) gives the step its name and
  inputs, the wrapper still runs, and its code and the wrapped one's both count;
- ``from __future__ import annotations`` with types imported only under ``TYPE_CHECKING``:
  each annotation is evaluated on its own, and a config class that is not importable from the
  step's module is found by its name among the ``StepConfig`` classes defined so far.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

from incr import artifacts, stepcontext
from incr.configadvice import config_advice, unencodable
from incr.digests import canonical_json, with_paths
from incr.errors import DefinitionError
from incr.outputspec import Output

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_VARIADIC = (_VAR_POSITIONAL, _VAR_KEYWORD)


#: ``@step`` keywords that are no attribute of a ``Step`` (``with_options`` copies the rest).
ALIASES = ("func", "output_materializers")


def parts(func: Any) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """(code, call, origin): the function whose code is fingerprinted, the callable that runs,
    and the function whose name and signature the step takes."""
    if isinstance(func, functools.partial):
        inner = func.func
        if not isinstance(inner, types.FunctionType):
            raise DefinitionError(
                f"@step was given a functools.partial of {inner!r}, not of a function",
                hint="make the partial of a plain function (def ...)",
            )
        return inner, func, func
    if not callable(func) or not hasattr(func, "__name__"):
        raise DefinitionError(
            f"@step was given a {type(func).__name__}, not a function",
            hint="decorate a function (def ...), or pass a functools.partial of one",
        )
    return func, func, wrapped(func) or func


def wrapped(func: Any) -> Callable[..., Any] | None:
    """The function a decorator made without ``functools.wraps`` wraps: ``func`` takes exactly
    ``*args, **kwargs`` and holds exactly one function in its closure. None otherwise."""
    if not isinstance(func, types.FunctionType) or hasattr(func, "__wrapped__"):
        return None
    if not takes_only_args_and_kwargs(func):  # a step taking *parts is no wrapper
        return None
    cells = []
    for cell in func.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:
            continue
    found = [c for c in cells if isinstance(c, types.FunctionType | functools.partial)]
    if len(found) != 1:
        return None
    inner = found[0]
    return inner if isinstance(inner, functools.partial) else (wrapped(inner) or inner)


def takes_only_args_and_kwargs(func: types.FunctionType) -> bool:
    """True when ``func`` takes exactly ``(*args, **kwargs)``. Read from its code object, as
    ``inspect.signature`` would (unless a ``__signature__`` says otherwise), at a fraction of
    the cost: every ``@step`` asks."""
    if hasattr(func, "__signature__"):
        kinds = [p.kind for p in inspect.signature(func).parameters.values()]
        return kinds == list(_VARIADIC)
    code = func.__code__
    both = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
    return code.co_argcount == 0 and code.co_kwonlyargcount == 0 and code.co_flags & both == both


def signature(func: Any) -> inspect.Signature:
    """The signature with its annotations evaluated; one that cannot be (a name imported only
    under ``TYPE_CHECKING``) stays a string."""
    plain = _plain_signature(func)
    if plain is not None:
        return plain[0]
    try:
        return inspect.signature(func, eval_str=True)
    except Exception:
        sig = inspect.signature(func)
    target = func.func if isinstance(func, functools.partial) else func
    scope = getattr(inspect.unwrap(target), "__globals__", {})
    params = [p.replace(annotation=_evaluate(p.annotation, scope)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=_evaluate(sig.return_annotation, scope))


def _plain_signature(func: Any) -> _Shape | None:
    """``inspect.signature(func, eval_str=True)`` of a plain function whose annotations are
    no strings (nothing to evaluate), read from its code object, defaults and annotations
    the way ``inspect`` reads them, without its checks for other kinds of callables: 4 µs
    against 12 µs (1 µs for a shape seen before), and every ``@step`` of a module asks once
    when the module is imported; with what steps read off it (``signed``).
    None for anything else (a wrapper, a ``__signature__``, a string annotation)."""
    if type(func) is not types.FunctionType or "__wrapped__" in func.__dict__:
        return None
    if "__signature__" in func.__dict__ or "__text_signature__" in func.__dict__:
        return None
    annotations = func.__annotations__
    if any(isinstance(value, str) for value in annotations.values()):
        return None
    code = func.__code__
    count, kwonly, names = code.co_argcount, code.co_kwonlyargcount, code.co_varnames
    defaults, kwdefaults = func.__defaults__ or (), func.__kwdefaults__ or {}
    variadic = code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    # Steps share a few shapes ((x: int) -> int): one Signature (immutable) per shape. The
    # objects in a key stay alive in the Signature kept for it, so their ids name them; a
    # class names itself (``id()`` is an audit event, which every hook hears once a run
    # records reads).
    key = (
        names[: count + kwonly + bin(variadic).count("1")],
        count,
        kwonly,
        code.co_posonlyargcount,
        variadic,
        tuple(map(id, defaults)),
        tuple((k, id(v)) for k, v in kwdefaults.items()),
        tuple((k, v if type(v) is type else id(v)) for k, v in annotations.items()),
    )
    known = _SHAPES.get(key)
    if known is not None:
        return known
    if len(_SHAPES) >= 4096:
        _SHAPES.clear()
    _SHAPES[key] = known = (_built_signature(func, code, count, kwonly, names), {})
    return known


#: What ``shape`` reads off a signature (see there).
Shape = tuple[
    tuple[str | None, Any], str | None, dict[str, Any], tuple[str, ...], bool, dict[str, Any]
]
#: A shape's signature, with what steps read off it, by the base class of their configs.
_Shape = tuple[inspect.Signature, dict[type, Shape]]
#: Signatures by the shape of a plain function (see ``_plain_signature``).
_SHAPES: dict[tuple[Any, ...], _Shape] = {}


def _built_signature(
    func: Any, code: types.CodeType, count: int, kwonly: int, names: tuple[str, ...]
) -> inspect.Signature:
    empty, make, annotations = inspect.Parameter.empty, inspect.Parameter, func.__annotations__
    defaults, kwdefaults = func.__defaults__ or (), func.__kwdefaults__ or {}
    first_default = count - len(defaults)
    params = []
    for i, name in enumerate(names[:count]):
        kind = _POSITIONAL_ONLY if i < code.co_posonlyargcount else _POSITIONAL_OR_KEYWORD
        default = defaults[i - first_default] if i >= first_default else empty
        params.append(make(name, kind, default=default, annotation=annotations.get(name, empty)))
    at = count + kwonly
    if code.co_flags & inspect.CO_VARARGS:
        name = names[at]
        params.insert(count, make(name, _VAR_POSITIONAL, annotation=annotations.get(name, empty)))
        at += 1
    for name in names[count : count + kwonly]:
        default = kwdefaults.get(name, empty)
        params.append(
            make(name, _KEYWORD_ONLY, default=default, annotation=annotations.get(name, empty))
        )
    if code.co_flags & inspect.CO_VARKEYWORDS:
        name = names[at]
        params.append(make(name, _VAR_KEYWORD, annotation=annotations.get(name, empty)))
    returns = annotations.get("return", empty)
    return inspect.Signature(params, return_annotation=returns, __validate_parameters__=False)


def signed(func: Any, step: str, base: type) -> tuple[inspect.Signature, Shape]:
    """``signature(func)`` and ``shape(step, it, base)``, the shape read once per shape of a
    plain function (ten thousand steps of one module share a few); each time for a signature
    with an annotation left as a string (a config class may be found later). The shape's
    dicts are shared: copy them to change them."""
    plain = _plain_signature(func)
    if plain is None:
        sig = signature(func)
        return sig, shape(step, sig, base)
    sig, shapes = plain
    found = shapes.get(base)
    if found is None:
        found = shapes[base] = shape(step, sig, base)
    return sig, found


def shape(step: str, sig: inspect.Signature, base: type) -> Shape:
    """What a ``@step`` reads off its signature: its config parameter and class (a subclass of
    ``base``), its context parameter, its artifact parameters, its output names, whether it
    has several, and their types."""
    names, several = step_outputs(sig)
    return (
        find_config(step, sig, base),
        stepcontext.context_param(sig),
        artifacts.artifact_params(sig),
        names,
        several,
        output_types(sig, names),
    )


def _evaluate(annotation: Any, scope: dict[str, Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, scope)  # what ``inspect.signature(eval_str=True)`` does
    except Exception:
        return annotation


def find_config(
    step: str, sig: inspect.Signature, base: type, given: Any = None
) -> tuple[str | None, Any]:
    """(parameter, class) of the step's config: the parameter annotated with a subclass of
    ``base``; for an annotation left as a string, the class of that name (the one ``given``
    is, when several classes have it). (None, None) when the step takes no config."""
    for param in sig.parameters.values():
        ann = param.annotation
        if isinstance(ann, type) and issubclass(ann, base):
            return param.name, ann
    for param in sig.parameters.values():
        ann = param.annotation
        if not isinstance(ann, str) or param.kind in _VARIADIC:
            continue
        name = ann.strip("'\" ").rpartition(".")[2]
        found = [c for c in _subclasses(base) if c.__name__ == name]
        if given is not None and type(given) in found:
            return param.name, type(given)
        if len(found) == 1:
            return param.name, found[0]
        if len(found) > 1:
            where = ", ".join(sorted(f"{c.__module__}.{c.__qualname__}" for c in found))
            raise DefinitionError(
                f"step {step}: config annotation {ann!r} could be any of {where}",
                hint="import the config class at run time (not only under TYPE_CHECKING)",
            )
    return None, None


def pending(sig: inspect.Signature) -> bool:
    """True when an annotation is still a string: a config class may be found later."""
    return any(isinstance(p.annotation, str) for p in sig.parameters.values())


def _subclasses(base: type) -> list[type]:
    found: list[type] = []
    todo: list[type] = list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def output_names(annotation: Any, output: type) -> tuple[tuple[str, ...], bool] | None:
    """The names of ``-> Output(X=..., y=...)`` written as a string that could not be
    evaluated (``from __future__ import annotations``); None for another annotation."""
    if not isinstance(annotation, str):
        return None
    try:
        tree = ast.parse(annotation.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.Call):
        return None
    callee = tree.func
    name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
    if name != output.__name__:
        return None
    names = tuple(k.arg for k in tree.keywords if k.arg)
    return names, len(names) > 1


def check_options(step: str, options: dict[str, Any], keywords: list[str]) -> None:
    """Raise DefinitionError for a ``with_options()`` keyword ``@step`` does not take."""
    unknown = [k for k in options if k not in keywords]
    if unknown:
        raise DefinitionError(
            f"step {step}: with_options() got unknown options {unknown}",
            hint="use the keywords of @step(...): " + ", ".join(keywords),
        )


def copy_mutable_defaults(cls: type) -> None:
    """Make each list, dict, set, dataclass or pydantic model default of a config class
    (``optim: Optim = Optim()``) a ``default_factory`` (as the dataclass requires): every
    config made gets its own copy."""
    annotations = inspect.get_annotations(cls)
    for name, value in list(vars(cls).items()):
        nested = not isinstance(value, type) and is_record_class(type(value))
        if name in annotations and (nested or isinstance(value, list | dict | set)):
            setattr(cls, name, dataclasses.field(default_factory=_copier(value)))


def is_record_class(kind: Any) -> bool:
    """Whether ``kind`` is a class whose values count by their fields: a dataclass, or a
    pydantic model (ZenML's configs were pydantic models, a model nested in one common)."""
    return isinstance(kind, type) and (
        dataclasses.is_dataclass(kind) or isinstance(getattr(kind, "model_fields", None), dict)
    )


def _copier(value: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(value)


def step_outputs(sig: inspect.Signature) -> tuple[tuple[str, ...], bool]:
    """A step's output names from its return annotation, and whether it returns several."""
    ann = sig.return_annotation
    written = output_names(ann, Output)
    if written is not None:
        return written
    if isinstance(ann, Output):
        return tuple(ann.outputs), len(ann.outputs) > 1
    if ann is None or ann == "None":
        return (), False
    return ("output",), False


def resource_amounts(resources: dict[str, float] | None, step: str) -> dict[str, float]:
    """``@step(resources=...)`` checked: names mapped to positive amounts."""
    found: dict[str, float] = {}
    for name, amount in (resources or {}).items():
        ok = isinstance(amount, int | float) and not isinstance(amount, bool) and amount > 0
        if not isinstance(name, str) or not name or not ok:
            raise DefinitionError(
                f"step {step}: resources must map names to positive numbers, got "
                f"{name!r}: {amount!r}",
                hint='write resources={"GPU": 1, "MEMORY": 8e9}',
            )
        found[name] = float(amount)
    return found


def config_values(step: str, config_class: Any, config: Any) -> dict[str, Any]:
    """The values of a step's config (its defaults when ``config`` is None), checked: the
    right class, every field JSON-serialisable (the encoding the fingerprint uses)."""
    if config_class is None:
        if config is not None:
            raise DefinitionError(f"step {step} takes no config, but one was given")
        return {}
    if config is None:
        try:
            config = config_class()
        except TypeError as exc:
            raise DefinitionError(
                f"step {step}: {config_class.__name__} has fields without a default ({exc})",
                hint=f"pass config={config_class.__name__}(...) where the step is used",
            ) from None
    if not isinstance(config, config_class):
        raise DefinitionError(
            f"step {step}: config must be a {config_class.__name__}, got {type(config).__name__}"
        )
    values: dict[str, Any] = config.to_dict()
    for key, value in values.items():
        try:
            canonical_json(value)  # the encoding the fingerprint will use
        except (TypeError, ValueError):
            with contextlib.suppress(TypeError, ValueError):  # a Path: by its POSIX spelling
                canonical_json(tagged := with_paths(value))
                values[key] = tagged
                continue
            where, bad = unencodable(value, repr(key)) or (repr(key), value)
            text, hint = config_advice(bad, config_class.__name__)
            raise DefinitionError(
                f"step {step}: config field {where} holds {text}, which a config cannot hold "
                "(configs are compared as JSON)",
                hint=hint,
            ) from None
    return values


def output_types(sig: inspect.Signature, names: tuple[str, ...]) -> dict[str, Any]:
    """The annotation of each output that has one (it chooses the output's materializer)."""
    ann = sig.return_annotation
    if isinstance(ann, Output):
        return dict(ann.outputs)
    if not names or ann is inspect.Signature.empty or isinstance(ann, str):
        return {}
    return {names[0]: ann}
