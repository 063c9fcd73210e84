"""``incr.setters``: which module values a step sets still make it execute on every run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from incr.model import InputRef, PipelineGraph, StepNode
from incr.setters import EVERYTHING, LaterUsers, without_idle

RNG = "pipelines/gen.py:RNG"


def chain(*names: str) -> PipelineGraph:
    steps, before = [], None
    for name in names:
        refs = {"x": InputRef(before, "output")} if before else {}
        steps.append(StepNode("p", name, name, "pipelines/p.py", {}, refs, ("output",), (), ()))
        before = name
    return PipelineGraph("p", "pipelines/p.py", tuple(steps), order=tuple(names))


def test_only_the_steps_before_the_last_user_keep_executing() -> None:
    uses = {"split": {RNG}, "fit": {RNG}, "report": set()}
    users = LaterUsers(chain("split", "fit", "report"), lambda n: uses[n.name], set())
    assert users.idle("split", [RNG]) == set()  # fit draws after it
    assert users.idle("fit", [RNG]) == {RNG}  # the last to draw
    assert users.idle("report", [RNG]) == {RNG}


def test_a_step_after_that_may_use_anything_or_another_pipeline_keeps_it() -> None:
    uses = {"split": {RNG}, "fit": {RNG}, "report": EVERYTHING}
    users = LaterUsers(chain("split", "fit", "report"), lambda n: uses[n.name], set())
    assert users.idle("fit", [RNG]) == set()  # report is new or edited
    uses["report"] = set()
    assert (
        LaterUsers(chain("split", "fit", "report"), lambda n: uses[n.name], {RNG}).idle(
            "fit", [RNG]
        )
        == set()
    )
    assert (
        LaterUsers(chain("split", "fit"), lambda n: uses[n.name], EVERYTHING).idle("fit", [RNG])
        == set()
    )


@given(
    st.lists(st.sets(st.sampled_from(["a", "b", "c"])), min_size=1, max_size=6),
    st.sets(st.sampled_from(["a", "b", "c"])),
)
def test_a_value_is_idle_exactly_when_no_step_after_uses_it(
    used: list[set[str]], elsewhere: set[str]
) -> None:
    names = [f"s{i}" for i in range(len(used))]
    users = LaterUsers(chain(*names), lambda n: used[names.index(n.name)], elsewhere)
    for i, name in enumerate(names):
        idle = users.idle(name, ["a", "b", "c"])
        for part in "abc":
            after = any(part in later for later in used[i + 1 :]) or part in elsewhere
            assert (part in idle) is not after


def test_only_the_idle_sets_keys_are_dropped() -> None:
    reads = {f"sets:{RNG}": "set as it ran", "sets:x.py:N": "set as it ran", "data.csv": "d"}
    assert without_idle(reads, {RNG}) == {"sets:x.py:N": "set as it ran", "data.csv": "d"}
    assert without_idle(reads, set()) is reads
