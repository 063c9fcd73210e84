"""How a step's function runs: the ``Executor`` seam the scheduling loop drives.

The loop (``incr.scheduler``) decides every step itself (fingerprint, cache, run cache, early
cutoff), restores and records results, and handles failures; an executor only runs the steps
the loop hands it, as ``StepJob`` values, and hands back a ``StepOutcome`` for each:

    while a step is ready and executor.capacity() > 0: executor.start(job)
    job, outcome = executor.wait()        # blocks until one of the started jobs is done

A ``StepJob`` is plain data (picklable when the step's config is): what a process on another
machine needs to run the step against the same project and object store. ``run_job`` is that
run (``incr.jobrun.run_job``): call the function with the input values while recording what
it reads, store what it returns and writes, say what it learned.

Executors: ``inprocess.InProcessExecutor`` (one step at a time in this process, values kept in
memory for the steps after it), ``pool.PoolExecutor`` (forked workers: ``--jobs``),
``dryrun.DryRunExecutor`` (runs nothing: ``repro --dry-run``).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from incr.errors import IncrError, MaterializeError
from incr.hashing import StatCache
from incr.model import Artifact
from incr.store import ObjectCorrupt, ObjectMissing, Store
from incr.valueclass import valueclass


@valueclass(frozen=True)
class StepJob:
    """One run of one step, as plain data.

    The step's function is ``getattr(import_module(module), qualname)`` (an ``api.Step``,
    called as ``run_function(config, values)``); executors of this process find it among the
    traced steps by ``step`` instead (a step made by a factory or in ``__main__`` has no
    importable name). ``inputs`` maps each parameter to the (digest, kind) of the upstream
    output it receives, to be loaded from the object store in ``cache`` (``load_artifact``).
    """

    pipeline: str
    step: str  # the step's name in its pipeline
    key: str  # pipeline.step, for messages
    module: str
    qualname: str
    config: Any
    inputs: dict[str, tuple[str, str]]  # parameter -> (digest, kind)
    outputs: tuple[str, ...]  # names of the values it returns (``Output(...)``)
    deps: tuple[str, ...]  # declared files read (not recorded again as reads)
    outs: tuple[str, ...]  # declared files written: stored as outputs
    root: str  # the project root: the step runs there
    cache: str  # the object store folder (``.pipecache``)
    track_reads: bool  # record the files and environment variables the step reads
    exclude: tuple[str, ...] = ()  # incr's own paths: never a read
    #: Outputs a later step of the run takes: an executor that keeps values may keep these.
    keep: tuple[str, ...] = ()
    #: The project definitions its code uses (``path:name`` code parts): the ones holding a
    #: ``functools`` cache start the step empty (``stepcaches.clear_caches``).
    code: tuple[str, ...] = ()
    #: Those that the code of another step of its pipeline uses too: a module-level object
    #: among them that it changes is a value it sets (``objectstates``); one only it uses is
    #: its own business.
    used_elsewhere: tuple[str, ...] = ()
    #: Inputs that another step of the run still takes after this one: a value kept in
    #: memory is given to this step as a copy (``load_inputs``), so that a step changing its
    #: input in place (``df.fillna(0, inplace=True)``) changes nothing the others get.
    shared: tuple[str, ...] = ()
    #: Files tracked as deps that it does not declare (opened by a reader written in C at a
    #: path known before it ran: ``creaders``): not recorded again as reads.
    tracked: tuple[str, ...] = ()
    #: The module values (``path:name``) it set as it ran last time (its lock entry's
    #: ``sets:`` keys): recorded again while they differ from their import (``set_since``).
    sets: tuple[str, ...] = ()
    #: The module values its code uses that steps before it set as they ran (``path:name``
    #: to the value): set in this process before it runs, which may not be theirs.
    values: dict[str, Any] = field(default_factory=dict)
    #: The top-level names of the modules its code imports that are not the project's: looked
    #: up again as it imported them (``incr.stepimports``).
    packages: tuple[str, ...] = ()


@valueclass
class StepOutcome:
    """What running a ``StepJob`` left: stored outputs and what the run showed, or a failure.

    ``failure`` is the text ``StepFailed`` shows (the user's traceback, or why results could
    not be stored). ``damaged`` names the input parameter whose object was missing or damaged
    in the store (``failure`` then says which): the loop recomputes its producer and starts
    the job again. ``ran`` is False when nothing ran (a dry run): no outputs are known.
    """

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    seconds: float = 0.0  # the step's own run time, queueing and loading excluded
    failure: str | None = None
    damaged: str | None = None
    #: With ``failure``: the project file (root-relative) the step failed to find, when it
    #: still does not exist (another step, not run yet, may write it).
    missing: str = ""
    #: Files read (root-relative) and learned keys (``ls:``, ``exists:``) -> their digest.
    reads: dict[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()  # environment variables the project's code read (names)
    #: Those of them an earlier step of the run set (``envreads.EnvRecorder.set_before``).
    env_set_before: tuple[str, ...] = ()
    deps: dict[str, str] = field(default_factory=dict)  # declared deps it wrote -> digest
    writes: tuple[str, ...] = ()  # files it opened for writing, besides its outs
    appends: tuple[str, ...] = ()  # those of them it first opened to append to
    appended_from: tuple[tuple[str, int], ...] = ()  # each with its size then (-1: absent)
    #: Those of them it wrote anew after it read or tested them, each with the bytes it
    #: held then (None: absent, or too big to keep): they are not the first bytes it leaves.
    rewritten: tuple[tuple[str, bytes | None], ...] = ()
    ran: bool = True
    warnings: tuple[str, ...] = ()  # said once the result is recorded
    notes: tuple[str, ...] = ()  # how its outputs were stored, when not as asked
    #: The outputs that are lazy handles over files (``incr.lazyfiles``): their identity
    #: holds what the step read (``Artifact.files``), set once its reads are recorded.
    lazy: tuple[str, ...] = ()
    #: The module values it set as it ran (``path:name`` to the value), for the steps after
    #: it that use them (``StepJob.values``); one that cannot be digested is not passed on.
    values: dict[str, Any] = field(default_factory=dict)
    #: The digests of those that are not plain (``objectstates.digest_of``), by part.
    value_digests: dict[str, str] = field(default_factory=dict)


class Executor(Protocol):
    """Runs the jobs the scheduling loop starts; one module per kind of executor.

    ``executes`` is False for an executor that runs nothing (the dry run): the loop then
    restores, records and prunes nothing and treats a started step's outputs as unknown.
    """

    executes: bool

    def capacity(self) -> int:
        """How many more jobs may start now (0: wait for one first)."""
        ...

    def start(self, job: StepJob) -> None:
        """Begin running ``job`` (or queue it); never blocks on the step."""
        ...

    def wait(self) -> tuple[StepJob, StepOutcome]:
        """Block until one started job is done; that job and its outcome."""
        ...

    def release(self, digests: Iterable[str]) -> None:
        """No step of the run still has to start with these outputs: values kept in memory
        for them may go (an executor that keeps none ignores this)."""
        ...

    def close(self) -> None:
        """Stop: abandon what still runs and free workers. Called once, however the run
        ends."""
        ...


class StepTools(Protocol):
    """What ``run_job`` stores into and digests with (``session.Workspace`` is one)."""

    store: Store
    stats: StatCache

    def object_refs(
        self,
        kind: str,
        parts: Sequence[bytes | memoryview],
        names: Iterable[tuple[str, str]] = (),
    ) -> tuple[str, ...]: ...


class Named(Protocol):
    """A step as messages name it (``StepNode`` and ``StepJob`` both are)."""

    @property
    def key(self) -> str: ...

    @property
    def outputs(self) -> tuple[str, ...]: ...


def load_artifact(store: Store, artifact: Artifact) -> Any:
    """An output's value from the verified store. Bytes that do not decode as their recorded
    kind (a hand-edited lockfile) are treated like a damaged object: ObjectCorrupt. A
    materializer's refusal (skops naming untrusted types) is a MaterializeError."""
    from incr import materializers  # here: a run whose steps are all clean loads no output

    data = store.get_view(artifact.digest)
    try:
        return materializers.load(artifact.kind, data)
    except MaterializeError:
        raise
    except Exception as exc:
        raise ObjectCorrupt(
            f"cache object {artifact.digest} does not decode as {artifact.kind!r} "
            f"({type(exc).__name__}: {exc}{_raised_in(exc)})"
        ) from None


