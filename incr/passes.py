"""Another pass of ``incr repro`` when its own steps changed what the pipelines were opened
from: a file a module read as it was imported (``LABELS = json.load(open("data/labels.json"))``
at the top of a module, the file an output of a step), or one the pipeline bodies read as they
were traced (``for name in json.load(open("data/manifest.json")): ...``), a folder they
listed, a path they tested.

A run from scratch imports the modules once, before any step runs: what they made of such a
file is what its steps see, so a step running after the file was rewritten would compute with
the old contents. That step is held (``Preparer.prepare``: it does not execute, and neither do
the steps below it); once the pass ends, the project's modules are forgotten and the pipelines
opened again, and the run goes on with what is dirty then. A file that a step executed in the
pass both read through its modules' imports and wrote asks for no other pass by itself: such a
step changes its own input on every run, and would otherwise run again and again. At most
``PASSES`` passes are made; a step still held in the last one fails, saying why, as it does in
a script's ``.run()``, which cannot import its own module again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from incr.events import RunResult
from incr.localmodules import forget_local_modules
from incr.model import IMPORT_PREFIX, TracedPipeline, split_import_key
from incr.project import Project
from incr.session import Workspace

#: Passes of one ``incr repro`` at most: the first, and the modules imported twice again.
PASSES = 3


def changed_since(
    workspace: Workspace, opened: Mapping[str, str], runs: Iterable[RunResult]
) -> list[str]:
    """The keys of ``opened`` that a step of ``runs`` changed (it writes the file, or one in
    the folder listed: its ``outs``, or seen writing) and that differ now; but a file a step
    executed in ``runs`` both read through its modules' imports and wrote (it changes its own
    input on every run). An edit made meanwhile by hand (a module's source) is for the next
    command."""
    if not workspace.changed:  # no step executed or had its outputs put back
        return []
    runs = list(runs)
    writes = workspace.step_writes(workspace.pipelines)
    written: set[str] = set()
    for result in runs:
        for step in (*result.executed, *result.cached):
            written.update(writes.get(f"{result.pipeline}.{step}", ()))
    if not written:
        return []
    value = workspace.learned.value
    changed = [k for k, then in opened.items() if _touched(k, written) and value(k, then) != then]
    cycles: set[str] = set()  # files a step read through its modules' imports and wrote
    for result in runs if changed else ():
        for step in result.executed:
            key = f"{result.pipeline}.{step}"
            entry = workspace.locks.get(key)
            reads = entry.reads if entry is not None else {}
            read = {split_import_key(k)[1] for k in reads if k.startswith(IMPORT_PREFIX)}
            cycles |= read & set(writes.get(key, ()))
    return [key for key in changed if key not in cycles]


def wiring_moved(workspace: Workspace, key: str, written: Iterable[str]) -> list[str]:
    """What the pipelines were opened from (``opened``: read as the modules were imported or
    the pipelines traced, listed, tested) that step ``key`` changed by writing the paths
    ``written``: the modules may hold other values now, and the graphs traced from them be
    others. Not a file the step itself read through its modules' imports: it changes its own
    input on every run."""
    opened, written = workspace.learned.opened, set(written)
    if not opened or not written:
        return []
    entry = workspace.locks.get(key)
    own = (
        {split_import_key(k)[1] for k in entry.reads if k.startswith(IMPORT_PREFIX)}
        if entry
        else set()
    )
    value = workspace.learned.value
    return sorted(
        k.partition(":")[2] if k.startswith(("ls:", "exists:")) else k
        for k, then in opened.items()
        if k not in own and _touched(k, written) and value(k, then) != then
    )


def writes_opened(workspace: Workspace, key: str, written: Iterable[str]) -> bool:
    """Whether step ``key``, writing the paths ``written`` (its ``outs``, what it was seen
    writing), may change what the pipelines were opened from: under ``--jobs`` no other step
    starts while it runs, so that none starts from what it is about to change."""
    opened, written = workspace.learned.opened, set(written)
    return bool(written) and any(_touched(k, written) for k in opened)


def _touched(key: str, written: set[str]) -> bool:
    """Whether writing the paths ``written`` may have changed what ``key`` values: the file
    itself or a folder holding it, or for a listing (``ls:DIR``) a path in that folder."""
    kind, _, rest = key.partition(":")
    path = rest if kind in ("ls", "exists") else key
    if kind == "ls" and any(p.startswith(path.rstrip("/") + "/") for p in written):
        return True
    return any(path == p or path.startswith(p + "/") for p in written)


def again_line(changed: list[str], runs: Iterable[RunResult]) -> str:
    """The note saying why the pipelines are opened again."""
    held = sorted({f"{r.pipeline}.{s}" for r in runs for s in r.held})
    paths = {k.partition(":")[2] if k.startswith(("ls:", "exists:")) else k for k in changed}
    files = sorted({f for r in runs for held in r.held.values() for f in held} | paths)
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    line = f"importing the pipeline modules again: this run changed {shown}, which they read"
    line += " as they were imported or traced"
    if len(held) > 3:
        held = [*held[:3], f"{len(held) - 3} more"]
    return line + (f"; held until then: {', '.join(held)}" if held else "")


def passes_left_line(changed: list[str]) -> str:
    """The note of a last pass whose steps changed again what the pipelines were opened from."""
    paths = sorted(k.partition(":")[2] if k.startswith(("ls:", "exists:")) else k for k in changed)
    return (
        f"this run changed {', '.join(paths[:3])} again after the pipelines were opened for "
        f"the last time ({PASSES} passes): it stops here, and `incr status` says what is left "
        "(a step writing it differently on each run never settles)"
    )


def held_failure(files: Iterable[str]) -> str:
    """The failure of a step that cannot run with what its modules made of ``files``."""
    return (
        f"{', '.join(files)} changed after the modules its code uses read it as they were "
        "imported (a step of this process wrote it, or put it back from the cache): this "
        "process holds what they made of the old contents; run it again (`incr repro`, or "
        "the script)"
    )


def reopen(project: Project, targets: Iterable[str]) -> tuple[Workspace, list[TracedPipeline]]:
    """Forget the project's modules and open its pipelines again, for the next pass."""
    from incr.opening import open_for_repro

    forget_local_modules(project)
    return open_for_repro(project, list(targets))
