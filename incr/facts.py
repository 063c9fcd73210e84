"""A step's facts as they are now: its code parts (closures, packages, Python version), the
files it opens through readers written in C, its deps, and the notes on what incr cannot
follow in its code."""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping

from incr import gate, outside, zoneid
from incr.digests import digest_bytes, faithful_config
from incr.errors import DefinitionError
from incr.fingerprint import SETTINGS, global_random_fix
from incr.hashing import MISSING, StatCache
from incr.imports import script_arguments
from incr.localclock import is_local_time
from incr.localpackages import LocalPackages
from incr.model import (
    BOUND_PREFIX,
    DIST,
    IMPORTED_PREFIX,
    PROCESS_WIDE,
    RUNS_PREFIX,
    UNREACHED,
    VALUE_PREFIX,
    Artifact,
    Facts,
    LockEntry,
    PipelineGraph,
    StepNode,
    TracedPipeline,
    paths_overlap,
)
from incr.packages import PackageVersions
from incr.plan import cache_enabled, read_values
from incr.project import Project
from incr.randomdraws import OUTPUT_ONLY, is_command_line_read, is_library_setting
from incr.sources import CodeSources

#: The Python minor version: part of every code fingerprint (the standard library counts by it).
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


class StepFacts:
    """The facts of steps, computed from the project's code and files as they are now."""

    def __init__(
        self, project: Project, stats: StatCache, sources: CodeSources, packages: PackageVersions
    ) -> None:
        self.project = project
        self.stats = stats
        self.sources = sources
        self.packages = packages
        #: Packages imported from local code, counted by their files (``incr.localpackages``).
        self.local = LocalPackages(stats)
        self._object_codes: dict[tuple[str, ...], str] = {}
        self._object_parts: dict[tuple[str, ...], dict[str, str]] = {}
        #: Module values set as the project modules were imported (``incr.globalvalues``), by
        #: code part: those of the pipelines this command judges (one import, the same values).
        self.values: dict[str, str] = {}
        #: The ``outs`` of every step of the pipelines this command judges: a deps path one of
        #: them writes (another pipeline's step) is no error while it is missing.
        self.declared_outs: set[str] = set()
        #: By pipeline: the traced pipeline, its steps' own code parts, each step's (by name).
        self._step_parts: dict[str, tuple[TracedPipeline, set[str], dict[str, str]]] = {}
        #: Per step (by its key, with the node they are of): its code parts and the files its
        #: C readers open, asked by the status walk and again by the run. (Not by ``id()``:
        #: once a run records reads, each ``id()`` call is an audit event every hook hears.)
        self._code: dict[str, tuple[StepNode, dict[str, str]]] = {}
        self._settings: dict[str, str] | None = None  # (``processwide``: the same for all)
        self._native: dict[str, tuple[StepNode, tuple[list[str], list[str]]]] = {}
        #: The top-level names of the packages each step's code imports (by its key).
        self.imported: dict[str, tuple[str, ...]] = {}

    def input_identity(self, artifact: Artifact, values: Mapping[str, str] | None = None) -> str:
        """What a consumer's facts hold for an upstream output: its digest, plus the digest
        of the project code it refers to, as that code is now (see ``objectcode``), with the
        module values set at run time that this code reads (``values``: the traced
        pipeline's, by code part; ``incr.globalvalues``). A lazy handle's digest comes with
        that of the files it reads (``Artifact.identity``)."""
        if not artifact.refs:
            return artifact.identity
        from incr.objectcode import code_digest, input_identity  # refer to code

        parts = self.refs_parts(artifact.refs)
        if values and not values.keys().isdisjoint(parts):
            return input_identity(artifact.identity, code_digest(parts, values))
        code = self._object_codes.get(artifact.refs)
        if code is None:
            code = self._object_codes[artifact.refs] = code_digest(parts)
        return input_identity(artifact.identity, code)

    def recorded_identity(
        self, values: Mapping[str, str], locked: LockEntry | None, artifact: Artifact
    ) -> str:
        """``input_identity`` with the module values set at run time (``values``) and those
        ``locked`` recorded as set before its step (``plan.read_values``), which a status takes
        as they were; looked up only for an output that refers to code (most refer to none)."""
        if not artifact.refs:
            return artifact.identity
        return self.input_identity(artifact, {**values, **read_values(locked)} or None)

    def refs_parts(self, refs: tuple[str, ...]) -> dict[str, str]:
        """The code parts of the project definitions ``refs`` (``module:name``: those an
        output refers to) as they are now (see ``objectcode.object_parts``)."""
        parts = self._object_parts.get(refs)
        if parts is None:
            from incr.objectcode import object_parts

            parts = object_parts(refs, self.sources.closure, self.package)
            self._object_parts[refs] = parts
        return parts

    def values_read(
        self, artifacts: Iterable[Artifact | None], values: Mapping[str, str]
    ) -> dict[str, str]:
        """The ``value:`` keys of the module values of ``values`` (by part, to its digest)
        that the code of ``artifacts`` (a step's inputs) reads: what a run records among the
        step's reads, with those steps before it set (see ``plan.read_values``)."""
        found: dict[str, str] = {}
        for artifact in artifacts:
            if values and artifact is not None and artifact.refs:
                read = values.keys() & self.refs_parts(artifact.refs).keys()
                found.update({f"{VALUE_PREFIX}{p}": values[p] for p in sorted(read)})
        return found

    def ref_code(self, ref: str) -> str:
        """The digest of the code of project definition ``ref`` (``module:name``) as it is
        now, with the versions of the packages it imports and the values set at run time
        that it reads (``values``; see ``objectcode.code_digest``)."""
        from incr.objectcode import code_digest

        parts = self.ref_parts(ref)
        if self.values and not self.values.keys().isdisjoint(parts):
            return code_digest(parts, self.values)
        key = (ref,)
        if key not in self._object_codes:
            self._object_codes[key] = code_digest(parts)
        return self._object_codes[key]

    def ref_parts(self, ref: str) -> dict[str, str]:
        """The code parts (``path:name`` to digest, and package versions) of project
        definition ``ref`` (``module:name``) as it is now (see ``objectcode.object_parts``)."""
        return self.refs_parts((ref,))

    def ref_covered(self, ref: str, code: dict[str, str]) -> bool:
        """True when code facts ``code`` hold the closure of ``ref`` (``module:name``): the
        step's own code uses it (a function it hands to a pool's workers; ``module:*``, a
        module it imported by name as it ran: its code uses that module whole, as
        ``import_module(f"pipelines.models.{name}")`` does each module named so)."""
        module, _, name = ref.partition(":")
        parts = self.sources.closure(module, name).parts
        return bool(parts) and all(code.get(k) == v for k, v in parts.items())

    def code_facts(self, traced: TracedPipeline, node: StepNode) -> dict[str, str]:
        """Code parts of a step: its closure's digests, the closures of its ``code_deps``,
        third-party package versions, the Python minor version and its ``version`` string."""
        known = self._code.get(node.key)
        if known is not None and known[0] is node:
            return known[1]
        parts = self._code_facts(traced, node)
        self._code[node.key] = (node, parts)
        return parts

    def _code_facts(self, traced: TracedPipeline, node: StepNode) -> dict[str, str]:
        code = traced.code[node.name]
        parts: dict[str, str] = {"python": PYTHON}
        packages: set[str] = set()
        argv = local = False
        closures = []
        for ref in (code.func, *code.deps, *code.captured):
            if ref.package is not None:
                packages.add(ref.package)
            elif ref.own_digest is not None:
                parts[f"{ref.source_file}:{ref.qualname}"] = ref.own_digest
            else:
                closure = self.sources.closure(ref.module, ref.qualname)
                closures.append(closure)
                parts.update(closure.parts)
                packages |= closure.packages
                if closure.dynamic:
                    argv = argv or any(is_command_line_read(n) for n in closure.dynamic)
                    local = local or any(is_local_time(n) for n in closure.dynamic)
        if self._settings is None:  # what the project's modules set for the whole process
            self._settings = self.sources.closure(SETTINGS, "").parts  # as they are imported
        parts.update(self._settings)
        if argv and (arguments := script_arguments()):  # python pipelines/x.py --n 5
            parts["argv"] = digest_bytes(json.dumps(arguments).encode(), 32)
        if local:  # its results depend on the machine's time zone (``incr.localclock``)
            parts[zoneid.PART] = zoneid.zone()
        imported = self.imported[node.key] = tuple(sorted(packages)) if packages else ()
        if self._shares_code(traced, node, parts):
            parts["entry"] = f"{node.source_file}:{node.func_name}"
        for package in imported:
            if package.startswith(DIST):  # asked for by name: its version alone counts
                dist, version = self.packages.distribution(package.removeprefix(DIST))
                parts[f"pkg:{dist}"] = version
                continue
            dist, version = self.package(package)
            parts[f"pkg:{dist}"] = version
            if not version.startswith("files:"):  # an installed one: what it requires too
                for required, at in self.packages.requirements(dist):
                    parts.setdefault(f"pkg:{required}", at)
        if code.version is not None:
            parts["version"] = code.version
        if code.values:
            parts.update({f"captured:{name}": digest for name, digest in code.values})
        if traced.values:  # set at run time (``incr.globalvalues``)
            bound: dict[str, set[str]] = {}  # part -> the names imported by name it is read by
            direct: set[str] = set()  # parts read otherwise too
            for closure in closures:
                direct.update(p for p in closure.parts if p not in closure.bound)
                for part, names in closure.bound.items():
                    bound.setdefault(part, set()).update(names)
            parts.update(_values(traced.values, parts, bound, direct))
        return parts

    def package(self, name: str) -> tuple[str, str]:
        """(distribution, version) of a third-party top-level package; ``files:DIGEST`` for
        the version of one imported from local code (see ``incr.localpackages``)."""
        dist, version = self.packages.lookup(name)
        return dist, self.local.version(name) or version

    def _shares_code(self, traced: TracedPipeline, node: StepNode, parts: dict[str, str]) -> bool:
        """True when another step could have the same code parts: functions made by one
        factory count by that factory, and steps that fill one registry reach each other
        through it. Which function is the step then tells them apart (the ``entry`` part)."""
        func = traced.code[node.name].func
        if func.own_digest is None and func.qualname != node.func_name:
            return True
        steps = self._step_parts.get(traced.graph.name)
        if steps is None or steps[0] is not traced:
            own = {n: f"{c.func.source_file}:{c.func.qualname}" for n, c in traced.code.items()}
            steps = self._step_parts[traced.graph.name] = (traced, set(own.values()), own)
        reached = steps[1].intersection(parts)  # other than its own part alone
        return bool(reached) and (len(reached) > 1 or steps[2][node.name] not in reached)

    def uncached(self, traced: TracedPipeline, node: StepNode) -> list[tuple[str, str]]:
        """(name, type) of each value the step's function captures that incr cannot digest:
        such a step always reruns."""
        return traced.code[node.name].uncached()

    def notes(
        self, traced: TracedPipeline, node: StepNode, locked: LockEntry | None = None
    ) -> list[str]:
        """Places in the step's code that look things up by name at run time (none once the
        step lists ``code_deps`` or sets a ``version``: the user has taken charge), and that
        draw from a global random generator (see ``randomdraws.global_random_draws``). The
        imports by a computed name are left out when the step, as it last ran (``locked``),
        imported project modules so: those count (``imported:`` keys)."""
        code = traced.code[node.name]
        ref = code.func
        if ref.own_digest or ref.package:
            return []
        closure = self.sources.closure(ref.module, ref.qualname)
        if not (found := closure.dynamic):
            return []  # most steps
        notes = [n for n in found if not is_local_time(n)]  # counted: the ``tz`` code part
        whole = closure.parts  # a module counted whole: its ``globals()`` lookups are counted
        notes = [n for n in notes if not (n.startswith("globals() in ") and _whole(n, whole))]
        if locked is not None and any(k.startswith(IMPORTED_PREFIX) for k in locked.reads):
            notes = [n for n in notes if n.partition(" in ")[0] not in _IMPORT_CALLS]
        if code.deps or code.version is not None:  # code_deps do not seed a random generator
            return [n for n in notes if global_random_fix(n) or is_command_line_read(n)]
        return notes

    def process_settings(self, traced: TracedPipeline, node: StepNode) -> list[str]:
        """The library's process-wide settings the step's code makes (``csv.register_dialect()``,
        ``randomdraws.GLOBAL_SETTINGS``), as ``PROCESS_WIDE`` code parts: the step sets them
        as it runs, for every step run after it (``incr.setters``)."""
        ref = traced.code[node.name].func
        if ref.own_digest or ref.package:
            return []
        found = self.sources.closure(ref.module, ref.qualname).dynamic
        if not found:
            return []  # most steps
        calls = {n.partition(" in ")[0] for n in found if is_library_setting(n)}
        calls = {c for c in calls if not c.startswith(OUTPUT_ONLY)}  # a warning filter
        return [f"{PROCESS_WIDE}{call}" for call in sorted(calls)]

    def native_reads(self, traced: TracedPipeline, node: StepNode) -> tuple[list[str], list[str]]:
        """Files the step's code opens through readers written in C (``pd.read_parquet``,
        ``h5py.File``, ``sqlite3.connect``...), which the read recorder cannot see: (the ones
        known before it runs, tracked as deps; notes for the others). See ``incr.creaders``."""
        known = self._native.get(node.key)
        if known is not None and known[0] is node:
            return known[1]
        found = self._native_reads(traced, node)
        self._native[node.key] = (node, found)
        return found

    def native_paths(self, traced: TracedPipeline) -> Callable[[StepNode], list[str]]:
        """The files known before it runs that each step of ``traced`` opens through readers
        written in C (``native_reads``), for ordering it after their writer."""
        return lambda node: self.native_reads(traced, node)[0]

    def _native_reads(self, traced: TracedPipeline, node: StepNode) -> tuple[list[str], list[str]]:
        code = traced.code[node.name]
        readers = []
        for i, ref in enumerate((code.func, *code.deps)):
            if ref.package is None and ref.own_digest is None:
                found = self.sources.closure(ref.module, ref.qualname).readers
                readers += [r for r in found if i == 0 or r[2] != "config"]
        if not readers:
            return [], []  # most steps: no reader written in C
        from incr.creaders import step_files

        root = str(self.project.root)
        key = functools.partial(outside.key_for, root=root)
        return step_files(readers, node.config, node.deps, node.outs, root, key)

    def static_facts(
        self,
        traced: TracedPipeline,
        node: StepNode,
        inputs: dict[str, str],
        native: tuple[list[str], list[str]] | None = None,
    ) -> Facts:
        """A step's facts with the given input digests: code, config and deps read now (with
        the files it opens through native readers: ``native``, or ``native_reads``)."""
        deps = {path: self._digest(node, path) for path in node.deps} if node.deps else {}
        native = native or self.native_reads(traced, node)
        opened = {path: self._digest(node, path) for path in native[0]} if native[0] else None
        if deps:
            self._check_deps(traced, node, deps)
        code, config = self.code_facts(traced, node), faithful_config(node.config)
        return Facts(code, config, inputs, {**deps, **opened} if opened else deps)

    def check_deps(self, traced: TracedPipeline, nodes: list[StepNode]) -> None:
        """Raise DefinitionError for the first of ``nodes`` with a deps path that does not
        exist and that no other step writes (``declared_outs``): a ``repro`` checks them all
        before any step runs, as its status pass does when the graphs are saved."""
        for node in nodes:
            self._check_deps(traced, node, {p: self._digest(node, p) for p in node.deps})

    def _check_deps(self, traced: TracedPipeline, node: StepNode, deps: dict[str, str]) -> None:
        for path, digest in deps.items():
            if digest == MISSING and not _written_by_another(
                traced, node, path, self.declared_outs
            ):
                if any(c in path for c in "*?["):
                    folder = path[: min(path.find(c) for c in "*?[" if c in path)]
                    folder = folder.rpartition("/")[0] or "."
                    raise DefinitionError(
                        f"step {node.key}: deps path {path!r} is a pattern, and deps takes "
                        "the paths of files and folders",
                        hint=f"list the folder (deps=[{folder!r}]: every file in it counts) "
                        "or each file",
                    )
                raise DefinitionError(
                    f"step {node.key}: deps path {path!r} does not exist",
                    hint="create it, fix the path in deps=[...], or have a step of this "
                    "pipeline write it with outs=[...]",
                )

    def _digest(self, node: StepNode, path: str) -> str:
        try:
            return self.stats.digest(path)
        except OSError as exc:
            raise symlink_loop(node, path, exc) or exc from None