def _raised_in(exc: Exception) -> str:
    """Where the project's code (a project materializer's ``load``, under the working
    directory, the project root) was when ``exc`` was raised: ``, raised in
    pipelines/formats.py:18 (load)``; nothing when no project code was running."""
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        where = os.path.relpath(frame.filename)
        if not where.startswith("..") and "site-packages" not in where and ".venv" not in where:
            return f", raised in {where}:{frame.lineno} ({frame.name})"
    return ""


def load_inputs(
    store: Store, job: StepJob, values: dict[str, Any]
) -> tuple[dict[str, Any], StepOutcome | None]:
    """The job's input values: from ``values`` (by digest) or the store; or the outcome
    naming a damaged input. A value stored in a project's own format (``kind@version``) is
    always loaded: that format may not give back what it was given, and a run that loads it
    (``--jobs``, a later run) would get something else. It is loaded by ``load_deferred``,
    while the step's reads are recorded: the files its materializer reads are the step's."""
    loaded: dict[str, Any] = {}
    for param, (digest, kind) in job.inputs.items():
        if "@" in kind:
            loaded[param] = Deferred(Artifact(kind, digest))
            continue
        if digest in values:
            value = values[digest]
            if (param not in job.shared and not _unlike_stored(value)) or _immutable(value):
                loaded[param] = value
                continue
            if type(value).__name__ != "ndarray":  # an array loads as a private memory map
                with contextlib.suppress(Exception):  # a lock, an open file: loaded below
                    loaded[param] = copy.deepcopy(value)
                    continue
        try:
            loaded[param] = load_artifact(store, Artifact(kind, digest))
        except (ObjectMissing, ObjectCorrupt) as exc:
            return {}, StepOutcome(failure=str(exc), damaged=param)
    return loaded, None


