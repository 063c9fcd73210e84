"""The run-level ``enable_cache`` of a discovered pipeline instance: what the ``.run()`` calls
discovery recorded pass (``training_pipeline(...).run(enable_cache=False)`` in a main block).

``python pipelines/training.py`` runs that instance with the value; ``incr repro`` and ``incr
status`` apply it to the same instance, kept in its graph (``PipelineGraph.run_cache``, and so
in the graph cache) and given the seed's precedence (``plan.cache_enabled``): False executes
every step, True caches them even under ``@pipeline(enable_cache=False)``. An instance run
several times (the seed's script runs one three times, the last with ``enable_cache=False``)
gets the value under which one run executes each step some of those runs execute: False when
one passes False, else None (the pipeline's and steps' own settings) when one passes nothing,
else True. Never run (only held by a module): None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from incr.model import TracedPipeline


def run_level(values: Iterable[Any]) -> bool | None:
    """The one value standing for the ``enable_cache`` values of an instance's runs."""
    found = {None if v is None else bool(v) for v in values}  # as a run takes them: truthy
    if False in found:
        return False
    return True if found == {True} else None


def merge(kept: Any, other: Any) -> None:
    """``other``, found again as the instance ``kept`` (made anew with the same steps and
    configs, as ``python`` names it the same), gives its runs to ``kept``."""
    if other is not kept:
        kept.run_caches.extend(other.run_caches)


def applied(traced: TracedPipeline, instance: Any) -> TracedPipeline:
    """``traced`` with ``instance``'s run-level value; ``traced`` itself when it holds it
    already (a graph rebound from the graph cache stays the saved object)."""
    value = run_level(instance.run_caches)
    if traced.graph.run_cache is value:
        return traced
    return replace(traced, graph=replace(traced.graph, run_cache=value))