def symlink_loop(node: StepNode, path: str, exc: OSError) -> DefinitionError | None:
    """The error for a deps path that is, or goes through, a symlink loop; None for others."""
    if exc.errno != errno.ELOOP:
        return None
    return DefinitionError(
        f"step {node.key}: deps path {path!r} leads into a symlink loop (links that lead back to "
        "themselves, never to a file)",
        hint=f"fix or remove the link in {path!r}, or take it out of deps=[...]",
    )


def _written_by_another(
    traced: TracedPipeline, node: StepNode, path: str, declared: set[str]
) -> bool:
    """Whether another step writes ``path``: of this pipeline, or of another one (``declared``:
    the ``outs`` of every step judged, ``node``'s own left out)."""
    if any(paths_overlap(path, out) for out in declared if out not in node.outs):
        return True
    return any(
        paths_overlap(path, out) for n in traced.graph.steps if n is not node for out in n.outs
    )


#: How the notes on a call importing a module by a computed name begin.
_IMPORT_CALLS = ("import_module()", "__import__()")


def learned_notes(
    node: StepNode, locked: LockEntry | None, graph: PipelineGraph
) -> tuple[str, ...]:
    """The notes on a step of ``graph`` that, as it last ran, connected to internet addresses
    (unless it expires or is not cached: at the step's, pipeline's or run's level) or started
    programs incr does not follow (unless it lists ``deps``): the user takes charge so."""
    if locked is None or not locked.reads:
        return ()
    notes = []
    net = gate.network_note(locked.reads) if node.cache_expires is None else ""
    if net and cache_enabled(node, graph.enable_cache, graph.run_cache):
        notes.append(net)
    programs = [key[len(RUNS_PREFIX) :] for key in locked.reads if key.startswith(RUNS_PREFIX)]
    if programs and not node.deps:
        from incr import processes  # here: only a step that started programs needs it

        notes.append(processes.status_note(programs))
    return tuple(note for note in notes if note)


