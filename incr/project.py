"""Where a project lives: its root, and the paths named in ``[tool.incr]``."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from incr.errors import DiscoveryError, ProjectError
from incr.valueclass import valueclass

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MARKERS = ("pyproject.toml", "pipeline.lock", ".pipecache")
#: The environment variable naming the pipeline module whose ``__main__`` block discovery is
#: running (``incr.mainblock``): an ``incr`` that block starts on the same project stops.
MAIN_BLOCK_ENV = "INCR_MAIN_BLOCK"


#: The note of the outs of removed steps left on disk, in the cache folder (``incr.leftovers``).
LEFTOVERS = "removed-outs.json"


@valueclass(frozen=True)
class Project:
    """A project root and its layout. Paths are absolute."""

    root: Path
    pipelines_dir: str = "pipelines"
    cache_dir: str = ".pipecache"
    lockfile_name: str = "pipeline.lock"
    #: How dirty steps execute: ``[tool.incr] executor`` and ``scheduler`` (``incr.daskexec``).
    executor: str = ""
    scheduler: str = ""
    #: Dotted type names skops may load besides scikit-learn's and the project's own.
    trusted_types: tuple[str, ...] = ()

    @cached_property
    def pipelines(self) -> Path:
        return self.root / self.pipelines_dir

    @cached_property
    def cache(self) -> Path:
        return self.root / self.cache_dir

    @cached_property
    def lockfile(self) -> Path:
        return self.root / self.lockfile_name

    def kept_module(self, digest: str) -> Path:
        """Where the text of a project module is kept by the digest of its bytes
        (``incr.keptsources``; the wiring check compares a changed module with it)."""
        return self.cache / "sources" / "modules" / digest

    @property
    def leftovers(self) -> Path:
        """Where the outs of steps dropped from the lockfile are noted (``incr.leftovers``)."""
        return self.cache / LEFTOVERS

    @classmethod
    def find(cls, start: Path | str | None = None) -> Project:
        """The nearest folder from ``start`` (default: the current one) up that holds a marker.

        Raises ProjectError when ``start`` does not exist or no folder above it is a project.
        """
        here = Path(start or Path.cwd())
        if not here.exists():
            raise ProjectError(f"{here}: no such folder", hint="pass an existing project folder")
        here = here.resolve()
        if here.is_file():
            here = here.parent
        for folder in (here, *here.parents):
            if any((folder / marker).exists() for marker in MARKERS):
                return cls.load(folder)
        raise ProjectError(
            f"{here}: not inside an incr project (no {', '.join(MARKERS)} here or above)",
            hint="create a pyproject.toml at the project root, or run from inside the project",
        )

    @classmethod
    def for_file(cls, path: str) -> Project:
        """The project of a pipeline module; its folder's parent when no marker is found."""
        try:
            return cls.find(Path(path).resolve().parent)
        except ProjectError:
            folder = Path(path).resolve().parent
            return cls.load(folder.parent if folder.name == "pipelines" else folder)

    @classmethod
    def load(cls, root: Path) -> Project:
        settings = _read_settings(root / "pyproject.toml")
        project = cls(
            root=root,
            pipelines_dir=settings.get("pipelines", "pipelines"),
            cache_dir=settings.get("cache", ".pipecache"),
            lockfile_name=settings.get("lockfile", "pipeline.lock"),
            executor=settings.get("executor", ""),
            scheduler=settings.get("scheduler", ""),
            trusted_types=_trusted_types(root, settings),
        )
        return project


#: ``[tool.incr]`` keys that are not paths: how steps are executed (see ``incr.daskexec``).
NOT_PATHS = ("executor", "scheduler")


