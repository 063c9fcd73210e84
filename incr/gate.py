"""``incr status --check``: does ``pipeline.lock`` match the code, configs, data and environment?

Some reasons that make a step dirty say that the lockfile is out of date (its code, a config
value, a file it reads changed); others only say that this machine lacks the step's results (a
fresh clone has no ``.pipecache/``, a step with caching off reruns every time). A CI gate must
fail on the first kind only, and its last line (``check_line``) says which steps are which.
Pure: values in, values out (the disk is asked only through the callable it is given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from incr.model import (
    NET_PREFIX,
    Facts,
    LockEntry,
    Reason,
    StepNode,
    learned_path,
    paths_overlap,
)
from incr.plan import Verdict, file_upstreams

#: Reasons that say only that this machine lacks a step's results, never that the lockfile is
#: out of date: ``incr repro`` computes or restores them and leaves ``pipeline.lock`` as it is.
MACHINE_KINDS = frozenset(
    {
        Reason.MISSING,  # output missing from cache
        Reason.OUT_MISSING,  # an outs file missing from disk
        Reason.WRITTEN_MISSING,  # as above, for a file it writes without listing it in outs
        Reason.CACHE_DISABLED,
        Reason.EXPIRED,
        Reason.FORCED,
        Reason.SETS,  # sets module values as it runs: executes every time, as above
    }
)
#: Those of a step that executes in every run by its own settings: no result is missing.
EVERY_RUN_KINDS = frozenset({Reason.CACHE_DISABLED, Reason.SETS, Reason.FORCED})


def machine_only(reasons: Sequence[Reason]) -> bool:
    """True when every reason is one of ``MACHINE_KINDS`` or waiting on an upstream step (the
    caller knows that step is dirty only for such reasons too)."""
    return all(r.kind in MACHINE_KINDS or r.kind == Reason.UPSTREAM for r in reasons)


def behind(node: StepNode, producers: Mapping[str, str], lacking: set[str]) -> list[str]:
    """Upstream steps (by name) that ``node`` waits on and that are dirty only because this
    machine lacks their results."""
    if not lacking:
        return []
    names = {r.step for r in node.inputs.values() if f"{node.pipeline}.{r.step}" in lacking}
    return sorted(names | set(file_upstreams(node, producers, lacking)))


def absent_outs(
    locks: Mapping[str, LockEntry], nodes: Sequence[StepNode], digest_now: Callable[[str], str]
) -> dict[str, str]:
    """Outs files and folders of ``nodes`` that are missing from disk (``digest_now`` says
    ``missing``) or hold other bytes than their lock entry records (a checkout of an older
    commit leaves newer ignored outs behind: the producer says ``output modified``; the steps
    after it are judged on what the lockfile records), with the digest their lock entry
    records, written as a dep's digest is (``dir:`` and the manifest's digest for a folder)."""
    recorded: dict[str, str] = {}
    for node in nodes:
        entry = locks.get(node.key)
        for out in node.outs:
            artifact = entry.outputs.get(out) if entry else None
            if artifact is not None:
                then = ("dir:" if artifact.kind == "dir" else "") + artifact.digest
                if digest_now(out) != then:
                    recorded[out] = then
    return recorded


def as_recorded(
    facts: Facts, locked: LockEntry | None, absent: Mapping[str, str]
) -> tuple[Facts, dict[str, str]]:
    """A step's facts and the learned facts to check (``LockEntry.reads``), judged as if
    every outs file or folder missing from disk held what its lock entry records.

    A dep that is such an out takes its recorded digest; a dep inside one, or holding one,
    cannot be computed without it and keeps the step's own locked value. A learned fact about
    such an out (or a path inside it) is left out, unless it is a read of the out itself that
    saw other bytes than the recorded ones.
    """
    locked_deps = locked.facts.deps if locked else {}
    deps = dict(facts.deps)
    for dep in deps:
        if dep in absent:
            deps[dep] = absent[dep]
        elif dep in locked_deps and any(paths_overlap(dep, out) for out in absent):
            deps[dep] = locked_deps[dep]
    reads = {}
    for key, then in (locked.reads if locked else {}).items():
        path = learned_path(key)
        if path is None or not any(paths_overlap(path, out) for out in absent):
            reads[key] = then
        elif key in absent and then != absent[key]:
            reads[key] = then  # it read other bytes than the lockfile says its producer wrote
    return Facts(facts.code, facts.config, facts.inputs, deps), reads


def lock_backstop(reasons: list[Reason], fingerprint: str | None, locked: LockEntry | None) -> None:
    """Add ``fingerprint changed`` to a step dirty only for reasons of this machine whose
    fingerprint differs from its lock entry's (``decide`` checks it only for a clean step)."""
    if (
        reasons
        and machine_only(reasons)
        and locked is not None
        and fingerprint is not None
        and fingerprint != locked.fingerprint
    ):
        reasons.append(Reason(Reason.FINGERPRINT))


