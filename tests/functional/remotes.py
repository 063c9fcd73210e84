"""Test support for the shared remote cache: a project in a git repository whose steps
return values and write an ``outs`` file and folder, clones of it, and checks of what a
remote holds.

``origin(make_project, url, options)`` writes the project with ``[tool.incr.remote]``, runs
it once and commits it; ``clone(project, name)`` is a fresh ``git clone`` (no cache, no outs).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from blake3 import blake3

from .conftest import MakeProject, Project

FLOW = '''\
    """A value step, a step with an outs file and folder, and a step reading a file it does
    not declare (its reads are part of its run record, not of its fingerprint)."""

    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.csv"])
    def load() -> list:
        mark("load")
        with open("data/raw.csv", encoding="utf-8") as fh:
            return [int(line) for line in fh if line.strip()]


    @step(outs=["out/report.txt", "out/parts"])
    def report(values: list) -> int:
        mark("report")
        os.makedirs("out/parts", exist_ok=True)
        with open("out/report.txt", "w", encoding="utf-8") as fh:
            fh.write(f"total {sum(values)}\\n")
        for value in values:
            with open(f"out/parts/{value}.txt", "w", encoding="utf-8") as fh:
                fh.write(str(value) * 100)
        return sum(values)


    @step
    def noted(total: int) -> str:
        mark("noted")
        with open("data/notes.txt", encoding="utf-8") as fh:
            return f"{total}: {fh.read().strip()}"


    @pipeline
    def flow():
        noted(report(load()))
    '''

STEPS = ["load", "report", "noted"]


def pyproject(url: str, options: str = "") -> str:
    text = f'[project]\nname = "demo"\nversion = "0"\n\n[tool.incr.remote]\nurl = "{url}"\n'
    return text + (f"options = {options}\n" if options else "")


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
    }
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def origin(make_project: MakeProject, url: str, options: str = "") -> Project:
    """The project, run once (every step executed) and committed on ``main``."""
    project = make_project(
        {
            "pyproject.toml": pyproject(url, options),
            "pipelines/flow.py": FLOW,
            "data/raw.csv": "1\n2\n3\n",
            "data/notes.txt": "first\n",
            ".gitignore": "out/\nran.txt\n",
        }
    )
    project.repro()
    assert project.take_ran() == STEPS
    git(project.root, "init", "-q", "-b", "main")
    commit(project, "first")
    return project


def commit(project: Project, message: str) -> None:
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", message)


def clone(project: Project, name: str) -> Project:
    dest = project.root.parent / name
    git(project.root.parent, "clone", "-q", project.root.name, name)
    return Project(dest)


def files_of(project: Project) -> dict[str, bytes]:
    """The outs files of the project (path -> bytes)."""
    out = project.root / "out"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def bad_objects(folder: Path) -> list[str]:
    """Objects under ``folder/objects`` whose bytes do not match their name."""
    bad = []
    for path in (folder / "objects").glob("*/*"):
        if blake3(path.read_bytes()).hexdigest() != path.parent.name + path.name:
            bad.append(path.parent.name + path.name)
    return bad


def flip_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
