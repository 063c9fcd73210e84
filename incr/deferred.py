"""Pipeline modules that read, as they are imported, a file a step writes that is not there
yet: a fresh clone (``pipeline.lock`` committed, the outputs not), a cleaned folder, or a
first run (``VOCAB = json.load(open("data/vocab.json"))`` at the top of a module, the file an
``outs`` of a step of another module).

``incr repro`` imports the other pipeline modules and runs their pipelines; the writer makes
the file, which asks for another pass (``incr.passes``: the file counts as read missing, and
a step changed it), and that pass imports the module. A module whose file no step writes (no
``outs`` of the pipelines found, no output in ``pipeline.lock``) fails as before, and so does
one still failing once the passes are over: its import error, with its hint, ends the run.
``incr status`` (without targets or ``--check``) defers them too: it judges the other
pipelines and says, for each module left out, what it waits for (``status_note``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from incr.errors import DiscoveryError, LockfileError
from incr.model import TracedPipeline


class Deferred:
    """The modules left out of this opening, each with its import error (by module path)."""

    def __init__(self, root: Path, lock: Path) -> None:
        self.root, self.lock = root, lock
        self.errors: dict[str, DiscoveryError] = {}

    def defer(self, path: Path, error: DiscoveryError) -> bool:
        """Leave the module at ``path`` out, when it failed on a project file not there."""
        if not error.missing:
            return False
        self.errors[path.relative_to(self.root).as_posix()] = error
        return True

    def files(self) -> list[str]:
        """The files the modules left out did not find."""
        return sorted({e.missing for e in self.errors.values()})

    def check(self, pipelines: list[TracedPipeline]) -> None:
        """Raise the error of a module whose file no step of ``pipelines`` lists in its
        ``outs`` and no output of ``pipeline.lock`` is: nothing this run makes brings it."""
        outs = {o for t in pipelines for n in t.graph.steps for o in n.outs}
        locked: set[str] = set()
        with contextlib.suppress(LockfileError, OSError):
            from incr import lockfile

            locked = {o for e in lockfile.read(self.lock).values() for o in e.outputs}
        for error in self.errors.values():
            made = error.missing in locked or any(_under(error.missing, o) for o in outs)
            if not made:
                raise error

    def note(self) -> str:
        """What the user is told as the run starts."""
        modules = ", ".join(self.errors)
        files = ", ".join(self.files())
        return (
            f"{modules} read {files} as they are imported, which is not there yet and which a "
            "step of this run writes: they are imported once it is there, and the pipelines "
            "they define run then"
        )

    def status_note(self, module: str, entries: int) -> str:
        """For ``incr status``: module ``module`` (left out) is not judged, and why;
        ``entries``: the lock entries of the pipelines it defines."""
        error = self.errors[module]
        held = f" ({entries} step{'s' if entries != 1 else ''} in pipeline.lock)" if entries else ""
        return (
            f"note: {module}{held} is not judged: it reads {error.missing} as it is imported; "
            f"{error.hint}"
        )

    def first(self) -> DiscoveryError:
        """The error that ends the run when the passes are over and a module is still out."""
        return next(iter(self.errors.values()))


def _under(path: str, out: str) -> bool:
    return path == out or path.startswith(out.rstrip("/") + "/")
