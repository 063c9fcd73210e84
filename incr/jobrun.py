"""One ``StepJob`` run, in whatever process an executor runs it: call the step's function in
the project root while recording what it reads, store what it returns and writes, and say
what it learned (``StepOutcome``). Nothing here knows the runner or the lockfile.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

from incr import (
    collector,
    envreads,
    globalvalues,
    lazyfiles,
    materializers,
    nativereads,
    objectstates,
    processes,
    stepcaches,
    stepcontext,
    stepimports,
    trees,
)
from incr.errors import IncrError
from incr.executors import (
    StepJob,
    StepOutcome,
    StepTools,
    dropped_value,
    load_deferred,
    split_outputs,
    user_traceback,
)
from incr.imports import command_line_of
from incr.localpackages import LocalPackages
from incr.model import (
    RUNS_PREFIX,
    SETS_PREFIX,
    UNDIGESTABLE,
    Artifact,
    StepFunction,
    paths_overlap,
)
from incr.project import module_name
from incr.reads import ReadRecorder, recording
from incr.store import UnsafePath


def run_job(
    job: StepJob,
    function: StepFunction,
    values: dict[str, Any],
    tools: StepTools,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[StepOutcome, dict[str, Any]]:
    """Run the step with its input ``values`` (emptied once it returned); the outcome and the
    values it returned, by output name (none when it failed)."""
    root = root_path(job.root)
    stepcaches.clear_caches(job.code)
    env: envreads.EnvRecorder | None = None
    put_values(job.values)
    states = stepcaches.states(job.code, job.root)  # the project objects it uses, as it finds them
    set_before = globalvalues.changed(root)
    objects = objectstates.snapshot(job.used_elsewhere, job.root)  # those others use too
    started = clock()
    failure: IncrError | None = None
    with contextlib.ExitStack() as watched:
        seen = watched.enter_context(watching_reads(job, root))
        imported = watched.enter_context(stepimports.watching())  # what it imports
        env = watched.enter_context(watching_env(job, root))
        if states and seen is not None:
            seen.follow_owners()  # which code reads what (``stepcaches.carried``)
        if env is not None and seen is not None:
            env.relay = seen.relay  # forked children report variables there too
        # Inputs in a project's format load here, and outputs are encoded here: the files
        # its materializer reads are the step's reads.
        damaged = load_deferred(tools.store, values)
        if damaged is not None:
            watched.close()
            _restore_environ(env)
            return damaged, {}
        try:
            with collector.in_step(), command_line_of(job.module):
                result = function.run_function(job.config, values)
        except (Exception, SystemExit) as exc:  # sys.exit() in a step is its failure
            watched.close()
            text = user_traceback(exc, function.func.__code__)
            _restore_environ(env)
            missing = missing_file(exc, root)
            return StepOutcome(seconds=clock() - started, failure=text, missing=missing), {}
        seconds = clock() - started
        values.clear()  # its inputs: no longer held here while its outputs are stored
        notes: list[str] = []
        try:
            outputs = split_outputs(job, result)
            encoded = encode_outputs(job, outputs, function, notes)
            if lazy := lazyfiles.lazy_outputs(outputs):  # the files they name are its reads
                lazyfiles.report_named(outputs, job.root)
        except IncrError as exc:
            failure = exc
    set_here = _restore_environ(env)
    if failure is not None:
        return StepOutcome(seconds=seconds, failure=failure.format()), {}
    try:
        artifacts = store_outputs(job, encoded, tools)
        unfollowed = seen.unfollowed() if seen is not None and seen.programs else []
        named = seen.read_named(unfollowed) if seen is not None and unfollowed else []
        if unfollowed and not job.deps:  # deps: the user took charge
            notes.append(processes.note(unfollowed, named))
        before = tuple(sorted(env.set_before)) if env is not None else ()
        if before:
            notes.append(_set_before_note(job, before))
        if set_here:
            notes.append(_sets_environ_note(job, set_here))
        relayed = seen.relayed_env if seen else set()
        names = frozenset(env.names | relayed) if env is not None else frozenset()
        reads = reads_of(job, seen, tools, imported)
        set_values = globalvalues.set_since(set_before, root, also=job.sets)
        set_values = sorted({*set_values, *_objects_set(job, objects, seen, reads)})
        if set_values:
            notes.append(_sets_values_note(job, set_values))
        if seen is not None:  # with what the objects it uses carry
            reads = stepcaches.carried(job.code, states, reads, seen.owned, job.root)
        values, digests = values_of(set_values)
        outcome = StepOutcome(
            artifacts,
            seconds,
            reads={
                **reads,
                **{SETS_PREFIX + p: SET for p in set_values},
                **{RUNS_PREFIX + p: "" for p in _programs(unfollowed)},  # for incr status
            },
            env=tuple(sorted(names)),
            env_set_before=before,
            deps=deps_written(job, seen, tools),
            writes=(writes := tuple(writes_of(job, seen))),
            appends=tuple(p for p in seen.appended_paths() if p in writes) if seen else (),
            appended_from=seen.appended_from(writes) if seen else (),
            rewritten=seen.rewritten_from(writes) if seen else (),
            warnings=dropped_value(job, result),
            lazy=lazy,
            notes=tuple(notes),
            values=values,
            value_digests=digests,
        )
        return outcome, outputs
    except IncrError as exc:
        return StepOutcome(seconds=seconds, failure=exc.format()), {}
    except OSError as exc:  # the disk, not the step: say what could not be written
        text = f"error: step {job.key} ran, but its results could not be stored: {exc}"
        text += "\n  hint: free some space or fix permissions and run again; "
        text += "pipeline.lock keeps its last good state"
        return StepOutcome(seconds=seconds, failure=text), {}


def _programs(unfollowed: list[str]) -> list[str]:
    """The programs not followed that ``incr status`` keeps noting: not Python, whose
    processes are not followed for reasons of their start (one still starting when the step
    ended: a lockfile must not depend on that)."""
    return [p for p in unfollowed if not p.startswith("python")]


def missing_file(exc: BaseException, root: Path) -> str:
    """The project file (root-relative) whose absence made the step fail, when ``exc`` (or an
    exception it was raised from or while handling) is a FileNotFoundError, or a reader in C's
    error (``nativereads.MISSING``), naming a path inside ``root`` that still does not exist;
    "" otherwise."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = cause.filename if isinstance(cause, FileNotFoundError) else None
        name = name or getattr(cause, nativereads.MISSING, None)  # a reader in C's error
        if isinstance(name, str | bytes | os.PathLike):
            path = Path(os.path.abspath(root / os.fsdecode(name)))
            with contextlib.suppress(ValueError, OSError):
                rel = path.relative_to(root).as_posix()
                if not os.path.lexists(path) and not rel.startswith(".pipecache/"):
                    return rel
        cause = cause.__cause__ or cause.__context__
    return ""


