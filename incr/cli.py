"""The ``incr`` command. ``incr status`` and ``incr repro`` given alone, what people type on
every save, run their bodies (``incr.clirun``) with click's defaults without importing click
and the other commands' help texts (some 20 ms, a sixth of a no-op ``status`` of 1,000
steps); any other command line is parsed by click (``incr.clickcli``)."""

from __future__ import annotations

import sys
from typing import Any

#: The command lines run without click.
QUICK = ("status", "repro")


def main() -> None:
    from incr.clihelp import quiet_broken_pipe

    args = sys.argv[1:]
    try:
        if len(args) == 1 and args[0] in QUICK:
            from incr import clirun

            getattr(clirun, args[0])(None)
        else:
            from incr.clickcli import cli

            cli(prog_name="incr")
    except BrokenPipeError:
        quiet_broken_pipe()


def __getattr__(name: str) -> Any:
    """``incr.cli.cli``: the click group, imported when asked for."""
    if name == "cli":
        from incr.clickcli import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