def _trusted_types(root: Path, settings: dict[str, Any]) -> tuple[str, ...]:
    """``[tool.incr] trusted_types``: a list of dotted type names (``"xgboost.XGBClassifier"``)."""
    value = settings.get("trusted_types", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProjectError(
            "pyproject.toml: [tool.incr] trusted_types must be a list of dotted type names",
            hint='e.g. trusted_types = ["xgboost.sklearn.XGBClassifier"]',
        )
    return tuple(value)


def _read_settings(pyproject: Path) -> dict[str, Any]:
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{pyproject.name}: {exc}") from None
    table = data.get("tool", {}).get("incr", {})
    if not isinstance(table, dict):
        raise ProjectError(f"{pyproject.name}: [tool.incr] must be a table")
    known = {"pipelines", "cache", "lockfile", "trusted_types", *NOT_PATHS}
    for key, value in table.items():
        if key == "remote":  # the shared cache's table: read by ``remoteconf``
            continue
        if key not in known:
            raise ProjectError(
                f"{pyproject.name}: unknown key {key!r} in [tool.incr]",
                hint=f"known keys: {', '.join(sorted(known | {'remote'}))}",
            )
        if key in NOT_PATHS:
            if not isinstance(value, str):
                raise ProjectError(f"{pyproject.name}: [tool.incr] {key} must be a string")
            continue
        if key == "trusted_types":
            continue
        if not isinstance(value, str) or Path(value).is_absolute() or ".." in Path(value).parts:
            raise ProjectError(
                f"{pyproject.name}: [tool.incr] {key} must be a path inside the project"
            )
    return {k: v for k, v in table.items() if k in known}


def pipeline_modules(project: Project) -> list[Path]:
    """The ``.py`` files under the pipelines folder, sorted, without caches and hidden folders."""
    folder = project.pipelines
    if not folder.is_dir():
        raise DiscoveryError(
            f"{project.pipelines_dir}/: no such folder in {project.root}",
            hint="put pipeline modules in pipelines/, or set [tool.incr] pipelines = ...",
        )
    return sorted(
        p
        for p in folder.rglob("*.py")
        if not any(part.startswith((".", "__pycache__")) for part in p.relative_to(folder).parts)
    )


#: Real paths of source files as the trace under way found them (``forget_real_paths`` starts
#: each trace afresh): the steps of one module ask for the same file thousands of times.
_real_paths: dict[str, Path] = {}


def real_path(file: str) -> Path:
    """``Path(file).resolve()``, resolved once per trace."""
    found = _real_paths.get(file)
    if found is None:
        found = _real_paths[file] = Path(file).resolve()
    return found


#: Per (source file, root): its path from the root and module name; None outside the root.
_module_files: dict[tuple[str, Path], tuple[str, str] | None] = {}


def module_file(file: str, root: Path) -> tuple[str, str] | None:
    """(path from ``root``, module name) of source file ``file`` (resolved), or None when it
    is not under ``root``; found once per trace."""
    key = (file, root)
    if key not in _module_files:
        path = real_path(file)
        inside = path.is_relative_to(root)
        where = (path.relative_to(root).as_posix(), module_name(root, path)) if inside else None
        _module_files[key] = where
    return _module_files[key]


#: Per (code file, module name): the source file ``inspect.getsourcefile`` gives a function
#: of that file and module (it tests that the file exists), found once per trace.
_source_files: dict[tuple[str, str], str | None] = {}


def source_file(func: Any) -> str | None:
    """``inspect.getsourcefile(func)`` for a function, asked once per trace for each of its
    code file and module: ten thousand steps of one module test one file."""
    key = (func.__code__.co_filename, str(getattr(func, "__module__", None)))
    if key not in _source_files:
        import inspect

        _source_files[key] = inspect.getsourcefile(func)
    return _source_files[key]


def forget_real_paths() -> None:
    _real_paths.clear()
    _module_files.clear()
    _source_files.clear()


def module_name(root: Path, path: Path) -> str:
    """The dotted name of a module file under ``root``: ``pipelines/flow.py`` is
    ``pipelines.flow``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":  # the src layout: src/mylib is ``mylib``
        parts.pop(0)
    return ".".join(parts)