def encode_outputs(
    job: StepJob, outputs: dict[str, Any], step: Any = None, notes: list[str] | None = None
) -> dict[str, materializers.Stored]:
    """The returned values as their materializers store them; ``step`` (the ``@step`` object)
    chooses its outputs' materializers, and ``notes`` gets how an output was stored when not
    as asked (a pickle fallback)."""
    encoded: dict[str, materializers.Stored] = {}
    formats = materializers.output_formats(step)
    for name, value in outputs.items():
        where = f"step {job.key}, output {name}"
        encoded[name] = materializers.encode(value, where, *formats.get(name, (None, None)))
        if notes is not None:
            notes += encoded[name].notes
            lazy = lazyfiles.lazy_kind(value)
            if lazy is not None and not job.track_reads and not (job.deps or job.tracked):
                notes.append(lazyfiles.untracked_note(where, lazy))
    return encoded


def store_outputs(
    job: StepJob, encoded: dict[str, materializers.Stored], tools: StepTools
) -> dict[str, Artifact]:
    """Put the encoded values (``encode_outputs``) and the ``outs`` files in the store."""
    artifacts: dict[str, Artifact] = {}
    for name, stored in encoded.items():
        refs = tools.object_refs(stored.kind, stored.parts, stored.names)
        artifacts[name] = Artifact(stored.kind, tools.store.put_parts(stored.parts), refs)
    root = root_path(job.root) if job.outs else None
    for out in job.outs:
        assert root is not None
        path = root / out
        if path.is_dir():
            artifacts[out] = Artifact("dir", _put_tree(job, out, tools))
        elif path.is_file():
            mode = trees.mode_field(path.stat().st_mode, False)
            artifacts[out] = Artifact("file", tools.store.put_file(path), mode=mode)
        else:
            raise IncrError(
                f"step {job.key} did not write {out}, which it lists in outs",
                hint="write the file in the step, or remove it from outs=[...]",
            )
    return artifacts


