"""One error tree. A user error is one line that names the place, plus an optional hint."""

from __future__ import annotations


class IncrError(Exception):
    """An error the user can fix; shown as ``message`` and ``hint:`` without a traceback."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if hint:  # shown under the message when one escapes a script's ``.run()`` (PEP 678)
            self.__notes__ = [f"  hint: {hint}"]

    def format(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ProjectError(IncrError):
    """No project root, or a bad ``[tool.incr]`` table."""


class DiscoveryError(IncrError):
    """A pipeline module failed to import, or a pipeline is malformed."""

    #: The project file (relative path) a module failed to find as it was imported.
    missing = ""


class GraphError(IncrError):
    """A cycle, duplicate names, overlapping outs, an unknown target."""


class LockfileError(IncrError):
    """``pipeline.lock`` is damaged; ``message`` starts with ``pipeline.lock:LINE:``."""


class DefinitionError(IncrError, TypeError):
    """A step or pipeline is defined or called in a way incr cannot trace."""


class MaterializeError(IncrError):
    """An output no materializer can store."""
