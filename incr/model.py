"""Plain values shared by every layer: traced steps, pipelines, lock entries, reasons. Nothing
here touches the disk, the clock or the console."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import field
from typing import Any, Protocol

from incr.valueclass import valueclass

#: Bumped whenever the meaning of a fingerprint changes; part of every digest.
FINGERPRINT_SCHEMA = 1

#: The code part holding what a module runs when imported besides defining its names
#: (``file:<top level>``; see ``incr.moduletop``): it counts for every step whose code uses
#: the module or a module importing it.
TOP_LEVEL = "<top level>"


@valueclass(frozen=True)
class InputRef:
    """A data input of a step: output ``output`` of the upstream step ``step``."""

    step: str
    output: str


@valueclass(frozen=True)
class StepNode:
    """One step as traced in one pipeline.

    ``name`` is unique inside its pipeline (``transform``, ``transform_2``); ``key`` is
    ``PIPELINE.STEP`` and is unique in the project.
    """

    pipeline: str
    name: str
    func_name: str
    source_file: str  # relative to the project root, POSIX separators
    config: dict[str, Any]
    inputs: dict[str, InputRef]
    outputs: tuple[str, ...]
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    enable_cache: bool | None = None
    track_reads: bool = True
    cache_expires: float | None = None  # seconds a cached result stays valid
    env: tuple[str, ...] = ()  # environment variables it declares (``@step(env=[...])``)
    metrics: tuple[str, ...] = ()  # outs files or output names holding metrics
    after: tuple[str, ...] = ()  # steps it runs after without data between them (``.after()``)
    param: str = ""  # the pipeline parameter it was bound to, when not its name (ZenML's name)

    @functools.cached_property
    def key(self) -> str:  # kept in the node's ``__dict__``: asked for each step many times
        return f"{self.pipeline}.{self.name}"


@valueclass(frozen=True)
class PipelineGraph:
    """A traced pipeline: its steps in the order the body called them, and its edges."""

    name: str
    source_file: str
    steps: tuple[StepNode, ...]
    enable_cache: bool = True
    #: ``.run(enable_cache=...)`` as the main blocks discovery ran call it (``incr.runlevel``).
    run_cache: bool | None = None
    #: (writer, reader) pairs learned from runs, never traced: the reader was seen to read a
    #: file the writer writes (see ``incr/overlaps.py``). Added by the runner and ``status``.
    learned: tuple[tuple[str, str], ...] = ()
    #: The step names in run order (dependencies first, ties in body order), set when the graph
    #: is checked (``incr.graph.check``) and kept in the graph cache; empty until then.
    order: tuple[str, ...] = field(default=(), compare=False)

    def step(self, name: str) -> StepNode:
        for node in self.steps:
            if node.name == name:
                return node
        raise KeyError(name)

    def edges(self) -> list[tuple[str, str]]:
        """(upstream, downstream) pairs, from data inputs, from ``.after()``, from file wiring
        (outs -> deps) and from the learned pairs."""
        pairs: set[tuple[str, str]] = set(self.learned)
        for node in self.steps:
            for ref in node.inputs.values():
                pairs.add((ref.step, node.name))
            pairs.update((up, node.name) for up in node.after)
        producers = {out: node.name for node in self.steps for out in node.outs}
        for node in self.steps:
            for dep in node.deps:
                for out, producer in producers.items():
                    if producer != node.name and _path_within(dep, out):
                        pairs.add((producer, node.name))
        return sorted(pairs)


def _path_within(path: str, other: str) -> bool:
    """True when ``path`` and ``other`` name the same file, or one holds the other."""
    a, b = path.rstrip("/"), other.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def paths_overlap(a: str, b: str) -> bool:
    return _path_within(a, b)


#: How outputs are stored: values by materializer, ``outs`` as files or folder manifests.
#: The built-in kinds; a registered materializer adds its own (see ``materializers``).
ARTIFACT_KINDS = frozenset(
    {"npy", "npscalar", "npz", "json", "parquet", "polars-parquet", "skops", "pickle"}
    | {"file", "dir"}
)


@valueclass(frozen=True)
class Artifact:
    """A stored output: how it was encoded and the blake3 digest of its bytes.

    ``refs`` names the project definitions the value refers to (``pipelines.scalers:MeanScaler``
    for a pickled instance of that class): their code is part of what a consumer receives
    (see ``objectcode``). Encoded ``KIND:DIGEST+REF+REF``; without refs, ``KIND:DIGEST``.
    ``mode`` is a ``file`` output's permission bits when they are not the usual ones (``x``
    for an executable, else octal; see ``trees``), written ``file:DIGEST:x``. ``files`` is,
    for a lazy handle over files (a polars ``LazyFrame``), the digest of the files its step
    read as it made it (``incr.lazyfiles``), written ``pickle:DIGEST~FILES``: part of what a
    consumer receives (``identity``).
    """

    kind: str  # materializer kind ("npy", "json", "parquet", "pickle"...), "file" or "dir"
    digest: str
    refs: tuple[str, ...] = ()
    mode: str = ""
    files: str = ""

    @property
    def identity(self) -> str:
        """Its digest, with the digest of the files it reads when collected (``files``)."""
        return f"{self.digest}~{self.files}" if self.files else self.digest

    def encode(self) -> str:
        tail = f":{self.mode}" if self.mode else ""
        return "+".join((f"{self.kind}:{self.identity}{tail}", *self.refs))

    @classmethod
    def decode(cls, text: str) -> Artifact:
        kind, sep, rest = text.partition(":")
        head, *refs = rest.split("+")
        head, _, mode = head.partition(":")
        digest, _, files = head.partition("~")
        if not sep or not kind or not digest or not all(refs):
            raise ValueError(f"expected KIND:DIGEST, got {text!r}")
        return cls(kind, digest, tuple(refs), mode, files)


@valueclass(frozen=True)
class Facts:
    """Everything a step's fingerprint is made of.

    ``code`` maps a part (``pipelines/flow.py:double``, ``pkg:numpy``) to its digest or version;
    ``inputs`` maps a parameter to the digest of the upstream output it receives (then ``+``
    and the digest of the project code it refers to, if any: see ``objectcode``); ``deps`` maps
    a declared path to its content digest (``missing`` when it does not exist).
    """

    code: dict[str, str]
    config: dict[str, Any]
    inputs: dict[str, str]
    deps: dict[str, str]


@valueclass(frozen=True)
class LockEntry:
    """One step's block in ``pipeline.lock``.

    ``reads`` holds what the step was seen to depend on while it ran (and what the modules
    its code uses read while they were imported), each key with the value it had then; they
    are checked like deps but found by running. The key says what was observed (see
    ``learned_kind``):

    - ``data/notes.txt``: a project file opened for reading (value: its digest);
    - ``$NAME``: an environment variable (value: the digest of its value, or ``unset``);
    - ``import:pipelines/lookup.py:params.yaml``: a file read while that module was imported;
    - ``ls:data/parts``: a folder listing (value: the digest of the sorted names);
    - ``exists:data/override.txt``: an existence test (value: ``file``, ``dir`` or ``missing``);
    - ``mtimes:checkpoints``: the modification times of files of that folder (two or more)
      the step asked for (value: their names, newest last, as a JSON list).
    - ``sets:pipelines/config.py:N_CLASSES``: a module value the step set as it ran (value:
      ``set as it ran``, never its value now: the step executes on every run while a step
      after it uses the value, see ``incr.setters``).
    """

    key: str
    fingerprint: str
    facts: Facts
    outputs: dict[str, Artifact] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)


@valueclass(frozen=True)
class Reason:
    """Why a step is dirty. ``kind`` is stable (for JSON); ``detail`` names what changed."""

    kind: str
    detail: str = ""

    # The kinds, in the order ``decide`` checks them.
    FORCED = "forced"
    CACHE_DISABLED = "cache disabled"
    NEW = "new step"
    CODE = "code changed"
    CONFIG = "config changed"
    TZ = "time zone changed"  # its code asks for local time (``incr.localclock``)
    DEP = "dep changed"
    READ = "read changed"
    ENV = "env changed"
    LISTING = "listing changed"
    TIMES = "newest file changed"
    APPEARED = "file appeared"
    VANISHED = "file vanished"
    INPUT = "input changed"
    UPSTREAM = "after"
    MISSING = "output missing from cache"
    OUT_MISSING, MODIFIED = "output missing", "output modified"
    WRITTEN_MISSING = "written file missing"  # a file it writes (not in outs), a step read,
    WRITTEN_CHANGED = "written file changed"  # is gone or changed: rerunning writes it
    EXPIRED = "expired"
    READ_EARLY = "read too early"  # set by the runner, not by ``decide``
    REWRITTEN = "shared file rewritten"  # set by the runner: an earlier writer executed
    APPENDED = "shared file appended"  # a later writer executes, appending to what it wrote
    APPEND_UNKNOWN = "appended file not known"  # what such a file held before: all rerun
    SETS = "sets values as it runs"  # module values other steps may read (``sets:`` keys)
    REMOVED = "removed step's file"  # it read a file of a step gone from its pipeline
    FINGERPRINT = "fingerprint changed"

    def __str__(self) -> str:
        if self.kind == Reason.UPSTREAM:
            return f"after {self.detail}"
        return f"{self.kind} ({self.detail})" if self.detail else self.kind


#: Prefixes of the keys of ``LockEntry.reads`` that are not plain file reads.
ENV_PREFIX = "$"
IMPORT_PREFIX = "import:"
LISTING_PREFIX = "ls:"
EXISTS_PREFIX = "exists:"
TIMES_PREFIX = "mtimes:"
#: A module value the step set as it ran (``sets:pipelines/config.py:N_CLASSES``): never
#: equal to its value now, so that the step executes each time (``incr.globalvalues``).
SETS_PREFIX = "sets:"
#: The part a ``sets:`` key names for a library's process-wide setting the step's code makes
#: (``sets:process-wide:csv.register_dialect()``): every step run after it sees it.
PROCESS_WIDE = "process-wide:"
UNSET = "unset"
#: A project class or function the step unpickled (``unpickled:mlkit.features:Scaler``), by
#: the digest of its code: a pickle holds its name, not its code (``incr.objectcode``).
UNPICKLED_PREFIX = "unpickled:"
#: A module value that code the step unpickled reads, set by a step before it as it ran
#: (``value:mylib/core.py:SCALE``), by the digest of the value then: a status takes it as
#: recorded once the steps setting it are clean, a run compares it with what they left.
VALUE_PREFIX = "value:"
#: Of a pipeline's values set at run time (``TracedPipeline.values``): what a module that
#: holds the name of another module's value set since its import holds (``bound:PATH:NAME``),
#: ``UNREACHED`` when it is the value that import left (``globalvalues._bound_since``).
BOUND_PREFIX, UNREACHED = "bound:", "unreached"
#: An internet address the step connected to as it ran (``net:93.184.216.34:443``): what it
#: got from there is not seen, and the key never changes; ``incr status`` notes the step.
NET_PREFIX = "net:"
#: A program the step started that incr does not follow (``runs:Rscript``): what it reads
#: beyond the files its command line names is not seen; ``incr status`` notes the step.
RUNS_PREFIX = "runs:"
#: An output of a past run the step read through the post-execution API (``Repository()``:
#: ``output:training.trainer:output``), by its ``KIND:DIGEST``; the lock entry of the step
#: that makes it gives its value now.
OUTPUT_PREFIX = "output:"
#: A module the step imported from local code that its code fingerprint does not reach
#: (``module:plugins/other.py``: a folder it put on ``sys.path`` as it ran), by its files.
MODULE_PREFIX = "module:"
#: A project module the step imported by a name computed as it ran
#: (``imported:pipelines.fitters.linear``), by the digest of its code used whole.
IMPORTED_PREFIX = "imported:"


def learned_kind(key: str) -> str:
    """What a ``LockEntry.reads`` key observed: ``env``, ``import``, ``listing``, ``exists``,
    ``times``, ``sets``, ``unpickled``, ``value``, ``net``, ``runs``, ``output``, ``module``,
    ``imported`` or ``file``."""
    if ":" not in key and not key.startswith(ENV_PREFIX):
        return "file"  # most keys: every other prefix ends with a colon
    for prefix, kind in _KINDS:
        if key.startswith(prefix):
            return kind
    return "file"


#: Each prefix of ``learned_kind``, with its kind.
_KINDS = (
    (ENV_PREFIX, "env"),
    (IMPORT_PREFIX, "import"),
    (LISTING_PREFIX, "listing"),
    (EXISTS_PREFIX, "exists"),
    (TIMES_PREFIX, "times"),
    (SETS_PREFIX, "sets"),
    (UNPICKLED_PREFIX, "unpickled"),
    (VALUE_PREFIX, "value"),
    (NET_PREFIX, "net"),
    (RUNS_PREFIX, "runs"),
    (OUTPUT_PREFIX, "output"),
    (MODULE_PREFIX, "module"),
    (IMPORTED_PREFIX, "imported"),
)


def split_import_key(key: str) -> tuple[str, str]:
    """(module file, file read) of an ``import:MODULE.py:FILE`` key."""
    rest = key[len(IMPORT_PREFIX) :]
    module, sep, path = rest.partition(".py:")
    return (module + ".py", path) if sep else ("", rest)


def learned_path(key: str) -> str | None:
    """The path a ``LockEntry.reads`` key is about: the file read (by the step, or while a
    module was imported), the folder listed, the path tested; None for an environment
    variable, a value set or read, code unpickled, a network address or a program."""
    kind = learned_kind(key)
    if kind in ("env", "sets", "unpickled", "value", "net", "runs", "output", "imported"):
        return None
    if kind == "import":
        return split_import_key(key)[1]
    if kind == "file":
        return key
    return key.partition(":")[2]


def value_name(part: str) -> str:
    """``N_CLASSES in pipelines/config.py`` for the code part ``pipelines/config.py:N_CLASSES``;
    ``process-wide csv.register_dialect()`` for a ``PROCESS_WIDE`` one."""
    if part.startswith(PROCESS_WIDE):
        return f"process-wide {part[len(PROCESS_WIDE) :]}"
    path, _, name = part.rpartition(":")
    return f"{name} in {path}"


def refers_to_code(identity: str) -> bool:
    """Whether an input's identity in a step's facts (``StepFacts.input_identity``) holds the
    digest of the project code the input refers to (``DIGEST+CODE``)."""
    return "+" in identity


def set_parts(reads: dict[str, str]) -> list[str]:
    """The module values (``path:name``) a step set as it ran, by its lock entry's reads."""
    return [key[len(SETS_PREFIX) :] for key in reads if key.startswith(SETS_PREFIX)]