def _put_tree(job: StepJob, out: str, tools: StepTools) -> str:
    root = root_path(job.root)
    try:
        return tools.store.put_tree(root / out, root)
    except UnsafePath as exc:
        raise IncrError(
            f"step {job.key} cannot store {out}: {exc}",
            hint="make the link point inside the project, or copy the file it leads to",
        ) from None


@functools.lru_cache(maxsize=8)
def root_path(root: str) -> Path:
    """The project root of a job (``StepJob.root``) as a ``Path``, made once per process: made
    anew for each step, it and its string (``os.chdir``) cost 10 us a step."""
    return Path(root)


@contextlib.contextmanager
def watching_reads(job: StepJob, root: Path) -> Iterator[ReadRecorder | None]:
    """Run the block as a step: in the project root (whatever folder an earlier step moved
    to), recording what it reads, lists and tests unless ``track_reads`` is off."""
    os.chdir(root)
    try:
        with stepcontext.Running(
            job.key, job.step, job.outputs, job.cache, stepcontext.history(root)
        ):
            if not job.track_reads:
                yield None
                return
            with recording(root, job.exclude, children=True) as recorder:
                yield recorder
    finally:
        os.chdir(root)


def watching_env(job: StepJob, root: Path) -> contextlib.AbstractContextManager[Any]:
    """Record the environment variables the project's code reads while the step runs (the
    ``envreads.EnvRecorder``; None when it does not record its reads)."""
    return envreads.recording(root) if job.track_reads else contextlib.nullcontext()


#: The ``reads`` value of a file that changed while the step that read it ran.
CHANGED_WHILE_READ = "changed while read"


def reads_of(
    job: StepJob,
    seen: ReadRecorder | None,
    tools: StepTools,
    imported: stepimports.Before | None = None,
) -> dict[str, str]:
    """What the step was seen to depend on beyond what it declares: digests of the files it
    read (as it left them, when it rewrote them in place: see ``incr.reads``), its listings
    and existence tests (``ls:``/``exists:`` keys), the modules it imported from local code
    where its code fingerprint does not look (``module:`` keys; ``imported``: what was
    imported before it ran, see ``incr.stepimports``). Environment variables: ``env``."""
    if seen is None:
        return {}
    modules = {}
    if imported is not None:
        root, code_at = seen.root.rstrip(os.sep), LocalPackages(tools.stats).code_at
        modules = stepimports.learned(job.packages, imported, root, seen.relative, code_at)
    declared = (*job.deps, *job.tracked, *job.outs)
    paths = [p for p in seen.paths() if not any(paths_overlap(p, d) for d in declared)]
    reads = {p: tools.stats.digest(p) for p in paths}
    for p in seen.changed_while_read():  # edited while the step ran: no digest says what
        if p in reads:  # it read, and the next status must find it changed
            reads[p] = CHANGED_WHILE_READ
    for key, value in [*seen.learned().items(), *modules.items()]:
        path = key.partition(":")[2]
        if not any(within(path, d) for d in declared):
            reads[key] = value
    return reads


def deps_written(job: StepJob, seen: ReadRecorder | None, tools: StepTools) -> dict[str, str]:
    """Deps the step wrote into, digested as it left them: declared ones, and those tracked
    because a reader written in C opens them (``pq.write_table`` then ``pq.read_table``)."""
    if seen is None or not (job.deps or job.tracked):
        return {}
    written = [seen.relative(p) for p in seen.changed]
    deps = [d for d in (*job.deps, *job.tracked) if any(within(w, d) for w in written)]
    return {d: tools.stats.digest(d) for d in deps}


def writes_of(job: StepJob, seen: ReadRecorder | None) -> list[str]:
    """The files the step opened for writing, besides its outs, but for those of its outs it
    first opened to append to: what they held before stays (``incr.appendbase``)."""
    kept = set(seen.appended_paths()) if seen is not None else set()
    paths = seen.written_paths() if seen is not None else []
    return [p for p in paths if p in kept or not any(paths_overlap(p, o) for o in job.outs)]


def within(path: str, other: str) -> bool:
    """True when ``path`` is ``other`` or inside it (root-relative POSIX paths)."""
    a, b = path.rstrip("/"), other.rstrip("/")
    return a == b or a.startswith(b + "/") or b == "."


