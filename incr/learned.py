"""The current value of a learned listing, existence or times fact (``ls:DIR``,
``exists:PATH``, ``mtimes:DIR``), and the paths of incr's own that no listing or read counts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from incr import outside
from incr.envreads import EnvChanges, env_value, overlay
from incr.hashing import MISSING, StatCache
from incr.learnedwords import learned_reasons
from incr.model import (
    ENV_PREFIX,
    EXISTS_PREFIX,
    IMPORT_PREFIX,
    IMPORTED_PREFIX,
    LISTING_PREFIX,
    MODULE_PREFIX,
    OUTPUT_PREFIX,
    TIMES_PREFIX,
    UNPICKLED_PREFIX,
    UNSET,
    VALUE_PREFIX,
    LockEntry,
    Reason,
    StepNode,
    learned_kind,
    learned_path,
    split_import_key,
)
from incr.pathfacts import listing_digest, times_order, value_now
from incr.project import Project

if TYPE_CHECKING:
    from incr.importreads import ImportFacts


def listing_value(root: Path, rel: str, ignore: Iterable[str] = ()) -> str:
    """A digest of the sorted names in folder ``rel`` (``missing`` when it is not a folder),
    leaving out the paths ``ignore`` (relative to the root: incr's cache and lockfile)."""
    skip = {os.path.normpath(root / p) for p in ignore}
    return listing_digest(outside.resolve(root, rel), skip)


def own_paths(project: Project) -> tuple[str, ...]:
    """incr's own paths in a project (cache folder, lockfile): never a step's reads, and left
    out of the listings recorded and compared."""
    return (project.cache_dir, project.lockfile_name)


def exists_value(root: Path, rel: str, then: str = "") -> str:
    """``file``, ``dir`` or ``missing``: the answer of an existence test on ``rel`` (a
    project path, or a key of ``incr.outside``); of the kind of ``then``, the value recorded:
    ``file:SIZE`` for a file whose size the step may have read, ``link:TARGET`` for a link
    it looked at itself (see ``pathfacts.tested_value``)."""
    return value_now(outside.resolve(root, rel), then)


def module_value(root: Path, name: str) -> str:
    """``found`` or ``missing``: whether module ``name`` can be imported now, as the graph
    cache records the modules a pipeline module imports only if it can
    (``volatile.optional_imports``). A module of the project (its first name a folder or
    file of the root or of ``src/``) by its file; another by its top-level package, found
    as an import would find it (nothing is imported)."""
    parts = name.split(".")
    for folder in (root, root / "src"):
        if (folder / parts[0]).is_dir() or (folder / f"{parts[0]}.py").is_file():
            base = folder.joinpath(*parts)
            return "found" if base.is_dir() or base.with_suffix(".py").is_file() else "missing"
    import importlib.util  # here: only a project with optional imports asks

    try:
        return "found" if importlib.util.find_spec(parts[0]) is not None else "missing"
    except (ImportError, ValueError):
        return "missing"


class LearnedFacts:
    """What steps were seen to depend on while they ran (``LockEntry.reads``), valued now."""

    def __init__(self, project: Project, stats: StatCache, environ: dict[str, str]) -> None:
        self.project = project
        self.stats = stats
        #: The environment as the command found it (before discovery imports any project
        #: module, which may change it): variables are recorded and compared with these values.
        self.environ = environ
        #: That environment before what discovery sets is applied (``envreads.overlay``).
        self.shell = dict(environ)
        #: What discovery set (``envreads.changes``), and the variables the ``.run()`` of the
        #: pipeline instance judged now saw with other values (``for_instance``).
        self.discovery_set: EnvChanges = ()
        self.instance_env: EnvChanges = ()
        #: What the project modules read while imported (see ``incr.importreads``).
        self.imports: ImportFacts = {}
        #: The digest of a project definition's code now, by ``module:name``: the value of
        #: an ``unpickled:`` key (see ``StepFacts.ref_code``).
        self.code_of: Callable[[str], str] = lambda ref: ""
        #: The ``files:DIGEST`` of the module at an absolute path, as a ``module:`` key
        #: values it (see ``LocalPackages.code_at``).
        self.module_code: Callable[[str], str] = lambda place: ""
        #: Whether a step's code facts hold that code already (see ``StepFacts.ref_covered``).
        self.covered: Callable[[str, dict[str, str]], bool] = lambda ref, code: False
        #: The code parts of a project definition, by ``module:name`` (see
        #: ``StepFacts.ref_parts``): the module values the code a step unpickled reads.
        self.parts_of: Callable[[str], Mapping[str, str]] = lambda ref: {}
        #: The lock entries, for the value of an ``output:`` key (``output_value``).
        self.locks: Mapping[str, LockEntry] = {}
        #: What a ``repro`` opened the pipelines from, valued as then (``incr.passes``).
        self.opened: Mapping[str, str] = {}

    def for_instance(self, env: EnvChanges) -> EnvChanges:
        """Value the variables as the steps of a pipeline instance see them: the shell's with
        what discovery set and what its own ``.run()`` saw (``env``: ``TracedPipeline.env``,
        a sweep's ``os.environ["SEED"] = seed``). The variables whose values the process must
        take for its steps (none unless an instance has values of its own)."""
        if not env and not self.instance_env:
            return ()
        names = sorted({n for n, _ in (*self.instance_env, *env)})
        overlay(self.environ, self.shell, (*self.discovery_set, *env))
        self.instance_env = env
        return tuple((n, self.environ.get(n)) for n in names)

    def read_changes(
        self,
        reads: dict[str, str],
        expected: Iterable[str] = (),
        values: Mapping[str, str] | None = None,
    ) -> list[Reason]:
        """Why what a step was seen to depend on differs now (files read, environment
        variables, listings, existence tests; see ``LockEntry.reads``); empty when nothing
        did. A key of ``expected`` (see ``expected_reads``) that ``reads`` lacks is a change
        too: the step ran before it depended on that (but a path its modules found absent as they
        were imported, absent now too). ``values``: in a run, the digests of
        the module values the steps before this one set as they ran, as they left them (a
        ``value:`` key is compared with them); None in a status, which takes those as
        recorded."""
        changed = {}
        for key, then in reads.items():
            now = self.value(key, then, values)
            if now != then:
                changed[key] = (then, now)
            elif values and learned_kind(key) in ("unpickled", "imported"):  # a value set since
                for part in values.keys() & self.parts_of(_code_ref(key)).keys():  # it ran
                    seen = f"{VALUE_PREFIX}{part}"
                    if seen not in reads and values[part] != UNSET:
                        changed[seen] = (UNSET, values[part])
        for key in expected:
            if key in reads:
                continue
            now = self.value(key)
            if now != MISSING or not key.startswith(IMPORT_PREFIX):  # (absent then as now)
                changed[key] = ("", now)
        return learned_reasons(changed) if changed else []

    def expected_reads(self, node: StepNode, code: dict[str, str]) -> dict[str, str]:
        """Learned facts a step has before it runs: what the modules its code uses (by the
        ``path.py:name`` keys of ``code``) read while imported, and the environment variables
        it declares with ``env=[...]``; lock keys with their values."""
        found: dict[str, str] = {}
        if self.imports:
            from incr import importreads  # here: what records reads, a status does not load

            found = importreads.step_facts(self.imports, code)
            if self.instance_env:  # valued as this instance's steps see the variables
                found.update((k, self.value(k)) for k in found if k.startswith(ENV_PREFIX))
        if node.env:
            found.update({f"{ENV_PREFIX}{n}": env_value(n, self.environ) for n in node.env})
        return found

    def moved_imports(self, expected: Mapping[str, str], native: Iterable[str] = ()) -> list[str]:
        """The files the modules a step's code uses read while imported that differ now: the
        ``import:`` keys of ``expected``, valued as the import read them, and the files of
        ``native`` (those its code opens through readers written in C) that a reader in C
        opened as the pipelines were opened (``opened``). Code run now would see what the
        import made of them before (a step of this run rewrote one)."""
        if not native and not any(k.startswith(IMPORT_PREFIX) for k in expected):
            return []  # most steps: their modules read nothing as they were imported
        moved = {
            split_import_key(key)[1]
            for key, then in expected.items()
            if key.startswith(IMPORT_PREFIX) and self.value(key) != then
        }
        opened = self.opened
        moved.update(p for p in native if p in opened and self.stats.digest(p) != opened[p])
        return sorted(moved)

    def reads_to_record(
        self,
        node: StepNode,
        code: dict[str, str],
        seen: dict[str, str],
        values: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The ``LockEntry.reads`` of a step that ran and was ``seen`` reading these: with
        its ``expected_reads``, and each variable valued as this command found it (a worker
        process valued it in its own environment). The code it unpickled counts with the
        module values that code reads which steps before it set as they ran (``values``: their
        digests as those steps left them), each a ``value:`` key: a pickle file keeps its
        bytes whatever they were."""
        reads = self.expected_reads(node, code)
        for key, value in seen.items():
            kind = learned_kind(key)
            if kind in ("unpickled", "imported"):
                ref = _code_ref(key)
                if self.covered(ref, code):
                    continue  # its own code (a function it hands to workers)
                if values:
                    read = values.keys() & self.parts_of(ref).keys()
                    reads.update({f"{VALUE_PREFIX}{p}": values[p] for p in read})
            if kind in ("env", "unpickled", "imported"):
                value = self.value(key)
            reads[key] = value
        return reads

    def value(self, key: str, then: str = "", values: Mapping[str, str] | None = None) -> str:
        """The value a ``LockEntry.reads`` key has now (``then``: the value it had, which
        names the files of an ``mtimes:`` key; ``values``: see ``read_changes``)."""
        kind = learned_kind(key)
        if kind == "file":
            return self.stats.digest(key)
        if kind == "env":
            return env_value(key[len(ENV_PREFIX) :], self.environ)
        if kind == "import":
            return self.stats.digest(split_import_key(key)[1])
        if kind == "listing":
            return listing_value(
                self.project.root, key[len(LISTING_PREFIX) :], own_paths(self.project)
            )
        if kind == "times":
            return times_value(self.project.root, key[len(TIMES_PREFIX) :], then)
        if kind == "sets":
            return ""  # never the value recorded: a step that sets values always executes
        if kind in ("unpickled", "imported"):
            return self.code_of(_code_ref(key))
        if kind == "value":  # as none set it when no step before it sets it any more
            return then if values is None else values.get(key[len(VALUE_PREFIX) :], UNSET)
        if kind == "output":
            return output_value(self.locks, key[len(OUTPUT_PREFIX) :])
        if kind == "module":
            place = outside.resolve(self.project.root, key[len(MODULE_PREFIX) :])
            return self.module_code(os.path.abspath(place))
        if kind in ("net", "runs"):
            return ""  # never seen: the key is there for a note (``session.learned_notes``)
        return exists_value(self.project.root, key[len(EXISTS_PREFIX) :], then)


def _code_ref(key: str) -> str:
    """The project definition (``module:name``) whose code an ``unpickled:`` key counts, or
    the module used whole (``module:*``) that an ``imported:`` key counts."""
    if key.startswith(IMPORTED_PREFIX):
        return f"{key[len(IMPORTED_PREFIX) :]}:*"
    return key[len(UNPICKLED_PREFIX) :]


def times_value(root: Path, rel: str, then: str) -> str:
    """The order by modification time, now, of the files of folder ``rel`` that ``then`` (an
    ``mtimes:`` value) names; ``then`` cannot be read: "" (not its value)."""
    try:
        names = json.loads(then)
    except ValueError:
        return ""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return ""
    return times_order(outside.resolve(root, rel), names)


def outside_keys(reads: Iterable[str]) -> set[str]:
    """The outside keys behind ``LockEntry.reads`` keys: files read (while a step ran, or
    while a module was imported), folders listed, paths tested."""
    paths = (learned_path(key) for key in reads)
    return {path for path in paths if path is not None and outside.is_outside(path)}


def readers_of(
    writes: Mapping[str, Iterable[str]], locks: Mapping[str, LockEntry]
) -> dict[str, dict[str, str]]:
    """For each file a step was seen writing (``writes``: by step key), what each lock entry
    that read it records of it (by that entry's key): as a read, or as a dep (declared, or
    tracked for a reader written in C: ``pd.read_parquet`` of a known path)."""
    paths = {path for written in writes.values() for path in written}
    found: dict[str, dict[str, str]] = {}
    for entry in locks.values() if paths else ():
        for path in paths.intersection(entry.reads):
            found.setdefault(path, {})[entry.key] = entry.reads[path]
        for path in paths.intersection(entry.facts.deps):
            found.setdefault(path, {}).setdefault(entry.key, entry.facts.deps[path])
    return found


def written_changes(
    key: str,
    written: Iterable[str],
    readers: Mapping[str, Mapping[str, str]],
    value: Callable[[str], str],
    after: Mapping[str, Mapping[str, str]] | None = None,
    writers: Mapping[str, int] | None = None,
    as_left: Collection[str] = (),
) -> list[Reason]:
    """Why the step ``key`` must run again to write anew the files it was seen writing
    (``written``) that another step read (``readers``, see ``readers_of``): one is gone
    (``value``: a file's digest now), or one that only this step writes no longer holds what
    a step after it read when it last ran (``after``: the reads of their lock entries now, by
    key): the file is not what this step's run left (a checkout of another branch, whose runs
    wrote it, or an edit by hand), and the step after it would read it as it is. A file a
    step not after this one read may have been read before this one wrote it (each reads what
    the other writes), a file two steps write (``writers``: how many steps write each) is as
    the last one left it, and a file that holds what this step's run recorded in the lockfile
    left (``as_left``: the step ran last, the steps after it did not yet): none counts as
    edited."""
    gone, edited = [], []
    for path in written:
        if not any(reader != key for reader in readers.get(path, {})):
            continue
        now = value(path)
        if now == MISSING:
            gone.append(path)
        elif (
            path not in as_left
            and (writers or {}).get(path, 1) == 1
            and any(reads[path] != now for reads in (after or {}).values() if path in reads)
        ):
            edited.append(path)
    found = [Reason(Reason.WRITTEN_MISSING, ", ".join(gone))] if gone else []
    return found + ([Reason(Reason.WRITTEN_CHANGED, ", ".join(edited))] if edited else [])


def output_value(locks: Mapping[str, LockEntry], key: str) -> str:
    """``KIND:DIGEST`` of output ``OUTPUT`` of step ``PIPELINE.STEP`` (``key``:
    ``PIPELINE.STEP:OUTPUT``) as its lock entry records it now, or ``missing``."""
    step, _, name = key.rpartition(":")
    entry = locks.get(step)
    artifact = entry.outputs.get(name) if entry is not None else None
    return f"{artifact.kind}:{artifact.digest}" if artifact is not None else MISSING
