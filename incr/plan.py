"""Pure decisions: is a step dirty, and why.

``decide`` is a ladder of rungs, cheapest first; each rung that finds a change records a Reason
naming what changed. ``plan_status`` walks a pipeline in order and predicts, without running
anything, which steps a ``repro`` would execute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from incr import localclock
from incr.digests import ORDERED_DICT, PATH, TUPLE, as_given
from incr.faninreasons import changed_inputs
from incr.fingerprint import DEFAULTS, FILL_ORDER, canonical_json, fingerprint, json_key
from incr.model import (
    LOCAL_CODE,
    OUTPUT_PREFIX,
    PROCESS_WIDE,
    TOP_LEVEL,
    UNDIGESTABLE,
    VALUE_PREFIX,
    Artifact,
    Facts,
    LockEntry,
    Reason,
    StepNode,
)
from incr.valueclass import valueclass


def cache_enabled(node: StepNode, pipeline_enabled: bool, run_override: bool | None) -> bool:
    """The seed's precedence: run override, then ``@pipeline(enable_cache=False)``, then step."""
    if run_override is not None:
        return run_override
    if not pipeline_enabled:
        return False
    return True if node.enable_cache is None else node.enable_cache


@valueclass(frozen=True)
class Verdict:
    """A step's state: clean when ``reasons`` is empty."""

    node: StepNode
    reasons: tuple[Reason, ...]
    fingerprint: str | None = None  # None while an upstream step is dirty
    facts: Facts | None = None  # its facts now; inputs hold only the known ones
    notes: tuple[str, ...] = ()  # things incr cannot see (run-time code lookups)
    #: (name, type) of captured values incr cannot digest: the step always reruns
    uncached: tuple[tuple[str, str], ...] = ()
    file_notes: tuple[str, ...] = ()  # files opened where incr cannot see them, as sentences
    order_notes: tuple[str, ...] = ()  # files it reads that another step writes, as sentences

    @property
    def dirty(self) -> bool:
        return bool(self.reasons)

    @property
    def own_reasons(self) -> tuple[Reason, ...]:
        """Reasons other than waiting on a dirty upstream step."""
        return tuple(r for r in self.reasons if r.kind != Reason.UPSTREAM)


def decide(
    node: StepNode,
    locked: LockEntry | None,
    facts: Facts,
    *,
    enabled: bool,
    forced: bool = False,
    missing: Sequence[str] = (),
    modified: Sequence[str] = (),
    reads: Sequence[Reason] = (),
    expired: bool = False,
    waiting_on: Sequence[str] = (),
    current: str | None = None,
    same: bool | None = None,
) -> list[Reason]:
    """Why ``node`` must run, given its lock entry and its current facts (empty: it is clean).

    ``facts.inputs`` holds only the inputs known now; ``waiting_on`` names dirty upstream steps
    whose outputs are not known yet; ``missing`` names outputs absent from the cache or disk,
    ``modified`` the ``outs`` files whose bytes differ from the recorded ones; ``reads`` the
    reasons for what it was seen to depend on last time and that changed since; ``expired``
    says its cached result is older than its ``cache_expires``; ``current`` is
    ``fingerprint(facts)`` and ``same`` is ``same_facts(facts, locked.facts)`` when the
    caller has them already.
    """
    reasons: list[Reason] = []
    # Dirty if asked to run whatever its state.
    if forced:
        reasons.append(Reason(Reason.FORCED))
    # Dirty if caching is off for it (run, pipeline or step level).
    if not enabled:
        reasons.append(Reason(Reason.CACHE_DISABLED))
    # Dirty if it never ran: nothing else to compare against.
    if locked is None:
        return [*reasons, Reason(Reason.NEW)]
    # The facts its lock entry records (most steps of a no-op status): none of the rungs
    # that compare facts would name a change.
    if same is None:
        same = same_facts(facts, locked.facts)
    if not same:
        reasons += _changed_facts(locked.facts, facts)
    # Dirty if something it was seen to depend on (a file read, an environment variable, a
    # listing, an existence test) changed.
    reasons.extend(reads)
    if not same:
        reasons += changed_inputs(node, locked.facts, facts)
    # Dirty, perhaps, once a dirty upstream step has rerun (early cutoff may still save it).
    if waiting_on:
        reasons.append(Reason(Reason.UPSTREAM, ", ".join(waiting_on)))
    # Dirty if a recorded output is gone: an outs file from disk, a value from the cache.
    gone = [m for m in missing if m in node.outs]
    if gone:
        reasons.append(Reason(Reason.OUT_MISSING, ", ".join(gone)))
    if len(gone) < len(missing):
        reasons.append(Reason(Reason.MISSING, ", ".join(m for m in missing if m not in gone)))
    # Dirty if a file it wrote was changed by hand since.
    if modified:
        reasons.append(Reason(Reason.MODIFIED, ", ".join(modified)))
    # Dirty if its cached result is older than it may be.
    if expired:
        reasons.append(Reason(Reason.EXPIRED))
    # Dirty if the fingerprint differs for a reason no rung above names (never expected:
    # a backstop, so that a gap in the ladder cannot give a stale result).
    if not reasons and not waiting_on and (current or fingerprint(facts)) != locked.fingerprint:
        reasons.append(Reason(Reason.FINGERPRINT))
    return reasons


