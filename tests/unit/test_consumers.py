"""incr/consumers.py: counting the steps of a run that still have to start with each output."""

from __future__ import annotations

from incr.consumers import Consumers
from incr.model import InputRef, StepNode


def node(name: str, *inputs: tuple[str, str]) -> StepNode:
    refs = {f"in{i}": InputRef(step, output) for i, (step, output) in enumerate(inputs)}
    return StepNode("p", name, name, "pipelines/p.py", {}, refs, ("output",))


def test_an_output_is_needed_until_its_last_consumer_starts() -> None:
    consumers = Consumers(
        [node("load"), node("a", ("load", "output")), node("b", ("load", "output"))]
    )

    assert consumers.needed(("load", "output"))
    assert consumers.started("load") == []
    assert consumers.started("a") == []
    assert consumers.needed(("load", "output"))
    assert consumers.started("b") == [("load", "output")]
    assert not consumers.needed(("load", "output"))


def test_an_output_nobody_takes_is_never_needed() -> None:
    consumers = Consumers([node("load"), node("other")])

    assert not consumers.needed(("load", "output"))


def test_a_step_counts_once_however_often_it_starts_or_takes_an_output() -> None:
    """A rerun or a recompute starts a step again: it must not release a value that another
    consumer still waits for. Two parameters fed by one output count as one consumer."""
    consumers = Consumers(
        [
            node("load"),
            node("twice", ("load", "output"), ("load", "output")),
            node("late", ("load", "output")),
        ]
    )

    assert consumers.started("twice") == []
    assert consumers.started("twice") == []
    assert consumers.needed(("load", "output"))
    assert consumers.started("late") == [("load", "output")]
    assert consumers.started("late") == []


def test_only_the_steps_of_the_run_count() -> None:
    """A consumer outside the run (not targeted) never starts: it holds nothing."""
    consumers = Consumers([node("load"), node("a", ("load", "output"))])

    assert consumers.started("not_in_run") == []
    assert consumers.started("a") == [("load", "output")]


def test_several_outputs_are_released_each_when_its_count_reaches_zero() -> None:
    consumers = Consumers(
        [
            node("x", ("split", "train"), ("split", "test")),
            node("y", ("split", "test")),
        ]
    )

    assert consumers.started("x") == [("split", "train")]
    assert consumers.needed(("split", "test"))
    assert consumers.started("y") == [("split", "test")]


def test_an_empty_count_needs_nothing() -> None:
    assert not Consumers().needed(("any", "output"))
