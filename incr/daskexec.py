"""``incr repro --executor dask``: dirty steps run on a Dask cluster.

The client (this process) keeps every decision: fingerprints, cache hits, early cutoff,
lockfile writes and run records happen here exactly as in a serial run. The executor only
submits each dirty step the loop hands it, as a ``daskwork.WorkOrder`` (plain values: the
client's code parts, the input digests), and hands back what the worker returned: digests,
kinds, seconds and what the step was seen to read. Values never travel through the
scheduler: a worker loads its inputs from the store and stores its outputs there.

Cluster: ``--scheduler tcp://host:8786`` (or ``[tool.incr] scheduler``) connects to a running
one; otherwise a ``LocalCluster`` sized to the machine is started (one process per core, one
thread each, every server on 127.0.0.1, no dashboard unless asked) and closed at the end.

A worker that dies while running a step (SIGKILL, out of memory) makes the step be submitted
once more, to whichever worker the scheduler picks; a second death is the step's failure.
Closing cancels what is still submitted (Ctrl-C).
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from incr.daskconf import EXECUTORS as EXECUTORS
from incr.daskconf import DaskSettings
from incr.daskconf import wanted as wanted
from incr.daskwork import WorkOrder, run_order
from incr.envreads import env_value
from incr.errors import IncrError
from incr.executors import StepJob, StepOutcome
from incr.hashing import file_digest
from incr.model import Artifact, Facts, TracedPipeline
from incr.remote import Remote
from incr.remoteconf import RemoteError, remote_config
from incr.remotesync import fetch_outputs
from incr.session import Workspace
from incr.store import Store


class DaskMissing(IncrError):
    """``distributed`` is not installed."""


def distributed_module() -> Any:
    """``distributed``, or a one-line error naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise DaskMissing(
            "the dask executor needs the `distributed` package, which is not installed",
            hint="pip install 'incr[dask]'",
        ) from None
    return distributed


