"""The ``if __name__ == "__main__":`` block of a pipeline module, run for discovery.

Scripts of ZenML's era build their pipeline instance and call ``.run()`` inside that guard.
Discovery imports the module as usual, then runs the guarded block's statements in the
module's own namespace while ``.run()`` calls are recorded (see ``tracing.recording_runs``):
the instances it runs are found, and its steps stay the module's own objects (no second copy
of the module under ``__main__``). What the block prints is dropped (``incr status --json``
prints JSON only), ``sys.argv`` holds the script's path alone (a click or argparse ``main()``
sees no options), and ``sys.exit(0)`` ends the block normally. While it runs, the environment
variable ``MAIN_BLOCK_ENV`` names the module: an ``incr`` the block starts on the same
project (``incr repro`` in a subprocess) would wait for the one running the block, or run the
block again, and so on without end; it stops instead with an error naming the block.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

from incr import globalvalues
from incr.errors import DiscoveryError
from incr.moduletop import main_bodies
from incr.project import MAIN_BLOCK_ENV


def main_block(source: bytes, filename: str) -> CodeType | None:
    """The module-level ``if __name__ == "__main__":`` bodies of ``source``, compiled as one
    block with their own line numbers; None when there is none (or the file does not parse:
    the import reports that)."""
    body = main_statements(source, filename)
    return compile(ast.Module(body=body, type_ignores=[]), filename, "exec") if body else None


def main_statements(source: bytes, filename: str) -> list[ast.stmt]:
    """The statements of the module-level ``if __name__ == "__main__":`` bodies of ``source``,
    in order (none when it does not parse)."""
    if b"__main__" not in source:
        return []
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return []
    return main_bodies(tree.body)


#: What this process's discovery said of main blocks that failed after running a pipeline:
#: the commands print it as notes (``clirun``).
STOPPED: list[str] = []


def run_main_block(module: Any, path: Path, rel: str, runs: list[Any]) -> None:
    """Run the guarded block of ``module`` (file ``path``, shown as ``rel``) in its namespace.

    A failure after the block ran a pipeline (reading the run's results back, say) is noted in
    ``STOPPED``: what discovery needs is the instances run. A failure before any is a
    DiscoveryError.
    """
    try:
        body = main_statements(path.read_bytes(), str(path))
    except OSError:
        return
    if not body:
        return
    marked, here = os.environ.get(MAIN_BLOCK_ENV), str(path.resolve())
    if marked == here:
        raise _nested(rel)
    code = compile(ast.Module(body=body, type_ignores=[]), str(path), "exec")
    before = len(runs)
    argv = sys.argv
    sys.argv = [str(path)]
    globalvalues.ran_main(module, body)  # the names it binds hold values set at run time
    os.environ[MAIN_BLOCK_ENV] = here
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, vars(module))
    except SystemExit as exc:
        if exc.code not in (None, 0) and len(runs) == before:
            raise DiscoveryError(
                f'{rel}: its `if __name__ == "__main__":` block exited with {exc.code!r} '
                "before running a pipeline",
                hint="make the block run the pipeline without command-line options",
            ) from None
    except Exception as exc:
        line = line_in(exc, path)
        if len(runs) > before:  # said: the pipelines it runs after that line are not seen
            STOPPED.append(
                f'{rel}:{line}: its `if __name__ == "__main__":` block stopped after running '
                f"a pipeline ({type(exc).__name__}: {exc}); the pipelines it runs after that "
                f"line are not seen (run `python {rel}` to see the full traceback)"
            )
        else:
            raise DiscoveryError(
                f'{rel}:{line}: its `if __name__ == "__main__":` block failed before '
                f"running a pipeline: {type(exc).__name__}: {exc}",
                hint=f"run `python {rel}` to see the full traceback",
            ) from None
    finally:
        sys.argv = argv
        if marked is None:
            os.environ.pop(MAIN_BLOCK_ENV, None)
        else:
            os.environ[MAIN_BLOCK_ENV] = marked


def refuse_nested(root: Path) -> None:
    """Raise DiscoveryError in an ``incr`` started on the project at ``root`` by the main block
    of one of its modules that discovery is running: it would wait for the ``incr`` running
    the block to finish, or discover the project again and run the block again."""
    marked = os.environ.get(MAIN_BLOCK_ENV)
    if marked and Path(marked).is_relative_to(root):
        raise _nested(Path(marked).relative_to(root).as_posix())


def _nested(rel: str) -> DiscoveryError:
    return DiscoveryError(
        f'{rel}: its `if __name__ == "__main__":` block started incr on this project, and incr '
        "runs that block to find the pipelines it runs: each incr would run the block again "
        "and start another",
        hint="let the block run the pipeline itself (`flow().run()`), or start incr from a "
        "script outside the pipelines folder",
    )


def line_in(exc: BaseException, path: Path) -> int:
    """The last line of ``path`` on the exception's traceback (where the module failed)."""
    import traceback  # here only: imports on the quick path are kept few

    line = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve() and frame.lineno:
            line = frame.lineno
    return line
