"""Events the runner emits, and the reporters that turn them into words.

The runner only emits values; the console wording (which follows ZenML's caching page), status
tables and JSON are chosen here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from incr import gate
from incr.fingerprint import global_random_fix
from incr.model import SOURCE, Facts, LockEntry, PipelineGraph, Reason, StepNode, reads_source_text
from incr.plan import Verdict
from incr.randomdraws import (
    OUTPUT_ONLY,
    is_changing_value,
    is_command_line_read,
    is_global_setting,
    is_own_seed_note,
    is_seed_note,
)

if TYPE_CHECKING:
    from incr.events import Event, Rerun


class Console:
    """The seed's log lines; with ``explain`` each executed step also says why it ran."""

    def __init__(self, out: TextIO | None = None, explain: bool = False) -> None:
        self.out = out or sys.stdout
        self.err = sys.stderr if out is None else out
        self.explain = explain

    def line(self, text: str, err: bool = False) -> None:
        stream = self.err if err else self.out
        stream.write(text + "\n")
        stream.flush()

    def emit(self, event: Event) -> None:
        import incr.events as ev  # here: ``incr status`` loads no event class (not as
        # ``from incr.events import ...``, which costs a few microseconds per event)

        if isinstance(event, ev.PipelineStarted):
            self.line(f"Creating run for pipeline: {event.pipeline}")
            state = "enabled" if event.enable_cache else "disabled"
            self.line(f"Cache {state} for pipeline {event.pipeline}")
            self.line(f"Using stack default to run pipeline {event.pipeline}...")
            if event.run_override is not None:
                self.line(
                    "Runtime configuration overwriting the pipeline cache settings to "
                    f"enable_cache={event.run_override} for this pipeline run. The default "
                    "caching strategy is retained for future pipeline runs."
                )
        elif isinstance(event, ev.StepStarted):
            text = f"Step {event.step} has started."
            if self.explain and event.reasons:  # one write: each is flushed
                text += "\n  because: " + "; ".join(str(r) for r in event.reasons)
            self.line(text)
        elif isinstance(event, ev.StepCached):
            where = "remote cached" if event.remote else "cached"
            self.line(f"Using {where} version of {event.step}.")
        elif isinstance(event, ev.StepFinished):
            self.line(f"Step {event.step} has finished in {event.seconds:.3f}s.")
        elif isinstance(event, ev.StepFailed):
            self.line(f"Step {event.step} has failed after {event.seconds:.3f}s:", err=True)
            self.line(event.traceback.rstrip("\n"), err=True)
        elif isinstance(event, ev.StepsSkipped):
            names = ", ".join(event.steps)
            self.line(f"Skipped {names}: {event.because}.", err=True)
        elif isinstance(event, ev.Warning_):
            self.line(f"warning: {event.text}", err=True)
        elif isinstance(event, ev.Note):
            self.line(f"note: {event.text}", err=True)
        elif isinstance(event, ev.PipelineFinished):
            verb = "has failed after" if event.failed else "has finished in"
            self.line(f"Pipeline run {event.run_name} {verb} {event.seconds:.3f}s.")


# --------------------------------------------------------------------------- status


def status_lines(verdicts: list[Verdict]) -> list[str]:
    """One line per step: ``clean`` or ``dirty`` with its reasons, grouped by pipeline."""
    lines: list[str] = []
    pipeline = None
    width = max((len(v.node.name) for v in verdicts), default=0)
    for v in verdicts:
        if v.node.pipeline != pipeline:
            pipeline = v.node.pipeline
            lines.append(f"{pipeline}:")
        if not v.dirty:
            state = "clean"
        elif not v.own_reasons:
            state = "waiting: " + "; ".join(str(r) for r in v.reasons)
        else:
            state = "dirty: " + "; ".join(str(r) for r in v.reasons)
        lines.append(f"  {v.node.name:<{width}}  {state}")
        if v.notes or v.uncached or v.file_notes or v.order_notes:  # most steps have none
            lines.extend(f"  {'':<{width}}  note: {note}" for note in _notes(v))
    total = len(verdicts)
    if any(v.dirty for v in verdicts):
        lines.append(gate.dirty_line(verdicts))
    else:
        lines.append(f"all {total} steps clean" if total != 1 else "1 step clean")
    return lines


