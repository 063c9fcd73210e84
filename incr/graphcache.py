"""The traced graphs, kept in ``.pipecache/graph.bin``: a no-op ``status`` runs no user code.

Discovery imports every pipeline module (and, through them, scikit-learn and friends), which
costs far more than deciding what is dirty. The graphs it traces depend only on the project's
own Python sources (and local code outside it), so they are saved with the digests of every
such module that was imported (read through the stat cache: unchanged files are not even read).
When none of those files changed, no pipeline module was added or removed, and
``pyproject.toml`` is the same, the saved graphs are used and nothing is imported. Code
fingerprints never need the import: they come from the files' ASTs. Each graph keeps its run
order (``PipelineGraph.order``, computed with networkx when it was traced), so the quick path
orders nothing and never imports networkx.

Project files the modules read while imported (a ``params.yaml`` feeding a config) are part of
the key too, and so are the values of the environment variables project code read meanwhile
(see ``incr.envreads``), the folders it listed and the paths it tested for existence, with
the values seen then (a pipeline that makes one step per file of ``data/parts/``), and whether
each module the wiring imports only if it can (``try: import fancylib``) is found. What each
module read while imported is kept beside the graphs (see ``incr.importreads``): those reads
are facts of the steps that use the module. A pipeline whose wiring depends on something else
(files outside the project, data read by C code, variables read by third-party packages) should
be rediscovered each time: set ``INCR_NO_GRAPH_CACHE=1``.

An edit inside a step's body does not change the wiring either: a step's body never runs while
the pipelines are imported and traced. So each module is also keyed by its *wiring digest*, the
digest of its AST with the bodies of its module-level ``@step`` functions left out (comments and
layout never count; see ``incr.wiring``). When only modules' texts changed and every wiring
digest is the same, the saved graphs are still right and are kept, re-keyed by the new texts.
An edit of comments and layout alone, told from the text kept for the saved graphs by the few
statements it touched (``editspan.neutral``), keeps them without the digest of either tree.
This holds only while no project module may reach a step's function outside a run
(``entrypoint``, ``func``, ``inspect.unwrap``, ``getattr`` of a computed name, ``vars``,
``eval``...): a module that may marks the whole project, and then any edit re-traces. A module
with a star import keeps its step bodies in its wiring digest (the star may have rebound
``step``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from incr import cachefile, outside, topcalls
from incr.dag import shape
from incr.digests import digest_bytes
from incr.envreads import EnvChanges, env_value, is_local_code
from incr.graphcodec import decode, encode
from incr.hashing import MISSING, StatCache
from incr.learned import exists_value, listing_value, module_value, own_paths
from incr.model import TracedPipeline
from incr.project import Project, discovered_modules
from incr.storage import atomic_write
from incr.version import __version__

if TYPE_CHECKING:
    from incr.wiring import Wiring

#: 4: what step functions capture, and steps in class bodies; 5: run order; 6: wiring digests
#: of the text around step bodies; 7: fields that hold their default left out; 8: modules
#: imported only if found; 9: the environment variables discovery set, steps' parameters;
#: 10: the instances' run-level ``enable_cache`` (``PipelineGraph.run_cache``); 11: the
#: variables each pipeline instance's ``.run()`` saw (``TracedPipeline.env``); 12: the paths
#: each module tested and found absent as it was imported, in its import facts.
FORMAT = 12
DISABLE_ENV = "INCR_NO_GRAPH_CACHE"


def _path(project: Project) -> Path:
    return project.cache / "graph.bin"  # see ``incr.cachefile``


def _key(
    project: Project,
    stats: StatCache,
    modules: list[str],
    env: Mapping[str, str],
    learned: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> dict[str, Any]:
    listing = sorted(p.relative_to(project.root).as_posix() for p in discovered_modules(project))
    own = own_paths(project)
    facts = {}
    for key in sorted(learned):  # listings and existence tests made while importing
        kind, _, rel = key.partition(":")
        if kind == "ls":
            facts[key] = listing_value(project.root, rel, own)
        else:
            facts[key] = exists_value(project.root, rel)
    return {
        "format": FORMAT,
        "incr": __version__,
        "python": list(sys.version_info[:2]),
        "pyproject": stats.digest("pyproject.toml"),
        "pipeline_modules": listing,
        "modules": {rel: stats.digest(rel) for rel in sorted(set(modules) | set(listing))},
        "env": dict(sorted(env.items())),
        "learned": facts,
        "optional": {name: module_value(project.root, name) for name in sorted(optional)},
    }


def project_modules(project: Project) -> list[str]:
    """Project files of the modules imported so far (not incr's, not hidden or installed), and
    by their lock keys those of local code outside the project (a library on PYTHONPATH)."""
    root = os.path.join(str(project.root), "")
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        if not file.startswith(root):
            found += [outside.key_of(os.path.abspath(file), root)] if is_local_code(file) else []
            continue
        rel = Path(file[len(root) :])
        top = rel.parts[0]
        if top == "incr" or any(p.startswith(".") or p == "site-packages" for p in rel.parts):
            continue
        found.append(rel.as_posix())
    return sorted(found)


def save(
    project: Project,
    stats: StatCache,
    pipelines: list[TracedPipeline],
    read: Sequence[str] = (),
    imports: Mapping[str, Mapping[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
    learned: Mapping[str, str] | None = None,
    saved: Saved | None = None,
    env_set: EnvChanges = (),
) -> dict[str, str]:
    """Remember ``pipelines``, keyed by the project modules imported to trace them, the
    project files ``read`` while they were imported, the environment variables read
    meanwhile (``env``: name -> ``env_value``) and the ``learned`` listings and existence
    tests (``ls:DIR``/``exists:PATH`` keys) made meanwhile, with their values; with what each
    module read while imported (``imports``, see ``incr.importreads``). Nothing is written
    when the file holds all that already: the same key and reads as ``saved``, loaded by this
    command, and its very graphs (``discovery.rebound``). What the key values, by lock key:
    the modules, the files read (and those readers written in C open at the top level or in
    a ``@pipeline`` body), the listings and existence tests (see ``valued``)."""
    if os.environ.get(DISABLE_ENV):
        read = sorted({*project_modules(project), *read})
        return {**{p: stats.digest(p) for p in read}, **(learned or {})}
    key = _key(project, stats, [*project_modules(project), *read], env or {})
    key["learned"] = dict(sorted((learned or {}).items()))  # as seen while importing
    if (
        saved is not None
        and key == {**saved.key, "optional": {}}  # the same modules: the same optional ones
        and dict(imports or {}) == saved.imports
        and len(pipelines) == len(saved.pipelines)
        and path_additions() == saved.paths
        and env_set == saved.env_set
        and all(
            a.graph is b.graph and a.env == b.env
            for a, b in zip(pipelines, saved.pipelines, strict=True)
        )
    ):
        return valued(saved.key)
    from incr.wiring import wiring_of  # here: a command the cache answers checks no wiring

    wiring = {}
    volatile: list[str] = []
    native: list[str] = []
    optional: list[str] = []
    for rel, digest in key["modules"].items():
        if rel.endswith(".py") and digest != MISSING:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = (project.root / rel).read_bytes()
                found = wiring_of(text, rel)
                if found is not None and found.digest == digest:  # not rewritten meanwhile
                    wiring[rel] = found.entry()
                    volatile += [f"{rel}: {call}" for call in found.volatile]
                    native += found.native
                    optional += found.optional
                    _keep_text(project, digest, text)
    volatile += [f"{path}: {call}" for path, call in topcalls.calling.items()]
    for path in native:  # opened by a reader in C while wiring: a file read, as any other
        from incr.creaders import project_path

        rel = project_path(path, str(project.root))
        if rel == "":
            continue  # an in-memory database
        if rel is None or not (project.root / rel).is_file():
            volatile.append(f"a reader in C opens {path} while wiring")
        else:
            key["modules"][rel] = stats.digest(rel)
    key["optional"] = {name: module_value(project.root, name) for name in sorted(set(optional))}
    if volatile:  # wired anew on each run: no saved graphs (see incr.volatile)
        with contextlib.suppress(OSError):
            _path(project).unlink(missing_ok=True)
            atomic_write(volatile_path(project), "\n".join(volatile).encode(), durable=False)
        return valued(key)
    with contextlib.suppress(OSError):
        volatile_path(project).unlink(missing_ok=True)
    _write(
        project,
        {
            "key": key,
            "wiring": wiring,
            "imports": dict(imports or {}),
            "pipelines": [encode(t) for t in pipelines],
            "shapes": [shape(t.graph) for t in pipelines],
            "sys_path": list(path_additions()),
            "env_set": [list(pair) for pair in env_set],
        },
    )
    return valued(key)


def valued(key: dict[str, Any]) -> dict[str, str]:
    """What a graph-cache key values, by lock key, with the values it holds: the project files
    (modules, files read while importing and tracing) by their digests, the listings and
    existence tests (``ls:DIR``, ``exists:PATH``) by their answers."""
    return {**key["modules"], **key["learned"]}


#: The run orders of the graphs in graph.bin by their ``dag.shape``, as this process last
#: read or wrote them: (path of graph.bin, orders).
_known: tuple[str, dict[str, tuple[str, ...]]] | None = None


def known_orders(project: Project) -> dict[str, tuple[str, ...]]:
    """The run orders networkx gave the graphs saved in the graph cache, by ``dag.shape``,
    whether or not the cache is still valid: an order depends on the graph's shape alone.
    Empty when there is none, or when another version of incr saved them."""
    path = str(_path(project))
    if _known is not None and _known[0] == path:
        return _known[1]
    try:
        data = cachefile.read(_path(project))
    except (OSError, ValueError):
        return {}
    return _keep_orders(path, data if isinstance(data, dict) else {})


def _keep_orders(path: str, data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Remember the orders of graph.bin's ``data`` (none when it is damaged or another
    version of incr wrote it)."""
    global _known
    orders: dict[str, tuple[str, ...]] = {}
    with contextlib.suppress(KeyError, TypeError, AttributeError):
        key = data["key"]
        if key.get("format") == FORMAT and key.get("incr") == __version__:
            for found, item in zip(data.get("shapes", []), data["pipelines"], strict=False):
                orders[str(found)] = tuple(str(name) for name in item["graph"]["order"])
    _known = (path, orders)
    return orders


def _write(project: Project, data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the graph cache only saves imports
        cachefile.write(_path(project), data)
    _keep_orders(str(_path(project)), data)


def load(project: Project, stats: StatCache) -> list[TracedPipeline] | None:
    """The saved graphs when every source they were traced from is unchanged, or changed only
    inside step bodies; else None. They can be fingerprinted and checked, not executed (no
    step objects)."""
    return None if (found := load_with_imports(project, stats)) is None else found[0]


class Saved(NamedTuple):
    """What ``load_with_imports`` found valid: the graphs, what each project module read while
    imported (module file -> lock keys with their values, see ``incr.importreads``), the key
    they were accepted by (see ``unchanged``), and the folders the modules put on ``sys.path``
    (see ``path_additions``)."""

    pipelines: list[TracedPipeline]
    imports: dict[str, dict[str, str]]
    key: dict[str, Any]
    paths: tuple[list[str], list[str]] = ([], [])
    #: The environment variables the modules and main blocks set (``envreads.changes``).
    env_set: EnvChanges = ()


#: ``sys.path`` as this process had it before any pipeline module was imported (this module is
#: imported first).
_STARTUP_PATH = tuple(sys.path)


def path_additions() -> tuple[list[str], list[str]]:
    """The folders project code put on ``sys.path`` (``sys.path.insert(0, "../src")`` in a
    pipeline module): those before the folders it had at start, and those after. A status
    that imports nothing looks packages up with them as the import did
    (``incr.localpackages``)."""
    startup = set(_STARTUP_PATH)
    kept = [p for p in sys.path if p in startup]
    first = sys.path.index(kept[0]) if kept else len(sys.path)
    front = [p for p in sys.path[:first] if p not in startup]
    back = [p for p in sys.path[first:] if p not in startup]
    return front, back


def volatile_path(project: Project) -> Path:
    """The file naming the calls that wire the project's pipelines anew on each run, when
    some do (see ``incr.volatile``): then no graphs are saved, and no status answer kept."""
    return project.cache / "graph.volatile"


def load_with_imports(project: Project, stats: StatCache) -> Saved | None:
    """Like ``load``, with what each project module read while imported and the key."""
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        data = cachefile.read(_path(project))
        _keep_orders(str(_path(project)), data)  # valid even if the rest is not
        key = data["key"]
        if key.get("format") != FORMAT or MISSING in key["modules"].values():
            return None
        env = {name: env_value(name) for name in key["env"]}
        now = _key(project, stats, list(key["modules"]), env, key["learned"], key["optional"])
        if now != key:
            if not _same_wiring(project, data, now):
                return None
            data["key"] = now
            _write(project, data)  # the next status takes the quick path
        imports = {
            str(m): {str(k): str(v) for k, v in r.items()} for m, r in data["imports"].items()
        }
        front, back = data.get("sys_path", ([], []))
        paths = ([str(f) for f in front], [str(b) for b in back])
        env_set = tuple((str(n), None if v is None else str(v)) for n, v in data["env_set"])
        pipelines = [decode(item) for item in data["pipelines"]]
        return Saved(pipelines, imports, data["key"], paths, env_set)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def unchanged(project: Project, stats: StatCache, key: dict[str, Any]) -> bool:
    """True while everything ``key`` (a ``Saved.key``) was computed from is as it was then:
    the project modules and files read while importing, the environment variables, the
    listings and existence tests, ``pyproject.toml``."""
    env = {name: env_value(name) for name in key["env"]}
    return _key(project, stats, list(key["modules"]), env, key["learned"], key["optional"]) == key


def _same_wiring(project: Project, data: dict[str, Any], now: dict[str, Any]) -> bool:
    """True when only module texts differ from the saved key and every changed module wires
    the same (``now["modules"]`` then holds the digests of the texts that were checked)."""
    key, wiring = data["key"], data["wiring"]
    if {k: v for k, v in now.items() if k != "modules"} != {
        k: v for k, v in key.items() if k != "modules"
    }:
        return False
    if any(runs_bodies for _, runs_bodies in wiring.values()):
        return False
    for rel, digest in now["modules"].items():
        if digest == key["modules"][rel]:
            continue
        if rel not in wiring or digest == MISSING:
            return False  # not a module, or gone: the wiring may depend on it
        from incr.wiring import wiring_of  # (a module changed since the graphs were saved)

        text = (project.root / rel).read_bytes()
        found = wiring_of(text, rel)
        earlier = functools.partial(_kept_wiring, project, key["modules"][rel], rel)
        neutral = functools.partial(_neutral_edit, project, key["modules"][rel], text)
        if found is None or found.runs_bodies:
            return False
        if not found.same_as(wiring[rel][0], earlier, neutral):
            return False
        now["modules"][rel] = found.digest  # the bytes checked, even if rewritten since
        wiring[rel] = found.entry()
        _keep_text(project, found.digest, text)  # for the check of its next edit
    return True


def _keep_text(project: Project, digest: str, text: bytes) -> None:
    """Keep a module's text by its digest, for the wiring check of its next version (written
    without fsync: only a cache; a text lost or damaged makes that check trace again)."""
    path = project.kept_module(digest)
    if not path.is_file():
        with contextlib.suppress(OSError):
            atomic_write(path, text, durable=False)


def _neutral_edit(project: Project, digest: str, text: bytes, tree: Any) -> bool:
    """Whether module text ``text`` (parsed: ``tree``) differs from its kept text whose bytes
    had ``digest`` in comments, blank lines and layout only (``editspan.neutral``); False when
    that text is not kept, or either is not plain UTF-8."""
    from incr.editspan import neutral

    try:
        old = project.kept_module(digest).read_bytes()
    except OSError:
        return False
    if digest_bytes(old) != digest or old.startswith(b"\xef\xbb\xbf"):
        return False
    try:
        return neutral(old.decode("utf-8"), text.decode("utf-8"), tree)
    except UnicodeDecodeError:
        return False


def _kept_wiring(project: Project, digest: str, rel: str) -> Wiring | None:
    """The wiring of the kept text of module ``rel`` whose bytes had ``digest``; None when no
    such text is kept (or the one kept is not those bytes)."""
    try:
        text = project.kept_module(digest).read_bytes()
    except OSError:
        return None
    from incr.wiring import wiring_of

    found = wiring_of(text, rel)
    return found if found is not None and found.digest == digest else None
