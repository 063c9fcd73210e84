"""The commands that show and compare (``diff``, ``params diff``, ``metrics show|diff``,
``report``) as plain data: their group, arguments, options, help, and the ``views`` function
each calls. ``cli`` builds click commands from them; no click here."""

from __future__ import annotations

from typing import Any

from incr.valueclass import valueclass

_REVS = """
\b
No REV: HEAD against the working tree; one REV: it against the working tree; two: the
first against the second (HEAD~1, a tag, a hash: anything git knows).
"""

#: An option: its declarations and click's keyword arguments.
Option = tuple[tuple[str, ...], dict[str, Any]]
JSON: Option = (("--json", "as_json"), {"is_flag": True, "help": "Print it as JSON."})


@valueclass(frozen=True)
class Spec:
    """``incr [GROUP] NAME``: prints ``views.CALL(project, [revs,] **options)``."""

    group: str  # "" for a top-level command
    name: str
    call: str
    help: str
    revs: bool = False  # takes [REV [REV]]
    options: tuple[Option, ...] = (JSON,)


DAG_STATUS = (
    "Colour each step by its state (clean, dirty, waiting, failed, cache disabled), with a "
    "legend, reasons as tooltips, and deps/outs files as nodes."
)

GROUPS = {
    "params": "Config values (StepConfig) recorded in pipeline.lock, across git revisions.",
    "metrics": "Metrics: JSON outs (or dict outputs) marked with @step(metrics=[...]).",
}

SPECS = (
    Spec(
        "",
        "diff",
        "lock_diff",
        """List the steps whose pipeline.lock entries differ between two git revisions.

Each step is named with what differs, in the words of incr status: code changed, config
changed, dep changed, input changed, outputs changed, new step, removed step.
"""
        + _REVS,
        revs=True,
    ),
    Spec(
        "params",
        "diff",
        "params_diff",
        "Print the config values that differ between two git revisions, per step.\n" + _REVS,
        revs=True,
    ),
    Spec(
        "metrics",
        "show",
        "metrics_show",
        "Print each metric as pipeline.lock records it, read from the cache.",
    ),
    Spec(
        "metrics",
        "diff",
        "metrics_diff",
        """Print the metrics that differ between two git revisions, with the change.

Old values are read from the cache by the digests in the old pipeline.lock; a value whose
object is not in the cache is shown as "(not available)", never guessed.
"""
        + _REVS,
        revs=True,
    ),
    Spec(
        "",
        "report",
        "report",
        """Write an HTML report: the pipelines' picture coloured by status, and a table of
steps (state and reasons, last duration, outputs with kind and size, params, metrics).

One self-contained file (inline SVG and CSS, no script, nothing fetched): open it in
any browser, attach it to a CI run. The picture needs Graphviz's dot program.
""",
        options=(
            (
                ("-o", "--output"),
                {"default": "incr-report.html", "show_default": True, "help": "The file."},
            ),
        ),
    ),
)

REPRO_HELP = """Bring pipelines up to date: run dirty steps, reuse cached results for the rest.

    With no TARGET, every pipeline under pipelines/ is brought up to date. A step target
    also brings the steps it needs up to date. Stops at the first failing step, like Make
    (see --keep-going; with --jobs, steps already running finish); exit code 1 when a step
    failed. pipeline.lock is rewritten as steps finish, and an interrupted run keeps what
    finished (the next run restores it).

    Pipeline modules are imported only when a step has to run, and then only those whose
    pipelines have one (with the modules their code uses and those that define no
    pipeline): a step should not rely on what importing another pipeline module does.

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
      incr repro --executor dask     on a Dask LocalCluster (pip install 'incr[dask]')
    """


VERIFY_HELP = """Check every cached object pipeline.lock refers to against its digest.

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


WATCH_HELP = """Rerun what changed each time you save, until Ctrl-C.

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


STATUS_HELP = """List every step as clean, dirty or waiting, with the reasons that make it dirty.

    \b
    Reasons name what changed:
      code changed (double in pipelines/flow.py)   the step or a helper it uses
      config changed (factor: 2 -> 5)              a StepConfig value
      dep changed (data/raw.csv)                   a file listed in deps=[...]
      read changed (data/notes.txt)                a file it was seen to read
      input changed (from transform)               an upstream output it receives
      env changed (SEED)                           an environment variable it read
      listing changed (data/raw)                   a folder it listed
      file appeared / file vanished (path)         a path it tested for existence
      output missing / output modified (path)      a file in outs=[...]
      written file missing / changed (path)        a file it wrote, not in outs
      removed step's file (path, of STEP)          a file a step gone from its pipeline wrote
      output missing from cache, expired, cache disabled, new step
    README's "What makes a step dirty" lists them all.
    A step that is only "waiting: after transform" reruns only if transform's
    output really changes.

    \b
    TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.
    """

GC_HELP = """Remove cached objects that nothing needs any more.

Kept: every object pipeline.lock refers to (in the working tree, and at every git branch,
remote-tracking branch and tag, so checking one out restores its results), and the objects
of the KEEP newest run-cache entries of each step (so reverting the last few edits still
restores results without running). Removed: older run-cache entries, the objects only they
used, and leftovers of interrupted writes. The small objects runs append to packs
(.pipecache/packs/) are rewritten into one pack of those still needed. Each run leaves
a record in .pipecache/history/ (what get_pipeline(...).runs lists): all but the
--keep-history newest of each pipeline are removed, and so are the module texts kept in
.pipecache/sources/ that no lock entry, graph or module file names. With --outs, the files a
removed step listed in its outs, which incr status notes, are removed too.
"""
