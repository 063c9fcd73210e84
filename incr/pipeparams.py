"""A pipeline's own parameters: ``@pipeline def cv(n_folds: int = 5)``.

A parameter given a step (``classic(step_1=load())``) binds that step; any other value is a
parameter value, passed to the body when it is traced: it is part of the wiring (how many
folds, which files), so the graph is traced with it. The instance made with the defaults is
named like the pipeline (``cv``); one made with other values is its own instance, named with
them: ``cv@n_folds=3``, ``grid@lr=0_01,depth=4`` (a value is written with letters, digits,
``+``, ``-`` and ``_``, any other character as ``_``; a list, dict or long string by a short
digest of its JSON), so its steps (``cv@n_folds=3.train_fold0``) never share a lock entry
with the default instance's.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from incr.digests import canonical_json, digest_bytes
from incr.errors import DefinitionError

_UNSAFE = re.compile(r"[^A-Za-z0-9_+\-]")
_LONGEST = 32


def split(
    pipeline: str, sig: inspect.Signature, given: dict[str, Any], is_step: Callable[[Any], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(steps, values): the steps bound by name, and the value of every other parameter
    (the default where none was given). Raises DefinitionError for a missing or unexpected
    one."""
    params = sig.parameters
    missing = [p for p, v in params.items() if p not in given and v.default is v.empty]
    extra = [k for k in given if k not in params]
    if missing or extra:
        raise DefinitionError(
            f"pipeline {pipeline} takes {list(params)}; missing {missing}, unexpected {extra}"
        )
    steps = {k: v for k, v in given.items() if is_step(v)}
    for key, value in given.items():
        if callable(value) and key not in steps:
            raise DefinitionError(
                f"pipeline {pipeline}: {key} must be a step instance such as load(), "
                f"got {type(value).__name__}"
            )
    values = {p: given.get(p, v.default) for p, v in params.items() if p not in steps}
    return steps, values


def instance_name(pipeline: str, sig: inspect.Signature, values: dict[str, Any]) -> str:
    """``pipeline`` when every value is its parameter's default; else ``pipeline@k=v,...``
    with the values that differ, in the signature's order."""
    params = sig.parameters
    shown = [f"{k}={_text(v)}" for k, v in values.items() if not _same(v, params[k].default)]
    return f"{pipeline}@{','.join(shown)}" if shown else pipeline


def _same(value: Any, default: Any) -> bool:
    if default is inspect.Parameter.empty:
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:
        return value is default


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return _UNSAFE.sub("_", repr(value))
    if isinstance(value, str) and len(value) <= _LONGEST:
        return _UNSAFE.sub("_", value) or '""'
    try:
        encoded = canonical_json(value)
    except (TypeError, ValueError):
        raise DefinitionError(
            f"pipeline parameter value {value!r} has no stable name",
            hint="pass str, int, float, bool, None, or lists and dicts of them",
        ) from None
    return digest_bytes(encoded.encode(), 8)
