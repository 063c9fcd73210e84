"""``pipeline.lock`` across git revisions: what changed between two of them, step by step, in
the words ``incr status`` uses, and which config values differ.

A revision's lockfile is read with ``git show REV:pipeline.lock`` (git as a child process);
``None`` stands for the working tree. A revision without a lockfile has no steps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from incr import lockfile
from incr.errors import IncrError
from incr.learnedwords import learned_reasons
from incr.model import LockEntry, Reason, StepNode
from incr.plan import describe_code_change, describe_mapping_change
from incr.project import Project
from incr.valueclass import valueclass

#: Reason kinds only a comparison of two lockfiles gives.
REMOVED = "removed step"
OUTPUTS = "outputs changed"
WORKTREE = "working tree"


def revisions(revs: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(old, new) from 0, 1 or 2 revisions: ``HEAD`` and the working tree by default; one
    revision is compared with the working tree."""
    if len(revs) > 2:
        raise IncrError("give at most two revisions", hint="incr diff HEAD~2 HEAD")
    old = revs[0] if revs else "HEAD"
    return old, revs[1] if len(revs) == 2 else None


def shown(rev: str | None) -> str:
    return WORKTREE if rev is None else rev


def locks_at(project: Project, rev: str | None) -> dict[str, LockEntry]:
    """The lockfile's entries at ``rev`` (None: the file in the working tree)."""
    if rev is None:
        return lockfile.read(project.lockfile)
    name = project.lockfile.relative_to(project.root).as_posix()
    text = _git_show(project, rev, name)
    return {} if text is None else lockfile.loads(text, f"{rev}:{name}")


