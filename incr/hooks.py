"""What ``incr/__init__.py`` installs for the API layer, which cannot import the runner: the
engine behind ``PipelineInstance.run()`` and the reader of its past runs (``get_runs()``).

``incr/__init__.py`` fills both when ``incr`` is imported, which Python does before any
``incr.*`` module, however the API gets loaded. It imports nothing of incr (a leaf of the core
layer), so loading it costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Runs a pipeline instance for ``.run()``: ``engine(instance, enable_cache)``.
engine: Callable[[Any, bool | None], Any] | None = None
#: The past runs of a pipeline instance, oldest first: ``past_runs(instance)``.
past_runs: Callable[[Any], Any] | None = None
