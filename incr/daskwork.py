"""What a Dask worker does with one step: the worker side of ``--executor dask``.

The client (the ``incr`` process) decides everything; a worker only executes. It receives a
``WorkOrder`` (plain values: the project root, the step, the client's code parts, the input
digests), and:

1. imports the project's pipeline modules (the project root on ``sys.path``), again whenever
   a project module it imported has changed on disk since;
2. recomputes the step's code parts (closures of the functions it uses, versions of the
   packages they use, the Python version) and its config values, and refuses to run when they
   differ from the client's, naming the function or package that differs;
3. loads the inputs from the store by digest and runs the step as ``jobrun.run_job`` does in
   any process: the project root as working folder, the files it reads and the environment
   variables it uses recorded, its outputs stored;
4. returns the ``StepOutcome``: digests, kinds, seconds, learned facts, or the traceback
   text. No value travels through the scheduler.

The order's ``StepJob`` carries no config object (unpickling one would import a project
module before the worker has checked it): the worker uses the config of its own traced step,
once its values are the client's.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from incr import discovery, freshouts
from incr.envlibs import prefixed_digests
from incr.envreads import env_value
from incr.errors import IncrError
from incr.executors import StepJob, StepOutcome, load_inputs, working_directory
from incr.facts import StepFacts
from incr.hashing import StatCache
from incr.jobrun import run_job
from incr.model import UNSET, StepNode, TracedPipeline
from incr.packages import PackageVersions
from incr.project import Project
from incr.remote import Remote
from incr.remoteconf import RemoteConfig, RemoteError
from incr.remotesync import objects_of
from incr.sources import CodeSources
from incr.storage import file_stamp
from incr.store import Store
from incr.valueclass import valueclass
from incr.version import __version__


@valueclass(frozen=True)
class WorkOrder:
    """One step to execute on a worker; pickled to it by Dask."""

    job: StepJob  # with ``config=None``: see the module's docstring
    cache_dir: str  # the project's cache folder (``[tool.incr] cache``), from the root
    code: dict[str, str]  # the client's code parts of the step (``Facts.code``)
    config: dict[str, Any]  # the client's config values of the step
    deps: dict[str, str]  # the client's digests of the files it declares (``Facts.deps``)
    incr: str = __version__  # the client's incr: a worker with another one refuses
    #: The project's remote cache: inputs are fetched from it and outputs pushed to it,
    #: through a cache of the worker's own (``INCR_WORKER_CACHE``, else a temp folder).
    remote: RemoteConfig | None = None
    #: The client's environment, as digests of the values (``envreads.env_value``): a variable
    #: the step reads must have here the value the client records.
    environ: dict[str, str] = field(default_factory=dict)


class WorkerRefused(IncrError):
    """The worker cannot run the step as the client decided it (other code, no cache)."""


def run_order(order: WorkOrder) -> StepOutcome:
    """Execute one step on this worker (the function Dask runs). Never raises for the step's
    own errors: they come back as ``failure`` text."""
    try:
        if order.incr != __version__:
            raise WorkerRefused(
                f"worker (pid {os.getpid()}) runs incr {__version__}, the client {order.incr}",
                hint="install the same incr on the workers as on the client",
            )
        loaded = _project_for(order)
        traced, node = loaded.step(order)
        loaded.check_code(traced, node, order)
        loaded.check_deps(node, order)
        root = str(loaded.project.root)
        job = replace(order.job, config=traced.configs[node.name], root=root)
        return loaded.execute(job, traced, order)
    except IncrError as exc:  # refused, or the remote could not be reached
        return StepOutcome(failure=exc.format())


# --------------------------------------------------------------------------- the project


class _Loaded:
    """One project as this worker process imported it."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.stats = StatCache(project.root, None)
        self.sources = CodeSources(project, self.stats)
        packages = PackageVersions(Path(os.devnull), project.root)
        self.facts = StepFacts(project, self.stats, self.sources, packages)
        here = os.getcwd()
        os.chdir(project.root)  # as incr imports them: a module may open files by a relative path
        try:
            self.pipelines = {t.graph.name: t for t in discovery.discover(project)}
        finally:
            os.chdir(here)
        self.files = _loaded_files(project.root)
        self.modules = len(sys.modules)  # when this changes, ``files`` is completed
        #: Per step, the client's code parts found to match this worker's.
        self.checked: dict[str, dict[str, str]] = {}

    def fresh(self) -> bool:
        """False when a project module this process imported changed on disk."""
        return all(file_stamp(path) == known for path, known in self.files.items())

    def step(self, order: WorkOrder) -> tuple[TracedPipeline, StepNode]:
        traced = self.pipelines.get(order.job.pipeline)
        if traced is None or not any(n.name == order.job.step for n in traced.graph.steps):
            raise WorkerRefused(
                f"step {order.job.key} is not defined in the worker's copy of {self.project.root}",
                hint="run the same checkout of the project on every worker",
            )
        return traced, traced.graph.step(order.job.step)

    def check_code(self, traced: TracedPipeline, node: StepNode, order: WorkOrder) -> None:
        """Refuse a step whose code parts or config differ from the client's."""
        if self.checked.get(node.key) == order.code:
            return
        mine = self.facts.code_facts(traced, node)
        differ = code_differences(order.code, mine)
        if not differ and node.config != order.config:
            differ = ["its config values (the pipeline module reads something else here)"]
        if differ:
            raise WorkerRefused(
                f"worker (pid {os.getpid()}) refused step {node.key}: its code differs from "
                f"the client's: {'; '.join(differ)}",
                hint="run the same checkout and package versions on every worker",
            )
        self.checked[node.key] = order.code

    def check_deps(self, node: StepNode, order: WorkOrder) -> None:
        """Refuse a step whose declared files differ here from the client's."""
        digest_of = self.stats.digest  # a file unchanged since the last step is not read again
        differ = [p for p, digest in sorted(order.deps.items()) if digest_of(p) != digest]
        if differ:
            raise WorkerRefused(
                f"worker (pid {os.getpid()}) refused step {node.key}: its deps differ from "
                f"the client's: {', '.join(differ)}",
                hint="give every worker the same data at the same path as the client",
            )

    def store(self, order: WorkOrder) -> Store:
        """The store the step's inputs come from and its outputs go to: the project's cache,
        or this worker's own one in front of the remote."""
        if order.remote is None:
            return _project_store(self.project)
        return Store(_worker_cache())

    def clear_outs(self, job: StepJob, store: Store) -> list[str]:
        """A worker with a checkout of its own (``INCR_WORKER_ROOT``): the step's outs there,
        which the client does not see, taken away as the client does in the project
        (``freshouts``), all moved aside into this worker's cache; a warning for each."""
        root = self.project.root
        kept = store.dir / "kept" / time.strftime("%Y%m%d-%H%M%S")
        moved = freshouts.clear(root, job.outs, {}, store, self.stats, kept)
        where = f"the checkout of worker (pid {os.getpid()})"
        return [
            f"{a.relative_to(root).as_posix()} in {where} was there before step {job.key} "
            f"ran: moved it to {b}"
            for a, b in moved
        ]

    def execute(self, job: StepJob, traced: TracedPipeline, order: WorkOrder) -> StepOutcome:
        """Load the inputs, run the step (``jobrun.run_job``), store what it returns (and
        push it to the remote, when there is one)."""
        store = self.store(order)
        remote = Remote(order.remote, store) if order.remote is not None else None
        if remote is not None:
            _fetch_inputs(remote, job)
        tools = _Tools(store, self.stats, self.sources.object_refs)
        values, damaged = load_inputs(store, job, {})
        if damaged is not None:
            return damaged
        moved = self.clear_outs(job, store) if Path(order.job.root) != Path(job.root) else []
        with working_directory(self.project.root):
            outcome, _ = run_job(job, traced.steps[job.step], values, tools)
        if moved:
            outcome = replace(outcome, warnings=(*outcome.warnings, *moved))
        unlike = [n for n in outcome.env if env_value(n) != _client_value(n, order.environ)]
        if unlike and outcome.failure is None:
            listed = ", ".join(f"${n}" for n in unlike)
            return StepOutcome(
                failure=f"error: step {job.key} read {listed} on worker (pid {os.getpid()}), "
                "where it has another value than on the client, which the lockfile records"
                f"\n  hint: start the workers with the client's {listed}, or pass the value "
                "as a config",
            )
        if len(sys.modules) != self.modules:  # the step imported something
            for path, stat in _loaded_files(self.project.root).items():
                self.files.setdefault(path, stat)
            self.modules = len(sys.modules)
        if remote is not None and outcome.failure is None:
            remote.push_objects(objects_of(store, outcome.artifacts.values()))
        return outcome


