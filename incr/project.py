"""Where a project lives: its root, and the paths named in ``[tool.incr]``."""

from __future__ import annotations

import contextlib
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from incr.errors import DiscoveryError, ProjectError
from incr.valueclass import valueclass

DEFAULT_CACHE = ".pipecache"
MARKERS = ("pyproject.toml", "pipeline.lock", DEFAULT_CACHE)
#: The environment variable naming the pipeline module whose ``__main__`` block discovery is
#: running (``incr.mainblock``): an ``incr`` that block starts on the same project stops.
MAIN_BLOCK_ENV = "INCR_MAIN_BLOCK"


#: The note of the outs of removed steps left on disk, in the cache folder (``incr.leftovers``).
LEFTOVERS = "removed-outs.json"
#: The ``[tool.incr]`` table, kept with the text of pyproject.toml it was read from, in the
#: default cache folder (``tool_table``): a command parses no TOML while that text is the same.
TABLE_MEMO = "pyproject-table.json"


@valueclass(frozen=True)
class Project:
    """A project root and its layout. Paths are absolute."""

    root: Path
    pipelines_dir: str = "pipelines"
    cache_dir: str = DEFAULT_CACHE
    lockfile_name: str = "pipeline.lock"
    #: How dirty steps execute: ``[tool.incr] executor`` and ``scheduler`` (``incr.daskexec``).
    executor: str = ""
    scheduler: str = ""
    #: Dotted type names skops may load besides scikit-learn's and the project's own.
    trusted_types: tuple[str, ...] = ()
    #: Scripts outside the pipelines folder that discovery imports too, running their
    #: ``__main__`` blocks (a ZenML-style ``run.py``), as paths from the root.
    scripts: tuple[str, ...] = ()

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
        settings = _settings(tool_table(root))
        project = cls(
            root=root,
            pipelines_dir=settings.get("pipelines", "pipelines"),
            cache_dir=settings.get("cache", DEFAULT_CACHE),
            lockfile_name=settings.get("lockfile", "pipeline.lock"),
            executor=settings.get("executor", ""),
            scheduler=settings.get("scheduler", ""),
            trusted_types=_trusted_types(root, settings),
            scripts=_scripts(settings),
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


def _scripts(settings: dict[str, Any]) -> tuple[str, ...]:
    """``[tool.incr] scripts``: a list of ``.py`` paths inside the project (``["run.py"]``)."""
    value = settings.get("scripts", [])
    if not isinstance(value, list) or not all(
        isinstance(v, str)
        and v.endswith(".py")
        and not Path(v).is_absolute()
        and ".." not in Path(v).parts
        for v in value
    ):
        raise ProjectError(
            "pyproject.toml: [tool.incr] scripts must be a list of .py paths inside the project",
            hint='e.g. scripts = ["run.py"]',
        )
    return tuple(dict.fromkeys(Path(v).as_posix() for v in value))


def tool_table(root: Path) -> dict[str, Any]:
    """The ``[tool.incr]`` table of ``root``'s pyproject.toml ({} without the file or the
    table), as kept in the cache folder when the file's text is the one it was read from,
    else parsed (and kept, when the default cache folder exists). Raises ProjectError when the
    file is not UTF-8, not valid TOML, or its table is no table."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    raw = pyproject.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML is UTF-8: a file saved in another encoding
        line = raw[: exc.start].count(b"\n") + 1
        raise ProjectError(
            f"{pyproject.name}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x})",
            hint="save pyproject.toml as UTF-8, as TOML requires",
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as read_text gave it
    memo = root / DEFAULT_CACHE / TABLE_MEMO
    kept = _kept_table(memo, text)
    if kept is not None:
        return kept
    if sys.version_info >= (3, 11):  # here: the kept table spares most commands the import
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{pyproject.name}: {exc}") from None
    tool = data.get("tool", {})
    table = tool.get("incr", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ProjectError(f"{pyproject.name}: [tool.incr] must be a table")
    _keep_table(memo, text, table)
    return table


def _kept_table(memo: Path, text: str) -> dict[str, Any] | None:
    """The table kept in ``memo`` if it was read from ``text``, else None."""
    import json

    try:
        kept = json.loads(memo.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("text") != text:
        return None
    table = kept.get("table")
    return table if isinstance(table, dict) else None


def _keep_table(memo: Path, text: str, table: dict[str, Any]) -> None:
    """Keep ``table`` with the ``text`` it was read from, when the cache folder exists and
    the table holds only what JSON gives back as it was (a TOML date does not)."""
    import json

    from incr.storage import atomic_write

    if not memo.parent.is_dir():
        return
    try:
        data = json.dumps({"text": text, "table": table}, allow_nan=False)
    except (TypeError, ValueError):
        return
    if json.loads(data)["table"] != table:
        return
    with contextlib.suppress(OSError):  # a read-only checkout: parsed each time
        atomic_write(memo, data.encode(), durable=False)


def _settings(table: dict[str, Any]) -> dict[str, Any]:
    """The ``[tool.incr]`` settings of ``table``, checked."""
    name = "pyproject.toml"
    known = {"pipelines", "cache", "lockfile", "trusted_types", "scripts", *NOT_PATHS}
    for key, value in table.items():
        if key == "remote":  # the shared cache's table: read by ``remoteconf``
            continue
        if key not in known:
            raise ProjectError(
                f"{name}: unknown key {key!r} in [tool.incr]",
                hint=f"known keys: {', '.join(sorted(known | {'remote'}))}",
            )
        if key in NOT_PATHS:
            if not isinstance(value, str):
                raise ProjectError(f"{name}: [tool.incr] {key} must be a string")
            continue
        if key in ("trusted_types", "scripts"):
            continue
        if not isinstance(value, str) or Path(value).is_absolute() or ".." in Path(value).parts:
            raise ProjectError(f"{name}: [tool.incr] {key} must be a path inside the project")
    return {k: v for k, v in table.items() if k in known}


def pipeline_modules(project: Project) -> list[Path]:
    """The ``.py`` files under the pipelines folder, sorted, without caches and hidden folders
    (none when the folder is missing and ``[tool.incr] scripts`` lists scripts)."""
    folder = project.pipelines
    if not folder.is_dir():
        if project.scripts:
            return []
        raise DiscoveryError(
            f"{project.pipelines_dir}/: no such folder in {project.root}",
            hint="put pipeline modules in pipelines/, set [tool.incr] pipelines = ..., or list "
            "the scripts that make and run the pipelines in [tool.incr] scripts",
        )
    return sorted(
        p
        for p in folder.rglob("*.py")
        if not any(part.startswith((".", "__pycache__")) for part in p.relative_to(folder).parts)
    )


def discovered_modules(project: Project) -> list[Path]:
    """The pipeline modules, then the scripts ``[tool.incr] scripts`` lists: what discovery
    imports, running their ``__main__`` blocks. Raises DiscoveryError for a script missing."""
    found = pipeline_modules(project)
    for rel in project.scripts:
        path = project.root / rel
        if not path.is_file():
            raise DiscoveryError(
                f"pyproject.toml: [tool.incr] scripts lists {rel}, which is not a file",
                hint="fix the path, or take it out of the list",
            )
        if path not in found:
            found.append(path)
    return found


def scripts_naming(project: Project, name: str) -> list[str]:
    """The ``.py`` files at the project root or one folder down, outside the pipelines folder,
    whose text names pipeline ``name`` and calls a ``.run()``: the scripts that may run it."""
    found = []
    for path in sorted([*project.root.glob("*.py"), *project.root.glob("*/*.py")]):
        rel = path.relative_to(project.root).as_posix()
        if rel.startswith((f"{project.pipelines_dir}/", ".", "_")):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if ".run(" in text and f"{name}(" in text:
            found.append(rel)
    return found


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
