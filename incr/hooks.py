"""What upper layers install for lower ones that cannot import them.

``incr/__init__.py`` installs, for the API layer (which cannot import the runner), the engine
behind ``PipelineInstance.run()``, the reader of its past runs (``get_runs()``) and what a
``StepContext``'s ``metadata_store`` opens. It fills them when ``incr`` is imported, which
Python does before any ``incr.*`` module, however the API gets loaded, in every process a step
runs in. A workspace installs its memory of entry points for ``incr.graph``, which loads
networkx. This module imports nothing of incr (a leaf of the core layer), so loading it costs
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from typing import Any

#: Runs a pipeline instance for ``.run()``: ``engine(instance, enable_cache)``.
engine: Callable[[Any, bool | None], Any] | None = None
#: The past runs of a pipeline instance, oldest first: ``past_runs(instance)``.
past_runs: Callable[[Any], Any] | None = None
#: The project's run history, given its root: what ``StepContext.metadata_store`` opens.
history: Callable[[Any], Any] | None = None
#: Told the frame a pipeline's ``.run()`` is called from, while what modules read as they are
#: imported is recorded (``incr.importreads``): the module whose body made the call has been
#: imported, what it reads afterwards is not an import fact. None while nothing records.
run_called: Callable[[Any], None] | None = None
#: Told each step function as ``@step`` is applied, in a script whose modules were imported
#: before ``incr`` was (``incr.globalvalues.step_made``); None elsewhere.
step_made: Callable[[Any], None] | None = None
#: While its context is active, ``importlib.metadata.entry_points(group=...)`` is answered from
#: the entry points a workspace remembers (``incr.entrypoints.answering``); None: not set.
entry_points_memory: Callable[[], AbstractContextManager[None]] | None = None
#: The project's ``[tool.incr] trusted_types`` and its test for its own modules, which skops
#: may load (``skopsformat.configure``; a workspace sets them without loading skops' format).
skops_trust: tuple[tuple[str, ...], Callable[[str], bool]] | None = None