def nested_run_line(pipeline: str) -> str:
    """Why a ``.run()`` made while this process already runs a pipeline did nothing."""
    return (
        f"warning: {pipeline}.run() skipped: this process is already running a pipeline of "
        f"the project (a pipeline module imported again while it runs?); guard the call "
        f'with `if __name__ == "__main__":`'
    )


def status_json(verdicts: list[Verdict]) -> str:
    """The documented ``incr status --json`` structure (see README)."""
    judged = gate.judge(verdicts)
    steps = [
        {
            "pipeline": v.node.pipeline,
            "step": v.node.name,
            "key": v.node.key,
            "dirty": v.dirty,
            "waiting": v.dirty and not v.own_reasons,
            "stale": any(judged[v.node.key]),
            "fingerprint": v.fingerprint,
            "reasons": [
                {"kind": r.kind, "detail": r.detail, "text": str(r), "stale": stale}
                for r, stale in zip(v.reasons, judged[v.node.key], strict=True)
            ],
            "notes": _notes(v),
        }
        for v in verdicts
    ]
    stale = sum(any(flags) for flags in judged.values())
    return json.dumps(
        {"schema": 1, "dirty": sum(v.dirty for v in verdicts), "stale": stale, "steps": steps},
        indent=2,
    )


def _notes(v: Verdict) -> list[str]:
    return (
        [_note(place) for place in v.notes if not _quiet(place, v)]
        + [_uncached_note(v.node.name, name, what) for name, what in v.uncached]
        + list(v.file_notes)
        + list(v.order_notes)
    )


def _quiet(place: str, v: Verdict) -> bool:
    """Whether a note of the step's code goes unsaid: a seed of a generator it draws from too,
    and a call giving another value on each run when the step's cache is disabled."""
    if is_changing_value(place):
        return any(r.kind == Reason.CACHE_DISABLED for r in v.reasons)
    return is_own_seed_note(place)


def _note(place: str) -> str:
    """What a note of the step's code (``Verdict.notes``) tells the user."""
    if fix := global_random_fix(place):
        return _random_note(place, fix)
    if is_global_setting(place):
        return _setting_note(place)
    if is_seed_note(place):
        return _seed_note(place)
    if is_command_line_read(place):
        return (
            f"{place} reads the command line: a script run with arguments (python "
            "pipelines/x.py --n 5) makes the step's result its own, and a run without them "
            "runs the step again; pass them to the step as a config"
        )
    if is_changing_value(place):
        return (
            f"{place} gives another value on each run: the step's result, cached, keeps the "
            "one of the run that made it; when the result depends on it, set "
            "@step(enable_cache=False) to run the step each time, or pass the value as a config"
        )
    if reads_source_text(place):
        return (
            f"{place} reads code as text, with the docstrings and comments incr does not "
            "compare: set @step(version=...) and change it when they change"
        )
    return (
        f"{place}: incr cannot see which code this reaches; list it with "
        "@step(code_deps=[...]) or change @step(version=...) when it changes"
    )


def _uncached_note(step: str, name: str, what: str) -> str:
    if name == SOURCE:
        return (
            f"{step} is a {what}, whose source incr cannot read: the step always reruns; "
            "define it in a module or a notebook cell"
        )
    article = "an" if what[:1].lower() in "aeiou" else "a"
    return (
        f"{step} captures {name} ({article} {what}), which incr cannot digest: the step "
        "always reruns; pass it as a step input or a config"
    )


def _setting_note(place: str) -> str:
    if place.startswith("global "):
        return (
            f"{place} rebinds a module global: the steps run after it in the same process see "
            "the value it set, so rerunning only some of them gives other results; pass the "
            "value as a step input or a config"
        )
    if place.startswith(OUTPUT_ONLY):
        return (
            f"{place} changes a library's process-wide setting: the steps run after it in the "
            "same process see it (what they print or log, not what they compute); make it at "
            "a module's top level to have every step see it"
        )
    return (
        f"{place} changes a library's process-wide setting: the steps run after it in the "
        "same process see it, so the step executes on every run while a step runs after it; "
        "make the setting at a module's top level (it then counts for the steps that import "
        "it) to have it reused"
    )


