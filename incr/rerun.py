"""``incr verify --rerun``: prove that clean steps are clean by running them again.

A clean step's lock entry says: these inputs, this code and these files give these outputs.
``verify`` runs each clean step again, twice, in a scratch copy of the project, on the inputs
its lock entry records (loaded from the verified cache), its ``outs`` removed first as a run
from scratch finds them, and compares what it returns and the ``outs`` it writes with the
recorded digests. When the outputs differ:

- the two new runs differ from each other: the step is **non-deterministic** (a clock, an
  unseeded or global random generator, the order of a set...);
- they agree with each other but not with ``pipeline.lock``: something the step reads changed
  since it ran, and incr does not track it (a file outside the project, one opened by C code,
  a web service, an environment variable read before the step ran).

Nothing real is written: the steps run in a child process whose working folder is a temporary
copy of the project (beside it when a step reads a path above the root; without
``.pipecache``, ``.git`` and virtualenvs; ``outs`` files copied as they are) and whose
pipeline modules are imported from that copy; objects are read from the cache without the
store's repairs (which remove damaged objects); the lockfile, the cache and the real ``outs``
are left as they are. Outputs are encoded with the materializers the runner uses
(``materializers.encode``) and compared by digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from incr.events import (
    DIFFERS,
    FAILED,
    HIDDEN_INPUT,
    NON_DETERMINISTIC,
    SAME,
    SKIPPED,
    Rerun,
)
from incr.model import Artifact, LockEntry, StepNode, learned_path
from incr.project import Project
from incr.valueclass import valueclass

#: Folders never copied into the scratch project (besides the cache folder and virtualenvs).
SKIP_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
    }
)


def classify(
    recorded: dict[str, str], first: dict[str, str], second: dict[str, str]
) -> tuple[str, str, tuple[str, ...]]:
    """(state, cause, outputs that differ) from the recorded digests and those of two runs."""
    if first == recorded and second == recorded:
        return SAME, "", ()
    if first != second:
        names = sorted(n for n in recorded if first.get(n) != second.get(n))
        return DIFFERS, NON_DETERMINISTIC, tuple(names)
    names = sorted(n for n in recorded if first.get(n) != recorded[n])
    return DIFFERS, HIDDEN_INPUT, tuple(names)


# --------------------------------------------------------------------------- the parent


def verify(
    project: Project, targets: Iterable[str], on_result: Callable[[Rerun], None]
) -> list[Rerun]:
    """Run the clean steps among ``targets`` (every step without targets) again and compare;
    dirty steps are skipped. ``on_result`` is called once per step, as soon as it is known.

    The caller holds the project lock: a repro must not change the outs while they are
    copied, nor ``gc`` remove the inputs while they are read.
    """
    from incr import dag
    from incr.fingerprint import global_random_fix
    from incr.opening import open_pipelines

    targets = list(targets)
    workspace, pipelines = open_pipelines(project, executable=False)
    wanted = {
        f"{traced.graph.name}.{n.name}"
        for traced, names in dag.select(pipelines, targets)
        for n in traced.graph.steps
        if names is None or n.name in names
    }
    results: list[Rerun] = []
    clean: dict[str, tuple[str, ...]] = {}  # key -> its global random draws
    for v in workspace.status(pipelines, targets):
        if v.node.key not in wanted:
            continue  # an upstream step of a target: its recorded outputs are the inputs
        notes = tuple(n for n in v.notes if global_random_fix(n))
        if v.dirty:
            results.append(Rerun(v.node.key, SKIPPED, "; ".join(map(str, v.reasons)), (), notes))
            on_result(results[-1])
        else:
            clean[v.node.key] = notes
    above = any(_reads_above(workspace.locks.get(key)) for key in clean)
    for result in _rerun_in_scratch(project, list(clean), above) if clean else ():
        notes = clean[result.key]
        cause = NON_DETERMINISTIC if result.state == DIFFERS and notes else result.cause
        results.append(
            Rerun(result.key, result.state, cause, result.outputs, notes, result.seconds)
        )
        on_result(results[-1])
    return results


def _reads_above(entry: LockEntry | None) -> bool:
    """True when ``entry`` reads, lists, tests or declares a path above the project root
    (``../data/x.csv``, as the lockfile names a file of the checkout outside the project)."""
    if entry is None:
        return False
    paths = [*entry.facts.deps, *(learned_path(key) for key in entry.reads)]
    return any(p is not None and (p == ".." or p.startswith("../")) for p in paths)


def _rerun_in_scratch(project: Project, keys: list[str], above: bool) -> Iterator[Rerun]:
    """Copy the project, run ``keys`` again in a child process there, yield each result.

    The copy is made in the temporary folder, or beside the project when a step reads a path
    above the root (``above``): ``../data/x.csv`` read from the copy then reads the same file
    (the copy sits as deep, in a hidden folder removed afterwards)."""
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="incr-verify-")))
        scratch = logs / "project"
        if above:
            with contextlib.suppress(OSError):  # a folder incr may not write in: as usual
                where = project.root.parent
                made = tempfile.TemporaryDirectory(prefix=".incr-verify-", dir=where)
                scratch = Path(stack.enter_context(made))
        copy_project(project, scratch)
        yield from _child_results(project, scratch, keys, logs / "steps.log")


def copy_project(project: Project, scratch: Path) -> None:
    """Copy the project tree to ``scratch``: without its cache folder, version control
    folders, virtualenvs and tool caches; links are copied as links."""
    root = str(project.root)
    cache = os.path.normpath(project.cache_dir)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = os.path.relpath(folder, root)
        return {
            name
            for name in names
            if name in SKIP_FOLDERS
            or os.path.normpath(os.path.join(here, name)) == cache
            or _is_virtualenv(Path(folder, name))
        }

    shutil.copytree(root, scratch, symlinks=True, ignore=ignore, dirs_exist_ok=True)


def _is_virtualenv(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    return (path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()


def _child_results(project: Project, scratch: Path, keys: list[str], log: Path) -> Iterator[Rerun]:
    """Run the child in ``scratch`` and yield what it reports, one step at a time; a step it
    did not report (it crashed) is FAILED, with the end of its output."""
    read_fd, write_fd = os.pipe()
    # The folder holding incr goes on sys.path only when incr is not importable otherwise:
    # a source checkout's own folders (its ``pipelines`` package) must not shadow the
    # project's, as they do not under ``incr repro``.
    incr_parent = str(Path(__file__).resolve().parent.parent)
    code = (
        "import sys, importlib.util\n"
        f"if importlib.util.find_spec('incr') is None: sys.path.append({incr_parent!r})\n"
        "from incr.rerun import child; child()"
    )
    args = [sys.executable, "-c", code, str(project.root), str(project.cache), str(write_fd)]
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*args, *keys],
                cwd=scratch,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reported: set[str] = set()
    try:
        with os.fdopen(read_fd, encoding="utf-8") as lines:
            for line in lines:
                data = json.loads(line)
                reported.add(data["key"])
                yield Rerun(
                    data["key"],
                    data["state"],
                    data["cause"],
                    tuple(data["outputs"]),
                    seconds=data["seconds"],
                )
        exit_code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for key in keys:
        if key not in reported:
            ended = f"the process running it again ended with exit code {exit_code}"
            yield Rerun(key, FAILED, ended + _tail(log))


def _tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return (":\n" + "\n".join(text.splitlines()[-lines:])) if text else ""


# --------------------------------------------------------------------------- the child


def child() -> None:
    """Run in the scratch copy (the working folder). ``argv``: the real project root, its cache
    folder, the descriptor to report on, then the step keys. One JSON line per step."""
    from incr import discovery, lockfile

    real_root, cache, fd, *keys = sys.argv[1:]
    project = Project.load(Path.cwd())
    with os.fdopen(int(fd), "w", encoding="utf-8", buffering=1) as report:
        pipelines = {t.graph.name: t for t in discovery.discover(project)}
        scratch = _Scratch(
            project.root, Path(real_root), Path(cache), lockfile.read(project.lockfile)
        )
        for key in keys:
            started = time.perf_counter()
            pipeline, _, name = key.partition(".")
            state, cause, outputs = scratch.rerun(pipelines[pipeline], name)
            line: dict[str, Any] = {"key": key, "state": state, "cause": cause}
            line.update(outputs=list(outputs), seconds=time.perf_counter() - started)
            report.write(json.dumps(line) + "\n")


class _StepError(Exception):
    """The step raised when run again (the text is its traceback)."""


@valueclass(frozen=True)
class _Scratch:
    """The scratch copy (``root``), the real project's root and cache, its lock entries."""

    root: Path
    real_root: Path
    cache: Path
    locks: dict[str, LockEntry]

    def rerun(self, traced: Any, name: str) -> tuple[str, str, tuple[str, ...]]:
        """Run one step twice on its recorded inputs: (state, cause, outputs that differ)."""
        from incr.errors import IncrError

        node: StepNode = traced.graph.step(name)
        entry = self.locks[node.key]
        runs = []
        for _ in range(2):
            try:
                self.remove_outs(node)  # as a run from scratch finds them
                runs.append(self.run_once(traced, node, self.inputs(node, entry)))
            except IncrError as exc:
                return FAILED, exc.message, ()
            except _StepError as exc:
                return FAILED, str(exc), ()
            finally:
                self.put_back_outs(node)
        recorded = {n: a.digest for n, a in entry.outputs.items()}
        return classify(recorded, runs[0], runs[1])

    def inputs(self, node: StepNode, entry: LockEntry) -> dict[str, Any]:
        """The step's input values as its lock entry records them, read from the cache
        (afresh for each run: a step may change its inputs in place)."""
        values = {}
        for param, ref in node.inputs.items():
            upstream = self.locks[f"{node.pipeline}.{ref.step}"].outputs[ref.output]
            identity = entry.facts.inputs[param].partition("+")[0]  # without its code's
            digest = identity.partition("~")[0]  # and the files a lazy handle reads
            values[param] = self.load(Artifact(upstream.kind, digest))
        return values

    def load(self, artifact: Artifact) -> Any:
        """An object's value, checked against its digest; the cache is only read (the
        store's own reads remove a damaged object)."""
        from incr import materializers
        from incr.errors import IncrError
        from incr.hashing import buffers_digest
        from incr.store import Store

        store = Store(self.cache)
        try:
            data = store.object_path(artifact.digest).read_bytes()
        except OSError:
            data = store.packed_bytes(artifact.digest) or b""
        if buffers_digest((data,)) != artifact.digest:
            raise IncrError(
                f"input object {artifact.digest} is missing or damaged in the cache "
                "(`incr verify` checks every object)"
            )
        return materializers.load(artifact.kind, data)

    def run_once(self, traced: Any, node: StepNode, inputs: dict[str, Any]) -> dict[str, str]:
        """Run the step in the scratch folder: the digests of what it returned and wrote."""
        from incr import materializers
        from incr.executors import split_outputs, user_traceback
        from incr.hashing import StatCache, buffers_digest

        step = traced.steps[node.name]
        try:
            result = step.run_function(traced.configs[node.name], inputs)
        except (Exception, SystemExit) as exc:
            raise _StepError(user_traceback(exc, step.func.__code__).rstrip()) from None
        digests = {}
        formats = materializers.output_formats(step)
        for name, value in split_outputs(node, result).items():
            where = f"step {node.key}, output {name}"
            stored = materializers.encode(value, where, *formats.get(name, (None, None)))
            digests[name] = buffers_digest(stored.parts)
        stats = StatCache(self.root, None)
        for out in node.outs:
            digests[out] = stats.digest(out).removeprefix("dir:")
        return digests

    def remove_outs(self, node: StepNode) -> None:
        """Remove the step's outs from the scratch copy."""
        for out in node.outs:
            here = self.root / out
            if here.is_dir() and not here.is_symlink():
                shutil.rmtree(here)
            elif here.exists() or here.is_symlink():
                here.unlink()

    def put_back_outs(self, node: StepNode) -> None:
        """Make the step's outs in the scratch copy what they are in the real project."""
        self.remove_outs(node)
        for out in node.outs:
            here, real = self.root / out, self.real_root / out
            if real.is_dir():
                shutil.copytree(real, here, symlinks=True)
            elif real.exists():
                here.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(real, here)
