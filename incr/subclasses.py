"""Classes registered by being defined: a subclass of a class that defines
``__init_subclass__`` (``class Linear(Model, name="lin")`` fills ``Model.registry``), a class
made by a project metaclass (``class Linear(metaclass=RegMeta)``, whose ``__new__`` fills a
table), or a subclass of a class whose subclasses code lists (``cls.__subclasses__()``), runs
for a step that only names the base class or the table. Every project class deriving from
such a class (or made by such a metaclass), in any project module and at any depth, counts
for the steps whose code reaches it (``incr.codeindex``).

Pure: modules come from the ``ModuleLookup``; found once per index.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from incr.codeast import ModuleInfo, ModuleLookup, Ref, definition_nodes
from incr.model import TOP_LEVEL
from incr.moduletop import dotted_names, guarded

Target = tuple[str, str]  # (module, name)


def roots(info: ModuleInfo, sym: str, refs: Iterable[Ref]) -> list[Target]:
    """The classes definition ``sym`` of ``info`` makes registries of: itself when it is a
    class defining ``__init_subclass__``; the class whose subclasses it lists
    (``cls.__subclasses__()`` in a method: the method's class)."""
    found: list[Target] = []
    nodes = definition_nodes(info, sym) or []
    if any(isinstance(n, ast.ClassDef) and _registers(n) for n in nodes):
        found.append((info.source.name, sym))
    for head, chain in refs:
        if "__subclasses__" not in chain:
            continue
        if head in ("cls", "self", "type") and "." in sym:
            found.append((info.source.name, sym.rpartition(".")[0]))
        elif any(isinstance(n, ast.ClassDef) for n in nodes) and head in ("cls", "self"):
            found.append((info.source.name, sym))
        else:
            found.append((info.source.name, head))  # Model.__subclasses__(), resolved below
    return found


def _registers(cls: ast.ClassDef) -> bool:
    """A class whose subclasses run code of it when defined: it defines ``__init_subclass__``,
    or it is a metaclass (derives from ``type``) defining ``__new__`` or ``__init__``."""
    defined = {s.name for s in cls.body if isinstance(s, ast.FunctionDef)}
    if "__init_subclass__" in defined:
        return True
    meta = any(isinstance(b, ast.Name) and b.id in ("type", "ABCMeta") for b in cls.bases)
    return meta and bool(defined & {"__new__", "__init__"})


class Subclasses:
    """The project's classes by the classes they derive from (built on the first question)."""

    def __init__(self, index: ModuleLookup) -> None:
        self.index = index
        self._below: dict[Target, list[Target]] | None = None

    def of(self, root: Target) -> list[Target]:
        """Every project class deriving from ``root``, at any depth."""
        below = self._map()
        root = self.resolved(root)
        found: list[Target] = []
        todo = [root]
        while todo:
            for sub in below.get(todo.pop(), []):
                if sub not in found and sub != root:
                    found.append(sub)
                    todo.append(sub)
        return found

    def resolved(self, target: Target) -> Target:
        """``(module, name)`` for the definition a name of ``module`` stands for (an import
        of a class defined elsewhere), or ``target`` itself."""
        info = self.index.module(target[0])
        if info is None or target[1] in info.defs:
            return target
        for found in self.index.resolve(info, (target[1], ())):
            if not isinstance(found, str):
                return found
        return target

    def _map(self) -> dict[Target, list[Target]]:
        if self._below is None:
            self._below = {}
            for name in self.index.project_modules():
                info = self.index.module(name)
                if info is None or info.tree is None:
                    continue
                for stmt in info.tree.body:
                    if isinstance(stmt, ast.ClassDef):
                        metas = [k.value for k in stmt.keywords if k.arg == "metaclass"]
                        for base in [*stmt.bases, *metas]:  # class Linear(metaclass=RegMeta)
                            for target in self._bases(info, base):
                                self._below.setdefault(target, []).append((name, stmt.name))
                for keys, bases in _made_classes(info):
                    for target in (t for base in bases for t in self._bases(info, base)):
                        self._below.setdefault(target, []).extend((name, k) for k in keys)
        return self._below

    def _bases(self, info: ModuleInfo, base: ast.expr) -> list[Target]:
        names = dotted_names(base)
        if names is None:
            return []
        ref = (names[0], tuple(names[1:]))
        return [t for t in self.index.resolve(info, ref) if not isinstance(t, str)]


def _made_classes(info: ModuleInfo) -> list[tuple[list[str], list[ast.expr]]]:
    """The module-level statements making classes by calling ``type(name, bases, ns)``
    (``Triple = type("Triple", (Scaler,), {"k": 3})``, or in a loop over a table of specs),
    each with the names it is kept under (``codeast``: ``type()`` for a bare call) and the
    bases it names: such a class derives from them as a class statement does."""
    if info.tree is None or "type(" not in info.source.text:
        return []
    found = []
    for stmt, _, main in guarded(info.tree.body):
        if main or isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        bases = [
            base
            for sub in ast.walk(stmt)
            if isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id == "type"
            and len(sub.args) == 3
            and isinstance(sub.args[1], ast.Tuple | ast.List)
            for base in sub.args[1].elts
        ]
        keys = [k for k, nodes in info.defs.items() if any(n is stmt for n in nodes)]
        narrow = [k for k in keys if k != TOP_LEVEL]
        if bases and keys:
            found.append((narrow or keys, bases))
    return found
