"""The bodies of ``incr status`` and ``incr repro``, without click: the click commands of
``incr.clickcli`` call them with the options parsed, and ``incr.cli.main`` calls them with
click's defaults when the command is given alone (what people type on every save), sparing
the import of click and of the other commands' help texts."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from incr.clihelp import few_collections, leftover_notes, repro_reporter, user_errors
from incr.project import MAIN_BLOCK_ENV, Project


def echo(text: str, err: bool = False) -> None:
    """``text`` and a newline on standard output (or error), flushed, as ``click.echo``."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def tell(line: str) -> None:
    echo(line, err=True)


def project_at(project_dir: Path | None) -> Project:
    """The project of ``-C DIR`` (default: the nearest one up from here)."""
    project = Project.find(project_dir)
    if MAIN_BLOCK_ENV in os.environ:  # started by a main block that discovery runs
        from incr.mainblock import refuse_nested

        refuse_nested(project.root)
    return project


def stopped_blocks() -> None:
    """Say which main blocks discovery ran stopped after running a pipeline (nothing when
    no block ran: the graph cache answered)."""
    mainblock = sys.modules.get("incr.mainblock")
    for line in getattr(mainblock, "STOPPED", ()):
        tell(f"note: {line}")


def stdout_kept_for(as_json: bool) -> contextlib.AbstractContextManager[Any]:
    """While a command that prints JSON imports the pipelines: what their modules print
    (``print("loaded")`` at the top level) goes to stderr, so that stdout holds the JSON."""
    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


@user_errors(tell)
def status(
    project_dir: Path | None,
    targets: tuple[str, ...] = (),
    as_json: bool = False,
    check: bool = False,
    remote: bool = False,
) -> None:
    from incr import statusmemo

    project = project_at(project_dir)
    memo = None
    if not (targets or check or remote) and statusmemo.enabled():
        memo = statusmemo.StatusMemo(project, "json" if as_json else "text")
        kept_output = memo.answer()  # nothing moved since the last all-clean status
        if kept_output is not None:
            if kept_output:
                echo(kept_output)
            return
    from incr import commands
    from incr.gate import check_line, stale_steps
    from incr.keptlocks import kept_line
    from incr.report import status_json, status_lines

    with few_collections(), stdout_kept_for(as_json):
        kept: dict[str, tuple[str, int, list[str], bool]] = {}
        outside: set[str] = set()
        left_out: list[str] = []  # modules not imported yet (``incr.deferred``)
        verdicts = commands.status(
            targets, root=project, check=check, kept=kept, outside=outside, left_out=left_out
        )
    if as_json:
        output = status_json(verdicts)
    else:
        kept_notes = [kept_line(name, *about) for name, about in sorted(kept.items())]
        lines = status_lines(verdicts) + leftover_notes(project, verdicts, targets) + kept_notes
        output = "\n".join(lines + left_out)  # one write: a large pipeline has a line per step
    if as_json and left_out:
        echo("\n".join(left_out), err=True)
    if memo is not None and not left_out and statusmemo.keepable(verdicts):
        memo.keep(output, outside)
    if output:
        echo(output)
    stopped_blocks()
    if remote:
        from incr.remotecli import status_remote_lines

        echo("\n".join(status_remote_lines(project, targets)), err=as_json)
    if check:
        echo(check_line(verdicts), err=as_json)
        if stale_steps(verdicts):
            sys.exit(1)


@user_errors(tell)
def repro(
    project_dir: Path | None,
    targets: tuple[str, ...] = (),
    force: bool = False,
    dry_run: bool = False,
    keep_going: bool = False,
    no_wait: bool = False,
    jobs: int = 1,
    verbose: bool = False,
    executor: str | None = None,
    scheduler: str | None = None,
    dashboard: bool = False,
    pull: bool = False,
) -> None:
    from incr.collector import paced, settle_for_exit
    from incr.daskconf import wanted
    from incr.locking import project_lock
    from incr.opening import open_for_repro
    from incr.remotecli import remote_runs
    from incr.report import status_lines
    from incr.runner import repro_all

    project = project_at(project_dir)
    dask = wanted(executor, scheduler, project, dashboard)
    if dry_run:  # what incr status says, with the targets forced when asked
        from incr import commands

        with few_collections():
            verdicts = commands.status(targets, root=project, force=force)
        echo("\n".join(status_lines(verdicts)))
        echo("(dry run: nothing was executed)")
        return
    with project_lock(project.cache, "incr repro", wait=not no_wait, on_wait=tell):
        with few_collections():  # deciding, before any step runs
            workspace, pipelines = open_for_repro(project, targets, force)
        stopped_blocks()
        with repro_reporter(project, pipelines, targets, verbose) as reporter, paced():
            ok = repro_all(
                workspace,
                pipelines,
                targets,
                reporter,
                force=force,
                keep_going=keep_going,
                jobs=jobs,
                dask=dask,
                pull=remote_runs(project, pull, tell),
            )
    settle_for_exit()
    if not ok:
        sys.exit(1)
