"""``PipelineInstance.run()`` called by a script or a notebook: the project is found from the
file defining the pipeline, the instance traced in this process, and its steps run through the
same ``Runner`` as ``incr repro``, with the seed's console lines."""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any

from incr import dag, envreads
from incr.errors import IncrError
from incr.imports import edited_since_imported, imported_elsewhere
from incr.locking import held_here, project_lock
from incr.model import PipelineGraph, TracedPipeline
from incr.opening import script_imports
from incr.project import Project
from incr.report import Console, nested_run_line
from incr.runlog import FILE as RUNS
from incr.runlog import RunLog
from incr.runner import Runner, remove_orphans
from incr.session import Workspace

if TYPE_CHECKING:
    from incr.api import PipelineInstance


def run_instance(instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """``PipelineInstance.run()``: find the project of the file defining the pipeline, trace
    the instance, then run it with the seed's console lines."""
    from incr.notebook import project_for  # here: `incr repro` loads no notebook support

    func = instance.definition.func
    project = project_for(inspect.getsourcefile(func) or func.__code__.co_filename)
    console = Console()
    if held_here(project.cache):  # a pipeline module imported again while this process runs
        console.line(nested_run_line(instance.name), err=True)
        return None
    from incr.scriptmain import adopt_main  # here: `incr repro` runs no script

    adopt_main(project.root)
    reporter = RunLog(console, project.cache / RUNS)
    with project_lock(project.cache, f"{instance.name}.run()", on_wait=console.line):
        workspace = Workspace(project)
        edited = edited_since_imported(project.root, workspace.stats.digest)
        if edited:
            raise IncrError(
                f"{edited[0]} changed after this process imported it: {instance.name}.run() "
                "would run the code it imported, not the code on disk",
                hint="restart the Python process (a notebook: restart its kernel)",
            )
        if (copy := imported_elsewhere(project.root)) is not None:
            raise IncrError(
                f"{copy[0]} is imported from {copy[1]}, not the project's {copy[2]}: the steps "
                "would run that copy while incr fingerprints the project's code",
                hint=f"install the project editable (`pip install -e .`), or uninstall {copy[0]} "
                "(`incr repro` puts the project's folders first and is not affected)",
            )
        from incr import discovery

        discovery.import_the_rest(project)
        workspace.imports, saved = script_imports(project, workspace)
        traced = discovery.trace(instance, project.root)
        _check_outs(project, traced, saved)
        # the environment as the steps will see it, with what the imports set (a .env)
        envreads.overlay(workspace.environ, os.environ, ())
        remove_orphans(workspace, [traced], reporter)  # of its steps gone (``incr.orphans``)
        runner = Runner(workspace, reporter)
        runner.holds = False  # its own module cannot be imported again: such a step fails
        result = runner.run(traced, run_override=enable_cache)
    if result.failed:
        raise RuntimeError(f"pipeline {instance.name}: step {', '.join(result.failed)} failed")
    return result


#: The graphs ``.run()`` traced in this process, by project root and pipeline name.
_RUN_HERE: dict[tuple[str, str], PipelineGraph] = {}


def _check_outs(project: Project, traced: TracedPipeline, saved: list[PipelineGraph]) -> None:
    """Raise GraphError, as ``incr status`` would, when a step of ``traced`` lists an
    ``outs`` path that a step of another pipeline lists too: another instance that a
    ``.run()`` of this process ran (a sweep over configs), or a pipeline of the graph cache
    (``saved``: what ``incr status`` found last, when still up to date)."""
    name, root = traced.graph.name, str(project.root)
    others = {g.name: g for g in saved if g.name != name}
    others.update({n: g for (r, n), g in _RUN_HERE.items() if r == root and n != name})
    dag.check_shared_outs([*others.values(), traced.graph])
    _RUN_HERE[(root, name)] = traced.graph
