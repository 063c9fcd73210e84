"""The status walk: what a ``repro`` would do, step by step, running nothing.

Pure: the workspace gathers what it knows of each step (``Observed``: its facts now, its lock
entry, its outputs, what it was seen to read, its notes) and ``walk`` judges the steps in run
order, handing each clean step's recorded outputs on to the steps after it, so that a step
after a dirty one waits on it instead (early cutoff may still save it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import field, replace

from incr import dag, gate
from incr.fingerprint import fingerprint
from incr.learnedwords import learned_reasons
from incr.model import (
    UNSET,
    VALUE_PREFIX,
    Facts,
    LockEntry,
    PipelineGraph,
    Reason,
    StepNode,
    paths_overlap,
    refers_to_code,
    set_parts,
)
from incr.overlaps import Overlap, learned_upstreams
from incr.overlaps import notes as overlap_notes
from incr.plan import (
    Verdict,
    after_upstreams,
    cache_enabled,
    decide,
    file_upstreams,
    output_makers,
    recorded_values,
    same_facts,
    values_set,
    with_values,
)
from incr.seeds import drawn_after, seeded_parts
from incr.sharedwrites import Across, appended_onto
from incr.valueclass import valueclass


@valueclass
class Observed:
    """What the workspace knows of one step before the walk (not frozen: one is made per step
    on the no-op path, and a frozen one takes 40% longer to make).

    ``facts`` holds its code, config and deps now, and for each data input the value a clean
    upstream step hands over (what its lock entry records, as the consumer's facts hold it);
    an input whose upstream step has no such output recorded is left out. ``checked``: the lock
    entry's fingerprint was found to match its facts when the lockfile was read.
    """

    facts: Facts
    locked: LockEntry | None
    checked: bool = False
    missing: tuple[str, ...] = ()  # recorded outputs gone from the cache or the disk
    modified: tuple[str, ...] = ()  # outs files whose bytes differ from the recorded ones
    reads: tuple[Reason, ...] = ()  # what it was seen to depend on, changed since
    expired: bool = False  # its cached result is older than its ``cache_expires``
    uncached: tuple[tuple[str, str], ...] = ()  # captured values incr cannot digest
    notes: tuple[str, ...] = ()  # things incr cannot follow in its code
    file_notes: tuple[str, ...] = ()  # files opened where incr cannot see them


@valueclass(frozen=True)
class PipelineFacts:
    """One pipeline to walk: its graph (with learned edges, ordered), the steps to judge in run
    order (``judged``), the step names targeted (None: all), what is known of each judged step
    by name, the overlaps of files its steps read and write (``incr.overlaps``), and for each
    step writing a file that steps before it write too, which a step reads, those steps with
    the file (``sharedwrites.earlier_writers``)."""

    graph: PipelineGraph
    judged: Sequence[StepNode]
    wanted: set[str] | None
    observed: Mapping[str, Observed]
    overlaps: Sequence[Overlap] = ()
    rewrites: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)


def judged_steps(graph: PipelineGraph, wanted: set[str] | None) -> list[StepNode]:
    """The steps a status of ``wanted`` (None: the whole pipeline) judges, in run order."""
    steps = dag.order(graph)
    if not wanted:
        return steps
    keep = dag.ancestors(graph, wanted)
    return [n for n in steps if n.name in keep]


def walk(
    pipelines: Iterable[PipelineFacts],
    *,
    force: bool = False,
    lock_view: bool = False,
    run_override: bool | None = None,
    writes: Mapping[str, Iterable[str]] | None = None,
    shared: Across | None = None,
    known: Mapping[str, Sequence[str]] | None = None,
) -> list[Verdict]:
    """Each judged step's verdict, pipeline after pipeline, in run order.

    ``writes``: the files each step (by key) was seen writing or declares; a step that read such a
    file, written by a dirty step of a pipeline before its own, waits on that step. A step
    writing a file that a step before it writes too, which a step reads, is dirty when that
    one executes (``shared file rewritten``), and waits on it while it waits; so too for a
    writer of a pipeline walked before its own (``shared``: ``Across.earlier``). The writers
    a dirty step appends after (``Across.onto``) are dirty too (``shared file appended``):
    the pipelines are walked again with those reasons until no more are found.

    ``force`` marks the targeted steps (every step, without targets) as forced. ``lock_view``
    judges every step against ``pipeline.lock`` (``incr status --check``): a step dirty only
    because this machine lacks its results (``gate.MACHINE_KINDS``) hands on the outputs its
    lock entry records, so the steps after it are judged on their own facts, still shown as
    waiting on it (the workspace then gives the facts of steps whose outs are missing from disk
    as recorded: ``gate.as_recorded``). ``known``: by step key, the files of ``writes`` a step
    reads before its code runs, as its modules are imported (``incr.knownreads``): they count
    as files it read.
    """
    pipelines = list(pipelines)
    shared = shared or Across()
    writers: dict[str, list[str]] = {}  # each file written to its writers' keys
    for key, paths in (writes or {}).items():
        for path in paths:
            writers.setdefault(path, []).append(key)
    appended: dict[str, list[Reason]] = {}  # by key: writers a dirty step appends after
    while True:
        # Shared by the pipelines, walked in the order a repro runs them: a value a step of
        # one sets counts for the steps of those after it that use it (``values_set``).
        verdicts: list[Verdict] = []
        state = _Shared(shared.earlier, appended)
        for pipeline in pipelines:
            verdicts += _walk_one(pipeline, force, lock_view, run_override, state, writers, known)
        more = appended_onto(shared.onto, {v.node.key: v.reasons for v in verdicts})
        if not more:
            return verdicts
        for key, reasons in more.items():
            appended[key] = [*appended.get(key, ()), *reasons]


@valueclass
class _Shared:
    """What the walk of each pipeline hands on to those after it: the dirty steps and those
    with reasons of their own (by key), the setter of each module value steps set as they
    run (by key), and the reasons given for shared files (see ``walk``)."""

    earlier: Mapping[str, Sequence[tuple[str, str]]]
    appended: Mapping[str, Sequence[Reason]]
    dirty: set[str] = field(default_factory=set)
    executes: set[str] = field(default_factory=set)
    set_by: dict[str, str] = field(default_factory=dict)


def _walk_one(
    pipeline: PipelineFacts,
    force: bool,
    lock_view: bool,
    run_override: bool | None,
    state: _Shared,
    writers: Mapping[str, Collection[str]] | None = None,
    known: Mapping[str, Sequence[str]] | None = None,
) -> list[Verdict]:
    graph, wanted = pipeline.graph, pipeline.wanted
    dirty, set_by = state.dirty, state.set_by
    run_override = graph.run_cache if run_override is None else run_override  # its main block's
    executes: set[str] = set()  # the steps (by name) with reasons of their own
    producers = {out: n.name for n in graph.steps for out in n.outs}
    lacking: set[str] = set()  # lock_view: dirty only for reasons of this machine
    verdicts = []
    for node in pipeline.judged:
        seen = pipeline.observed[node.name]
        facts, waiting = _inputs(node, seen.facts, dirty)
        more = file_upstreams(node, producers, dirty) if node.deps else []
        more += after_upstreams(node, dirty) if node.after else []
        if graph.learned:
            more += learned_upstreams(graph, node.name, dirty)
        if more:
            waiting = sorted({*waiting, *more})
        locked = seen.locked
        before = known.get(node.key, ()) if known else ()
        if writers and (other := _other_writers(node, locked, writers, dirty, before)):
            waiting = sorted({*waiting, *other})  # rewrites a file it read: by its key
        own = f"{node.pipeline}."
        used = values_set(set_by, node.key, facts.code) if set_by else []  # most: none set
        if set_by and seen.notes:
            used += drawn_after(set_by, node.key, seen.notes)
        if used:  # values as recorded
            facts = with_values(facts, recorded_values(used, locked))
            setters = {set_by[p] for p in used} & dirty  # by key; named here by their name
            waiting = sorted({*waiting, *(s.removeprefix(own) for s in setters)})
        if set_by and any(map(refers_to_code, facts.inputs.values())):
            # An object's code may read a value a step sets: known when that step has run.
            setters = {k for k in set_by.values() if k != node.key} & dirty
            waiting = sorted({*waiting, *(s.removeprefix(own) for s in setters)})
        reads = seen.reads
        if pairs := pipeline.rewrites.get(node.name):
            rewritten, waiting = _rewritten(pairs, executes, waiting, dirty, own)
            reads = (*reads, *(r for r in rewritten if r not in reads))  # seen on disk too
        if pairs := state.earlier.get(node.key):  # writers of pipelines walked before
            rewritten, waiting = _rewritten_before(pairs, state, waiting)
            reads = (*reads, *(r for r in rewritten if r not in reads))
        if appended := state.appended.get(node.key):
            reads = (*reads, *(r for r in appended if r not in reads))
        if locked is not None and locked.reads:
            setters, unset = _unpickled_values(node.key, locked.reads, set_by)
            setters |= output_makers(locked.reads)  # outputs it read through Repository()
            waiting = sorted({*waiting, *(s.removeprefix(own) for s in setters & dirty)})
            reads = (*reads, *unset)
        same = locked is not None and same_facts(facts, locked.facts)
        fp = None if waiting else _fingerprint(facts, locked, seen.checked and same)
        behind = gate.behind(node, producers, lacking) if lacking else []
        reasons = decide(
            node,
            locked,
            facts,
            enabled=cache_enabled(node, graph.enable_cache, run_override) and not seen.uncached,
            forced=force and (wanted is None or node.name in wanted),
            missing=seen.missing,
            modified=seen.modified,
            reads=reads,
            expired=seen.expired,
            waiting_on=sorted({*waiting, *behind}) if behind else waiting,
            current=fp,
            same=same,
        )
        if locked is not None and locked.reads and (parts := set_parts(locked.reads)):
            set_by.update(dict.fromkeys(parts, node.key))
        if seen.notes:  # most steps: none, so no seed set or drawn from (``incr.seeds``)
            drawn = drawn_after(set_by, node.key, seen.notes) if set_by else []
            set_by.update(dict.fromkeys(seeded_parts(seen.notes), node.key))
            set_by.update(dict.fromkeys(drawn, node.key))  # the generator's chain
        if lock_view:
            gate.lock_backstop(reasons, fp, locked)
        if reasons and any(r.kind != Reason.UPSTREAM for r in reasons):
            executes.add(node.name)
            state.executes.add(node.key)
        if reasons:
            machine = lock_view and not waiting and gate.machine_only(reasons)
            (lacking if machine else dirty).add(node.key)
        found = pipeline.overlaps
        order = tuple(overlap_notes(graph, found, node.name)) if found else ()
        verdicts.append(
            Verdict(
                node,
                tuple(reasons),
                fp,
                facts,
                seen.notes,
                uncached=seen.uncached,
                file_notes=seen.file_notes,
                order_notes=order,
            )
        )
    return verdicts


def _unpickled_values(
    key: str, reads: dict[str, str], set_by: Mapping[str, str]
) -> tuple[set[str], list[Reason]]:
    """For the step ``key`` whose lock entry records ``reads``: the steps (by key) setting the
    module values that code it unpickled read (``value:`` keys), its value known once they
    ran; and the reasons for such values no step before it sets now (what the module holds
    counts, as for values none left set)."""
    parts = [k[len(VALUE_PREFIX) :] for k in reads if k.startswith(VALUE_PREFIX)]
    setters = {set_by.get(p, key) for p in parts} - {key}
    gone = [p for p in parts if set_by.get(p, key) == key]
    then = {f"{VALUE_PREFIX}{p}": reads[f"{VALUE_PREFIX}{p}"] for p in gone}
    return setters, learned_reasons({k: (v, UNSET) for k, v in then.items() if v != UNSET})


def _rewritten(
    pairs: Sequence[tuple[str, str]],
    executes: set[str],
    waiting: list[str],
    dirty: set[str],
    own: str,
) -> tuple[list[Reason], list[str]]:
    """For a step writing a file that the steps of ``pairs`` (earlier writer, file) write
    before it: a reason for each of them that executes (it rewrites the file, and the step
    writes it anew after it), and ``waiting`` with those only waiting (by name)."""
    reasons, names = [], set(waiting)
    for writer in dict.fromkeys(w for w, _ in pairs):
        path = next(p for w, p in pairs if w == writer)
        if writer in executes:
            reasons.append(Reason(Reason.REWRITTEN, f"{path}, by {writer}"))
            names.discard(writer)
        elif f"{own}{writer}" in dirty:
            names.add(writer)
    return reasons, sorted(names)


def _rewritten_before(
    pairs: Sequence[tuple[str, str]], state: _Shared, waiting: list[str]
) -> tuple[list[Reason], list[str]]:
    """For a step writing a file that the steps of ``pairs`` (earlier writer by key, file),
    of pipelines walked before its own, write before it: a reason for each of them that
    executes, and ``waiting`` with the dirty others (by key)."""
    reasons, names = [], set(waiting)
    for writer, path in pairs:
        if writer in state.executes:
            reasons.append(Reason(Reason.REWRITTEN, f"{path}, by {writer}"))
        elif writer in state.dirty:
            names.add(writer)
    return reasons, sorted(names)


def _other_writers(
    node: StepNode,
    locked: LockEntry | None,
    writers: Mapping[str, Collection[str]],
    dirty: set[str],
    before: Sequence[str] = (),
) -> set[str]:
    """The dirty steps (by key) of other pipelines walked before this one that were seen
    writing a file ``node`` read, or one it reads before it runs (``before``)."""
    own = f"{node.pipeline}."
    found = set()
    if locked is not None and locked.reads:
        found = {k for path in locked.reads if path in writers for k in writers[path]}
    if node.deps or before:  # declared: a file, or a folder holding what it writes
        found |= {
            k
            for p, ks in writers.items()
            if any(paths_overlap(p, d) for d in (*node.deps, *before))
            for k in ks
        }
    return {key for key in found if key in dirty and not key.startswith(own)}


def _inputs(node: StepNode, facts: Facts, dirty: set[str]) -> tuple[Facts, list[str]]:
    """``facts`` with only the inputs a clean upstream step hands over, and the upstream steps
    (by name) it waits on: dirty ones, and ones with no such output recorded."""
    if not node.inputs or (not dirty and facts.inputs.keys() >= node.inputs.keys()):
        return facts, []  # no input, or each handed over by a clean step (a no-op status)
    waiting = {
        ref.step
        for param, ref in node.inputs.items()
        if param not in facts.inputs or f"{node.pipeline}.{ref.step}" in dirty
    }
    if not waiting:
        return facts, []
    pipeline = node.pipeline
    inputs = {
        p: d for p, d in facts.inputs.items() if f"{pipeline}.{node.inputs[p].step}" not in dirty
    }
    return replace(facts, inputs=inputs), sorted(waiting)


def _fingerprint(facts: Facts, locked: LockEntry | None, recorded: bool) -> str:
    """``fingerprint(facts)``, taken from the lock entry when ``recorded``: its facts are
    ``facts`` and its fingerprint was checked against them (most steps of a no-op status)."""
    if locked is not None and recorded:
        return locked.fingerprint
    return fingerprint(facts)
