"""Plain values a project module's objects hold, which ``incr.globalvalues`` notes beside the
module's own names: a class's attributes (``Limits.HIGH = 10`` in a sibling pipeline module,
``Settings.scale = v`` in a setter a main block calls), the cells a function closes over
(``box["scale"] = v`` in a setter made by a factory, ``get_scale`` reading the same ``box``),
its attributes and its list, dict or set defaults, and the attributes of an instance of a
project class that is no record (``CFG = Config()`` with ``self.lr = 0.1``).

Each is noted by name, as a text made of the plain values it holds (``globalvalues._token``
makes it), for the objects the module binds at its top level that are its own: a class or
function defined in the module (a function made by a factory of another module too), an
instance of a class of the module or of a project module imported before it. A difference
between the text its import left and the one discovery leaves makes the name count by that
text (``value:PATH:NAME``) for the steps whose code uses it. What the object holds that is not
plain (a model, a client) is not followed, as elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from types import FunctionType, ModuleType
from typing import Any

Token = Callable[[Any], "str | None"]

#: At most this many of one object's names are looked at.
MAX_NAMES = 500


def held_texts(module: ModuleType, projects: Container[str], token: Token) -> dict[str, str]:
    """By name, the text of the plain values each object of ``module`` holds (see the
    module's notes); ``projects``: the names of the project modules (an instance counts when
    its class is of one of them)."""
    found: dict[str, str] = {}
    own = module.__name__
    for name, value in list(vars(module).items()):
        if name.startswith("__"):
            continue
        text = held_text(value, own, projects, token)
        if text is not None:
            found[name] = text
    return found


def held_text(
    value: Any, own: str, projects: Container[str], token: Token, defaults: bool = False
) -> str | None:
    """The text of the plain values one object holds; None for an object that holds none, or
    that is not one the notes name (a plain value itself counts as a module value).
    ``defaults``: a function's plain defaults count too, not only lists, dicts and sets (a
    module whose definitions read the clock: ``def run(day=date.today())``)."""
    kind = type(value)
    if isinstance(value, type):
        if getattr(value, "__module__", None) != own:
            return None  # imported: noted in its own module
        return _joined(own_attributes(value), token)
    if kind is FunctionType:
        if value.__module__ != own and not value.__closure__:
            return None  # imported: noted in its own module
        return _joined(_function_items(value, defaults), token)
    if kind.__module__ not in projects and kind.__module__ != own:
        return None
    if token(value) is not None:
        return None  # a record (a dataclass...): a module value already
    if not isinstance(getattr(value, "__dict__", None), dict):
        return None
    return _joined(own_attributes(value), token)


def _function_items(func: FunctionType, every: bool = False) -> Iterator[tuple[str, Any]]:
    for name, item in closure_cells(func):
        yield f"<cell {name}>", item
    for i, default in mutable_defaults(func, every):
        yield f"<default {i}>", default
    yield from own_attributes(func)


def closure_cells(func: FunctionType) -> list[tuple[str, Any]]:
    """The cells of ``func``'s closure that are bound: (free variable, what it holds)."""
    found = []
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            found.append((name, cell.cell_contents))
        except ValueError:  # a cell not bound yet
            continue
    return found


def mutable_defaults(func: FunctionType, every: bool = False) -> list[tuple[int, Any]]:
    """``func``'s defaults that are lists, dicts or sets (``seen=[]`` that it fills; with
    ``every``, all of them), with their places among all its defaults (keyword-only ones
    last)."""
    defaults = (*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values())
    return [(i, d) for i, d in enumerate(defaults) if every or isinstance(d, list | dict | set)]


def own_attributes(value: Any) -> list[tuple[str, Any]]:
    """The attributes set on a function or object (in its ``__dict__``), not the dunders."""
    return [(n, v) for n, v in list(vars(value).items()) if not n.startswith("__")]


def _joined(items: Iterable[tuple[str, Any]], token: Token) -> str | None:
    """``name=text`` of the plain items, in a fixed order; None when none is plain."""
    texts = []
    for count, (name, item) in enumerate(items):
        if count >= MAX_NAMES:
            break
        text = token(item)
        if text is not None:
            texts.append(f"{name}={text}")
    return "held{" + ",".join(sorted(texts)) + "}" if texts else None
