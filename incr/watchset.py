"""What ``incr watch`` reacts to: which paths count, and which folders to watch.

``WatchSet.affected`` decides, from one file-system event and the set of watched paths, which
watched paths the event touches (none: it is noise); it touches no disk and no clock.
``watch_set`` builds the set from what a cycle loaded (the pipelines folder, the project modules
in ``sys.modules``, the targeted steps' deps and recorded reads), and ``folders_to_watch`` turns
it into watchdog's folder watches.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from incr import dag, outside
from incr.api import TracedPipeline
from incr.localmodules import local_modules, local_package_modules
from incr.localmodules import within as _within
from incr.model import (
    LockEntry,
    Reason,
    StepNode,
    learned_kind,
    learned_path,
)
from incr.plan import Verdict
from incr.project import Project
from incr.valueclass import valueclass

#: Event kinds that can change a file's bytes or existence (not opened, closed_no_write).
CHANGE_KINDS = frozenset({"created", "modified", "deleted", "moved", "closed", "attrib"})
#: Event kinds that can change a folder's listing, or whether a path exists.
ENTRY_KINDS = frozenset({"created", "deleted", "moved"})
#: Folder names whose contents never trigger a run, wherever they are.
NOISE_FOLDERS = frozenset({"__pycache__", ".git"})


# --------------------------------------------------------------------------- deciding


@valueclass(frozen=True)
class Change:
    """One file-system event: ``kind`` is watchdog's event type; ``dest`` is set for moves."""

    kind: str
    path: str
    dest: str = ""
    is_directory: bool = False


@valueclass(frozen=True)
class WatchSet:
    """What the watcher reacts to. Paths are absolute.

    ``sources``: folders in which every ``.py`` file counts, recursively (the pipelines folder).
    ``paths``: files that count, and folders whose whole contents count (declared and recorded
    deps, project-local modules). ``ignored``: never counts, nor anything inside it (the cache,
    the lockfile, ``.git``, the targeted steps' outs). ``ignored`` wins over the others.
    ``listed``: folders a step or a pipeline module listed, where an entry that appears,
    vanishes or moves counts (not changes deeper down); ``tested``: paths tested for
    existence, whose appearing, vanishing or moving counts.
    """

    root: Path
    sources: frozenset[Path]
    paths: frozenset[Path]
    ignored: frozenset[Path]
    listed: frozenset[Path] = frozenset()
    tested: frozenset[Path] = frozenset()

    def affected(self, change: Change) -> list[Path]:
        """The paths of ``change`` (source, then destination of a move) that matter. Pure."""
        if change.kind not in CHANGE_KINDS:
            return []
        found = [Path(p) for p in (change.path, change.dest) if p]
        return [p for p in found if self._counts(p, change.kind, change.is_directory)]

    def _counts(self, path: Path, kind: str, is_directory: bool) -> bool:
        # Never: inside the cache, .git, __pycache__, the lockfile or a step's outs.
        if any(_within(path, p) for p in self.ignored) or self._noise(path):
            return False
        # A watched file, or anything inside a watched folder.
        if any(_within(path, p) for p in self.paths):
            return True
        # An entry of a listed folder, or a tested path, appeared, vanished or moved.
        if kind in ENTRY_KINDS and (
            path.parent in self.listed or path in self.listed or path in self.tested
        ):
            return True
        # A folder holding watched paths appeared, vanished or moved (dir modified is noise):
        # a file, or a listed folder or tested path inside a folder that did not exist yet.
        holds = (*self.paths, *self.listed, *self.tested)
        if is_directory and kind != "modified" and any(path in p.parents for p in holds):
            return True
        # A module (or a package folder) in the pipelines folder, hidden files aside.
        return any(self._source(path, s, kind, is_directory) for s in self.sources)

    def _noise(self, path: Path) -> bool:
        parts = path.relative_to(self.root).parts if _within(path, self.root) else path.parts
        return bool(NOISE_FOLDERS.intersection(parts))

    @staticmethod
    def _source(path: Path, folder: Path, kind: str, is_directory: bool) -> bool:
        if not _within(path, folder) or path == folder:
            return False
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            return False
        return path.suffix == ".py" or (is_directory and kind != "modified")

    def relative(self, path: Path) -> str:
        """``path`` for messages: relative to the root when inside it."""
        return path.relative_to(self.root).as_posix() if _within(path, self.root) else str(path)


def matters(verdicts: Iterable[Verdict]) -> bool:
    """True when some step is dirty for a reason other than ``cache disabled`` (or waiting)."""
    return any(r.kind != Reason.CACHE_DISABLED for v in verdicts for r in v.own_reasons)


