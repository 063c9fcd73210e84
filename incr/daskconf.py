"""Whether ``incr repro`` runs on Dask, and on which cluster (``--executor``, ``--scheduler``,
``[tool.incr] executor`` and ``scheduler``): the settings alone, so a local run never loads
the Dask executor (``incr.daskexec``)."""

from __future__ import annotations

from incr.errors import IncrError
from incr.project import Project
from incr.valueclass import valueclass

#: What ``[tool.incr] executor`` and ``--executor`` accept.
EXECUTORS = ("local", "dask")


@valueclass(frozen=True)
class DaskSettings:
    """Which cluster to use: a running scheduler's address, or a ``LocalCluster`` of
    ``workers`` processes (default: one per core)."""

    scheduler: str | None = None
    workers: int | None = None
    #: The ``LocalCluster``'s dashboard on http://127.0.0.1:8787/status (off by default).
    dashboard: bool = False


def wanted(
    executor: str | None, scheduler: str | None, project: Project, dashboard: bool = False
) -> DaskSettings | None:
    """The Dask settings when this run uses Dask, else None (the local executors).

    ``--scheduler`` implies ``--executor dask``; without either option, ``[tool.incr]
    executor`` and ``scheduler`` decide the same way. ``dashboard`` asks a LocalCluster for
    its dashboard. Raises IncrError on an unknown executor.
    """
    if executor is None and scheduler is None:
        executor, scheduler = project.executor or None, project.scheduler or None
    if scheduler is not None:
        executor = "dask"
    if executor not in (None, *EXECUTORS):
        raise IncrError(
            f"unknown executor {executor!r}",
            hint=f"use one of: {', '.join(EXECUTORS)} (--executor or [tool.incr] executor)",
        )
    if executor != "dask":
        return None
    return DaskSettings(scheduler=scheduler, dashboard=dashboard)