class Cluster:
    """A Dask client connected to a running scheduler, or to a ``LocalCluster`` it started."""

    def __init__(self, settings: DaskSettings) -> None:
        distributed = distributed_module()
        import dask

        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.local: Any = None
        # A dead worker fails its task at once: the client decides the one retry itself.
        with (
            dask.config.set({"distributed.scheduler.allowed-failures": 0}),
            warnings.catch_warnings(),  # "port 8787 is already in use" for its HTTP server
        ):
            warnings.simplefilter("ignore")
            if settings.scheduler is None:
                self.local = distributed.LocalCluster(
                    n_workers=settings.workers or _cores(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:8787" if settings.dashboard else None,
                    worker_dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                )
                self.client = distributed.Client(self.local)
            else:
                try:
                    self.client = distributed.Client(settings.scheduler, timeout=10)
                except (OSError, TimeoutError) as exc:
                    raise IncrError(
                        f"cannot reach the Dask scheduler at {settings.scheduler}: {exc}",
                        hint="start it (`dask scheduler`) or fix --scheduler",
                    ) from None
        self.distributed = distributed

    def worker_resources(self) -> list[dict[str, float]]:
        """The resources each worker offers."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return [dict(w.get("resources") or {}) for w in workers]

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.local is not None:
                self.local.close()


def unmet(needed: dict[str, float], offered: list[dict[str, float]]) -> bool:
    """True when no worker offers all of ``needed`` at once."""
    return bool(needed) and not any(
        all(have.get(name, 0) >= amount for name, amount in needed.items()) for have in offered
    )


def resource_error(key: str, needed: dict[str, float], offered: list[dict[str, float]]) -> str:
    want = ", ".join(f"{n}={_number(v)}" for n, v in sorted(needed.items()))
    kinds = sorted({f"{n}={_number(v)}" for have in offered for n, v in have.items()})
    has = ", ".join(kinds) if kinds else "no resources"
    return (
        f"error: step {key} needs resources {want}, which no worker of the cluster has "
        f"(they offer: {has})\n  hint: start workers with `dask worker ... --resources "
        f'"{want.replace(", ", " ")}"`, or change @step(resources=...)'
    )


class DaskExecutor:
    """The ``executors.Executor`` that submits each job to a Dask cluster.

    ``facts_of(step)`` gives the client's facts of a step: the worker refuses to run it when
    its code parts, config values or deps differ there. ``resources`` are the Dask resources
    each step asks for. The cluster is started (or connected to) when the first job starts:
    a run with nothing to execute never starts one.
    """

    executes = True

    def __init__(
        self,
        settings: DaskSettings,
        facts_of: Callable[[str], Facts],
        resources: Mapping[str, dict[str, float]],
        store: Store,
        cache_dir: str,
        remote: Remote | None = None,
    ) -> None:
        self.settings = settings
        self.facts_of = facts_of
        self.resources = resources
        self.store = store  # the client's: what it records must be here
        self.cache_dir = cache_dir
        self.remote = remote
        self.cluster: Cluster | None = None
        self.offered: list[dict[str, float]] = []
        self._futures: dict[Any, tuple[StepJob, WorkOrder, int]] = {}
        self._done: Any = None
        self._ready: list[tuple[StepJob, StepOutcome]] = []  # never submitted
        #: The client's environment as the lockfile records it (``envreads.env_value``).
        self.environ: dict[str, str] = {}

    @classmethod
    def for_run(cls, settings: DaskSettings, ws: Workspace, traced: TracedPipeline) -> DaskExecutor:
        """The executor for one run of ``traced`` in the project of ``ws``: the client's
        facts of a step are those the workspace computes (memoised: the ones the run decided
        with); the remote cache, when one is configured, carries the data."""

        def facts_of(step: str) -> Facts:
            return ws.static_facts(traced, traced.graph.step(step), {})

        resources = {
            name: dict(getattr(f, "resources", {}) or {}) for name, f in traced.steps.items()
        }
        cache = ws.project.cache_dir
        executor = cls(settings, facts_of, resources, ws.store, cache, project_remote(ws))
        executor.environ = {name: env_value(name, ws.environ) for name in ws.environ}
        return executor

    def connect(self) -> Cluster:
        """The cluster, started (or connected to) on the first job."""
        if self.cluster is None:
            self.cluster = Cluster(self.settings)
            self.offered = self.cluster.worker_resources()
            self._done = self.cluster.distributed.as_completed()
        return self.cluster

    def preflight(self, steps: list[tuple[str, str]]) -> list[str]:
        """Before the run, for each (name, key) of ``steps``: the steps that ask for resources
        no worker offers (they fail if they have to run). Connects to the cluster only when
        some step asks for resources."""
        asking = [(name, key) for name, key in steps if self.resources.get(name)]
        if not asking:
            return []
        self.connect()
        return [
            resource_error(key, self.resources[name], self.offered)
            .partition("\n")[0]
            .removeprefix("error: ")
            + "; it fails if it has to run"
            for name, key in asking
            if unmet(self.resources[name], self.offered)
        ]

    def capacity(self) -> int:
        # The scheduler queues: every step is submitted as soon as its inputs are known.
        return 1 << 20

    def start(self, job: StepJob) -> None:
        cluster = self.connect()
        needed = self.resources.get(job.step, {})
        if unmet(needed, self.offered):
            failure = resource_error(job.key, needed, self.offered)
            self._ready.append((job, StepOutcome(failure=failure)))
            return
        facts = self.facts_of(job.step)
        remote = self.remote.config if self.remote is not None else None
        bare = replace(job, config=None)
        order = WorkOrder(
            bare,
            self.cache_dir,
            facts.code,
            facts.config,
            facts.deps,
            remote=remote,
            environ=self.environ,
        )
        if self.remote is not None:  # the worker fetches them there
            self.remote.push_objects(digest for digest, _ in job.inputs.values())
        self._submit(cluster, job, order, 0)

    def _submit(self, cluster: Cluster, job: StepJob, order: WorkOrder, tries: int) -> None:
        future = cluster.client.submit(
            run_order,
            order,
            key=f"incr-{job.key}-{uuid.uuid4().hex[:12]}",
            pure=False,
            resources=self.resources.get(job.step) or None,
        )
        self._futures[future] = (job, order, tries)
        self._done.add(future)

    def active(self) -> int:
        return len(self._futures) + len(self._ready)

    def wait(self) -> tuple[StepJob, StepOutcome]:
        """The next finished job and its outcome (a worker's death retried once)."""
        while True:
            if self._ready:
                return self._ready.pop(0)
            future = next(self._done)
            job, order, tries = self._futures.pop(future)
            outcome = self._outcome(future)
            if outcome is not None:
                return job, self._verified(job, outcome)
            if tries >= 1:
                return job, StepOutcome(failure=_died(job.key))
            assert self.cluster is not None
            self._submit(self.cluster, job, order, tries + 1)

    def _outcome(self, future: Any) -> StepOutcome | None:
        """The job's outcome; None when the worker running it died."""
        assert self.cluster is not None
        try:
            outcome = future.result()
        except self.cluster.distributed.KilledWorker:
            return None
        except Exception as exc:  # the worker side failed outside the step: say what
            text = f"error: the Dask worker could not run the step: {type(exc).__name__}: {exc}"
            return StepOutcome(failure=text)
        finally:
            future.release()
        assert isinstance(outcome, StepOutcome)
        return outcome

    def _verified(self, job: StepJob, outcome: StepOutcome) -> StepOutcome:
        """The outcome once its outputs are in the local store (fetched from the remote and
        hashed, when there is one) and its ``outs`` files are in the project as recorded;
        else a failure saying what is missing."""
        if outcome.failure is not None:
            return outcome
        artifacts = list(outcome.artifacts.values())
        if self.remote is not None:
            got = fetch_outputs(self.remote, artifacts)
            lacking = got.missing + got.refused
        else:
            lacking = [a.digest for a in artifacts if not self.store.has(a.digest)]
        if lacking:
            where = self.remote.url if self.remote is not None else str(self.store.objects.parent)
            text = f"error: the outputs of step {job.key} are missing or damaged in {where}: "
            return StepOutcome(failure=text + ", ".join(lacking))
        root = Path(job.root)
        for name, artifact in outcome.artifacts.items():
            if artifact.kind in ("file", "dir") and not _same_on_disk(root / name, artifact):
                _put_back(self.store, root, name, artifact)
        return outcome

    def release(self, digests: Iterable[str]) -> None:
        """Workers keep no values: nothing to let go."""

    def close(self) -> None:
        """Cancel what is still submitted and let the cluster go (a local one is stopped)."""
        if self.cluster is None:
            return
        cluster, self.cluster = self.cluster, None
        try:
            if self._futures:
                cluster.client.cancel(list(self._futures), force=True)
            self._futures.clear()
        finally:
            cluster.close()


def project_remote(ws: Workspace) -> Remote | None:
    """The project's remote cache, when one is configured: workers then move data there."""
    try:
        config = remote_config(ws.project)
    except RemoteError:
        return None
    return Remote(config, ws.store)


def _same_on_disk(path: Path, artifact: Artifact) -> bool:
    """True when the file the worker wrote is here already (a worker on this machine, or one
    that sees the project's folder)."""
    if artifact.kind == "dir":
        return False  # put back: the tree restore leaves files that match alone
    try:
        return path.is_file() and file_digest(path) == artifact.digest
    except OSError:
        return False


def _put_back(store: Store, root: Path, name: str, artifact: Artifact) -> None:
    if artifact.kind == "dir":
        store.restore_tree(artifact.digest, root / name, root)
    else:
        store.restore_file(artifact.digest, root / name, root, artifact.mode)


def _died(key: str) -> str:
    return (
        f"error: the Dask worker running step {key} died, twice (it was submitted once more)"
        "\n  hint: it may run out of memory or crash the interpreter; run it alone with "
        "`incr repro` to see"
    )


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
