"""What the ``incr`` commands need beyond parsing their options: error display, output
lines, summaries (what they do is in ``commands``, ``runner``, ``maintenance``...). No click
here (``cli`` is the only module that imports it): text goes out through the ``echo`` each
caller passes."""

from __future__ import annotations

import contextlib
import errno
import functools
import gc as collector
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from incr.errors import IncrError
from incr.project import Project

if TYPE_CHECKING:  # the model's classes cost 6 ms: a kept status answer never needs them
    from incr.model import PipelineGraph

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


#: What Ctrl-C leaves, by command (the others: nothing to say).
INTERRUPTED = {
    "repro": ": every step that finished is kept in the lockfile",
    "verify": ": every step that finished is kept in the lockfile",
    "push": ": the objects sent are on the remote; `incr push` again sends the rest",
    "pull": ": the objects fetched are kept; `incr pull` again fetches the rest",
}


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
            except BrokenPipeError:
                raise  # the reader went away (``incr dag | head``): not a disk problem
            except OSError as exc:  # the engine's own reads and writes (a step's are failures)
                where = f"{exc.filename}: " if exc.filename else ""
                if exc.errno == errno.ELOOP:
                    echo(f"error: {where}a symlink loop (links that lead back to themselves)")
                    echo("  hint: fix or remove the link and run again")
                    sys.exit(2)
                echo(f"error: {where}{exc.strerror or exc}")
                echo(
                    "  hint: pipeline.lock and the cache keep their last good state; "
                    "free some space or fix permissions and run again"
                )
                sys.exit(2)
            except KeyboardInterrupt:
                echo(f"interrupted{INTERRUPTED.get(func.__name__, '')}")
                sys.exit(130)
            except Exception as exc:  # a bug in incr, unless a file hid a standard module
                from incr.imports import shadowed

                hidden = shadowed(exc)
                if hidden is None:
                    raise
                echo(f"error: {hidden[0]}")
                echo(f"  hint: {hidden[1]}")
                sys.exit(2)

        return wrapper  # type: ignore[return-value]

    return decorate


def quiet_broken_pipe() -> None:
    """Exit like other command-line tools when the reader of the output went away
    (``incr dag | head``): no message, and no traceback when Python flushes stdout at exit."""
    import os

    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)  # as click does when it meets the closed pipe itself


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """No cyclic garbage collection inside the block: deciding a large pipeline's status
    allocates many objects that live until the end, and collecting them finds nothing (8 ms
    of a 1,000-step no-op status). Blocks that run steps keep the collector.

    The objects the block made are then frozen (``gc.freeze``): the collector never looks
    at them again. Without that, the first collections after the block walk all of them,
    once per generation (about 0.9 s of a ``repro`` after an edit at 10,000 steps). For a
    command that exits when done, and only there, so its garbage is let go at exit."""
    was_enabled = collector.isenabled()
    collector.disable()
    try:
        yield
    finally:
        collector.freeze()
        if was_enabled:
            collector.enable()


def dag_output(graphs: list[PipelineGraph], fmt: str) -> Iterator[str]:
    """The lines of ``incr dag``: each graph in ``fmt`` (``text``, ``dot``, ``mermaid``)."""
    from incr.graph import order
    from incr.report import dag_lines

    for graph in graphs:
        yield from dag_lines(graph, order(graph), fmt)


@contextlib.contextmanager
def repro_reporter(
    project: Project, pipelines: list[Any], targets: tuple[str, ...], verbose: bool
) -> Iterator[Any]:
    """The reporter of ``incr repro``: the calm console (a live progress line when standard
    error is a terminal), noting each step's outcome in ``.pipecache/runs.json``."""
    from incr.console import CalmConsole, Progress, totals
    from incr.runlog import FILE, RunLog

    live = Progress(sys.stderr, totals(pipelines, targets)) if sys.stderr.isatty() else None
    with CalmConsole(verbose=verbose, progress=live) as console:
        yield RunLog(console, project.cache / FILE)


def leftover_notes(project: Project, verdicts: list[Any], targets: tuple[str, ...]) -> list[str]:
    """``incr status``'s notes on the outs that steps dropped from pipeline.lock (removed from
    their pipelines) left on disk; nothing to read unless a run noted some."""
    if targets or not project.leftovers.exists():
        return []
    from incr import leftovers  # here: only when a run noted some

    steps = [v.node for v in verdicts]
    outs = {out for node in steps for out in node.outs}
    found = leftovers.find(project.root, project.cache, {}, (n.key for n in steps), outs)
    return leftovers.notes(found)