def _changed_facts(old: Facts, facts: Facts) -> list[Reason]:
    reasons = []
    configured = (facts.config or old.config) and _canonical(facts.config) != _canonical(old.config)
    # Dirty if its code or the code it uses changed; a config class's new defaults only when
    # no config value says so.
    code, then, now = old.code, old.code.get(localclock.PART), facts.code.get(localclock.PART)
    if then and now and then != now:  # code asking for local time, in another time zone
        reasons.append(Reason(Reason.TZ, localclock.zone_change(then, now)))
        code = {**code, localclock.PART: now}
    if facts.code != code and not (configured and _only_defaults(code, facts.code)):
        reasons.append(Reason(Reason.CODE, describe_code_change(code, facts.code)))
    # Dirty if a config value changed (as JSON: 2 and 2.0 and True are different values).
    if configured:
        reasons.append(Reason(Reason.CONFIG, describe_mapping_change(old.config, facts.config)))
    # Dirty if a declared file or folder changed.
    changed_deps = _changed_keys(old.deps, facts.deps)
    if changed_deps:
        reasons.append(Reason(Reason.DEP, ", ".join(changed_deps)))
    return reasons


def _canonical(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: json_key(v) for k, v in values.items()}


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys added, removed, or with another value (a key holding None is not an absent one;
    values are compared as JSON, so 2 and 2.0 differ)."""
    if not old and not new:
        return []
    before, after = _canonical(old), _canonical(new)
    return sorted(k for k in set(old) | set(new) if before.get(k) != after.get(k))


def _only_defaults(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """True when the only code parts that differ are config classes' field defaults."""
    return all(part.endswith(DEFAULTS) for part in _changed_keys(old, new))