#: The digest of a path that does not exist.
MISSING = "missing"
#: How the version of a package imported from local code begins (see ``incr.localpackages``).
LOCAL_CODE = "files:"


@valueclass(frozen=True)
class CodeRef:
    """A function, class or module.

    ``qualname`` is ``*`` for a whole module, ``Class.name`` for a definition in the body of a
    module-level class. ``own_digest`` is set for code that cannot be found by a module-level
    name (a function defined inside a function): the digest of its own source.
    ``package`` is set for code outside the project: it counts by that package's version.
    """

    module: str = ""
    qualname: str = ""
    source_file: str = ""
    own_digest: str | None = None
    package: str | None = None


@valueclass(frozen=True)
class StepCode:
    """A step's function, its ``code_deps`` and its ``version`` string.

    ``captured`` is the code reached through the values the function captures (closure cells,
    default arguments: functions, classes, modules); ``values`` maps each captured name to the
    digest of its value (``undigestable:TYPE`` when it has none, see ``incr.captures``).
    """

    func: CodeRef
    deps: tuple[CodeRef, ...] = ()
    version: str | None = None
    captured: tuple[CodeRef, ...] = ()
    values: tuple[tuple[str, str], ...] = ()

    def uncached(self) -> list[tuple[str, str]]:
        """(captured name, type) of each captured value that cannot be digested."""
        if not self.values:
            return []
        return [(n, v[len(UNDIGESTABLE) :]) for n, v in self.values if v.startswith(UNDIGESTABLE)]