# --------------------------------------------------------------------------- judging verdicts


def judge(verdicts: Sequence[Verdict]) -> dict[str, tuple[bool, ...]]:
    """Step key -> for each of its reasons, whether it says the step's lock entry is out of
    date: a kind that is not one of ``MACHINE_KINDS``, or waiting on a step whose entry is out
    of date. (Verdicts in status order: each step after the steps it depends on.)"""
    producers = _producers(verdicts)
    stale: set[str] = set()
    judged: dict[str, tuple[bool, ...]] = {}
    for v in verdicts:
        flags = tuple(
            bool(_upstreams(v.node, producers, stale))
            if r.kind == Reason.UPSTREAM
            else r.kind not in MACHINE_KINDS
            for r in v.reasons
        )
        if any(flags):
            stale.add(v.node.key)
        judged[v.node.key] = flags
    return judged


def stale_steps(verdicts: Sequence[Verdict]) -> list[str]:
    """Keys of the steps whose lock entry is out of date, in status order."""
    judged = judge(verdicts)
    return [v.node.key for v in verdicts if any(judged[v.node.key])]


def _producers(verdicts: Sequence[Verdict]) -> dict[str, dict[str, str]]:
    """Pipeline -> out path -> the step (name) that writes it."""
    found: dict[str, dict[str, str]] = {}
    for v in verdicts:
        for out in v.node.outs:
            found.setdefault(v.node.pipeline, {})[out] = v.node.name
    return found


def _upstreams(node: StepNode, producers: dict[str, dict[str, str]], keys: set[str]) -> list[str]:
    """The upstream steps of ``node`` (data and files) whose keys are in ``keys``."""
    names = {r.step for r in node.inputs.values() if f"{node.pipeline}.{r.step}" in keys}
    names |= set(file_upstreams(node, producers.get(node.pipeline, {}), keys))
    return sorted(names)


# --------------------------------------------------------------------------- the check line


def _first_three(named: list[str]) -> str:
    shown = ", ".join(named[:3])
    return shown + (f" and {_steps(len(named) - 3)} more" if len(named) > 3 else "")