def _values(
    values: dict[str, str], parts: dict[str, str], bound: dict[str, set[str]], direct: set[str]
) -> dict[str, str]:
    """The ``value:`` code parts of the values set at run time that code parts ``parts`` read.
    A value the code reads only through names modules imported by name (``from
    pipelines.consts import WIDTH``: ``bound``) counts as those names hold it
    (``globalvalues.changed``): a value set on ``consts.WIDTH`` after the import does not reach
    the code; one set before counts as ``value of WIDTH in pipelines/m_steps.py``."""
    found = {}
    for part in parts:
        names = bound.get(part) if part not in direct else None
        reached = not names
        for name in sorted(names or ()):
            held = values.get(name) or values.get(f"{BOUND_PREFIX}{name}")  # set since, or taken
            if held is None:
                reached = True  # (a value counted whatever it is: as the module holds it)
            elif held != UNREACHED:
                found[f"value:{name}"] = held
        if reached and part in values:
            found[f"value:{part}"] = values[part]
    return found


def _whole(note: str, parts: Mapping[str, str]) -> bool:
    """Whether the module a note's place is in (``globals() in pipelines/flow.py:featurize``)
    counts whole among ``parts`` (``pipelines/flow.py:*``)."""
    return f"{note.partition(' in ')[2].rpartition(':')[0]}:*" in parts
