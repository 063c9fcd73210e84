"""incr/gate.py: which reasons mean pipeline.lock is out of date, and judging a step against
the lockfile when outs files are missing from disk."""

from __future__ import annotations

from incr import gate
from incr.model import Artifact, Facts, InputRef, LockEntry, Reason, StepNode
from incr.plan import Verdict


def node(name: str, inputs: dict[str, str] | None = None, **kw) -> StepNode:
    return StepNode(
        pipeline="p",
        name=name,
        func_name=name,
        source_file="pipelines/p.py",
        config={},
        inputs={param: InputRef(step, "output") for param, step in (inputs or {}).items()},
        outputs=("output",),
        **kw,
    )


def verdict(step: StepNode, *reasons: Reason) -> Verdict:
    return Verdict(step, reasons)


MISSING = Reason(Reason.MISSING, "output")
DISABLED = Reason(Reason.CACHE_DISABLED)
CODE = Reason(Reason.CODE, "b in pipelines/p.py")


def test_machine_reasons_are_not_stale() -> None:
    assert gate.machine_only([MISSING, DISABLED, Reason(Reason.OUT_MISSING, "r.txt")])
    assert gate.machine_only([Reason(Reason.EXPIRED), Reason(Reason.FORCED)])
    assert not gate.machine_only([MISSING, CODE])
    assert not gate.machine_only([Reason(Reason.MODIFIED, "r.txt")])
    assert not gate.machine_only([Reason(Reason.NEW)])


def test_waiting_is_stale_only_after_a_stale_step() -> None:
    a, b = node("a"), node("b", {"x": "a"})
    c = node("c", {"y": "b"})
    d = node("d", deps=("r.txt",))
    writer = node("w", outs=("r.txt",))
    verdicts = [
        verdict(a, DISABLED),
        verdict(b, Reason(Reason.UPSTREAM, "a")),
        verdict(writer, CODE),
        verdict(c, Reason(Reason.UPSTREAM, "b"), MISSING),
        verdict(d, Reason(Reason.UPSTREAM, "w")),
    ]

    judged = gate.judge(verdicts)

    assert judged == {
        "p.a": (False,),
        "p.b": (False,),
        "p.w": (True,),
        "p.c": (False, False),
        "p.d": (True,),  # waits on w through a file
    }
    assert gate.stale_steps(verdicts) == ["p.w", "p.d"]


def test_behind_names_upstream_steps_that_only_lack_results() -> None:
    b = node("b", {"x": "a"}, deps=("r.txt",))
    producers = {"r.txt": "w"}

    assert gate.behind(b, producers, set()) == []
    assert gate.behind(b, producers, {"p.a"}) == ["a"]
    assert gate.behind(b, producers, {"p.a", "p.w", "p.other"}) == ["a", "w"]


def lock(key: str, deps: dict[str, str], outputs: dict[str, Artifact], reads=None) -> LockEntry:
    return LockEntry(key, "fp", Facts({}, {}, {}, deps), outputs, reads or {})


def test_missing_outs_are_judged_as_recorded() -> None:
    writer = node("w", outs=("r.txt", "folder"))
    locks = {
        "p.w": lock("p.w", {}, {"r.txt": Artifact("file", "aa"), "folder": Artifact("dir", "bb")}),
    }
    on_disk = {"r.txt": "missing", "folder": "missing"}

    absent = gate.absent_outs(locks, [writer, node("other")], on_disk.__getitem__)

    assert absent == {"r.txt": "aa", "folder": "dir:bb"}
    reader = lock(
        "p.r",
        {"r.txt": "aa", "folder/x.csv": "cc", "data.csv": "dd"},
        {},
        reads={
            "r.txt": "aa",
            "notes.txt": "ee",
            "folder/y.csv": "gg",
            "exists:folder/z": "file",
            "ls:folder": "hh",
            "$HOME": "unset",
        },
    )
    now = Facts({}, {}, {}, {"r.txt": "missing", "folder/x.csv": "missing", "data.csv": "ff"})

    facts, reads = gate.as_recorded(now, reader, absent)

    # The file itself: its recorded digest; a file inside a missing folder: the step's own
    # locked value; a file no step writes: as it is now.
    assert facts.deps == {"r.txt": "aa", "folder/x.csv": "cc", "data.csv": "ff"}
    # What it learned about the missing outs is left out, unless it read other bytes.
    assert reads == {"notes.txt": "ee", "$HOME": "unset"}
    other = lock("p.r", {}, {}, reads={"r.txt": "zz"})
    assert gate.as_recorded(now, other, absent)[1] == {"r.txt": "zz"}