def check_line(verdicts: list[Verdict]) -> str:
    """The last line of ``incr status --check``: whether ``pipeline.lock`` is up to date, and
    why."""
    judged = judge(verdicts)
    changed: list[str] = []  # the steps whose own facts differ from their lock entries, and how
    edited: list[str] = []  # those whose only such reason is an outs file changed on disk
    for v in verdicts:
        flags = zip(v.reasons, judged[v.node.key], strict=True)
        own = [r for r, stale in flags if stale and r.kind != Reason.UPSTREAM]
        if own:
            said = f"{v.node.key} ({'; '.join(str(r) for r in own)})"
            (edited if all(r.kind == Reason.MODIFIED for r in own) else changed).append(said)
    if changed or edited:
        waiting = sum(any(flags) for flags in judged.values()) - len(changed) - len(edited)
        after = f"; {_steps(waiting)} after them may change too" if waiting else ""
        if not changed:  # the lockfile holds: the files on disk are not what it records
            return (
                f"check failed: files on disk differ from the outputs pipeline.lock records: "
                f"{_first_three(edited)}{after}; run `incr repro` to put them back"
            )
        also = f"; outs changed on disk: {_first_three(edited)}" if edited else ""
        return (
            f"check failed: pipeline.lock is out of date: {_first_three(changed)}{after}"
            f"{also}; run `incr repro` and commit pipeline.lock"
        )
    text = "check passed: pipeline.lock matches the code, configs, data and environment"
    always, lacking, waiting = _sorted_dirt(verdicts, EVERY_RUN_KINDS)
    parts = []
    if lacking:
        verb = "lacks" if len(lacking) == 1 else "lack"
        kinds = ", ".join(sorted(set().union(*lacking)))
        parts.append(f"{_steps(len(lacking))} only {verb} results on this machine ({kinds})")
    if always:
        verb = "executes" if len(always) == 1 else "execute"
        kinds = ", ".join(sorted(set().union(*always)))
        parts.append(f"{_steps(len(always))} {verb} in every `incr repro` ({kinds})")
    if waiting:
        them = "it" if len(lacking) + len(always) == 1 else "them"
        parts.append(f"{_steps(waiting)} after {them} {'waits' if waiting == 1 else 'wait'}")
    if not parts:
        return text
    return f"{text}; {', '.join(parts)}, which `incr repro` computes"


#: The reasons of a step that executes in every run by its own code's settings, whatever
#: changed: ``incr status`` says so rather than leave a project that has one looking dirty.
SETTINGS_KINDS = frozenset({Reason.CACHE_DISABLED, Reason.SETS})


def dirty_line(verdicts: Sequence[Verdict]) -> str:
    """The last line of ``incr status``: how many steps are dirty; when each dirty step
    executes in every run by its settings (``SETTINGS_KINDS``: caching off, setting module
    values) or only waits after such steps, how many are which, so that a project whose
    ``configure`` step sets values does not look as if something changed."""
    line = f"{sum(v.dirty for v in verdicts)} of {_steps(len(verdicts))} dirty"
    always, others, waiting = _sorted_dirt(verdicts, SETTINGS_KINDS)
    if others or not always:
        return line
    count = len(always)
    parts = [f"{count} {'executes' if count == 1 else 'execute'} in every run"]
    parts[0] += f" ({', '.join(sorted(set().union(*always)))})"
    if waiting:
        them = "it" if count == 1 else "them"
        parts.append(f"{waiting} {'waits' if waiting == 1 else 'wait'} after {them}")
    return f"{line}: {', '.join(parts)}"


def _sorted_dirt(
    verdicts: Sequence[Verdict], every: frozenset[str]
) -> tuple[list[set[str]], list[set[str]], int]:
    """The own reasons of each dirty step that executes in every run by them (``every``),
    those of the other dirty steps with reasons of their own, and how many dirty steps only
    wait after others."""
    always: list[set[str]] = []
    others: list[set[str]] = []
    waiting = 0
    for v in (v for v in verdicts if v.dirty):
        kinds = {r.kind for r in v.reasons if r.kind != Reason.UPSTREAM}
        if not kinds:
            waiting += 1
        else:
            (always if kinds <= every else others).append(kinds)
    return always, others, waiting


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def network_note(reads: dict[str, str]) -> str | None:
    """What ``incr status`` says of a step that connected to internet addresses as it ran (by
    its lock entry's reads); None when it did not."""
    hosts = [key[len(NET_PREFIX) :] for key in reads if key.startswith(NET_PREFIX)]
    if not hosts:
        return None
    named = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
    return (
        f"connected to {named} as it ran: incr cannot see what it got from there, so its "
        'result is reused until its code, config or inputs change; set cache_expires="1d" '
        "to run it again after a day, or enable_cache=False to run it each time"
    )
