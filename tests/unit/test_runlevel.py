"""``incr.runlevel``: one run-level value for an instance's recorded ``.run()`` calls."""

from __future__ import annotations

import pytest

from incr.runlevel import run_level


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),  # never run: the pipeline's and steps' own settings
        ([None], None),
        ([False], False),
        ([True], True),
        ([None, None, False], False),  # the seed's script: the last run executes every step
        ([True, None], None),  # the run without the argument executes what its settings say
        ([True, True], True),
        ([True, False, None], False),
        ([0], False),  # taken by truth, as a run takes it
    ],
)
def test_the_value_under_which_one_run_executes_what_those_runs_execute(
    values: list[bool | None], expected: bool | None
) -> None:
    assert run_level(values) is expected