def gc_summary(report: Any, verb: str) -> str:
    """The last line of ``incr gc``."""
    from incr.console import plural
    from incr.report import byte_size

    removed = {path.parent.name + path.name for path in report.objects} | set(report.packed)
    return (
        f"{verb} {plural(len(removed), 'object')}, "  # a packed object's file copy counts once
        f"{plural(len(report.runs), 'run-cache entry')}, "
        f"{plural(len(report.records), 'run record')}, "
        f"{plural(len(report.sources), 'kept source')} and "
        f"{plural(len(report.temps), 'leftover temp file')} ({byte_size(report.freed)}); "
        f"kept {plural(report.kept_objects, 'object')} ({byte_size(report.kept_bytes)})"
    )


def _branch_entries(project: Project) -> list[Any]:
    """The lock entries of the lockfiles that git's branches and tags hold (a branch checked
    out again finds its results); one that does not parse is left out: nothing could be
    restored from it."""
    from incr import lockfile
    from incr.errors import LockfileError
    from incr.remotegc import git_lockfiles

    entries: list[Any] = []
    for ref, text in git_lockfiles(project.lockfile).items():
        with contextlib.suppress(LockfileError):
            entries += lockfile.loads(text, ref).values()
    return entries


def gc_lines(
    project: Project,
    keep: int,
    dry_run: bool,
    outs: bool,
    tell: Callable[[str], None],
    keep_history: int = 100,
) -> list[str]:
    """``incr gc``: what was (or would be) removed, and the summary line."""
    from incr import keptsources, leftovers, lockfile, runhistory, views
    from incr.locking import project_lock
    from incr.maintenance import collect
    from incr.seenwrites import SeenWrites
    from incr.store import Store

    with project_lock(project.cache, "incr gc", on_wait=tell):
        locks = lockfile.read(project.lockfile)
        store, others = Store(project.cache), _branch_entries(project)
        before = SeenWrites(project.cache / "writes.json").before.values()  # (appendbase)
        report = collect(
            store, locks, keep, dry_run, lockfile=project.lockfile, also=others, objects=before
        )
        report.records = runhistory.beyond(project.cache, keep_history)
        report.sources, parts = keptsources.unneeded(project, [*locks.values(), *others])
        report.freed += sum(path.stat().st_size for path in [*report.records, *report.sources])
        if not dry_run:
            for path in report.records:
                path.unlink(missing_ok=True)
            keptsources.remove(project, report.sources, parts)
        found: list[Any] = []
        if outs:
            found = views.leftovers_of(project, locks)
            if not dry_run:
                leftovers.remove(project.root, project.cache, found)
    verb = "would remove" if dry_run else "removed"
    lines = []
    if dry_run:
        lines += [f"  {path.relative_to(project.root).as_posix()}" for path in report.objects]
        lines += [f"  packed object {digest}" for digest in report.packed]
        lines += [f"  run-cache entry {fp}" for fp in report.runs]
        lines += [
            f"  {path.relative_to(project.root).as_posix()}"
            for path in [*report.records, *report.sources]
        ]
        lines += [f"  {path.relative_to(project.root).as_posix()}" for path in report.temps]
    lines += [f"{verb} {item.path} (outs of removed step {item.step})" for item in found]
    return [*lines, gc_summary(report, verb)]


def verify_cache(
    project: Project,
    targets: tuple[str, ...],
    echo: Callable[[str], object],
    tell: Callable[[str], None],
) -> int:
    """``incr verify``: each missing or damaged object through ``tell`` (standard error), then
    the summary; the exit code (1 when anything was wrong). ``targets`` is empty."""
    from incr import lockfile
    from incr.console import plural
    from incr.maintenance import verify
    from incr.store import Store

    checked, problems = verify(Store(project.cache), lockfile.read(project.lockfile), project.root)
    for problem in problems:
        tell(f"{problem.step} output {problem.output}: {problem.text}")
    if problems:
        total = plural(checked + len(problems), "object")
        tell(
            f"{plural(len(problems), 'problem')} in {total}; run `incr repro --force STEP` for "
            "each step named to recompute them"
        )
        return 1
    echo(
        f"all {checked} objects match their digests"
        if checked != 1
        else "1 object matches its digest"
    )
    return 0


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
