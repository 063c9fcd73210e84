"""``fileio`` as ZenML's 0.x materializers used it (``from zenml.io import fileio``), on the
local file system: ``open``, ``exists``, ``makedirs``, ``listdir``, ``copy``... Paths are
plain local paths (an artifact's ``uri`` is a folder under ``.pipecache/``)."""

from __future__ import annotations

import glob as _glob
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any

PathType = str | os.PathLike[str]


def open(path: PathType, mode: str = "r") -> IO[Any]:
    """Open a file (text or binary, as ``mode`` says)."""
    import builtins

    return builtins.open(path, mode)


def exists(path: PathType) -> bool:
    return os.path.exists(path)


def isdir(path: PathType) -> bool:
    return os.path.isdir(path)


def listdir(path: PathType) -> list[str]:
    return sorted(os.listdir(path))


def makedirs(path: PathType) -> None:
    os.makedirs(path, exist_ok=True)


def mkdir(path: PathType) -> None:
    os.mkdir(path)


def remove(path: PathType) -> None:
    os.remove(path)


def rmtree(path: PathType) -> None:
    shutil.rmtree(path)


def copy(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} exists (pass overwrite=True)")
    shutil.copyfile(src, dst)


def rename(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} exists (pass overwrite=True)")
    os.replace(src, dst)


def glob(pattern: PathType) -> list[str]:
    return sorted(_glob.glob(os.fspath(pattern)))


def walk(top: PathType) -> Iterator[tuple[str, list[str], list[str]]]:
    for root, dirs, files in os.walk(top):
        dirs.sort()
        yield root, dirs, sorted(files)
