"""``importlib.import_module`` calls a definition makes, as far as their text tells.

``import_module("plugins.lin")`` names its module (``named_import``); a closure then uses the
module whole, as ``import plugins.lin`` would. ``import_module(f"models.{cfg.arch}")`` names
only the start of it (``prefixed_import``): a closure then uses every project module whose
name begins so (a registry of models picked by name in a config), so that an edit of any of
them reruns the step, and a module added there too (the closure depends on the list of
project modules). Pure: syntax trees in, names out.
"""

from __future__ import annotations

import ast
import re

from incr.moduletop import absolute

#: How a prefixed import is written as a module binding (``Binding.module``): ``models.*``.
ANY = "*"


def named_import(call: ast.Call) -> str | None:
    """The module ``importlib.import_module`` is asked for when the call names it with
    constants (``import_module("plugins.lin")``, ``import_module(".lin", "plugins")``); None
    for another call, or a name computed at run time."""
    given = _arguments(call)
    if given is None:
        return None
    texts = {k: _constant(v) for k, v in given.items()}
    if not all(isinstance(t, str) for t in texts.values()):
        return None
    name, package = texts.get("name"), texts.get("package")
    if not isinstance(name, str) or not name.startswith("."):
        return name if isinstance(name, str) and name else None
    if not isinstance(package, str) or not package:
        return None  # relative, with no package to resolve it from: an error at run time
    return _resolved(name, package) or None


def prefixed_import(call: ast.Call, package: str) -> str | None:
    """The constant start of the module name an ``importlib.import_module`` call computes
    (``f"pipelines.models.{name}"``, ``"pipelines.models." + name``: ``pipelines.models.``),
    resolved against the package it names (a constant, or ``__package__``: ``package``, the
    package of the module making the call); None for another call, a constant name, or a
    name whose start is not known."""
    given = _arguments(call)
    if given is None or "name" not in given or _constant(given["name"]) is not None:
        return None
    start = _constant_start(given["name"])
    if not start:
        return None
    if not start.startswith("."):
        return start
    where = given.get("package")
    if isinstance(where, ast.Name) and where.id == "__package__":
        return _resolved(start, package) + ("." if start.endswith(".") else "")
    if isinstance(where, ast.Constant) and isinstance(where.value, str) and where.value:
        return _resolved(start, where.value) + ("." if start.endswith(".") else "")
    return None


#: ``importlib.metadata`` (and ``importlib_metadata``, ``pkg_resources``) calls that name a
#: distribution by their first argument, called as attributes of those modules...
_ASKED_OF = {
    "metadata": ("version", "distribution", "metadata", "requires", "files"),
    "importlib_metadata": ("version", "distribution", "metadata", "requires", "files"),
    "pkg_resources": ("get_distribution", "require"),
}
#: ... or by their own names, as imported from them (``from importlib.metadata import version``).
_ASKED_BARE = ("version", "distribution", "get_distribution")


def asked_distribution(call: ast.Call) -> str | None:
    """The distribution an ``importlib.metadata`` call asks about by a constant name
    (``version("scikit-learn")``, ``metadata.version("torch")``,
    ``pkg_resources.get_distribution("numpy>=1")``): code that branches on a package's version
    without importing it depends on that version. None for another call, or a name computed at
    run time."""
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if func.attr not in _ASKED_OF.get(owner_name, ()):
            return None
    elif not (isinstance(func, ast.Name) and func.id in _ASKED_BARE):
        return None
    given = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg in ("distribution_name", "dist"):
            given = keyword.value
    text = _constant(given) if given is not None else None
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text) if text else None
    return name.group(0) if name else None


def followed(call: ast.Call) -> bool:
    """True for an ``import_module`` call whose module a closure follows: named, or named by
    its start (in whichever package: only whether it is known counts here)."""
    return named_import(call) is not None or prefixed_import(call, "package") is not None


def _arguments(call: ast.Call) -> dict[str, ast.expr] | None:
    """The ``name`` and ``package`` arguments of an ``import_module`` call; None for another
    call."""
    func = call.func
    if (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) != "import_module":
        return None
    given = dict(zip(("name", "package"), call.args, strict=False))
    given.update({k.arg: k.value for k in call.keywords if k.arg in ("name", "package")})
    return given


def _constant(node: ast.expr) -> str | None:
    """The text of a string constant, an f-string without fields or a ``+`` of such (``"pipelines."
    + "helpers"``); None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        parts = [_constant(v) for v in node.values]
        return None if None in parts else "".join(p for p in parts if p is not None)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant(node.left), _constant(node.right)
        return None if left is None or right is None else left + right
    return None


def _constant_start(node: ast.expr) -> str:
    """The text an f-string or a ``+`` of strings starts with, as far as it is constant."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    if isinstance(node, ast.JoinedStr):
        start = ""
        for value in node.values:
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                break
            start += value.value
        return start
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _constant(node.left)
        return _constant_start(node.left) if left is None else left + _constant_start(node.right)
    return ""


def _resolved(name: str, package: str) -> str:
    """``.lin`` in package ``plugins``: ``plugins.lin``."""
    level = len(name) - len(name.lstrip("."))
    return absolute(name[level:].rstrip(".") or None, level, package)
