"""Discovery: import the project's pipeline modules and trace the pipeline instances they
make into graphs (``TracedPipeline``). This is where user code runs."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incr import globalvalues, graphcache, runlevel
from incr.dag import check_shared_outs
from incr.envreads import EnvChanges, is_incr_file
from incr.errors import DefinitionError, DiscoveryError, GraphError
from incr.graph import check
from incr.imports import missing_file_hint, shadowed, taken_elsewhere, use_project_imports
from incr.instancefind import found_as, run_envs
from incr.learned import own_paths
from incr.mainblock import line_in, run_main_block
from incr.model import StepCode, TracedPipeline
from incr.project import (
    Project,
    discovered_modules,
    module_name,
    pipeline_modules,
    scripts_naming,
)
from incr.reads import following
from incr.tracing import recording_runs, tracing, where

if TYPE_CHECKING:
    from incr.api import Pipeline, PipelineInstance
    from incr.deferred import Deferred
    from incr.graphcache import Saved
    from incr.hashing import StatCache


def import_module(project: Project, path: Path) -> object:
    """Import one pipeline module; a failure is a DiscoveryError naming the file and line."""
    rel = path.relative_to(project.root).as_posix()
    name = module_name(project.root, path)
    use_project_imports(project.root, project.cache)
    argv, sys.argv = sys.argv, [str(path)]  # as `python pipelines/x.py` without options
    try:
        with following(project.root, own_paths(project)):  # a pool it makes as it is imported
            return importlib.import_module(name)
    except SyntaxError as exc:
        where = _relative(project.root, exc.filename) if exc.filename else rel
        if exc.text is not None and exc.text.startswith(("<<<<<<< ", "=======", ">>>>>>> ")):
            raise DiscoveryError(
                f"{where}:{exc.lineno}: unresolved git merge conflict",
                hint="keep one side of each conflict in the file (or git checkout --ours / "
                "--theirs it), then run again",
            ) from None
        raise DiscoveryError(
            f"{where}:{exc.lineno}: syntax error: {exc.msg}",
            hint="fix the line and run again",
        ) from None
    except DefinitionError as exc:
        line = line_in(exc, path)
        raise DiscoveryError(f"{rel}:{line}: {exc.message}", hint=exc.hint) from None
    except SystemExit as exc:  # argparse at its top level, with an option it requires
        raise DiscoveryError(
            f"{rel}:{line_in(exc, path)}: exited with {exc.code!r} as it was imported",
            hint="give its command-line options defaults, or read them in its "
            '`if __name__ == "__main__":` block',
        ) from None
    except Exception as exc:
        if (hidden := shadowed(exc)) is not None:
            raise DiscoveryError(hidden[0], hint=hidden[1]) from None
        error = DiscoveryError(
            f"{rel}:{line_in(exc, path)}: import failed: {type(exc).__name__}: {exc}",
            hint=_import_hint(project, name, exc, path),
        )
        if isinstance(exc, FileNotFoundError) and isinstance(exc.filename, str):
            error.missing = _relative(project.root, exc.filename)  # (``incr.deferred``)
        raise error from None
    finally:
        sys.argv = argv


def _import_hint(project: Project, name: str, exc: Exception, path: Path) -> str:
    """How to get further: for a missing module, where incr looked (or, for a module beside
    the one imported, how to import it as incr does); otherwise a command that imports the
    module the way incr does (project root, then ``src/``, on the path)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top, folder = exc.name.split(".")[0], path.parent
        if folder != project.root and ((folder / f"{top}.py").is_file() or (folder / top).is_dir()):
            package = ".".join(name.split(".")[:-1])
            beside = (folder / top).relative_to(project.root).as_posix()
            return (
                f"{beside} is found beside the script when Python runs it, but incr imports "
                f"{name} as part of the package {package}: import it as {package}.{top} "
                f"(`from {package} import {top}` or `from {package}.{top} import ...`)"
            )

        taken = taken_elsewhere(project.root, top)
        if taken is not None:
            return (
                f"the name {top!r} is taken by {taken}, which is not this project's: the "
                f"project's folder {top}/ has no __init__.py, and Python prefers a package "
                f"that has one; add an empty {top}/__init__.py"
            )
        return (
            f"{exc.name!r} is neither project code (a module or package in the project root "
            f"or in src/) nor installed for {sys.executable}: install it, or fix the import"
        )
    if isinstance(exc, FileNotFoundError) and isinstance(exc.filename, str):
        return missing_file_hint(project.root, project.lockfile, exc.filename)
    if isinstance(exc, ImportError) and exc.name == "incr":
        asked = str(exc).split("'")[1] if str(exc).count("'") >= 2 else ""  # cannot import name 'X'
        if asked in _LATER_ZENML:
            return _LATER_ZENML[asked]
    env = "PYTHONPATH=src " if (project.root / "src").is_dir() else ""
    return f"run `{env}python -c 'import {name}'` in {project.root} to see the full traceback"


