"""Inputs fed by many steps (fan-in): a step taking ``*parts`` or ``**named``, or a list, tuple
or dict of step outputs as one input (``combine([train(f) for f in folds])``).

Each step output wired into a step is one *slot* of the traced node (``StepNode.inputs``), so
the fingerprint, the lockfile and ``status`` see every part, in order:

- ``x``: a plain input;
- ``parts[0]``, ``parts[1]``: items of ``*parts``, or of a list or tuple given as ``parts``;
- ``models[0:fold_a]``: the first item of a dict with the string key ``fold_a``
  (``models[0#3]`` for the integer key ``3``): the position keeps the dict's order;
- ``extra``: an input given by keyword to a step taking ``**named``.

``call_args`` turns the values of the slots back into the call the function expects (a list
for ``*parts`` and for a list or tuple, a dict for a dict).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from incr.errors import DefinitionError

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
_CONSTANT_HINT = "pass constants through a StepConfig field"
_NONE_HINT = "a step annotated -> None has no output to pass on: annotate its return type"


class Params:
    """What ``bind`` needs to know of a function's parameters (without its config), worked
    out once per step rather than at each call."""

    def __init__(self, params: list[inspect.Parameter]) -> None:
        self.positional = [p.name for p in params if p.kind in _POSITIONAL]
        self.var_pos = next((p.name for p in params if p.kind is _VAR_POSITIONAL), None)
        self.var_kw = next((p.name for p in params if p.kind is _VAR_KEYWORD), None)
        self.by_name = {p.name for p in params if p.kind not in (_VAR_POSITIONAL, _VAR_KEYWORD)}
        #: The parameters a call must connect: neither variadic nor with a default.
        self.required = [p.name for p in params if p.name in self.by_name and p.default is p.empty]
        #: Per parameter name: True when it may take several outputs of one step.
        self.many = {p.name: _takes_many(p) for p in params}


def bind(
    step: str,
    params: Params,
    args: tuple,
    kwargs: dict,
    is_output: Callable[[Any], bool],
) -> dict[str, Any]:
    """The slots of one step call: slot -> the step output wired into it.

    Raises DefinitionError for a missing, repeated or unexpected input and for a value that
    is not a step's output.
    """
    positional, var_pos = params.positional, params.var_pos
    if len(args) > len(positional) and var_pos is None:
        raise DefinitionError(
            f"step {step} takes {len(positional)} inputs, {len(args)} were given",
            hint="to feed it a variable number of steps, let it take *parts or a list",
        )
    bound: dict[str, Any] = dict(zip(positional, args, strict=False))
    if var_pos is not None and len(args) > len(positional):
        bound[var_pos] = tuple(args[len(positional) :])
    by_name = params.by_name
    extra: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in bound or (key not in by_name and params.var_kw is None):
            raise DefinitionError(f"step {step}: unexpected or repeated input {key!r}")
        (bound if key in by_name else extra)[key] = value
    for name in params.required:
        if name not in bound:
            raise DefinitionError(
                f"step {step}: input {name!r} is not connected",
                hint=f"pass it another step's output in the pipeline body ({step}({name}=...)), "
                "or annotate it with a StepConfig class if it is the step's config",
            )
    many = params.many
    slots: dict[str, Any] = {}
    for key, value in bound.items():
        if is_output(value):  # the common case: one output into one parameter
            slots[key] = value
            continue
        if key in many and not many[key]:
            _not_every_output(step, key, value, is_output)
        slots.update(_slots(step, key, value, is_output, key == var_pos))
    for key, value in extra.items():
        slots.update(_slots(step, key, value, is_output, False))
    return slots


def _takes_many(param: inspect.Parameter) -> bool:
    """True for ``*parts`` and for a parameter annotated as a collection (list, tuple,
    Sequence, dict...): it may take several outputs of one step."""
    if param.kind in (_VAR_POSITIONAL, _VAR_KEYWORD):
        return True
    note = param.annotation
    if note is param.empty:
        return False
    text = note if isinstance(note, str) else repr(note)
    return any(word in text for word in _COLLECTIONS)


_COLLECTIONS = ("list", "List", "tuple", "Tuple", "Sequence", "Iterable", "dict", "Dict", "Mapping")


def _not_every_output(step: str, key: str, value: Any, is_output: Callable[[Any], bool]) -> None:
    """Raise for the tuple a step with several outputs returns, passed whole as one input."""
    if not isinstance(value, tuple) or not value or not all(is_output(v) for v in value):
        return
    producers = {getattr(v, "step", None) for v in value}
    if len(producers) != 1:
        return
    producer = value[0].step
    names = ", ".join(v.output for v in value)
    count = f"{len(value)} outputs" if len(value) > 1 else "1 output in a tuple"
    raise DefinitionError(
        f"step {step}: input {key!r} got every output of {producer}: "
        f"{producer} returns {count} ({names}); unpack " + ("them" if len(value) > 1 else "it"),
        hint=f"{names}{',' if len(value) == 1 else ''} = {producer}(...), then pass one of them",
    )


def _slots(
    step: str, key: str, value: Any, is_output: Callable[[Any], bool], var: bool
) -> dict[str, Any]:
    if is_output(value):
        return {key: value}
    if isinstance(value, dict) and not var:
        items = [(f"{i}{_dict_key(step, key, k)}", v) for i, (k, v) in enumerate(value.items())]
    elif isinstance(value, list | tuple):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        raise DefinitionError(
            f"step {step}: input {key!r} must be the output of another step, "
            f"got {type(value).__name__}",
            hint=_NONE_HINT if value is None else _CONSTANT_HINT,
        )
    if not items and not var:
        raise DefinitionError(
            f"step {step}: input {key!r} is an empty {type(value).__name__}: no step feeds it",
            hint="wire at least one step's output into it, or give the parameter a default",
        )
    for where, item in items:
        if not is_output(item):
            raise DefinitionError(
                f"step {step}: item {where.partition(':')[0].partition('#')[0]} of input "
                f"{key!r} must be the output of another step, got {type(item).__name__}",
                hint=_item_hint(item),
            )
    return {f"{key}[{where}]": item for where, item in items}


def _item_hint(item: Any) -> str:
    if isinstance(item, tuple):
        return "pick one output of a step with several (X, y = load())"
    return _NONE_HINT if item is None else _CONSTANT_HINT


def _dict_key(step: str, key: str, k: Any) -> str:
    if isinstance(k, str):
        return f":{k}"
    if isinstance(k, int) and not isinstance(k, bool):
        return f"#{k}"
    raise DefinitionError(
        f"step {step}: input {key!r} is a dict with a {type(k).__name__} key ({k!r})",
        hint="key the dict by strings or integers",
    )


def is_plain(slots: dict[str, Any], params: list[inspect.Parameter]) -> bool:
    """True when every slot is a parameter's name and the function takes no ``*parts``:
    the function is then called with keywords, as before fan-in existed."""
    names = {p.name for p in params}
    return all(s in names for s in slots) and not any(
        p.kind is _VAR_POSITIONAL or p.kind is inspect.Parameter.POSITIONAL_ONLY for p in params
    )


def call_args(
    params: list[inspect.Parameter], values: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) for a function with ``params``, given the values of its slots (and of its
    config parameter under its own name)."""
    grouped: dict[str, Any] = {}
    parts: dict[str, list[tuple[int, str, Any]]] = {}
    for slot, value in values.items():
        name, bracket, rest = slot.partition("[")
        if not bracket or not rest.endswith("]"):
            grouped[slot] = value
            continue
        index, sep, key = _split_position(rest[:-1])
        parts.setdefault(name, []).append((index, sep + key, value))
    for name, items in parts.items():
        items.sort(key=lambda item: item[0])
        if items[0][1]:
            grouped[name] = {_key_value(k): v for _, k, v in items}
        else:
            grouped[name] = [v for _, _, v in items]
    args: list[Any] = []
    var_pos = next((i for i, p in enumerate(params) if p.kind is _VAR_POSITIONAL), -1)
    for i, param in enumerate(params):
        if param.kind is _VAR_POSITIONAL:
            args.extend(grouped.pop(param.name, ()))
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY or (
            param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and i < var_pos
        ):
            args.append(grouped.pop(param.name, param.default))
    return args, grouped


def _split_position(text: str) -> tuple[int, str, str]:
    for sep in (":", "#"):
        index, found, key = text.partition(sep)
        if found:
            return int(index), sep, key
    return int(text), "", ""


def _key_value(text: str) -> Any:
    return text[1:] if text[0] == ":" else int(text[1:])