def _seed_note(place: str) -> str:
    generator = place.partition(".seed()")[0]
    return (
        f"{place} seeds the global generator {generator} for the steps run after it in the "
        "same process that draw from it: they count this step's code and config, and it runs "
        "again before one of them executes (steps run with --jobs do not see the seed); pass "
        "each step a seeded generator of its own to have them independent"
    )


def _random_note(place: str, fix: str) -> str:
    return (
        f"{place} draws from the global random generator; results depend on what ran before "
        f"it in the same process: pass a seeded {fix}"
    )


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


# --------------------------------------------------------------------------- show


def show_lines(
    verdict: Verdict,
    locked: LockEntry | None,
    diffs: list[tuple[str, str | None, str | None]],
) -> list[str]:
    """``incr show STEP``: the state, every part of the fingerprint, and code diffs."""
    node, facts = verdict.node, verdict.facts
    state = "clean" if not verdict.dirty else "; ".join(str(r) for r in verdict.reasons)
    lines = [f"{node.key}  ({node.source_file}:{node.func_name})", f"  state: {state}"]
    lines += [f"  note: {n}" for n in _notes(verdict)]
    then = locked.fingerprint if locked else "none"
    lines.append(
        f"  fingerprint: {verdict.fingerprint or 'unknown (waits upstream)'}"
        f" (pipeline.lock: {then})"
    )
    old = locked.facts if locked else None
    if facts is not None:
        lines += _section("code", facts.code, old.code if old else {})
        lines += _section(
            "config",
            {k: _json(v) for k, v in facts.config.items()},
            {k: _json(v) for k, v in old.config.items()} if old else {},
        )
        inputs = {
            p: f"{r.step}.{r.output} {facts.inputs.get(p, '(not known yet)')}"
            for p, r in node.inputs.items()
        }
        old_inputs = (
            {p: f"{r.step}.{r.output} {old.inputs.get(p, '')}" for p, r in node.inputs.items()}
            if old
            else {}
        )
        lines += _section("inputs", inputs, old_inputs)
        lines += _section("deps", facts.deps, old.deps if old else {})
    if locked is not None:
        lines += _section("reads", locked.reads, locked.reads)
        outputs = {k: a.encode() for k, a in locked.outputs.items()}
        lines += _section("outputs", outputs, outputs)
    import difflib  # here only: a no-op status shows no diff

    for part, before, after in diffs:
        lines.append(f"  diff of {part}:")
        if before is None and part in (old.code if old else {}):
            lines.append("    (its source then is no longer in the cache)")
            continue
        text = difflib.unified_diff(
            (before or "").splitlines(),
            (after or "").splitlines(),
            f"{part} (pipeline.lock)",
            f"{part} (now)",
            lineterm="",
        )
        lines += [f"    {line}" for line in text]
    return lines


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _section(title: str, now: dict[str, str], then: dict[str, str]) -> list[str]:
    if not now and not then:
        return []
    lines = [f"  {title}:"]
    width = max(len(k) for k in (*now, *then))
    for key in sorted(set(now) | set(then)):
        value = now.get(key, "(gone)")
        mark = (
            ""
            if then.get(key) == now.get(key)
            else (f"  (was {then[key]})" if key in then else "  (new)")
        )
        lines.append(f"    {key:<{width}}  {value}{mark}")
    return lines


def show_json(
    verdict: Verdict,
    locked: LockEntry | None,
    diffs: list[tuple[str, str | None, str | None]],
) -> str:
    """``incr show STEP --json``: the same facts as ``show_lines``."""
    facts = verdict.facts

    def facts_dict(f: Facts | None) -> dict[str, Any] | None:
        if f is None:
            return None
        return {"code": f.code, "config": f.config, "inputs": f.inputs, "deps": f.deps}

    data = {
        "key": verdict.node.key,
        "dirty": verdict.dirty,
        "reasons": [{"kind": r.kind, "detail": r.detail, "text": str(r)} for r in verdict.reasons],
        "notes": _notes(verdict),
        "fingerprint": verdict.fingerprint,
        "now": facts_dict(facts),
        "locked": None
        if locked is None
        else {
            "fingerprint": locked.fingerprint,
            **(facts_dict(locked.facts) or {}),
            "reads": locked.reads,
            "outputs": {k: a.encode() for k, a in locked.outputs.items()},
        },
        "diffs": [{"part": p, "then": b, "now": a} for p, b, a in diffs],
    }
    return json.dumps(data, indent=2, sort_keys=True)


