"""Where a name used in a project module points (``Resolver``, the part of ``CodeIndex`` that
follows imports, star imports and module attributes to a definition or a package).

Pure: modules come from the index (``module``, ``is_local``, ``project_modules``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from incr.codeast import IGNORED, Binding, ModuleInfo, Ref
from incr.dynimport import ANY
from incr.model import DIST
from incr.moduletop import binds_name, exported, last_plain_definition


class Resolver:
    """Name resolution over the modules a subclass provides."""

    #: Whether a module is one of the project's own packages that is not there.
    _absent: Callable[[str], bool]

    def module(self, name: str) -> ModuleInfo | None:
        raise NotImplementedError

    def is_local(self, name: str) -> bool:
        raise NotImplementedError

    def project_modules(self) -> list[str]:
        raise NotImplementedError

    def resolve(self, info: ModuleInfo, ref: Ref) -> Iterable[tuple[str, str] | str]:
        """Where a name used in ``info`` points: a local (module, symbol), or a package name.
        A name both defined and imported (``try: from x import f`` / ``except: def f``), or
        imported twice (``try: from fast import f`` / ``except ImportError: from slow ...``),
        points at each: any may be the one that runs. So does a name defined or imported and
        exported by a project module the module star-imports (``K = 1`` then ``from
        pipelines.overrides import *``)."""
        head, chain = ref
        if head in info.defs:
            yield (info.source.name, self._changed(info, ref))
        binding = info.imports.get(head)
        if binding is not None:
            yield from self._resolve_binding(binding, chain)
            for other in info.other_imports.get(head, ()):
                yield from self._resolve_binding(other, chain)
        if binding is None and head not in info.defs:
            yield from self._resolve_star(info, ref)
        elif info.stars:
            yield from self._resolve_star(info, ref, packages=False, later=binding is None)

    def from_import(self, info: ModuleInfo, ref: Ref) -> str | None:
        """``pipelines/m_steps.py:WIDTH`` for ``WIDTH`` read in ``pipelines.m_steps``, which
        binds it once, at its top level, by ``from pipelines.consts import WIDTH``: the code
        reads the module's own name, bound as the module was imported, and a value set on
        ``consts.WIDTH`` after that does not reach it. None for any other name (a module
        imported by name, ``as`` another name, a name bound twice, or a star import)."""
        head = ref[0]
        binding = info.imports.get(head)
        if binding is None or binding.attr_of is None or binding.attr != head or info.stars:
            return None
        if head in info.defs or head in info.other_imports:
            return None
        if self.is_local(f"{binding.attr_of}.{head}") or self.module(binding.attr_of) is None:
            return None
        return f"{info.source.path}:{head}"

    def _changed(self, info: ModuleInfo, ref: Ref) -> str:
        """The name ``ref`` reads in ``info``'s own definitions: ``settings.OPT`` for
        ``settings.OPT.lr`` where ``info`` imports project module ``settings`` and changes
        attributes of it (the statements that may change ``settings.OPT``:
        ``moduletop.changes_of``; ``settings.EXTRA = 2`` does not); else the name alone."""
        head, chain = ref
        binding = info.imports.get(head)
        if not chain or binding is None or head in info.other_imports:
            return head
        if binds_name(info.defs[head], head):
            return head
        module = binding.module if binding.attr_of is None else f"{binding.attr_of}.{binding.attr}"
        return f"{head}.{chain[0]}" if module and self.is_local(module) else head

    def _resolve_star(
        self,
        info: ModuleInfo,
        ref: Ref,
        seen: frozenset[str] = frozenset(),
        packages: bool = True,
        later: bool = False,
    ) -> Iterable[tuple[str, str] | str]:
        """Where the star imports of ``info`` take name ``ref`` from: the last star import that
        provides it wins, as in Python; a star-imported module may itself re-export it through
        its own star imports. When no project module provides it, with ``packages``: each
        package star-imported. With ``later``, for a name the module defines: only the star
        imports no plain top-level definition of it follows (that one binds it for good)."""
        seen = seen | {info.source.name}
        stars = info.stars
        if later:
            last = last_plain_definition(info.tree, info.defs, ref[0])
            stars = [s for s, line in zip(info.stars, info.star_lines, strict=True) if line > last]
        for star in reversed(stars):
            star_info = self.module(star)
            if star_info is None or star in seen or not exported(star_info.defs, ref[0]):
                continue
            if ref[0] in star_info.defs or ref[0] in star_info.imports:
                yield from self.resolve(star_info, ref)
                return
            found = list(self._resolve_star(star_info, ref, seen))
            if found:
                yield from found
                return
        for star in stars if packages else ():
            if not self.is_local(star):
                yield from self._external(star)

    def _resolve_binding(
        self, binding: Binding, chain: tuple[str, ...]
    ) -> Iterable[tuple[str, str] | str]:
        if binding.attr_of is None:
            assert binding.module is not None
            if binding.module.startswith(DIST):  # version("scikit-learn"): a package used
                yield binding.module
                return
            if binding.module.endswith(ANY):  # import_module(f"models.{name}"): each of them
                yield from self._modules_named(binding.module.removesuffix(ANY))
                return
            yield from self._resolve_module_chain(binding.module, chain)
            return
        submodule = f"{binding.attr_of}.{binding.attr}"
        if self.is_local(submodule):  # ``from pipelines import helpers``
            yield from self._resolve_module_chain(submodule, chain)
            return
        target = self.module(binding.attr_of)
        if target is None:
            yield from self._external(binding.attr_of)
        else:
            yield from self._attribute(target, (binding.attr, chain))

    def _modules_named(self, start: str) -> Iterable[tuple[str, str] | str]:
        """Every project module whose name begins with ``start``, each used whole; the package
        it names when none is a project module (``torchvision.models.``)."""
        found = [name for name in self.project_modules() if name.startswith(start)]
        for name in found:
            yield (name, "*")
        top = start.split(".")[0]
        if not found and top and not self.is_local(top):  # none yet: the list is consulted
            yield from self._external(top)

    def _resolve_module_chain(
        self, module: str, chain: tuple[str, ...]
    ) -> Iterable[tuple[str, str] | str]:
        # ``import a.b`` then ``a.b.c.f``: find the longest local module along the chain.
        current = module
        rest = list(chain)
        while rest and self.is_local(f"{current}.{rest[0]}"):
            current = f"{current}.{rest.pop(0)}"
        info = self.module(current)
        if info is None:
            yield from self._external(current)
        elif not rest:
            yield (current, "*")  # the module itself is used as a value
        else:
            yield from self._attribute(info, (rest[0], tuple(rest[1:])))

    def _attribute(self, info: ModuleInfo, ref: Ref) -> Iterable[tuple[str, str] | str]:
        """Module ``info``'s attribute: what it is, or what its ``__getattr__`` returns."""
        getattr_ = [(info.source.name, "__getattr__")] if "__getattr__" in info.defs else []
        yield from list(self.resolve(info, ref)) or getattr_  # PEP 562

    def _external(self, module: str) -> Iterable[str]:
        """The package a module that is not a project module's source belongs to: none for a
        module of a project package that is not there (``try: from .local_settings import
        BATCH``): the closure consulted its name, so it counts once it appears, by its code."""
        top = module.split(".")[0]
        if top and top not in IGNORED and not self._absent(module):
            yield top


def reads_own_module(nodes: list[ast.AST]) -> bool:
    """Whether code (a definition's walked nodes) looks its own module's names up by a name
    computed at run time: ``globals()[f"feat_{kind}"]``, ``getattr(sys.modules[__name__],
    name)``. It may reach any definition of the module, which then counts whole."""
    for node in nodes:
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "globals":
            return True
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if getattr(node.slice, "id", None) != "__name__":
                continue
            value = node.value
            if isinstance(value, ast.Attribute) and value.attr == "modules":
                return True
    return False