@valueclass
class _Tools:
    """What ``run_job`` stores into and digests with, on a worker."""

    store: Store
    stats: StatCache
    object_refs: Callable[..., tuple[str, ...]]  # CodeSources.object_refs


#: The project this worker process has imported (one at a time: two projects may both have
#: a ``pipelines`` package).
_projects: dict[str, _Loaded] = {}


def _project_for(order: WorkOrder) -> _Loaded:
    """The project of ``order`` as imported here: imported (again) when it is new to this
    process or when a project module it imported changed on disk."""
    root = Path(os.environ.get("INCR_WORKER_ROOT") or order.job.root)
    if not root.is_dir():
        raise WorkerRefused(
            f"worker (pid {os.getpid()}) cannot see the project at {root}",
            hint="put the same checkout at the same path on every worker "
            "(or set INCR_WORKER_ROOT on the worker to where its checkout is)",
        )
    loaded = _projects.get(str(root))
    if loaded is not None and loaded.fresh():
        return loaded
    for other in list(_projects):
        _forget_modules(Path(other))
        del _projects[other]
    _forget_modules(root)  # what an import that failed here left of it
    # Its own settings (the pipelines folder, the scripts that make the instances, the types
    # skops may load), with the client's cache folder.
    project = replace(Project.load(root), cache_dir=order.cache_dir)
    try:
        loaded = _projects[str(root)] = _Loaded(project)
    except BaseException:
        _forget_modules(root)  # the modules it did import: the next order imports them anew
        raise
    return loaded


