"""The commands that show and compare (``diff``, ``params diff``, ``metrics show|diff``,
``report``) as plain data: their group, arguments, options, help, and the ``views`` function
each calls. ``cli`` builds click commands from them; no click here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_REVS = """
\b
No REV: HEAD against the working tree; one REV: it against the working tree; two: the
first against the second (HEAD~1, a tag, a hash: anything git knows).
"""

#: An option: its declarations and click's keyword arguments.
Option = tuple[tuple[str, ...], dict[str, Any]]
JSON: Option = (("--json", "as_json"), {"is_flag": True, "help": "Print it as JSON."})


@dataclass(frozen=True)
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
