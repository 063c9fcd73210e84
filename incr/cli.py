"""The ``incr`` command: a thin click shell over ``session`` and ``runner``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from incr.clihelp import (
    commit_steps,
    dag_output,
    few_collections,
    gc_summary,
    one_step,
    user_errors,
    verify_rerun,
)
from incr.errors import IncrError
from incr.project import Project
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
    return Project.find(ctx.obj)


@cli.command()
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
@click.pass_context
@_user_errors
def repro(
    ctx: click.Context,
    targets: tuple[str, ...],
    force: bool,
    dry_run: bool,
    keep_going: bool,
    no_wait: bool,
    jobs: int,
) -> None:
    """Bring pipelines up to date: run dirty steps, reuse cached results for the rest.

    With no TARGET, every pipeline under pipelines/ is brought up to date. A step target
    also brings the steps it needs up to date. Stops at the first failing step, like Make
    (see --keep-going); exit code 1 when a step failed. pipeline.lock is rewritten after
    every finished step, so an interrupted run keeps what finished.

    Only one incr writes to a project at a time: a second repro waits for the first (and
    says for whom it waits). incr status never waits.

    \b
    TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.

    \b
    Examples:
      incr repro                     everything
      incr repro digits.svc_trainer  one step and what it needs
      incr repro --force train       rerun train even if it is clean
      incr repro -j 2                two independent steps at a time
    """
    from incr.locking import project_lock
    from incr.report import Console, status_lines
    from incr.runner import repro_all
    from incr.session import open_for_repro, open_pipelines

    project = _project(ctx)
    if dry_run:
        workspace, pipelines = open_pipelines(project, executable=False)
        verdicts = workspace.status(pipelines, targets, force=force)
        for line in status_lines(verdicts):
            click.echo(line)
        click.echo("(dry run: nothing was executed)")
        return
    with project_lock(project.cache, "incr repro", wait=not no_wait, on_wait=_tell):
        with few_collections():  # deciding, before any step runs
            workspace, pipelines = open_for_repro(project, targets, force)
        ok = repro_all(
            workspace,
            pipelines,
            targets,
            Console(explain=True),
            force=force,
            keep_going=keep_going,
            jobs=jobs,
        )
    if not ok:
        sys.exit(1)


@cli.command()
@click.argument("targets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (see README).")
@click.option(
    "--check",
    is_flag=True,
    help="For CI: exit 1 when pipeline.lock is out of date (code, configs, data or "
    "environment changed); results missing on this machine only do not fail it.",
)
@click.option("--why", metavar="STEP", help="Explain one step in full, like `incr show STEP`.")
@click.pass_context
@_user_errors
def status(
    ctx: click.Context, targets: tuple[str, ...], as_json: bool, check: bool, why: str | None
) -> None:
    """List every step as clean, dirty or waiting, with the reasons that make it dirty.

    \b
    Reasons name what changed:
      code changed (double in pipelines/flow.py)   the step or a helper it uses
      config changed (factor: 2 -> 5)              a StepConfig value
      dep changed (data/raw.csv)                   a file listed in deps=[...]
      read changed (data/notes.txt)                a file it was seen to read
      input changed (from transform)               an upstream output it receives
      output missing / output modified (path)      a file in outs=[...]
      output missing from cache, expired, cache disabled, new step
    A step that is only "waiting: after transform" reruns only if transform's
    output really changes.

    \b
    TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.
    """
    from incr.gate import stale_steps
    from incr.report import check_line, status_json, status_lines
    from incr.session import kept_lines, open_pipelines

    if why is not None:
        ctx.invoke(show, target=why, as_json=as_json)
        return
    with few_collections():
        workspace, pipelines = open_pipelines(_project(ctx), executable=False)
        verdicts = workspace.status(pipelines, targets, lock_view=check)
    if as_json:
        click.echo(status_json(verdicts))
    else:
        lines = status_lines(verdicts) + kept_lines(workspace, pipelines)
        if lines:  # one write: a large pipeline has a line per step
            click.echo("\n".join(lines))
    if check:
        click.echo(check_line(verdicts), err=as_json)
        if stale_steps(verdicts):
            sys.exit(1)


@cli.command()
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
    """Rerun what changed each time you save, until Ctrl-C.

    First brings the targets up to date (like incr repro), then reruns them whenever a
    watched file changes. Only dirty steps run, with the same lines as incr repro.

    \b
    Watched:
      every .py file under pipelines/, new ones included
      project-local modules the pipelines import (e.g. src/features.py)
      the files and folders in each targeted step's deps=[...] (folders recursively)
    Never watched: .pipecache/, .git/, pipeline.lock, files in a step's outs=[...].

    \b
    What a save does:
      files quiet for --debounce ms -> one run of the dirty steps
      a comment, a touch, the same bytes -> one "no change that matters" line
      a change during a run -> one more run after it (--restart: cancel, start over)
      a failing step or a syntax error -> the error; the save that fixes it reruns
    New modules and deps are watched after the run that adds them.

    \b
    To stop: Ctrl-C or SIGTERM. A step in progress is interrupted; every finished step
    stays in pipeline.lock. Exit code 0, or 130 when Ctrl-C interrupted a run.

    \b
    TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.

    \b
    Examples:
      incr watch                     every pipeline
      incr watch flow.report         one step and what it needs
      incr watch --restart train     cancel a long training run on each save
    """
    from incr.watch import watch as watch_project

    code = watch_project(_project(ctx), targets, debounce=debounce / 1000, restart=restart)
    if code:
        sys.exit(code)


@cli.command()
@click.argument("pipelines_", metavar="[PIPELINE...]", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid"]),
    default="text",
    show_default=True,
    help="text: steps in run order and what each takes; dot: Graphviz; mermaid: Mermaid.",
)
@click.pass_context
@_user_errors
def dag(ctx: click.Context, pipelines_: tuple[str, ...], fmt: str) -> None:
    """Print the graph of each pipeline (or of the named ones).

    \b
    Examples:
      incr dag                              every pipeline, as text
      incr dag flow --format dot | dot -Tsvg > flow.svg
      incr dag flow --format mermaid        paste into Markdown
    """
    from incr.session import open_pipelines

    _, pipelines = open_pipelines(_project(ctx), executable=False)
    for line in dag_output(pipelines, pipelines_, fmt):
        click.echo(line)


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
    from incr.report import show_json, show_lines
    from incr.session import open_pipelines

    workspace, pipelines = open_pipelines(_project(ctx), executable=False)
    pipeline, name = one_step(pipelines, target)
    verdicts = workspace.status(pipelines, [f"{pipeline}.{name}"])
    verdict = next(v for v in verdicts if v.node.key == f"{pipeline}.{name}")
    locked = workspace.locks.get(verdict.node.key)
    diffs = workspace.code_diffs(verdict)
    if as_json:
        click.echo(show_json(verdict, locked, diffs))
    else:
        for line in show_lines(verdict, locked, diffs):
            click.echo(line)


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.pass_context
@_user_errors
def commit(ctx: click.Context, targets: tuple[str, ...]) -> None:
    """Accept a step's current code and config for the outputs it already has.

    For a refactor you have checked does not change results: the step's new fingerprint
    is recorded in pipeline.lock without rerunning it (nor anything downstream). Refused
    when the step never ran, waits on a dirty upstream step, or its outputs are missing.

    \b
    Example:
      incr status                 flow.transform  dirty: code changed (scale in ...)
      incr commit flow.transform  record it as done
    """
    from incr.locking import project_lock
    from incr.session import open_pipelines

    project = _project(ctx)
    with project_lock(project.cache, "incr commit", on_wait=_tell):
        workspace, pipelines = open_pipelines(project, executable=False)
        for line in commit_steps(workspace, pipelines, targets):
            click.echo(line)


@cli.command()
@click.option(
    "--keep",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Run-cache entries to keep per step, newest first (what makes a revert free).",
)
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.pass_context
@_user_errors
def gc(ctx: click.Context, keep: int, dry_run: bool) -> None:
    """Remove cached objects that nothing needs any more.

    Kept: every object pipeline.lock refers to, and the objects of the KEEP newest
    run-cache entries of each step (so reverting the last few edits still restores results
    without running). Removed: older run-cache entries, the objects only they used, and
    leftovers of interrupted writes.
    """
    from incr import lockfile
    from incr.locking import project_lock
    from incr.maintenance import collect
    from incr.store import Store

    project = _project(ctx)
    with project_lock(project.cache, "incr gc", on_wait=_tell):
        locks = lockfile.read(project.lockfile)
        report = collect(Store(project.cache), locks, keep, dry_run, lockfile=project.lockfile)
    verb = "would remove" if dry_run else "removed"
    if dry_run:
        for path in (*report.objects, *report.runs, *report.temps):
            click.echo(f"  {path.relative_to(project.root).as_posix()}")
    click.echo(gc_summary(report, verb))


@cli.command()
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
    """Check every cached object pipeline.lock refers to against its digest.

    A missing or damaged object is reported with its path and removed; the next
    `incr repro` recomputes (or restores) it. Exit code 1 when anything was wrong.

    \b
    With --rerun [TARGET...]: prove that clean steps are clean. Each clean step runs
    again, twice, in a temporary copy of the project, on the inputs pipeline.lock
    records; what it returns and writes is compared with the recorded digests. Exit
    code 1 names every step whose outputs differ, and why:
      non-deterministic                two runs in a row differ (a clock, a
                                       random generator, a set's order...)
      changed when run again: reads    both runs agree, but not with pipeline.lock:
      something incr does not track    it reads something incr does not see
    Dirty steps are skipped. The lockfile, the cache and the outs are not touched.

    \b
    TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.
    """
    from incr import lockfile
    from incr.maintenance import verify as verify_objects
    from incr.store import Store

    project = _project(ctx)
    if rerun:
        code = verify_rerun(project, targets, click.echo, _tell)
        if code:
            sys.exit(code)
        return
    if targets:
        raise IncrError("TARGET is only taken with --rerun", hint="incr verify --rerun TARGET")
    checked, problems = verify_objects(Store(project.cache), lockfile.read(project.lockfile))
    for problem in problems:
        click.echo(f"{problem.step} output {problem.output}: {problem.text}", err=True)
    if problems:
        click.echo(
            f"{len(problems)} problems in {checked + len(problems)} objects; "
            "run `incr repro` to recompute them",
            err=True,
        )
        sys.exit(1)
    click.echo(f"all {checked} objects match their digests")


def main() -> None:
    cli(prog_name="incr")


if __name__ == "__main__":  # pragma: no cover
    main()
