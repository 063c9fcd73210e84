"""Lock entries of pipelines that discovery does not find, but that a module still defines.

A pipeline run only from a script (``python run.py`` making the instance outside
``pipelines/``) has lock entries that ``incr repro`` does not see a pipeline for. They are
kept as long as a module under the pipelines folder defines a pipeline of that name: the
definitions are found by reading the modules' syntax trees (no import), and only when some
lock entry belongs to no discovered pipeline.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from incr.model import LockEntry
from incr.project import Project, discovered_modules

#: Base classes that make a class a pipeline (the class-based API).
PIPELINE_BASES = {"BasePipeline"}


def _decorator_name(node: ast.expr) -> tuple[str, ast.Call | None]:
    call = node if isinstance(node, ast.Call) else None
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr, call
    if isinstance(target, ast.Name):
        return target.id, call
    return "", call


def _named(call: ast.Call | None, default: str) -> str:
    for keyword in call.keywords if call is not None else ():
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    return default


def defined_names(source: bytes, filename: str) -> list[str]:
    """The names of the pipelines a module's source defines at module level: functions
    decorated with ``@pipeline`` (``name=`` when given) and ``BasePipeline`` subclasses."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                name, call = _decorator_name(decorator)
                if name == "pipeline":
                    names.append(_named(call, node.name))
        elif isinstance(node, ast.ClassDef):
            bases = {_decorator_name(b)[0] for b in node.bases}
            if bases & PIPELINE_BASES:
                names.append(node.name)
    return names


def defined_pipelines(project: Project) -> dict[str, str]:
    """Pipeline name -> the module (relative path) under the pipelines folder defining it."""
    found: dict[str, str] = {}
    for path in discovered_modules(project):
        rel = path.relative_to(project.root).as_posix()
        try:
            source = path.read_bytes()
        except OSError:
            continue
        if b"pipeline" not in source.lower():
            continue
        for name in defined_names(source, str(path)):
            found.setdefault(name, rel)
    return found


def kept_pipelines(
    project: Project, keys: Iterable[str], live: Iterable[str]
) -> dict[str, tuple[str, int, list[str], bool]]:
    """Pipelines whose lock entries (among ``keys``) are kept although discovery found no
    instance they belong to (``live``: the names of the instances it found), because a
    module still defines them: name -> (defining module, number of entries, the instances
    they belong to, whether discovery found another instance of the pipeline)."""
    live = list(live)
    prefixes = tuple(f"{p}." for p in live)
    orphans = [k for k in keys if not k.startswith(prefixes)]
    if not orphans:
        return {}
    kept: dict[str, tuple[str, int, list[str], bool]] = {}
    defined = defined_pipelines(project)
    for key in orphans:
        owner = _owner(key, defined)
        if owner is not None:
            if owner not in kept:  # does discovery find another instance of it?
                found = any(n == owner or n.startswith(owner + "@") for n in live)
                kept[owner] = (defined[owner], 0, [], found)
            module, count, instances, found = kept[owner]
            instance = key.rpartition(".")[0]  # ``name@lr=0.5.train``: a step name has no dot
            if instance not in instances:
                instances.append(instance)
            kept[owner] = (module, count + 1, instances, found)
    return kept


def _owner(key: str, defined: Mapping[str, str]) -> str | None:
    for name in defined:  # an instance named after its values is ``name@...``
        if key.startswith((name + ".", name + "@")):
            return name
    return None


def kept_line(pipeline: str, module: str, count: int, instances: list[str], found: bool) -> str:
    """Why ``pipeline.lock`` keeps entries of pipeline instances ``incr`` does not discover:
    ``instances``, of pipeline ``pipeline`` that ``module`` defines; ``found``: discovery
    found other instances of it."""
    entries = "entry" if count == 1 else "entries"
    if not found:
        return (
            f"note: pipeline.lock keeps {count} {entries} of pipeline {pipeline}: {module} "
            f"defines it, but no instance of it is found under the pipelines folder (run from "
            f"a script? list it in [tool.incr] scripts for incr to see it); kept until no "
            f"module there defines {pipeline}"
        )
    named = ", ".join(sorted(instances))
    these = "an instance" if len(instances) == 1 else "instances"
    until = (
        f"kept until no module there defines {pipeline}"
        if pipeline in instances
        else "the next full `incr repro` drops them"
    )
    return (
        f"note: pipeline.lock keeps {count} {entries} of {named}: {these} of pipeline "
        f"{pipeline} ({module}) that the pipelines folder does not make as it is now (a "
        f"script run with other options or configs?); {until}"
    )


def dropped_line(keys: list[str], project: Project) -> str:
    """What a full run says of the lock entries it dropped (``keys``): those of pipelines no
    module of the pipelines folder defines, and those of instances of a pipeline one defines
    that no module there makes (a script run with other options)."""
    defined = defined_pipelines(project)
    instances = sorted({key.rpartition(".")[0] for key in keys})
    made = [name for name in instances if name.partition("@")[0] in defined]
    gone = [name for name in instances if name not in made]
    entries = "entry" if len(keys) == 1 else "entries"
    parts = []
    folder = project.pipelines_dir
    if gone:
        these = "it" if len(gone) == 1 else "them"
        parts.append(
            f"{', '.join(gone)}: no module under {folder}/ defines {these} (a pipeline run "
            f"from a script keeps its entries while its module is under {folder}/)"
        )
    if made:
        pipelines = sorted({name.partition("@")[0] for name in made})
        where = ", ".join(f"{p} ({defined[p]})" for p in pipelines)
        parts.append(
            f"{', '.join(made)}: {'an instance' if len(made) == 1 else 'instances'} of "
            f"{where} that no module under {folder}/ makes (a script run with other options? "
            + (
                "the listed scripts make them with their defaults)"
                if project.scripts
                else "list the script in [tool.incr] scripts for incr to make them too)"
            )
        )
    return f"dropped {len(keys)} lock {entries} of " + "; ".join(parts)


def dead_keys(project: Project, locks: Mapping[str, LockEntry], live: Iterable[str]) -> list[str]:
    """The lock keys of pipelines that discovery does not find (``live``: the instances it
    found), that no module defines any more (see ``kept_pipelines``) and whose code was in a
    module of the pipelines folder that is gone (a pipeline module deleted). Not those of a
    pipeline a script outside that folder runs: what its steps wrote stays theirs."""
    live = list(live)
    prefixes = tuple(f"{name}." for name in live)
    lost = [k for k in locks if not k.startswith(prefixes)]
    if not lost:
        return []  # (most commands)
    kept = {i for about in kept_pipelines(project, lost, live).values() for i in about[2]}
    folder = f"{project.pipelines_dir}/"
    dead = []
    for key in (k for k in lost if k.rpartition(".")[0] not in kept):
        files = {part.partition(":")[0] for part in locks[key].facts.code if ":" in part}
        if any(f.startswith(folder) and not (project.root / f).exists() for f in files):
            dead.append(key)
    return dead