def _project_store(project: Project) -> Store:
    """The project's own cache, when this worker sees it."""
    if not project.cache.is_dir():
        raise WorkerRefused(
            f"worker (pid {os.getpid()}) cannot reach the cache: {project.cache} is not "
            "here and no remote is configured",
            hint="configure a remote cache ([tool.incr.remote]), or run workers that see the "
            "project's folder",
        )
    return Store(project.cache)


def _worker_cache() -> Path:
    """The cache a worker keeps in front of the remote."""
    folder = os.environ.get("INCR_WORKER_CACHE")
    if folder:
        return Path(folder).absolute()
    import tempfile

    return Path(tempfile.gettempdir()) / f"incr-worker-{os.getuid()}"


def _fetch_inputs(remote: Remote, job: StepJob) -> None:
    """Put the job's inputs in the worker's cache; RemoteError when the remote lacks one."""
    digests = [digest for digest, _ in job.inputs.values()]
    got = remote.fetch(digests)
    if not got.complete:
        bad = ", ".join(got.missing + got.refused)
        raise RemoteError(
            f"worker (pid {os.getpid()}) cannot load the inputs of step {job.key} from the "
            f"remote {remote.url}: missing or damaged there: {bad}",
            hint="run `incr push` from the client, or check the remote",
        )


def code_differences(client: dict[str, str], worker: dict[str, str]) -> list[str]:
    """Each code part that differs between the client's and the worker's, named."""
    found: list[str] = []
    for key in sorted(set(client) | set(worker)):
        theirs, mine = client.get(key), worker.get(key)
        if theirs == mine:
            continue
        if key == "python":
            found.append(f"Python {mine} on the worker, {theirs} on the client")
        elif key.startswith("pkg:"):
            name = key.removeprefix("pkg:")
            found.append(
                f"package {name}: {mine or 'not used'} on the worker, "
                f"{theirs or 'not used'} on the client"
            )
        elif ":" in key and key.partition(":")[0].endswith(".py"):
            file, _, name = key.rpartition(":")
            found.append(f"{name} in {file}")
        else:
            found.append(key)
    return found


def _loaded_files(root: Path) -> dict[str, list[int] | None]:
    """The files of the project modules imported in this process, with their stat."""
    prefix = os.path.join(str(root), "")
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(prefix):
            files[path] = file_stamp(path)
    return files


def _forget_modules(root: Path) -> None:
    """Drop the project's modules from this process (and its folders from ``sys.path``), so
    the next import reads them again."""
    import importlib

    prefix = os.path.join(str(root), "")
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        where = list(getattr(module, "__path__", None) or [])  # a namespace package
        if any(isinstance(p, str) and p.startswith(prefix) for p in [path, *where]):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if p not in (str(root), os.path.join(str(root), "src"))]
    importlib.invalidate_caches()


def _client_value(name: str, environ: dict[str, str]) -> str:
    """The value the client records for variable ``name`` (``PREFIX*``: those whose name
    starts with it), from the digests of its environment."""
    if name.endswith("*"):
        return prefixed_digests(name[:-1], environ)
    return environ.get(name, UNSET)