def test_the_backstop_catches_a_fingerprint_no_rung_explains() -> None:
    entry = lock("p.a", {}, {})
    reasons = [MISSING]
    gate.lock_backstop(reasons, "other", entry)
    assert reasons == [MISSING, Reason(Reason.FINGERPRINT)]

    for reasons, fp in (([MISSING], "fp"), ([], "other"), ([CODE], "other"), ([MISSING], None)):
        before = list(reasons)
        gate.lock_backstop(reasons, fp, entry)
        assert reasons == before


def test_the_check_line_tells_an_outs_file_changed_on_disk_from_an_old_lockfile() -> None:
    """An outs file that differs on disk fails the check, but the lockfile holds: the line
    says so and does not ask to commit it; with a step whose entry is out of date too, both
    are named."""
    modified = Reason(Reason.MODIFIED, "reports/total.json")
    only = gate.check_line([verdict(node("report"), modified), verdict(node("other"))])
    assert only == (
        "check failed: files on disk differ from the outputs pipeline.lock records: "
        "p.report (output modified (reports/total.json)); run `incr repro` to put them back"
    )
    both = gate.check_line([verdict(node("report"), modified), verdict(node("b"), CODE)])
    assert both == (
        "check failed: pipeline.lock is out of date: p.b (code changed (b in pipelines/p.py)); "
        "outs changed on disk: p.report (output modified (reports/total.json)); run `incr "
        "repro` and commit pipeline.lock"
    )


def test_the_check_line_tells_missing_results_from_steps_that_execute_in_every_run() -> None:
    """A passing check names the steps whose results this machine lacks apart from those
    that execute in every run by their settings (a setter, caching off), and counts the steps
    after them that only wait."""
    sets = Reason(Reason.SETS, "SCALE in pipelines/config.py")
    a, b = node("a"), node("b", {"x": "a"})
    setter = [verdict(a, sets), verdict(b, Reason(Reason.UPSTREAM, "a"))]
    assert gate.check_line(setter) == (
        "check passed: pipeline.lock matches the code, configs, data and environment; "
        "1 step executes in every `incr repro` (sets values as it runs), 1 step after it "
        "waits, which `incr repro` computes"
    )
    c = node("c", {"y": "b"})
    mixed = [verdict(a, DISABLED), verdict(node("m"), MISSING), verdict(c, MISSING, DISABLED)]
    assert gate.check_line(mixed) == (
        "check passed: pipeline.lock matches the code, configs, data and environment; "
        "2 steps only lack results on this machine (cache disabled, output missing from "
        "cache), 1 step executes in every `incr repro` (cache disabled), which `incr repro` "
        "computes"
    )
    assert gate.check_line([verdict(a), verdict(b)]) == (
        "check passed: pipeline.lock matches the code, configs, data and environment"
    )


def test_the_status_line_counts_the_steps_that_execute_in_every_run_apart() -> None:
    """``incr status``'s last line: when every dirty step executes in every run by its
    settings or only waits after such steps, it says how many are which; any other reason
    leaves the plain count."""
    sets = Reason(Reason.SETS, "SCALE in pipelines/config.py")
    a, b, c = node("a"), node("b", {"x": "a"}), node("c", {"y": "b"})
    after_a, after_b = Reason(Reason.UPSTREAM, "a"), Reason(Reason.UPSTREAM, "b")
    assert gate.dirty_line([verdict(a, sets), verdict(b, after_a), verdict(c, after_b)]) == (
        "3 of 3 steps dirty: 1 executes in every run (sets values as it runs), 2 wait after it"
    )
    both = [verdict(a, sets), verdict(b, after_a, DISABLED), verdict(c)]
    assert gate.dirty_line(both) == (
        "2 of 3 steps dirty: 2 execute in every run (cache disabled, sets values as it runs)"
    )
    assert gate.dirty_line([verdict(a, DISABLED), verdict(b)]) == (
        "1 of 2 steps dirty: 1 executes in every run (cache disabled)"
    )
    changed = [verdict(a, sets), verdict(b, after_a, CODE)]
    assert gate.dirty_line(changed) == "2 of 2 steps dirty"
    lacking = [verdict(a, DISABLED), verdict(b, MISSING)]
    assert gate.dirty_line(lacking) == "2 of 2 steps dirty"
    forced = [verdict(a, Reason(Reason.FORCED)), verdict(b, after_a)]
    assert gate.dirty_line(forced) == "2 of 2 steps dirty"  # forced: this run only
    assert gate.dirty_line([verdict(b, after_a)]) == "1 of 1 step dirty"
