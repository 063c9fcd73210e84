"""``incr.collector``: full collections rarer inside ``paced``, at the pace before it inside
``in_step``, and the thresholds put back after each."""

from __future__ import annotations

import gc

from incr import collector


def test_paced_then_in_step_then_back() -> None:
    before = gc.get_threshold()
    with collector.in_step():  # outside a run: nothing changes
        assert gc.get_threshold() == before
    with collector.paced():
        assert gc.get_threshold() == (before[0], before[1], max(before[2], collector.FULL_EVERY))
        with collector.in_step():
            assert gc.get_threshold() == before
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