#: Names of later ZenML releases that incr, which follows ZenML 0.5 to 0.13, spells otherwise.
_LATER_ZENML = {
    "BaseParameters": "ZenML 0.20's BaseParameters is incr's StepConfig (or BaseStepConfig): "
    "`from incr import StepConfig` and subclass it",
    "Client": "ZenML 0.20's Client is incr's Repository: `from incr import Repository`",
    "get_step_context": "incr gives a step its context as a parameter annotated with "
    "StepContext: `def train(context: StepContext)`",
}


def _relative(root: Path, filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(root).as_posix()
    except ValueError:
        return filename


def discover(
    project: Project,
    orders: Mapping[str, Sequence[str]] | None = None,
    known: Callable[[], Mapping[str, TracedPipeline]] | None = None,
    deferred: Deferred | None = None,
) -> list[TracedPipeline]:
    """Every pipeline of the project, traced, in module order (``orders``: see
    ``incr.graph.check``). Raises DiscoveryError/GraphError; a module failing on a project
    file not there is left out when ``deferred`` takes it (``incr.deferred``).

    ``known``, asked once every pipeline module is imported, gives graphs saved by pipeline
    name that still hold for the modules as imported (see ``rebound``)."""
    found: list[tuple[PipelineInstance, Path]] = []
    defined: dict[int, tuple[Pipeline, Path]] = {}
    envs: dict[int, EnvChanges] = {}  # what each instance's .run() saw (``run_envs``)
    for path in discovered_modules(project):
        with recording_runs() as runs:
            try:
                module = import_module(project, path)
            except DiscoveryError as exc:  # a file a step writes, not there yet: left out
                if deferred is None or not deferred.defer(path, exc):
                    raise
                continue
            rel = path.relative_to(project.root).as_posix()
            run_main_block(module, path, rel, runs)
        defined.update((id(p), (p, path)) for p in _definitions(module))
        envs.update(run_envs(runs))
        seen = {id(i) for i, _ in found}
        for instance in [*_collect(module, runs), *runs]:
            if id(instance) in seen:
                continue
            seen.add(id(instance))
            other = found_as(instance, [i for i, _ in found])
            if other is None:
                found.append((instance, path))
                continue
            runlevel.merge(other, instance)  # its .run(enable_cache=...) counts for it
            if id(instance) in envs:  # a module-level instance its main block runs
                envs.setdefault(id(other), envs[id(instance)])
    if not found and defined:
        raise _no_instance(project, [d for d, _ in defined.values()], defined)
    saved = known() if known is not None else {}
    traced: list[TracedPipeline] = []
    names: dict[str, PipelineInstance] = {}
    for instance, path in found:
        if instance.name in names:
            first = names[instance.name].definition.func
            raise GraphError(
                f"two pipelines are named {instance.name!r} "
                f"({where(first, project.root)} and "
                f"{where(instance.definition.func, project.root)})",
                hint="give one of them another name with @pipeline(name=...); instances of "
                "one pipeline (made in a loop) are named by the configs they differ in",
            )
        names[instance.name] = instance
        graph = saved.get(instance.name)
        made = rebound(instance, project.root, graph) if graph is not None else None
        if made is not None:  # set as the modules were imported now
            made = replace(made, values=globalvalues.changed(project.root, held=True))
        made = made or trace(instance, project.root, path, orders)
        traced.append(runlevel.applied(replace(made, env=envs.get(id(instance), ())), instance))
    traced = [t for t, (i, _) in zip(traced, found, strict=True) if not _only_nested(i)]
    check_shared_outs(t.graph for t in traced)
    return traced


def _only_nested(instance: PipelineInstance) -> bool:
    """A pipeline only ever called inside other pipelines adds its steps to them: discovery
    does not make an instance of its own (a module-level instance of it still counts)."""
    return instance.implicit and instance.definition.nested


def _collect(module: object, runs: Iterable[PipelineInstance] = ()) -> Iterable[PipelineInstance]:
    """The pipeline instances ``module`` holds, and an implicit instance of each pipeline it
    defines that takes no steps and of which it makes no instance itself (held, or run by
    its ``__main__`` block: ``runs``)."""
    from incr.api import Pipeline, PipelineInstance  # here: a no-op status loads no API

    values = list(vars(module).values())
    made = {id(v.definition) for v in [*values, *runs] if isinstance(v, PipelineInstance)}
    for value in values:
        if isinstance(value, PipelineInstance):
            yield value
        elif (
            isinstance(value, Pipeline)
            and value.takes_no_steps
            and id(value) not in made  # the module makes its own instances of it
            and getattr(value.func, "__module__", None) == getattr(module, "__name__", None)
        ):
            yield implicit_instance(value)


def implicit_instance(definition: Pipeline) -> PipelineInstance:
    """The instance discovery makes of a pipeline whose parameters all have defaults."""
    instance = definition()
    instance.implicit = True
    return instance


def _definitions(module: object) -> list[Pipeline]:
    """The pipelines a module defines (not those it imports)."""
    from incr.api import Pipeline

    name = getattr(module, "__name__", None)
    return [
        v
        for v in list(vars(module).values())
        if isinstance(v, Pipeline) and getattr(v.func, "__module__", None) == name
    ]


def _no_instance(
    project: Project, pipelines: list[Pipeline], where: dict[int, tuple[Pipeline, Path]]
) -> DiscoveryError:
    first = pipelines[0]
    rel = where[id(first)][1].relative_to(project.root).as_posix()
    running = [s for s in scripts_naming(project, first.name) if s not in project.scripts]
    if running:
        listed = ", ".join(f'"{s}"' for s in [*project.scripts, running[0]])
        hint = (
            f"{running[0]} seems to run it: list it in pyproject.toml, [tool.incr] scripts = "
            f"[{listed}], and incr runs its `__main__` block as it runs a pipeline module's"
        )
    else:
        hint = (
            f"make one at module level, or call {first.name}(...).run() under "
            f'`if __name__ == "__main__":` in a module under {project.pipelines_dir}/ or in a '
            "script listed in [tool.incr] scripts"
        )
    return DiscoveryError(
        f"{rel} defines pipeline {first.name} but incr found no instance of it (nothing to run)",
        hint=hint,
    )


def rebound(instance: PipelineInstance, root: Path, known: TracedPipeline) -> TracedPipeline | None:
    """``known``, the graph saved for ``instance``, made executable: the pipeline body runs
    under a light tracer that only names the calls and keeps their step objects (no nodes,
    no code references, no checks: most of a trace's cost). The graph and its code stay the
    saved ones, which the caller has found valid for the modules as imported; the configs are
    the ones the calls pass, which must equal the saved values (a ``str`` Enum member is kept
    as one, where the saved graph holds its string). None
    when the calls are not the saved graph's steps, by name and by the name and module of
    their function (a table of steps may hold another module's function of that name, one
    that a module left out of the import would have put there), or the body fails: then the
    instance is traced as usual."""
    try:
        with tracing(instance.name, root, light=True) as tracer:
            instance.body()
        steps = known.graph.steps
        if tracer.names != [n.name for n in steps] or any(
            _other_function(tracer.steps[n.name].func, n.func_name, known.code.get(n.name))
            for n in steps
        ):
            return None
        configs = {}
        for n in steps:  # the configs as made now: the saved values lost their types
            step = tracer.steps[n.name]
            values = step.config_values(tracer.configs[n.name])  # an Enum member, a tuple...
            if values != n.config:
                return None  # a config made of something else than the saved graph's
            configs[n.name] = step.make_config(values)
    except Exception:
        return None  # the trace reports it
    return TracedPipeline(known.graph, dict(tracer.steps), configs, known.code)


def _other_function(func: Any, name: str, code: StepCode | None) -> bool:
    """Whether a step's function is not the one its saved graph was traced with: another
    name, or another project module than its code reference's."""
    if func.__name__ != name:
        return True
    ref = code.func if code is not None else None
    module = getattr(func, "__module__", None)
    return bool(ref and ref.module and ref.package is None and module != ref.module)


def bind_some(
    project: Project, saved: Saved, wanted: set[str], stats: StatCache
) -> tuple[list[TracedPipeline], Callable[[TracedPipeline], TracedPipeline | None]] | None:
    """The graphs ``saved`` (valid for the modules as they are now), with the pipelines named
    in ``wanted`` made executable, importing of the pipeline modules only those that define
    them, those that hold the code their steps were traced with, and those that define no
    pipeline (helpers, materializers: what importing them does, the steps may need). A
    module whose pipelines are all clean and whose code they do not use is not imported (an
    edit in one of ten pipeline modules imports one of them); its pipelines stay as saved,
    enough to reuse their results.

    With them, what makes one of those executable later in the run, when one of its steps
    turns out to need executing after all (a step of another pipeline wrote a file it
    reads): its module is imported then (its ``__main__`` block does not run), or None.

    None when this cannot tell (a pipeline defined outside the pipeline modules, an instance
    not found, no module left out, or what the saved graphs were accepted by changed while
    importing): the caller then discovers every module, as before."""
    graphs = {t.graph.name: t for t in saved.pipelines}
    if not wanted or not wanted <= graphs.keys() or any(t.values for t in saved.pipelines):
        return None  # (a value set at run time: by a module this would leave out, maybe)
    own = {graphs[name].graph.source_file for name in wanted}
    defining = {t.graph.source_file for t in saved.pipelines}
    every = {p.relative_to(project.root).as_posix(): p for p in discovered_modules(project)}
    if not own <= every.keys() or defining & every.keys() <= own:
        return None  # nothing can be left out (one pipeline module, say): no code to read
    files = {f for name in wanted for f in _code_files(graphs[name])}
    paths = [p for rel, p in every.items() if rel in files or rel not in defining]
    if len(paths) == len(every):
        return None
    made = _rebind(project, paths, {name: graphs[name] for name in wanted}, main_blocks=True)
    if made is None or not graphcache.unchanged(project, stats, saved.key):
        return None

    def bind(traced: TracedPipeline) -> TracedPipeline | None:
        if traced.graph.source_file not in every:
            return None
        needed = _code_files(traced)
        late = [p for rel, p in every.items() if rel in needed or rel not in defining]
        made = _rebind(project, late, {traced.graph.name: traced}, main_blocks=False)
        return None if made is None else made[traced.graph.name]

    return [made.get(t.graph.name, t) for t in saved.pipelines], bind


def _code_files(traced: TracedPipeline) -> set[str]:
    """The files of a pipeline's definition and of the code its steps were traced with (each
    step's function, ``code_deps`` and the classes it captured, materializers among them)."""
    files = {traced.graph.source_file}
    for code in traced.code.values():
        files.update(ref.source_file for ref in (code.func, *code.deps, *code.captured))
    return files


def _rebind(
    project: Project, paths: list[Path], known: Mapping[str, TracedPipeline], main_blocks: bool
) -> dict[str, TracedPipeline] | None:
    """Import the modules at ``paths`` (running their ``__main__`` blocks as discovery does,
    with ``main_blocks``) and rebind each graph of ``known`` to an instance of the same name
    found there (``rebound``); None unless every one was."""
    found: list[PipelineInstance] = []
    envs: dict[int, EnvChanges] = {}
    for path in paths:
        with recording_runs() as runs:
            module = import_module(project, path)
            if main_blocks:
                run_main_block(module, path, path.relative_to(project.root).as_posix(), runs)
        envs.update(run_envs(runs))
        found += [*runs, *_collect(module)]  # a run first: with the environment it saw
    made: dict[str, TracedPipeline] = {}
    for instance in found:
        graph = known.get(instance.name)
        if graph is not None and instance.name not in made:
            bound = rebound(instance, project.root, graph)
            if bound is not None:  # without main blocks, as discovery found it
                env = envs.get(id(instance), ()) if main_blocks else graph.env
                made[instance.name] = replace(bound, env=env)
    return made if made.keys() == known.keys() else None


def import_the_rest(project: Project) -> None:
    """Import each pipeline module a script has not imported, as ``incr repro`` imports them
    all: what they register when imported (materializers for a type the script's steps
    return) is then the same for ``.run()``. Called while the run holds the project: a
    ``.run()`` at a module's top level is skipped with a line that says so (as when loading a
    value imports its module); ``__main__`` blocks are not run. A module that fails to import
    is left out: it is another pipeline's, and ``incr repro`` names it."""
    if not project.pipelines.is_dir():
        return
    for path in pipeline_modules(project):
        if module_name(project.root, path) not in sys.modules:
            with contextlib.suppress(DiscoveryError):  # another pipeline's: the script's runs
                import_module(project, path)


def _project_line(exc: BaseException, root: Path) -> str | None:
    """``path:line`` of the last frame of the project's code on the exception's traceback
    (where a pipeline body or its helper made the call refused), None when there is none."""
    import traceback  # here only: imports on the quick path are kept few

    found = None
    top = os.path.join(str(root.resolve()), "")
    for frame in traceback.extract_tb(exc.__traceback__):
        full = os.path.abspath(frame.filename)
        if full.startswith(top) and frame.lineno and not is_incr_file(full):
            found = f"{Path(full[len(top) :]).as_posix()}:{frame.lineno}"
    return found


def trace(
    instance: PipelineInstance,
    root: Path,
    path: Path | None = None,
    orders: Mapping[str, Sequence[str]] | None = None,
) -> TracedPipeline:
    where = path.relative_to(root).as_posix() if path else instance.name
    try:
        traced = instance.trace(root)
    except DefinitionError as exc:
        place = _project_line(exc, root) or where  # the body's line, or a helper's
        raise GraphError(
            f"{place}: pipeline {instance.name}: {exc.message}", hint=exc.hint
        ) from None
    except Exception as exc:
        if (hidden := shadowed(exc)) is not None:
            raise GraphError(hidden[0], hint=hidden[1]) from None
        line = f":{line_in(exc, path)}" if path else ""
        raise GraphError(
            f"{where}{line}: pipeline {instance.name} failed while wiring its steps: "
            f"{type(exc).__name__}: {exc}",
            hint="a pipeline body only calls steps and passes their outputs on",
        ) from None
    values = globalvalues.changed(root, held=True)  # after the imports and main blocks ran
    return replace(traced, graph=check(traced.graph, orders), values=values)