def put_values(values: dict[str, Any]) -> None:
    """Set each module value of ``values`` (by ``path:name`` code part) in its module,
    imported here if it is not yet: a step run in another process than the steps that set
    them as they ran sees them as a serial run shows them."""
    for part, value in values.items():
        module, name = stepcaches.held(part)
        path = part.rpartition(":")[0]
        with contextlib.suppress(Exception):  # (the step's own import then says why)
            module = module or import_module(module_name(Path(), Path(path)))
            objectstates.put(module, name, value)


def values_of(parts: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The values now of the module values ``parts`` (``path:name`` code parts), and the
    digests of those that are not plain (``objectstates.digest_of``): one that cannot be
    digested is not passed on (a step in another process imports its own)."""
    found, digests = {}, {}
    for part in parts:
        module, name = stepcaches.held(part)
        if module is not None and name in vars(module):
            value = vars(module)[name]
            if not globalvalues.is_plain(value):
                where = f"{name} in {part.rpartition(':')[0]}"
                digests[part] = objectstates.digest_of(value, where)
                if digests[part].startswith(UNDIGESTABLE):
                    continue
            found[part] = objectstates.carried(value)
    return found, digests


def _objects_set(
    job: StepJob,
    before: dict[str, tuple[int, Any]],
    seen: ReadRecorder | None,
    reads: dict[str, str],
) -> list[str]:
    """The module-level objects the step changed as it ran (``objectstates.changed``) that
    another step's code uses too; a project object its class's code filled from files is a
    lazy loader's, not counted."""
    if not before:
        return []
    owned = seen.owned if seen is not None else (lambda _: set())
    return objectstates.changed(
        before, lambda value: stepcaches.lazily_loaded(value, owned, reads, job.root), job.root
    )


def _restore_environ(env: envreads.EnvRecorder | None) -> list[str]:
    """Put back as they were before the step the variables the step's own code set or
    removed; those that changed. The steps after it start with the environment the run
    started with, in any process and whichever steps ran (a cached step sets nothing). What a
    library sets when imported (``KMP_INIT_AT_FORK`` by scikit-learn) stays."""
    return env.restore() if env is not None and env.set_here else []


def _sets_environ_note(job: StepJob, names: list[str]) -> str:
    listed = ", ".join(f"${n}" for n in names)
    return (
        f"step {job.key} sets {listed} in the environment, which the steps after it do not "
        "see: each step starts with the environment the run started with; set the variable "
        "at a module's top level, or pass the value as a config or an input"
    )


#: The ``reads`` value of a ``sets:`` key (``model.SETS_PREFIX``): never a value now.
SET = "set as it ran"


def _sets_values_note(job: StepJob, parts: list[str]) -> str:
    by_path: dict[str, list[str]] = {}
    for path, _, name in (part.rpartition(":") for part in parts):
        by_path.setdefault(path, []).append(name)
    listed = "; ".join(f"{', '.join(names)} in {path}" for path, names in by_path.items())
    iterators, unreadable = objectstates.iterators(parts)
    if iterators and len(objectstates.generators(parts)) == len(parts):
        rerun = (
            ", and those steps rerun every time: incr cannot copy or compare the position of "
            + ", ".join(p.rpartition(":")[2] for p in unreadable)
            if unreadable
            else ""
        )
        return (
            f"step {job.key} draws from {listed}, which other steps draw from too: each draw "
            "moves it on, so the steps after it get other items unless it executes: it "
            f"executes on every run while a step after it draws from it{rerun}; make the "
            "iterator in each step drawing from it (iter(...) in its body), or pass the items "
            "it draws on as an input, to have it reused"
        )
    if len(objectstates.generators(parts)) == len(parts):
        return (
            f"step {job.key} draws from {listed}, which other steps draw from too: each draw "
            "moves it on, so the steps after it get other numbers unless it executes: it "
            "executes on every run while a step after it draws from it; give each step its own "
            "generator (np.random.default_rng(SEED) in its body, or a seed in its config) to "
            "have it reused"
        )
    return (
        f"step {job.key} sets {listed} as it runs: a step after it sees the value only when "
        "this step executes, so it executes on every run while a step after it uses the "
        "value (those steps are decided on the value it leaves); return the value from this "
        "step and pass it on as an input to have it reused"
    )


def _set_before_note(job: StepJob, names: tuple[str, ...]) -> str:
    listed = ", ".join(f"${n}" for n in names)
    return (
        f"step {job.key} reads {listed}, which a step run before it in this process set: its "
        "result depends on which steps ran, so it reruns every time; set the variable at a "
        "module's top level, or pass the value as a config or an input"
    )