def describe_code_change(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """``double in pipelines/flow.py``, ``scikit-learn 1.8.0 -> 1.9.1``, ``+helper in ...``,
    ``stopped using scikit-learn``, ``started using numpy 2.1.0``."""
    words: list[str] = []
    ordered: list[str] = []
    for part in _changed_keys(old, new):
        kind, colon, rest = part.partition(":")
        if kind == "captured":  # a value the step's function captures
            words.append(f"captured {rest}")
            continue
        if kind == "value":  # a module-level value set at run time (``incr.globalvalues``)
            path, _, name = rest.rpartition(":")
            if name == "seed" and not path.endswith(".py"):  # a global generator (``incr.seeds``)
                words.append(f"state of {path} the steps before it seed and draw from")
                continue
            words.append(f"value of {name} in {path}")
            if new.get(part, "").startswith(UNDIGESTABLE):  # (see ``incr.objectstates``)
                words[-1] += ", which incr cannot digest: the steps using it rerun each time"
            continue
        if part == localclock.PART:  # code that started or stopped asking for local time
            words.append(localclock.used(new.get(part)))
            continue
        if part == "argv":  # a step reading the command line (``facts``)
            words.append("the script's command line arguments")
            continue
        if kind == "pkg" and (part not in new or part not in old):  # a package used or not
            if part not in new:
                words.append(f"stopped using {rest}")
            elif new[part].startswith(LOCAL_CODE):  # its digest would tell the reader nothing
                words.append(f"started using {rest}'s local code")
            else:
                words.append(f"started using {rest} {new[part]}")
            continue
        if kind == "pkg" and old[part].startswith(LOCAL_CODE) and new[part].startswith(LOCAL_CODE):
            words.append(f"{rest}'s local code")  # files of a package not installed
            continue
        if kind == "pkg" or not colon:  # a package version, the Python version, the version
            label = rest if colon else part
            then, now = (_version(v.get(part, "none")) for v in (old, new))
            words.append(f"{label} {then} -> {now}")
            continue
        path, _, name = part.rpartition(":")
        label = {"*": "module", TOP_LEVEL: "top-level code"}.get(name, name)
        if label.endswith(DEFAULTS):
            label = f"{label[: -len(DEFAULTS)]} defaults"
        elif label.endswith(FILL_ORDER):  # said alone: a new filler changes it too
            ordered.append(f"order of what fills {label[: -len(FILL_ORDER)]} in {path}")
            continue
        prefix = "" if part in old and part in new else ("+" if part in new else "-")
        words.append(f"{prefix}{label} in {path}")
    return ", ".join(words or ordered)


def _version(value: str) -> str:
    return "local code" if value.startswith(LOCAL_CODE) else value


def describe_mapping_change(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> str:
    """``factor: 2 -> 5``; a key only on one side shows ``(unset)`` there. A field holding a
    mapping on both sides (a dataclass or pydantic model, a dict) is named down to what
    changed in it: ``optim.lr: 0.1 -> 0.5`` (whole when only its order changed)."""
    words = []
    for key in _changed_keys(old, new):
        inner_old, inner_new = _fields(old.get(key)), _fields(new.get(key))
        if inner_old is not None and inner_new is not None:
            inner = describe_mapping_change(inner_old, inner_new, f"{prefix}{key}.")
            if inner:
                words.append(inner)
                continue
        before = _show(old[key]) if key in old else "(unset)"
        after = _show(new[key]) if key in new else "(unset)"
        words.append(f"{prefix}{key}: {before} -> {after}")
    return ", ".join(words)


def _fields(value: Any) -> dict[str, Any] | None:
    """The items of a dict with string keys that is not empty, as ``faithful`` keeps it (a
    dict whose order counts, as a dataclass's fields not in sorted order, is a marked list
    of pairs); None for any other value (a tuple is a marked dict too)."""
    if not isinstance(value, dict) or not value:
        return None
    if len(value) == 1 and (TUPLE in value or PATH in value):
        return None
    if len(value) == 1 and isinstance(pairs := value.get(ORDERED_DICT), list):
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            return None
        value = {p[0]: p[1] for p in pairs if isinstance(p[0], str)}
        return value if len(value) == len(pairs) else None
    return value if all(isinstance(k, str) for k in value) else None


def _show(value: Any) -> str:
    if isinstance(value, Enum):  # as the lockfile keeps it: by its value
        value = value.value
    return repr(value) if isinstance(value, str) else str(as_given(value))


def upstream_inputs(
    node: StepNode,
    locks: Mapping[str, LockEntry],
    dirty: set[str],
    identity: Callable[[Artifact], str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The input digests a step would receive now, and the dirty upstream steps it waits on.

    An upstream step that is clean hands over the outputs its lock entry records;
    ``identity`` gives what the facts hold for one (its digest when not given).
    """
    inputs: dict[str, str] = {}
    waiting: set[str] = set()
    for param, ref in node.inputs.items():
        upstream_key = f"{node.pipeline}.{ref.step}"
        entry = locks.get(upstream_key)
        if upstream_key in dirty or entry is None or ref.output not in entry.outputs:
            waiting.add(ref.step)
        else:
            artifact = entry.outputs[ref.output]
            inputs[param] = artifact.identity if identity is None else identity(artifact)
    return inputs, sorted(waiting)


def file_upstreams(node: StepNode, producers: Mapping[str, str], dirty: set[str]) -> list[str]:
    """Dirty steps (by name) that write a file this step declares as a dep."""
    from incr.model import paths_overlap

    names = {
        producer
        for dep in node.deps
        for out, producer in producers.items()
        if producer != node.name and paths_overlap(dep, out)
    }
    return sorted(n for n in names if f"{node.pipeline}.{n}" in dirty)


def after_upstreams(node: StepNode, dirty: set[str]) -> list[str]:
    """Dirty steps (by name) this step is ordered after (``step.after(other)``): the files it
    reads may be what they write, known once they ran."""
    return sorted(n for n in node.after if f"{node.pipeline}.{n}" in dirty)


def same_facts(new: Facts, old: Facts) -> bool:
    """True when the two give the same fingerprint: the same strings, and the same config
    values as JSON (2 and 2.0 are equal in Python, not in a fingerprint)."""
    return (
        new.code == old.code
        and new.inputs == old.inputs
        and new.deps == old.deps
        and (
            new.config == old.config == {}
            or canonical_json(new.config) == canonical_json(old.config)
        )
    )


def stale_locks(keys: Iterable[str], live: Mapping[str, set[str] | None]) -> list[str]:
    """Lock keys to drop: of a pipeline not in ``live``, or of a step not in its set (a
    pipeline mapped to None keeps all its steps)."""
    stale = []
    for key in keys:
        owner = next((p for p in live if key.startswith(p + ".")), None)
        steps = live[owner] if owner is not None else None
        if owner is None or (steps is not None and key[len(owner) + 1 :] not in steps):
            stale.append(key)
    return stale


def values_set(set_by: Mapping[str, str], key: str, code: Mapping[str, str]) -> list[str]:
    """The module values (``path:name`` code parts) that the step ``key``'s ``code`` uses and
    a step before it sets as it runs (``set_by``: each such value to the key of the step
    setting it, of this pipeline or of one run before it by the same command): the step is
    decided on their values then, not on their definitions' text alone; on a library's
    process-wide setting (``PROCESS_WIDE``: its setter's fingerprint) whatever its code."""
    if not set_by:
        return []
    wide = (p for p, setter in set_by.items() if setter != key and p.startswith(PROCESS_WIDE))
    return sorted({*(p for p in code if set_by.get(p, key) != key), *wide})


def with_values(facts: Facts, values: Mapping[str, str]) -> Facts:
    """``facts`` with each value of ``values`` (``path:name`` -> digest) as a ``value:`` part."""
    return replace(facts, code={**facts.code, **{f"value:{p}": d for p, d in values.items()}})


def recorded_values(parts: Sequence[str], locked: LockEntry | None) -> dict[str, str]:
    """The digests ``locked`` records for the ``value:`` code parts of ``parts``: what a status
    takes for values that only running the steps setting them can tell ("" when none)."""
    code = locked.facts.code if locked is not None else {}
    return {p: code.get(f"value:{p}", "") for p in parts}


def read_values(locked: LockEntry | None) -> dict[str, str]:
    """The digests ``locked`` records for the module values that steps before it had set as
    it last ran, by part (``value:`` keys of its code facts and of its reads, those an input's
    code or code it unpickled reads): what a status takes for them, as only running the
    steps setting them can tell (an input's identity holds those its code reads)."""
    if locked is None:
        return {}
    found = {}
    for held in (locked.facts.code, locked.reads):
        for key in held:
            if key.startswith(VALUE_PREFIX):
                found[key[_VALUE_CUT:]] = held[key]
    return found


_VALUE_CUT = len(VALUE_PREFIX)


def output_makers(reads: Mapping[str, str]) -> set[str]:
    """The steps (by key) whose outputs of past runs a step read through the post-execution
    API (``output:`` keys of its lock entry's ``reads``)."""
    keys = (k[len(OUTPUT_PREFIX) :] for k in reads if k.startswith(OUTPUT_PREFIX))
    return {k.rpartition(":")[0] for k in keys}
