"""Help texts of the remote cache's commands and options (kept out of ``cli``, which only
wires them: it imports this small module when it starts)."""

from __future__ import annotations

PUSH_HELP = """Upload the results pipeline.lock records (objects first, then run records) to
the remote cache ([tool.incr.remote] url in pyproject.toml, or INCR_REMOTE), so that
teammates and CI pull them instead of computing.

Only what the remote lacks is sent (learned by listing). Run records are write-once, so
concurrent pushes keep each other's; a push killed midway leaves the remote usable.

\b
TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.
"""

PULL_HELP = """Download the results pipeline.lock records from the remote cache, each
verified against its digest, and put back missing outs files: `incr repro` then runs
nothing that the remote had.

An object whose bytes do not match its digest is refused (nothing is kept, exit code 1)
and `incr repro` recomputes its step; `incr push --repair` from a good copy fixes the
remote. The remote is contacted only when something is missing here.

\b
For CI:  incr pull && incr status --check
TARGET is PIPELINE, PIPELINE.STEP, or a step name that is unique.
"""

ON_REMOTE = "Also say, for each step, whether its locked result is on the remote cache."

GC_REMOTE = (
    "Clean the remote cache instead: remove what no pipeline.lock of the working tree or of "
    "any git branch or tag refers to, once older than --grace."
)