def describe(paths: list[str], limit: int = 3) -> str:
    """``a, b, c and 2 more``: the changed paths for a one-line message."""
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


# --------------------------------------------------------------------------- what to watch


def targeted_steps(pipelines: list[TracedPipeline], targets: Iterable[str]) -> list[StepNode]:
    """The steps a ``repro`` of ``targets`` would bring up to date (all steps: no targets)."""
    nodes: list[StepNode] = []
    for traced, wanted in dag.select(pipelines, targets):
        keep = dag.ancestors(traced.graph, wanted) if wanted else None
        nodes += [n for n in traced.graph.steps if keep is None or n.name in keep]
    return nodes


def watch_set(
    project: Project,
    nodes: list[StepNode],
    locks: dict[str, LockEntry],
    discovered: Iterable[str] = (),
) -> WatchSet:
    """The pipelines folder, project-local modules in ``sys.modules`` and those of local
    packages outside the project, the declared deps of
    ``nodes`` and the deps and learned facts their lock entries record, and what discovery
    was seen to depend on (``discovered``: ``LockEntry.reads`` keys); ignoring the cache, the
    lockfile, ``.git`` and ``nodes``' outs."""
    root = project.root
    deps = {d for n in nodes for d in n.deps}
    learned = set(discovered)
    for entry in (locks[n.key] for n in nodes if n.key in locks):
        deps |= set(entry.facts.deps)
        learned |= set(entry.reads)
    files, listed, tested = _learned_paths(learned)
    modules = {*local_modules(project).values(), *local_package_modules().values()}
    outs = {root / out for n in nodes for out in n.outs}
    return WatchSet(
        root=root,
        sources=frozenset({project.pipelines}),
        paths=frozenset({_path(root, d) for d in deps | files} | modules),
        ignored=frozenset({project.cache, project.lockfile, root / ".git"} | outs),
        listed=frozenset(_path(root, d) for d in listed),
        tested=frozenset(_path(root, p) for p in tested),
    )


def _path(root: Path, key: str) -> Path:
    """The path a project path or an outside key (``incr.outside``) names."""
    return Path(outside.resolve(root, key))


def _read_paths(reads: dict[str, str]) -> set[str]:
    """The project paths behind a lock entry's learned facts (a variable has none; a file
    read while a module was imported is that file)."""
    files, listed, tested = _learned_paths(reads)
    return files | listed | tested


def _learned_paths(keys: Iterable[str]) -> tuple[set[str], set[str], set[str]]:
    """(files, listed folders, tested paths) of ``LockEntry.reads`` keys; environment
    variables have no path."""
    files: set[str] = set()
    listed: set[str] = set()
    tested: set[str] = set()
    for key in keys:
        path, kind = learned_path(key), learned_kind(key)
        if path is None:
            continue
        if kind == "listing":
            listed.add(path)
        elif kind == "exists":
            tested.add(path)
        else:
            files.add(path)
    return files, listed, tested


def folders_to_watch(watched: WatchSet) -> dict[Path, bool]:
    """Folder -> recursive: existing folders recursively, a file's nearest existing folder not,
    listed folders not.

    Watching the folder (not the file) is what makes rename-into-place and delete-then-create
    saves visible; a folder inside a recursively watched one is dropped.
    """
    trees = {p for p in (*watched.sources, *watched.paths) if p.is_dir()}
    flat = {_existing_parent(p) for p in (*watched.sources, *watched.paths) if p not in trees}
    flat |= {p if p.is_dir() else _existing_parent(p) for p in watched.listed}
    flat |= {_existing_parent(p) for p in watched.tested}
    trees = {t for t in trees if not any(o in t.parents for o in trees)}
    flat = {f for f in flat if not any(_within(f, t) for t in trees)}
    return {**dict.fromkeys(sorted(flat), False), **dict.fromkeys(sorted(trees), True)}


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    return parent


def watched_files(watched: WatchSet) -> set[Path]:
    """The existing files that would trigger a change now (for the banner's counts)."""
    files: set[Path] = set()
    for top in (*watched.sources, *watched.paths):
        if top.is_file():
            files.add(top)
        elif top.is_dir():
            files.update(p for p in top.rglob("*") if p.is_file())
    return {f for f in files if watched.affected(Change("modified", str(f)))}


def summary(watched: WatchSet) -> str:
    files = watched_files(watched)
    folders = {f.parent for f in files}
    return f"{_plural(len(files), 'file')} in {_plural(len(folders), 'folder')}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