class StepFunction(Protocol):
    """What running a traced step needs from its ``@step`` object (``api.Step``)."""

    func: Callable[..., Any]

    def run_function(self, config: Any, inputs: dict[str, Any]) -> Any: ...


@valueclass
class TracedPipeline:
    """A graph plus what is needed to fingerprint it (``code``) and to execute it (the step
    objects and their configs; empty when the graph came from the graph cache)."""

    graph: PipelineGraph
    steps: dict[str, StepFunction]
    configs: dict[str, Any]
    code: dict[str, StepCode]
    #: Module-level values set at run time, by code part (``incr.globalvalues``).
    values: dict[str, str] = field(default_factory=dict)
    #: Variables its ``.run()`` saw with other values than its module left (None: unset).
    env: tuple[tuple[str, str | None], ...] = ()

    @property
    def executable(self) -> bool:
        return bool(self.steps) or not self.graph.steps


#: The captured name under which a step whose own source is unreadable is reported.
SOURCE = "(its source)"
#: What a captured value that cannot be digested records, followed by its type's name (and
#: the digest of a value a step set as it ran that cannot be digested, followed by a random
#: part: ``incr.objectstates``).
UNDIGESTABLE = "undigestable:"


#: What reads code as text at run time (``inspect``'s functions, and ``fn.__doc__``): the
#: comments and docstrings a code digest leaves out.
SOURCE_TEXT = frozenset({"getsource", "getsourcelines", "getdoc", "getcomments"})


def reads_source_text(place: str) -> bool:
    """True for a note of code read as text (``__doc__ in pipelines/flow.py:step``)."""
    return place.startswith(("__doc__ ", *(f"{name}() " for name in SOURCE_TEXT)))


#: How a distribution asked for by name (``importlib.metadata.version("torch")``) is written
#: among the packages a closure uses: ``dist:torch``. Its installed version counts, as for an
#: import.
DIST = "dist:"
