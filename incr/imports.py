"""Project modules are imported with the root first on ``sys.path`` and compiled from source.

Fingerprints are computed from the source text, so the code that runs must come from the same
text, never from a stale ``.pyc``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

#: The digest of the bytes each project module was compiled from in this process, by file.
COMPILED: dict[str, str] = {}


def edited_since_imported(root: Path, digest: Callable[[str], str]) -> list[str]:
    """The files of modules this process holds whose bytes are no longer those it ran:
    project modules (relative to ``root``) and modules of local packages outside it (by their
    path: see ``incr.localpackages``). A notebook's or a script's second ``.run()`` after an
    edit would run the old code. A project module is checked against the bytes incr compiled;
    one imported otherwise (by a notebook, before incr), and a local package's, is taken as it
    is when a run first sees it (``digest``: of a relative path or an outside one)."""
    prefix = os.path.join(str(root), "")
    edited = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not _held_code(path, prefix):
            continue
        rel = path[len(prefix) :] if path.startswith(prefix) else path
        now = digest(rel)
        if COMPILED.setdefault(path, now) != now:
            edited.append(rel)
    return sorted(edited)


def imported_elsewhere(root: Path) -> tuple[str, str, str] | None:
    """A module this process imported from outside the project whose name is a project
    module's, in the root or ``src/`` (a copy installed with ``pip install .``, imported
    before the project's folders were put first on the path): its name, the file it came
    from and the project's file. Its steps would run that copy while incr fingerprints the
    project's. None when every such module is the project's (an editable install too).
    Asked again, it looks only at the modules imported since."""
    checked = _CHECKED_MODULES.setdefault(str(root), set())
    for name in sys.modules.keys() - checked:
        path = getattr(sys.modules.get(name), "__file__", None)
        if "." not in name and isinstance(path, str) and _installed(path):
            for folder in (root, root / "src"):  # (a package's modules come with it)
                base = folder / name
                own = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
                if own.is_file() and os.path.realpath(path) != os.path.realpath(own):
                    return name, path, own.relative_to(root).as_posix()
        checked.add(name)
    return None


#: The modules ``imported_elsewhere`` found to be no copy of a project module, by root.
_CHECKED_MODULES: dict[str, set[str]] = {}


def _installed(path: str) -> bool:
    """Whether a module file is an installed distribution's (not the standard library's)."""
    parts = Path(path).parts
    return "site-packages" in parts or "dist-packages" in parts


#: Whether a module file is code a run checks (``_held_code``), by file.
_CHECKED: dict[str, bool] = {}


def _held_code(path: str, prefix: str) -> bool:
    """A project module's file, or a local package's outside the project (not incr's own)."""
    if path.startswith(prefix):
        return True
    known = _CHECKED.get(path)
    if known is None:
        from incr.envreads import is_local_code

        known = not path.startswith(_PYTHON) and is_local_code(path)  # most: a quick no
        _CHECKED[path] = known
    return known


_PYTHON = tuple({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles a project module from its source every time, never from a cached ``.pyc``.

    CPython trusts a ``.pyc`` whose recorded source mtime (whole seconds) and size match, so an
    edit that keeps both (a fast save, ``cp -p``, ``rsync -a``) would run the old code under the
    new fingerprint. Project modules are small; compiling them is cheap.
    """

    def path_stats(self, path: str) -> Mapping[str, Any]:
        raise OSError("project modules are compiled from source")

    def __init__(self, fullname: str, path: str, kept: Path | None = None) -> None:
        super().__init__(fullname, path)
        #: The project's cache folder, where compiled code is kept (``incr.compiledcode``).
        self.kept = kept

    def exec_module(self, module: ModuleType) -> None:
        codes = self._kept_codes() if self.kept is not None else None
        if codes is None:
            super().exec_module(module)
        else:
            from importlib._bootstrap import (  # type: ignore[attr-defined]
                _call_with_frames_removed,  # as SourceLoader does: frames left out of tracebacks
            )

            from incr.compiledcode import annotated

            if annotated(codes):  # the whole module's code sets it up first
                module.__dict__.setdefault("__annotations__", {})
            for code in codes:
                _call_with_frames_removed(exec, code, module.__dict__)
        with contextlib.suppress(ImportError):  # (incr's own checkout, loading itself)
            from incr.globalvalues import imported

            imported(module)  # its values as its import left them (a later change counts)

    def _kept_codes(self) -> list[Any] | None:
        """The module's code, chunk by chunk, from the code kept for its bytes or for its
        statements (``incr.compiledcode``); None when it is not incr's to keep (incr's own
        checkout loading itself, a text that is not UTF-8)."""
        assert self.kept is not None
        if self.name == "incr" or self.name.startswith("incr."):
            return None  # incr's own checkout, loading itself: compiledcode may be loading
        try:
            from incr import compiledcode
            from incr.digests import digest_bytes
            from incr.globalvalues import compiled
        except ImportError:
            return None
        data = self.get_data(self.path)
        digest = COMPILED[self.path] = digest_bytes(data)
        optimize = sys.flags.optimize
        codes = compiledcode.kept_code(self.kept, self.path, digest, optimize)
        if codes is None:
            tree = _tree_for(data, self.path) if compiledcode.CHUNKS else None
            try:
                codes = (
                    compiledcode.chunked_code(self.kept, self.path, digest, data, tree, optimize)
                    if tree is not None  # parsed from these bytes as UTF-8
                    else None
                )
            except SyntaxError:  # ``return`` outside a function...: said as Python says it
                codes = None
            if codes is None:
                code = super().source_to_code(data, self.path)
                compiledcode.keep_whole(self.kept, self.path, digest, code, optimize)
                codes = [code]
        for code in codes:
            compiled(self.path, code)  # does its top level read the command line?
        return codes

    def source_to_code(  # type: ignore[override]  # typeshed: a staticmethod; CPython: this
        self, data: Any, path: Any, *, _optimize: int = -1
    ) -> Any:
        """The module's code, compiled from the tree incr parsed from these very bytes for its
        own checks when there is one (at 10,000 steps a module takes 0.3 s to parse), else
        from the bytes as Python does (``runpy``, and a loader with no cache folder)."""
        if isinstance(data, bytes):
            from incr.digests import digest_bytes

            COMPILED[os.fspath(path)] = digest_bytes(data)
        tree = _parsed_tree(data) if isinstance(data, bytes) else None
        if tree is None:
            code = super().source_to_code(data, path, _optimize=_optimize)
        else:
            code = compile(tree, path, "exec", dont_inherit=True, optimize=_optimize)
        with contextlib.suppress(ImportError):  # (incr's own checkout, loading itself)
            from incr.globalvalues import compiled

            compiled(os.fspath(path), code)  # does its top level read the command line?
        return code


def _tree_for(data: bytes, path: str) -> Any:
    """The tree of a project module's changed text, to compile it in chunks: the one incr
    parsed for its own checks, else parsed here and handed to the code index, which reads
    every module changed since its closures were computed (``codeast.hand_over``). None for
    a text that does not parse (Python's own compile then says why) or that is not UTF-8."""
    tree = _parsed_tree(data)
    if tree is not None:
        return tree
    import ast
    import gc

    from incr import codeast

    text = codeast.utf8_text(data)
    if text is None:
        return None
    collecting = gc.isenabled()
    gc.disable()  # a tree holds no cycles: the collector would walk its nodes for nothing
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return None
    finally:
        if collecting:
            gc.enable()
    codeast.hand_over(text, tree)
    return tree


def _parsed_tree(data: bytes) -> Any:
    """``codeast.parsed_tree`` when incr has read code in this process (never loaded for it).
    Not while ``incr.codeast`` is itself being imported: a project that holds incr's own
    package (a checkout of incr run with ``python -m incr.cli``) loads it through this loader."""
    parsed_tree = getattr(sys.modules.get("incr.codeast"), "parsed_tree", None)
    return None if parsed_tree is None else parsed_tree(data)


class _ProjectFinder:
    """Finds modules as usual, and loads those under the project root with _SourceOnlyLoader.

    A meta path finder needs only ``find_spec`` (no ``importlib.abc`` base: importing that
    costs more than the rest of this module)."""

    def __init__(self, root: Path, kept: Path | None = None) -> None:
        self.root = os.path.join(str(root), "")
        #: The project's cache folder (compiled code is kept there), if known.
        self.kept = kept

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None:  # a top-level module: is it a file or folder of the root or src/?
            if not any(
                os.path.isdir(base) or os.path.isfile(base + ".py")
                for base in (
                    os.path.join(self.root, fullname),
                    os.path.join(self.root, "src", fullname),
                )
            ):
                return None
        elif not any(str(p).startswith(self.root) for p in path):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        origin = spec.origin or ""
        if not origin.startswith(self.root) or "site-packages" in origin[len(self.root) :]:
            return None
        spec.loader = _SourceOnlyLoader(fullname, origin, self.kept)
        return spec


def use_project_imports(root: Path, kept: Path | None = None) -> None:
    """Put ``root`` first on ``sys.path``, then ``root/src`` when it exists (the src layout:
    ``src/mylib`` is imported as ``mylib``, as code fingerprints assume), and load their modules
    from source (idempotent), keeping their compiled code in the cache folder ``kept`` when
    one is given."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    src = os.path.join(str(root), "src")
    if os.path.isdir(src) and src not in sys.path:
        sys.path.insert(sys.path.index(str(root)) + 1, src)
    for finder in sys.meta_path:
        if isinstance(finder, _ProjectFinder) and finder.root.rstrip(os.sep) == str(root):
            finder.kept = finder.kept or kept
            return
    sys.meta_path.insert(0, _ProjectFinder(root, kept))


#: Whether this process runs a script inside a project (``install_for_script``).
_script = False


def script_arguments() -> list[str]:
    """The arguments a script inside a project was run with (``python pipelines/x.py --n 5``:
    ``["--n", "5"]``); none under ``incr``, which runs a project's steps as the script run
    without arguments would, nor in a notebook."""
    return sys.argv[1:] if _script else []


@contextlib.contextmanager
def command_line_of(module: str) -> Iterator[None]:
    """Under the ``incr`` command, a step of ``module`` runs with ``sys.argv`` holding that
    module's file alone, as the module run as a script without arguments gives it (discovery
    imports the module so too), not ``incr``'s own arguments; in a script or a notebook, the
    command line is left as it is."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    file = getattr(sys.modules.get(module), "__file__", None)
    if not (isinstance(main, str) and isinstance(file, str) and _is_incr_command(main)):
        yield
        return
    argv, sys.argv = sys.argv, [file]
    try:
        yield
    finally:
        sys.argv = argv


def install_for_script() -> None:
    """When ``__main__`` is a file inside a project, use project imports for that project.

    Called on ``import incr``, so that ``python pipelines/digits.py`` imports its helpers fresh
    and with the root on ``sys.path``. Does nothing outside a project.
    """
    global _script
    root = script_root()
    if root is not None:
        _script = True
        from incr.project import Project

        project = Project.load(root)
        use_project_imports(root, project.cache)
        from incr import globalvalues, hooks, reads, scriptmain
        from incr.importreads import start_for_script
        from incr.learned import own_paths

        start_for_script(root)  # what its modules read while imported counts
        globalvalues.imported_before(root)  # the script's own, a config module imported first
        hooks.step_made = globalvalues.step_made
        scriptmain.name_in_children(root)
        reads.follow(root, own_paths(project))  # a pool made out of any step


def script_root() -> Path | None:
    """The project holding the ``__main__`` file, when that is a script inside a project."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return None
    from incr.project import MARKERS

    if _is_incr_command(main_file):
        # The ``incr`` command itself (a console script beside the running Python, in a
        # virtualenv that may well sit inside the project, or ``python -m incr.cli``): the CLI
        # sets up the imports of the project it was asked about.
        return None
    folder = Path(main_file).resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in MARKERS):
            return candidate
    return None


_INCR_PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=8)
def _is_incr_command(main_file: str) -> bool:
    """True for a ``__main__`` file that is incr's own: a file of incr's package, or an
    ``incr`` script in the folder of the running Python's executable (console scripts are
    installed there; the symlinks of a virtualenv are not followed, or that folder would be
    the base installation's). Asked once per file: ``command_line_of`` asks it for every step
    it runs, where its ``resolve()`` stats each folder of the path through the read
    recorder."""
    path = os.path.abspath(main_file)
    if _INCR_PACKAGE in Path(path).resolve().parents:
        return True
    scripts = os.path.dirname(os.path.abspath(sys.executable))
    name = os.path.basename(path).lower().removesuffix(".exe").removesuffix("-script.py")
    return os.path.dirname(path) == scripts and name == "incr"


def taken_elsewhere(root: Path, top: str) -> str | None:
    """Where the package ``top`` was imported from, when the project has a folder of that name
    without ``__init__.py`` and the package Python found is elsewhere (another project's
    ``pipelines`` on ``sys.path``); None otherwise."""
    folder = root / top
    module = sys.modules.get(top)
    if module is None or not folder.is_dir() or (folder / "__init__.py").is_file():
        return None
    places = [os.path.dirname(module.__file__)] if module.__file__ else []
    places += list(getattr(module, "__path__", []))
    if not places or any(Path(p).resolve() == folder.resolve() for p in places):
        return None
    return places[0]


def shadowed(exc: BaseException) -> tuple[str, str] | None:
    """The error line and hint when a module outside the standard library took the name of a
    standard one (a project's ``logging.py``, first on ``sys.path``) and is loaded, or ``exc``
    came through it; None otherwise. Whatever imports that name gets the file instead: incr,
    and the packages it loads, fail in ways that name neither."""
    found = _hiding(exc)
    if found is None:
        return None
    file, name = found
    where = os.path.relpath(file)
    where = file if where.startswith("..") else where
    return (
        f"{where} hides Python's standard module {name}",
        f"incr and the packages it loads import {name}; rename {where} (a module of the "
        "project cannot take a standard module's name)",
    )


def _hiding(exc: BaseException) -> tuple[str, str] | None:
    """(file, standard module name) of the module that hides one (see ``shadowed``). Imports
    nothing: the module hidden may be one it would need."""
    standard = os.path.join(os.path.dirname(os.path.realpath(os.__file__)), "")

    def hides(file: str | None) -> str | None:
        if not file or not file.endswith(".py"):
            return None
        stem = os.path.splitext(os.path.basename(file))[0]
        name = os.path.basename(os.path.dirname(file)) if stem == "__init__" else stem
        if name not in sys.stdlib_module_names or name == "__main__":
            return None
        return None if os.path.realpath(file).startswith(standard) else name

    tb = exc.__traceback__
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if (name := hides(file)) is not None:
            return file, name
        tb = tb.tb_next
    for name in sys.stdlib_module_names:
        loaded = getattr(sys.modules.get(name), "__file__", None)
        if hides(loaded) == name:
            return str(loaded), name
    return None


def missing_file_hint(root: Path, lock: Path, filename: str) -> str:
    """For a module that read, as it was imported, a file not there yet: the step writing it
    (an output the lockfile ``lock`` records: a fresh clone, a cleaned folder), and how to
    import the module before that step ran once."""
    from incr import lockfile
    from incr.errors import LockfileError

    full = Path(os.path.abspath(filename))
    rel = full.relative_to(root).as_posix() if full.is_relative_to(root) else filename
    writers: list[str] = []
    with contextlib.suppress(LockfileError, OSError):
        writers = [k for k, e in lockfile.read(lock).items() if rel in e.outputs]
    if writers:
        return (
            f"{rel} is not there yet, and step {writers[0]} writes it (pipeline.lock): "
            "`incr repro` runs that step first, then imports the module; to have it import "
            "before, read the file in the steps that use it, or guard the read "
            "(`X = load(path) if os.path.exists(path) else None`)"
        )
    return (
        f"{rel} is not there, and pipeline.lock names no step writing it: create it or fix "
        "the path; if a step writes it, list it in that step's outs=[...] (`incr repro` then "
        "runs that step first, and imports the module after it)"
    )
