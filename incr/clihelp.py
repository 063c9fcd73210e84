"""What the ``incr`` commands do beyond parsing their options: error display, target checks,
commits, summaries. No click here (``cli`` is the only module that imports it): text goes out
through the ``echo`` each caller passes."""

from __future__ import annotations

import contextlib
import functools
import gc as collector
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from incr import dag as dags
from incr.errors import IncrError
from incr.project import Project

F = TypeVar("F", bound=Callable[..., Any])

EXECUTOR_HELP = (
    "Where dirty steps run: local (this machine; see --jobs) or dask (a Dask cluster: a "
    "LocalCluster of this machine's cores, or --scheduler's). Default: [tool.incr] executor."
)
DASHBOARD_HELP = "With --executor dask: serve the LocalCluster's dashboard on 127.0.0.1:8787."
SCHEDULER_HELP = (
    "Run dirty steps on the Dask cluster at ADDRESS (tcp://host:8786); implies --executor "
    "dask. Default: [tool.incr] scheduler."
)


def user_errors(echo: Callable[[str], object]) -> Callable[[F], F]:
    """A decorator that shows an IncrError as its one-line message (and hint) through ``echo``
    (standard error), with its exit code; Ctrl-C is 130."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except IncrError as exc:
                echo(exc.format())
                sys.exit(exc.exit_code)
            except OSError as exc:  # the engine's own reads and writes (a step's are failures)
                where = f"{exc.filename}: " if exc.filename else ""
                echo(f"error: {where}{exc.strerror or exc}")
                echo(
                    "  hint: pipeline.lock and the cache keep their last good state; "
                    "free some space or fix permissions and run again"
                )
                sys.exit(2)
            except KeyboardInterrupt:
                echo("interrupted: every step that finished is kept in the lockfile")
                sys.exit(130)

        return wrapper  # type: ignore[return-value]

    return decorate


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """No cyclic garbage collection inside the block: deciding a large pipeline's status
    allocates many objects that live until the end, and collecting them finds nothing (8 ms
    of a 1,000-step no-op status). Blocks that run steps keep the collector."""
    was_enabled = collector.isenabled()
    collector.disable()
    try:
        yield
    finally:
        if was_enabled:
            collector.enable()


def dag_output(pipelines: list[Any], names: tuple[str, ...], fmt: str) -> Iterator[str]:
    """The lines of ``incr dag``: the graph of each pipeline named (every one without names)."""
    from incr.report import dag_lines

    known = {t.graph.name: t.graph for t in pipelines}
    for name in names:
        if name not in known:
            dags.resolve_targets(pipelines, [name])  # names the closest pipeline
            raise IncrError(f"{name!r} is a step, not a pipeline", hint="name its pipeline")
    for name, graph in known.items():
        if not names or name in names:
            yield from dag_lines(graph, dags.order(graph), fmt)


def one_step(pipelines: list[Any], target: str) -> tuple[str, str]:
    """(pipeline, step) for a TARGET that must name one step."""
    selection = dags.resolve_targets(pipelines, [target])
    (pipeline, steps), *_ = selection.items()
    if steps is None:
        raise IncrError(
            f"{target!r} is a pipeline; name one of its steps",
            hint=f"for example {target}.STEP; `incr status {target}` lists them",
        )
    return pipeline, next(iter(steps))


def commit_steps(workspace: Any, pipelines: list[Any], targets: tuple[str, ...]) -> Iterator[str]:
    """Commit each target step (see ``Workspace.commit``), saying what was done, one by one."""
    for target in targets:
        pipeline, name = one_step(pipelines, target)
        key = f"{pipeline}.{name}"
        verdict = next(v for v in workspace.status(pipelines, [key]) if v.node.key == key)
        if not verdict.dirty:
            yield f"{key} is clean: nothing to commit"
            continue
        workspace.commit(verdict)
        yield f"committed {key} without rerunning (was: {'; '.join(map(str, verdict.reasons))})"


def gc_summary(report: Any, verb: str) -> str:
    """The last line of ``incr gc``."""
    return (
        f"{verb} {len(report.objects)} objects, {len(report.runs)} run-cache entries and "
        f"{len(report.temps)} leftover temp files ({_size(report.freed)}); "
        f"kept {report.kept_objects} objects ({_size(report.kept_bytes)})"
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def verify_rerun(
    project: Project,
    targets: tuple[str, ...],
    echo: Callable[[str], object],
    tell: Callable[[str], None],
) -> int:
    """``incr verify --rerun``: each result through ``echo`` as it comes, then the summary;
    the exit code (1 when a step's outputs differ)."""
    from incr.events import SAME, SKIPPED
    from incr.locking import project_lock
    from incr.report import rerun_lines, rerun_summary
    from incr.rerun import verify

    def show(result: Any) -> None:
        echo("\n".join(rerun_lines(result)))

    with project_lock(project.cache, "incr verify --rerun", on_wait=tell):
        results = verify(project, targets, show)
    echo(rerun_summary(results))
    return 1 if any(r.state not in (SAME, SKIPPED) for r in results) else 0
