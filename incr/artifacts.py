"""Step inputs typed ``DataArtifact`` or ``ModelArtifact`` (ZenML's 0.x era): the step gets
the stored artifact, a folder (``uri``) holding the files its materializer writes, instead of
the loaded value. The value stays the input of the step's fingerprint, as for any input."""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

from incr import materializers


class BaseArtifact:
    """A stored step output seen as files: ``uri`` is the folder its materializer wrote."""

    def __init__(self, uri: str = "", materializer: Any = None) -> None:
        self.uri = uri
        self.materializer = materializer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r})"


class DataArtifact(BaseArtifact):
    """A data set output, as files."""


class ModelArtifact(BaseArtifact):
    """A model output, as files."""


def artifact_params(signature: inspect.Signature) -> dict[str, type[BaseArtifact]]:
    """The parameters annotated with an artifact class, and that class."""
    return {
        p.name: p.annotation
        for p in signature.parameters.values()
        if isinstance(p.annotation, type) and issubclass(p.annotation, BaseArtifact)
    }


def as_artifacts(
    kwargs: dict[str, Any], params: dict[str, type[BaseArtifact]], folder: Path | None
) -> dict[str, Any]:
    """``kwargs`` with each artifact-typed input's value written by its materializer into a
    folder of its own (under ``folder``, else a temporary one) and given as an artifact."""
    for name, cls in params.items():
        if name not in kwargs:
            continue
        value = kwargs[name]
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        where = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder))
        for chosen in materializers.candidates(value):
            try:
                chosen().save(value, where)
            except materializers.Declined:
                continue
            kwargs[name] = cls(str(where), chosen)
            break
    return kwargs
