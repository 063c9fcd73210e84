"""What a command says when Ctrl-C stops it: what it leaves, in its own words."""

from __future__ import annotations

import pytest

from incr.clihelp import user_errors


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("repro", "interrupted: every step that finished is kept in the lockfile"),
        ("push", "interrupted: the objects sent are on the remote; `incr push` again sends"),
        ("pull", "interrupted: the objects fetched are kept; `incr pull` again fetches"),
        ("dag", "interrupted"),
    ],
)
def test_ctrl_c_says_what_the_command_leaves(command: str, said: str) -> None:
    lines: list[str] = []

    def stopped() -> None:
        raise KeyboardInterrupt

    stopped.__name__ = command
    with pytest.raises(SystemExit) as exit_:
        user_errors(lines.append)(stopped)()
    assert exit_.value.code == 130
    assert len(lines) == 1 and lines[0].startswith(said)
    assert command in ("repro",) or "step that finished" not in lines[0]