def commit_line(key: str, reasons: Sequence[Reason]) -> str:
    """What ``incr commit`` says about one target step (no reasons: it was clean)."""
    if not reasons:
        return f"{key} is clean: nothing to commit"
    return f"committed {key} without rerunning (was: {'; '.join(map(str, reasons))})"


# --------------------------------------------------------------------------- dag


def dag_lines(graph: PipelineGraph, order: list[StepNode], fmt: str) -> list[str]:
    """A pipeline's graph as ``text`` (steps in run order with what they take from whom),
    ``dot`` (Graphviz) or ``mermaid``."""
    edges = graph.edges()
    if fmt == "dot":
        lines = [f"digraph {json.dumps(graph.name)} {{", "  rankdir=LR;"]
        lines += [f"  {json.dumps(n.name)};" for n in order]
        lines += [f"  {json.dumps(a)} -> {json.dumps(b)};" for a, b in edges]
        return [*lines, "}"]
    if fmt == "mermaid":
        from incr.render import mermaid_lines

        return mermaid_lines(graph, order)
    lines = [f"{graph.name}:"]
    width = max((len(n.name) for n in order), default=0)
    for node in order:
        sources = sorted({f"{r.step}.{r.output}" for r in node.inputs.values()})
        after = ", ".join([*sources, *sorted(node.deps), *(f"after {a}" for a in node.after)])
        line = f"  {node.name:<{width}}  <- {after}" if after else f"  {node.name:<{width}}"
        writes = f"  -> {', '.join(node.outs)}" if node.outs else ""
        lines.append((line + writes).rstrip())
    return lines


# --------------------------------------------------------------------------- verify --rerun


def rerun_lines(result: Rerun) -> list[str]:
    """What ``incr verify --rerun`` says about one step."""
    from incr import events

    key = result.key
    if result.state == events.SKIPPED:
        return [f"{key}  skipped: dirty ({result.cause}); run `incr repro`, then verify it"]
    if result.state == events.FAILED:
        lines = result.cause.splitlines() or [""]  # a traceback ends with the error
        return [f"{key}  failed when run again: {lines[-1]}", *(f"    {t}" for t in lines[:-1])]
    draws = [f"  note: {_random_note(n, global_random_fix(n) or '')}" for n in result.notes]
    if result.state == events.SAME:
        return [f"{key}  same outputs in 2 runs ({result.seconds:.2f}s)", *draws]
    why = {
        events.NON_DETERMINISTIC: "two runs in a row gave different outputs",
        events.HIDDEN_INPUT: "two new runs agree with each other, not with pipeline.lock: "
        "list what it reads in deps=[...]",
    }.get(result.cause, "")
    text = f"{key}  outputs differ ({', '.join(result.outputs)}): {result.cause}"
    return [f"{text} ({why})" if why else text, *draws]


def rerun_summary(results: list[Rerun]) -> str:
    """The last line of ``incr verify --rerun``."""
    from incr import events

    ran = [r for r in results if r.state != events.SKIPPED]
    skipped = len(results) - len(ran)
    bad = [r for r in ran if r.state != events.SAME]
    tail = f"; {_steps(skipped)} skipped (dirty)" if skipped else ""
    if not ran:
        return f"no clean step to run again{tail}"
    if not bad:
        return f"{_steps(len(ran))} run again: every output as recorded{tail}"
    named = ", ".join(
        f"{r.key} ({r.cause if r.state == events.DIFFERS else 'failed when run again'})"
        for r in bad
    )
    return f"{_steps(len(ran))} run again: {len(bad)} not as recorded: {named}{tail}"


def byte_size(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``, ``1.1 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
