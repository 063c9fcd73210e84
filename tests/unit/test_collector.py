"""``incr.collector``: full collections rarer inside ``paced``, at the pace before it inside
``in_step``, and the thresholds put back after each."""

from __future__ import annotations

import gc

import pytest

from incr import collector


def test_paced_then_in_step_then_back() -> None:
    before = gc.get_threshold()
    with collector.in_step():  # outside a run: nothing changes
        assert gc.get_threshold() == before
    with collector.paced():
        assert gc.get_threshold() == (before[0], before[1], max(before[2], collector.FULL_EVERY))
        with collector.in_step():
            assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] == max(before[2], collector.FULL_EVERY)
    assert gc.get_threshold() == before


def test_thresholds_put_back_when_the_block_raises() -> None:
    before = gc.get_threshold()
    try:
        with collector.paced(), collector.in_step():
            raise RuntimeError("a step failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    with collector.in_step():
        assert gc.get_threshold() == before


def test_in_step_counts_the_steps_own_middle_collections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection comes once the steps' own code made as many collections of the middle
    generation as before the run; those made between steps, or before a full one, count not."""
    monkeypatch.setattr(collector, "_owed", 0)
    monkeypatch.setattr(collector, "_left", 0)
    before = gc.get_threshold()
    was_enabled = gc.isenabled()
    gc.disable()  # only the collections made here
    try:
        gc.collect()
        with collector.paced():
            with collector.in_step():
                assert gc.get_threshold()[2] == gc.get_count()[2] + before[2]
                for _ in range(3):
                    gc.collect(1)  # the step's own
            for _ in range(5):
                gc.collect(1)  # the run's, between steps
            with collector.in_step():
                assert gc.get_threshold()[2] == gc.get_count()[2] + before[2] - 3
                gc.collect(1)
            gc.collect()  # a full one between steps: nothing owed
            with collector.in_step():
                assert gc.get_threshold()[2] == gc.get_count()[2] + before[2]
    finally:
        if was_enabled:
            gc.enable()
    assert gc.get_threshold() == before
