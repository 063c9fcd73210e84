"""Project code that a stored output carries: the classes and functions its pickle names.

A pickled object refers to its class (and to any function it holds) by module and qualified
name, not by code: a fitted ``MeanScaler`` pickles to the same bytes whatever
``MeanScaler.transform`` says. A step that receives it runs that code, so the identity of
such an input is its digest plus the digest of the code it refers to, as that code is now
(``input_identity``). Outputs record which project definitions they refer to
(``Artifact.refs``, ``module:name``); their code is fingerprinted when a consumer is decided.

Pure: sources and package versions come in through callables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

from incr.codeast import IGNORED
from incr.digests import canonical_json, digest_bytes
from incr.fingerprint import CodeClosure

#: Opcodes whose argument is ``"module qualname"`` (protocols 0 to 3).
_NAMED = frozenset({"GLOBAL", "INST"})
#: Opcodes that store the value on top of the stack in the memo without pushing anything.
_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_STRINGS = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
    }
)


def pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """(module, qualname) of every global a pickle stream names, in order of first use.

    Reads ``GLOBAL``/``INST`` arguments and resolves ``STACK_GLOBAL`` (protocol 4 on) from the
    two strings pushed (or fetched from the memo) just before it. Raises ValueError for bytes
    that are not a whole pickle.
    """
    found: dict[tuple[str, str], None] = {}
    for module, qualname in _globals(data):
        found.setdefault((module, qualname), None)
    return list(found)


def _globals(data: bytes) -> Iterator[tuple[str, str]]:
    memo: dict[int, object] = {}
    last: list[object] = [None, None]  # the two values pushed most recently (None: not a str)
    import pickletools  # here: only pickled inputs need it (it loads pickle)

    for opcode, found, _ in pickletools.genops(data):
        name, arg = opcode.name, cast(Any, found)
        if name in ("PROTO", "FRAME", "MARK", "STOP"):
            continue
        if name == "MEMOIZE":
            memo[len(memo)] = last[-1]
            continue
        if name in _PUT:
            memo[int(arg)] = last[-1]
            continue
        value: object = None
        if name in _NAMED:
            module, _, qualname = str(arg).partition(" ")
            yield module, qualname
        elif name == "STACK_GLOBAL":
            first, second = last
            if isinstance(first, str) and isinstance(second, str):
                yield first, second
        elif name in _STRINGS:
            value = arg if isinstance(arg, str) else None
        elif name in _GET:
            value = memo.get(int(arg))
        last = [last[-1], value]


def project_refs(
    names: Iterable[tuple[str, str]], is_project: Callable[[str], bool]
) -> tuple[str, ...]:
    """The project definitions among pickle globals, as sorted ``module:name`` strings.

    ``name`` is the top-level definition holding the qualified name (``MeanScaler`` for
    ``MeanScaler.transform``): a method counts by its class. Modules of the standard library,
    incr, ``__main__`` and those ``is_project`` rejects are not project code.
    """
    refs: set[str] = set()
    for module, qualname in names:
        top = qualname.split(".")[0]
        if not module or not top or module == "__main__" or module.split(".")[0] in IGNORED:
            continue
        if is_project(module):
            refs.add(f"{module}:{top}")
    return tuple(sorted(refs))


def object_code(
    refs: Iterable[str],
    closure: Callable[[str, str], CodeClosure],
    package: Callable[[str], tuple[str, str]],
) -> str:
    """The digest of the code closures of ``refs`` (``module:name``) and of the versions of
    the packages they import (``code_digest`` of ``object_parts``)."""
    return code_digest(object_parts(refs, closure, package))


def object_parts(
    refs: Iterable[str],
    closure: Callable[[str, str], CodeClosure],
    package: Callable[[str], tuple[str, str]],
) -> dict[str, str]:
    """The code parts of the closures of ``refs`` (``module:name``) and the versions of the
    packages they import. ``closure(module, name)`` gives a definition's closure (``*``: the
    whole module); ``package(name)`` gives (distribution, version).

    A name that is not a top-level definition incr can see (made at run time) counts by its
    whole module.
    """
    parts: dict[str, str] = {}
    packages: set[str] = set()
    for ref in refs:
        module, _, name = ref.partition(":")
        found = closure(module, name)
        if not found.parts:
            found = closure(module, "*")
        parts.update(found.parts)
        packages |= found.packages
    for top in sorted(packages):
        dist, version = package(top)
        parts[f"pkg:{dist}"] = version
    return parts


def code_digest(parts: Mapping[str, str], values: Mapping[str, str] | None = None) -> str:
    """The digest of code parts ``parts``, with the values set at run time (``values``, by
    code part: ``incr.globalvalues``) of the parts it holds, as a step's code facts hold them
    (``value:PART``): an object whose methods read a module value another module set counts
    by that value."""
    used = {f"value:{p}": values[p] for p in values.keys() & parts} if values else {}
    return digest_bytes(canonical_json({**parts, **used}).encode(), 32)


def input_identity(digest: str, code: str) -> str:
    """What a consumer's facts hold for an input: its digest, plus ``+CODE`` when it refers
    to project code (``code`` empty: it does not)."""
    return f"{digest}+{code}" if code else digest
