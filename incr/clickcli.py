"""The ``incr`` command's click group: a thin shell over ``clirun``, ``commands``, ``session``
and ``runner`` (``incr.cli`` is the entry point)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from incr import clirun, clitexts
from incr.clihelp import (
    DASHBOARD_HELP,
    EXECUTOR_HELP,
    SCHEDULER_HELP,
    gc_lines,
    user_errors,
    verify_cache,
    verify_rerun,
)
from incr.errors import IncrError
from incr.project import Project
from incr.remotehelp import GC_REMOTE, ON_REMOTE, PULL_HELP, PUSH_HELP
from incr.version import __version__

TARGETS_HELP = "TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique."


def _tell(line: str) -> None:
    click.echo(line, err=True)


_user_errors = user_errors(_tell)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="incr")
@click.option(
    "-C",
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder (default: the nearest folder up from here holding pyproject.toml, "
    "pipeline.lock or .pipecache).",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None) -> None:
    """incr: rerun only the pipeline steps whose code, config, inputs or files changed.

    Pipelines are Python modules under pipelines/; pipeline.lock (commit it) records each
    step's fingerprint; results are cached in .pipecache/.

    \b
    Typical use:
      incr status            which steps are dirty, and why
      incr repro             run the dirty steps, reuse the rest
      incr status --check    in CI: exit 1 when pipeline.lock is out of date

    One local stack: @pipeline(required_integrations=[...]) checks that those packages are
    installed; requirements_file=, requirements= and dockerignore_file= are accepted and not
    used (they configured the images of remote orchestrators).
    """
    ctx.obj = project_dir


def _project(ctx: click.Context) -> Project:
    return clirun.project_at(ctx.obj)


@cli.command(help=clitexts.REPRO_HELP)
@click.argument("targets", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Rerun the targeted steps even when clean.")
@click.option("-n", "--dry-run", is_flag=True, help="Say which steps would run, and why; run none.")
@click.option(
    "-k",
    "--keep-going",
    is_flag=True,
    help="After a failure, still run every step that does not depend on the failed one.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Fail at once when another incr is running in this project, instead of waiting.",
)
@click.option(
    "-j",
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Steps to run at the same time, in worker processes (independent steps only).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also list each step reused from the cache.")
@click.option("--executor", type=click.Choice(["local", "dask"]), help=EXECUTOR_HELP)
@click.option("--scheduler", metavar="ADDRESS", help=SCHEDULER_HELP)
@click.option("--dashboard", is_flag=True, help=DASHBOARD_HELP)
@click.option("--pull", "pull_", is_flag=True, help="Fetch results from the remote cache first.")
@click.pass_context
def repro(
    ctx: click.Context,
    targets: tuple[str, ...],
    force: bool,
    dry_run: bool,
    keep_going: bool,
    no_wait: bool,
    jobs: int,
    verbose: bool,
    executor: str | None,
    scheduler: str | None,
    dashboard: bool,
    pull_: bool,
) -> None:
    clirun.repro(
        ctx.obj,
        targets,
        force=force,
        dry_run=dry_run,
        keep_going=keep_going,
        no_wait=no_wait,
        jobs=jobs,
        verbose=verbose,
        executor=executor,
        scheduler=scheduler,
        dashboard=dashboard,
        pull=pull_,
    )


@cli.command(help=clitexts.STATUS_HELP)
@click.argument("targets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (see README).")
@click.option(
    "--check",
    is_flag=True,
    help="For CI: exit 1 when pipeline.lock is out of date (code, configs, data or "
    "environment changed); results missing on this machine only do not fail it.",
)
@click.option("--why", metavar="STEP", help="Explain one step in full, like `incr show STEP`.")
@click.option("--remote", is_flag=True, help=ON_REMOTE)
@click.pass_context
def status(
    ctx: click.Context,
    targets: tuple[str, ...],
    as_json: bool,
    check: bool,
    why: str | None,
    remote: bool,
) -> None:
    if why is not None:
        ctx.invoke(show, target=why, as_json=as_json)
        return
    clirun.status(ctx.obj, targets, as_json=as_json, check=check, remote=remote)


@cli.command(help=clitexts.WATCH_HELP)
@click.argument("targets", nargs=-1)
@click.option(
    "--debounce",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    metavar="MS",
    help="Run once files have been quiet this long, so one save is one run.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Cancel a run when a watched file changes under it, and start over.",
)
@click.pass_context
@_user_errors
def watch(ctx: click.Context, targets: tuple[str, ...], debounce: int, restart: bool) -> None:
    from incr.watch import watch as watch_project

    code = watch_project(_project(ctx), targets, debounce=debounce / 1000, restart=restart)
    if code:
        sys.exit(code)


@cli.command()
@click.argument("pipelines_", metavar="[PIPELINE...]", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid", "svg", "png"]),
    default="text",
    show_default=True,
    help="text: steps in run order and what each takes; dot: Graphviz; mermaid: Mermaid; "
    "svg, png: a picture drawn by Graphviz's dot program.",
)
@click.option("--status", "with_status", is_flag=True, help=clitexts.DAG_STATUS)
@click.option("-o", "--output", type=click.File("wb"), default="-", help="Write it to FILE.")
@click.pass_context
@_user_errors
def dag(
    ctx: click.Context, pipelines_: tuple[str, ...], fmt: str, with_status: bool, output: Any
) -> None:
    """Print the graph of each pipeline (or of the named ones).

    \b
    Examples:
      incr dag                              every pipeline, as text
      incr dag --format svg --status -o dag.svg   a picture coloured by status
      incr dag flow --format mermaid        paste into Markdown
    """
    from incr.views import dag_bytes

    output.write(dag_bytes(_project(ctx), pipelines_, fmt, with_status))


@cli.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the same facts as JSON.")
@click.pass_context
@_user_errors
def show(ctx: click.Context, target: str, as_json: bool) -> None:
    """Explain one step: its state, every part of its fingerprint, and code diffs.

    Each part (code of the step and of every helper it uses, package versions, config
    values, inputs, deps, files it was seen to read, outputs) is shown with its value in
    pipeline.lock when it changed. For each function whose code changed since the step
    last ran, a unified diff of its normalised source (no comments, no docstrings) is
    printed.

    \b
    TARGET is PIPELINE.STEP, or a step name that is unique.
    """
    from incr import commands
    from incr.report import show_json, show_lines

    with clirun.stdout_kept_for(as_json):
        shown = commands.show(target, root=_project(ctx))
    if as_json:
        click.echo(show_json(shown.verdict, shown.locked, shown.diffs))
    else:
        for line in show_lines(shown.verdict, shown.locked, shown.diffs):
            click.echo(line)


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.pass_context
@_user_errors
def commit(ctx: click.Context, targets: tuple[str, ...]) -> None:
    """Accept a step's current code and config for the outputs it already has.

    For a refactor you have checked does not change results: the step's new fingerprint
    is recorded in pipeline.lock without rerunning it (nor anything downstream). Refused
    when the step never ran, waits on a dirty upstream step, its outputs are missing, or
    what it reads changed (deps, files, inputs, environment): run it instead.

    \b
    Example:
      incr status                 flow.transform  dirty: code changed (scale in ...)
      incr commit flow.transform  record it as done
    """
    from incr import commands
    from incr.report import commit_line

    commands.commit(
        targets,
        root=_project(ctx),
        on_wait=_tell,
        each=lambda c: click.echo(commit_line(c.key, c.reasons)),
    )


@cli.command(help=clitexts.GC_HELP)
@click.option(
    "--keep",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Run-cache entries to keep per step, newest first (what makes a revert free).",
)
@click.option(
    "--keep-history",
    "history",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="Run records to keep per pipeline, newest first (the runs the Python API lists).",
)
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--outs", is_flag=True, help="Also remove the outs files of removed steps.")
@click.option("--remote", is_flag=True, help=GC_REMOTE)
@click.option(
    "--grace",
    default="7d",
    show_default=True,
    help=(
        "With --remote: spare what is younger than this (30m, 12h, 7d), which a push or "
        "a branch not pushed yet may still need."
    ),
)
@click.pass_context
@_user_errors
def gc(
    ctx: click.Context, keep: int, history: int, dry_run: bool, outs: bool, remote: bool, grace: str
) -> None:
    if remote:
        from incr.remotecli import gc_remote_command

        sys.exit(gc_remote_command(_project(ctx), grace, dry_run, click.echo))
    for line in gc_lines(_project(ctx), keep, dry_run, outs, _tell, history):
        click.echo(line)


@cli.command(help=PUSH_HELP)
@click.argument("targets", nargs=-1)
@click.option("--all-runs", is_flag=True, help="Also push every record of the run cache.")
@click.option("--repair", is_flag=True, help="Replace damaged remote objects from here.")
@click.pass_context
@_user_errors
def push(ctx: click.Context, targets: tuple[str, ...], all_runs: bool, repair: bool) -> None:
    from incr.remotecli import push_command

    sys.exit(push_command(_project(ctx), targets, all_runs, repair, click.echo, _tell))


@cli.command(help=PULL_HELP)
@click.argument("targets", nargs=-1)
@click.pass_context
@_user_errors
def pull(ctx: click.Context, targets: tuple[str, ...]) -> None:
    from incr.remotecli import pull_command

    sys.exit(pull_command(_project(ctx), targets, click.echo, _tell))


@cli.command(help=clitexts.VERIFY_HELP)
@click.argument("targets", nargs=-1)
@click.option(
    "--rerun",
    is_flag=True,
    help="Run clean steps again in a scratch copy of the project and compare their outputs "
    "with pipeline.lock (nothing real is written).",
)
@click.pass_context
@_user_errors
def verify(ctx: click.Context, targets: tuple[str, ...], rerun: bool) -> None:
    if targets and not rerun:
        raise IncrError("TARGET is only taken with --rerun", hint="incr verify --rerun TARGET")
    check = verify_rerun if rerun else verify_cache
    code = check(_project(ctx), targets, click.echo, _tell)
    if code:
        sys.exit(code)


def _add(spec: clitexts.Spec, groups: dict[str, click.Group]) -> None:
    """A command that prints what ``views.CALL`` returns (see ``clitexts``)."""
    if spec.group not in groups:
        groups[spec.group] = click.Group(spec.group, help=clitexts.GROUPS[spec.group])
        cli.add_command(groups[spec.group])
    revs = [click.Argument(["revs"], nargs=-1, metavar="[REV [REV]]")] if spec.revs else []
    options = [click.Option(list(decls), **kw) for decls, kw in spec.options]

    @click.pass_context
    @_user_errors
    def command(ctx: click.Context, **values: Any) -> None:
        from incr import views

        click.echo(getattr(views, spec.call)(_project(ctx), **values))

    groups[spec.group].add_command(
        click.Command(spec.name, callback=command, params=[*revs, *options], help=spec.help)
    )


_groups: dict[str, click.Group] = {"": cli}
for _spec in clitexts.SPECS:
    _add(_spec, _groups)