class Deferred(NamedTuple):
    """An input ``load_inputs`` left for ``load_deferred``: stored in a project's format."""

    artifact: Artifact


def load_deferred(store: Store, values: dict[str, Any]) -> StepOutcome | None:
    """Load the inputs ``load_inputs`` deferred, in place; the outcome naming a damaged one."""
    for param, value in values.items():
        if isinstance(value, Deferred):
            try:
                values[param] = load_artifact(store, value.artifact)
            except (ObjectMissing, ObjectCorrupt) as exc:
                return StepOutcome(failure=str(exc), damaged=param)
    return None


def _unlike_stored(value: Any) -> bool:
    """True for an array that loads from the store otherwise than it is: read-only, or a
    view with gaps (``a[::2]``), while the ``.npy`` it is stored as loads writable and
    contiguous. Its step gets it as stored, as on a run that loads it."""
    if type(value).__name__ != "ndarray":
        return False
    flags = value.flags
    return not flags.writeable or not (flags.c_contiguous or flags.f_contiguous)


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), range, frozenset)


def _immutable(value: Any) -> bool:
    """True for a value no step can change in place (numbers, strings, tuples of them)."""
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


def split_outputs(node: Named, result: Any) -> dict[str, Any]:
    """The step's return value by output name; IncrError when it does not match Output(...)."""
    names = node.outputs
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: result}
    if not isinstance(result, tuple | list) or len(result) != len(names):
        got = f"{len(result)} values" if isinstance(result, tuple | list) else type(result).__name__
        raise IncrError(
            f"step {node.key} returned {got}, but declares {len(names)} outputs "
            f"({', '.join(names)})",
            hint="return a tuple with one value per name in Output(...)",
        )
    return dict(zip(names, result, strict=True))


def dropped_value(node: Named, result: Any) -> tuple[str, ...]:
    """The warning for a step without outputs (``-> None``) that returned a value anyway: the
    value is not stored, so nothing downstream could receive it."""
    if node.outputs or result is None:
        return ()
    return (
        f"step {node.key} returned a {type(result).__name__} but is annotated to return "
        "nothing (-> None): the value was not kept; annotate its return type to keep it",
    )


def user_traceback(exc: BaseException, code: Any) -> str:
    """The traceback from the step function's frame down: the engine's frames are noise."""
    import traceback  # here: only a failed step needs it

    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block in ``path``, then go back to the folder it started in."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