def _git_show(project: Project, rev: str, name: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        raise IncrError("git is not installed", hint="install git to compare revisions")
    done = subprocess.run(
        [git, "-C", str(project.root), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        inside = subprocess.run(
            [git, "-C", str(project.root), "rev-parse", "--git-dir"],
            capture_output=True,
            check=False,
        )
        if inside.returncode != 0:
            raise IncrError(
                f"{project.root} is not in a git repository",
                hint="commit pipeline.lock with git to compare revisions",
            )
        head = subprocess.run(
            [git, "-C", str(project.root), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            check=False,
        )
        if head.returncode != 0:
            raise IncrError(
                f"the git repository of {project.root} has no commit yet, so no revision {rev!r}",
                hint="commit pipeline.lock (git add pipeline.lock && git commit) to compare "
                "with it later",
            )
        raise IncrError(f"unknown git revision {rev!r}", hint="see `git log --oneline`")
    show = subprocess.run(
        [git, "-C", str(project.root), "show", f"{rev}:./{name}"],
        capture_output=True,
        check=False,
    )
    return show.stdout.decode("utf-8") if show.returncode == 0 else None


@valueclass(frozen=True)
class StepChange:
    """How one step's lock entry differs between two revisions."""

    key: str
    reasons: tuple[Reason, ...]


def diff_locks(
    old: Mapping[str, LockEntry],
    new: Mapping[str, LockEntry],
    nodes: Mapping[str, StepNode] | None = None,
) -> list[StepChange]:
    """The steps whose entries differ, sorted by key, each with the reasons (``nodes``, by
    key, name the upstream step of a changed input when known)."""
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            changes.append(StepChange(key, (Reason(Reason.NEW),)))
        elif key not in new:
            changes.append(StepChange(key, (Reason(REMOVED),)))
        else:
            reasons = entry_reasons(old[key], new[key], (nodes or {}).get(key))
            if reasons:
                changes.append(StepChange(key, tuple(reasons)))
    return changes


def entry_reasons(old: LockEntry, new: LockEntry, node: StepNode | None = None) -> list[Reason]:
    """Why ``new`` differs from ``old``, rung by rung as ``plan.decide`` words it."""
    a, b = old.facts, new.facts
    reasons: list[Reason] = []
    if a.code != b.code:
        reasons.append(Reason(Reason.CODE, describe_code_change(a.code, b.code)))
    if _json(a.config) != _json(b.config):
        reasons.append(Reason(Reason.CONFIG, describe_mapping_change(a.config, b.config)))
    deps = sorted(k for k in {*a.deps, *b.deps} if a.deps.get(k) != b.deps.get(k))
    if deps:
        reasons.append(Reason(Reason.DEP, ", ".join(deps)))
    changed = {
        k: (old.reads.get(k, ""), new.reads.get(k, ""))
        for k in {*old.reads, *new.reads}
        if old.reads.get(k) != new.reads.get(k)
    }
    reasons += learned_reasons(changed)
    params = sorted(p for p in {*a.inputs, *b.inputs} if a.inputs.get(p) != b.inputs.get(p))
    if params:
        named = [f"from {node.inputs[p].step}" if node and p in node.inputs else p for p in params]
        reasons.append(Reason(Reason.INPUT, ", ".join(sorted(set(named)))))
    outs = {*old.outputs, *new.outputs}
    outputs = sorted(k for k in outs if old.outputs.get(k) != new.outputs.get(k))
    if outputs:
        reasons.append(Reason(OUTPUTS, ", ".join(outputs)))
    if not reasons and old.fingerprint != new.fingerprint:
        reasons.append(Reason(Reason.FINGERPRINT))
    return reasons


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@valueclass(frozen=True)
class ParamChange:
    """A config value that differs: ``None`` for ``old``/``new`` when the step or the key is
    absent on that side (``present`` says which sides have it)."""

    key: str
    param: str
    old: Any
    new: Any
    present: tuple[bool, bool]


def diff_params(old: Mapping[str, LockEntry], new: Mapping[str, LockEntry]) -> list[ParamChange]:
    """Config values that differ, by step key then parameter (nested tables as ``a.b``)."""
    changes = []
    for key in sorted(set(old) | set(new)):
        before = flatten(old[key].facts.config) if key in old else {}
        after = flatten(new[key].facts.config) if key in new else {}
        for param in sorted({*before, *after}):
            if (
                param not in before
                or param not in after
                or _json(before[param]) != _json(after[param])
            ):
                changes.append(
                    ParamChange(
                        key,
                        param,
                        before.get(param),
                        after.get(param),
                        (param in before, param in after),
                    )
                )
    return changes


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; other values as they are."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


# --------------------------------------------------------------------------- words


#: Said of a comparison with the working tree's lockfile, which holds what the last run left.
_UNRUN = " (in pipeline.lock: `incr status` lists changes not run yet)"


def diff_lines(changes: list[StepChange], old: str | None, new: str | None) -> list[str]:
    """``incr diff``: one line per changed step, then a summary."""
    head = f"pipeline.lock: {shown(old)} -> {shown(new)}"
    if not changes:
        return [head, "no step differs" + (_UNRUN if None in (old, new) else "")]
    width = max(len(c.key) for c in changes)
    lines = [head]
    lines += [f"  {c.key:<{width}}  {'; '.join(map(str, c.reasons))}" for c in changes]
    count = len(changes)
    return [*lines, f"{count} step{'' if count == 1 else 's'} differ{'s' if count == 1 else ''}"]


def diff_json(changes: list[StepChange], old: str | None, new: str | None) -> str:
    data = {
        "old": shown(old),
        "new": shown(new),
        "steps": [
            {
                "key": c.key,
                "reasons": [
                    {"kind": r.kind, "detail": r.detail, "text": str(r)} for r in c.reasons
                ],
            }
            for c in changes
        ],
    }
    return json.dumps(data, indent=2)


def params_lines(changes: list[ParamChange], old: str | None, new: str | None) -> list[str]:
    """``incr params diff``: a table of step, param, old value, new value."""
    if not changes:
        said = f"no config value differs between {shown(old)} and {shown(new)}"
        return [said + _UNRUN if None in (old, new) else said]
    rows = [("step", "param", shown(old), shown(new))]
    rows += [
        (
            c.key,
            c.param,
            _value(c.old, c.present[0]),
            _value(c.new, c.present[1]),
        )
        for c in changes
    ]
    return table(rows)


def params_json(changes: list[ParamChange], old: str | None, new: str | None) -> str:
    steps: dict[str, dict[str, Any]] = {}
    for c in changes:
        steps.setdefault(c.key, {})[c.param] = {
            "old": c.old if c.present[0] else None,
            "new": c.new if c.present[1] else None,
        }
    return json.dumps({"old": shown(old), "new": shown(new), "steps": steps}, indent=2)


def _value(value: Any, present: bool) -> str:
    return json.dumps(value, sort_keys=True, default=str) if present else "(none)"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned columns (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
