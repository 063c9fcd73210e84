"""incr/overlaps.py: steps ordered by the files they are seen to write and read."""

from __future__ import annotations

import json
from pathlib import Path

from incr import graph as graphs
from incr.model import Facts, InputRef, LockEntry, PipelineGraph, Reason, StepNode
from incr.overlaps import (
    WRITTEN_AFTER_READ,
    Overlap,
    RunOverlaps,
    file_reads,
    find,
    forward_first,
    learned_graph,
    learned_upstreams,
    notes,
)
from incr.seenwrites import SeenWrites
from incr.sharedwrites import (
    Across,
    across,
    appended_onto,
    earlier_writers,
    left_since,
    rewriters,
)
from incr.store import Store

FACTS = Facts({}, {}, {}, {})


def node(
    name: str,
    *,
    inputs: tuple[str, ...] = (),
    deps: tuple[str, ...] = (),
    outs: tuple[str, ...] = (),
) -> StepNode:
    refs = {f"in_{s}": InputRef(s, "output") for s in inputs}
    return StepNode("p", name, name, "pipelines/p.py", {}, refs, ("output",), deps, outs)


def pipeline(*steps: StepNode) -> PipelineGraph:
    return PipelineGraph("p", "pipelines/p.py", steps)


def locks(**reads: dict[str, str]) -> dict[str, LockEntry]:
    return {f"p.{name}": LockEntry(f"p.{name}", "fp", FACTS, {}, r) for name, r in reads.items()}


# --------------------------------------------------------------------------- learned edges


def test_writers_of_a_file_a_step_reads_run_in_body_order_and_again_after_each_other() -> None:
    graph = pipeline(node("use"), node("b"), node("a"), node("log1"), node("log2"))
    writes = {
        "p.a": ("data/shared.txt",),
        "p.b": ("data/shared.txt",),
        "p.log1": ("run.log",),
        "p.log2": ("run.log",),
    }
    learned, _ = learned_graph(graph, locks(use={"data/shared.txt": "d"}), writes)

    assert ("b", "a") in learned.learned  # body order; the log is read by no step: no edge
    assert not any("log1" in edge for edge in learned.learned)
    reads = locks(use={"data/shared.txt": "d"})
    assert rewriters(graph, "b", ["data/shared.txt"], writes, reads) == {"a": "data/shared.txt"}
    assert rewriters(graph, "a", ["data/shared.txt"], writes, reads) == {}  # the last writer
    assert rewriters(graph, "log1", ["run.log"], writes, reads) == {}
    assert earlier_writers(graph, reads, writes) == {"a": [("b", "data/shared.txt")]}


def test_writers_of_a_file_a_step_of_another_pipeline_reads_run_in_order_and_again() -> None:
    """The reader is in another pipeline: the writers are ordered and rerun alike."""
    graph = pipeline(node("b"), node("a"), node("c"))
    writes = {"p.a": ("work/t.csv",), "p.b": ("work/t.csv",), "p.c": ("work/t.csv",)}
    entry = LockEntry("q.total", "fp", FACTS, {}, {"work/t.csv": "d"})
    reads = {"q.total": entry}

    learned, _ = learned_graph(graph, reads, writes)
    assert ("b", "a") in learned.learned and ("a", "c") in learned.learned
    assert rewriters(graph, "b", ["work/t.csv"], writes, reads) == {
        "a": "work/t.csv",
        "c": "work/t.csv",
    }
    assert earlier_writers(graph, reads, writes)["c"] == [("b", "work/t.csv"), ("a", "work/t.csv")]
    assert learned_graph(graph, {}, writes)[0] is graph  # read by no step: nothing ordered
    assert rewriters(graph, "b", ["work/t.csv"], writes, {}) == {}


def test_a_file_several_steps_write_is_judged_by_which_of_them_left_it() -> None:
    graph = pipeline(node("b"), node("a"))
    writes = {"p.a": ("work/t.csv",), "p.b": ("work/t.csv",)}
    reads = {"q.total": LockEntry("q.total", "fp", FACTS, {}, {"work/t.csv": "d1"})}

    def judge(step: str, holder: str, now: str) -> list[str]:
        def left(key: str) -> set[str]:
            return {"work/t.csv"} if key == f"p.{holder}" else set()

        return [str(r) for r in left_since(graph, step, reads, writes, left, lambda p: now)]

    assert judge("a", "a", "d1") == [] and judge("b", "a", "d1") == []  # as a run leaves it
    assert judge("a", "b", "d2") == ["shared file rewritten (work/t.csv, by b)"]  # b alone
    assert judge("b", "", "d2") == ["written file changed (work/t.csv)"]  # by hand
    assert judge("b", "", "d1") == [] and judge("a", "", "d2") == []
    assert judge("b", "", "missing") == []  # written file missing says so

    def holds(key: str) -> set[str]:  # a writer of another pipeline, run before, ran last
        return {"work/t.csv"} if key == "o.w" else set()

    shared = Across(writers={"work/t.csv": ["o.w", "p.b", "p.a"]})
    found = left_since(graph, "b", reads, writes, holds, lambda p: "d1", shared)
    assert found == [Reason(Reason.REWRITTEN, "work/t.csv, by o.w")]


def test_writers_of_several_pipelines_and_steps_appending_after_others() -> None:
    """``across``: the writers of a file a step reads, pipeline after pipeline in run order;
    those of pipelines before a writer's own rewrite it (``earlier``), and a step appending
    to it appends to what the writers before it left, back to the last one writing it anew
    (``onto``). A file no step reads counts for nothing."""

    def graph(name: str, *steps: str) -> PipelineGraph:
        nodes = tuple(StepNode(name, s, s, f"pipelines/{name}.py", {}, {}, ()) for s in steps)
        return PipelineGraph(name, f"pipelines/{name}.py", nodes)

    one, two = graph("one", "w1", "a1"), graph("two", "w2", "a2")
    writes = {k: ("t.csv", "log.txt") for k in ("one.w1", "one.a1", "two.w2", "two.a2")}
    appends = {"one.a1": ("t.csv", "log.txt"), "two.a2": ("t.csv", "log.txt")}
    reads = {"r.total": LockEntry("r.total", "fp", FACTS, {}, {"t.csv": "d"})}

    found = across([one, two], reads, writes, appends)
    assert found.writers == {"t.csv": ["one.w1", "one.a1", "two.w2", "two.a2"]}
    assert found.earlier["two.w2"] == [("one.w1", "t.csv"), ("one.a1", "t.csv")]
    assert "one.a1" not in found.earlier  # its own pipeline's writers: ``rewriters``
    assert found.onto == {"one.a1": [("one.w1", "t.csv")], "two.a2": [("two.w2", "t.csv")]}
    assert across([two, one], reads, writes, appends).earlier["one.w1"][0] == ("two.w2", "t.csv")
    assert across([one, two], {}, writes, appends) == Across()  # read by no step
    each = {k: ("t.csv",) for k in writes}  # each appends: all run, from the first on
    assert across([one, two], reads, writes, each).onto["two.w2"] == [
        ("one.w1", "t.csv"),
        ("one.a1", "t.csv"),
    ]
    guessed = across([one, two], reads, writes, each, guessed=set(writes))  # written by an
    assert guessed.onto["one.a1"] == [("one.w1", "t.csv")]  # older incr: the same

    edited = [Reason(Reason.CODE, "a2 in pipelines/two.py")]
    assert appended_onto(found.onto, {"two.a2": edited, "two.w2": []}) == {
        "two.w2": [Reason(Reason.APPENDED, "t.csv, by a2")]
    }
    rewritten = [Reason(Reason.REWRITTEN, "t.csv, by w2"), Reason(Reason.UPSTREAM, "w2")]
    assert appended_onto(found.onto, {"two.a2": rewritten, "two.w2": []}) == {}  # after it
    waiting = [Reason(Reason.UPSTREAM, "make")]  # a step it waits on may change what it adds
    assert "two.w2" in appended_onto(found.onto, {"two.a2": waiting, "two.w2": []})
    assert appended_onto(found.onto, {"two.a2": edited, "two.w2": edited}) == {}  # runs anyway


def test_file_reads_keep_plain_files_only() -> None:
    reads = {"data/a.txt": "d1", "$HOME": "d2", "import:pipelines/x.py:c.yaml": "d3"}
    reads |= {"ls:data": "d4", "exists:data/b.txt": "file"}

    assert file_reads(reads) == ["data/a.txt"]


def test_a_read_of_a_seen_write_orders_the_reader_after_the_writer() -> None:
    graph = pipeline(node("use"), node("write"))  # the reader first in body order

    learned, found = learned_graph(
        graph, locks(use={"data/notes.txt": "d"}), {"p.write": ("data/notes.txt",)}
    )

    assert found == [Overlap("write", "use", "data/notes.txt")]
    assert learned.learned == (("write", "use"),)
    assert [n.name for n in graphs.order(learned)] == ["write", "use"]
    assert graphs.ancestors(learned, {"use"}) == {"use", "write"}


def test_a_read_of_an_out_or_of_a_file_in_an_out_folder_is_an_overlap_too() -> None:
    graph = pipeline(node("use"), node("write", outs=("reports/",)))

    _, found = learned_graph(graph, locks(use={"reports/m.json": "d"}), {})

    assert found == [Overlap("write", "use", "reports/m.json", declared=True)]


def test_a_declared_dep_written_without_outs_is_an_overlap() -> None:
    graph = pipeline(node("use", deps=("data",)), node("write"))

    found = find(graph, {}, {"write": ["data/notes.txt"]})

    assert found == [Overlap("write", "use", "data/notes.txt")]


def test_what_the_graph_orders_already_needs_no_edge_nor_note() -> None:
    graph = pipeline(node("write"), node("use", inputs=("write",)))

    learned, found = learned_graph(
        graph, locks(use={"data/notes.txt": "d"}), {"p.write": ("data/notes.txt",)}
    )

    assert learned is graph
    assert found == []


def test_an_edge_that_would_close_a_cycle_is_left_out_and_noted() -> None:
    """The writer takes the reader's output: it cannot run first."""
    graph = pipeline(node("use"), node("write", inputs=("use",)))

    learned, found = learned_graph(
        graph, locks(use={"data/notes.txt": "d"}), {"p.write": ("data/notes.txt",)}
    )

    assert learned is graph
    assert found == [Overlap("write", "use", "data/notes.txt")]
    assert notes(learned, found, "use") == [
        "reads data/notes.txt, which step write writes, but write runs after it (through "
        "its inputs, or another file): it sees the file as it was before"
    ]


def test_two_steps_reading_what_the_other_writes_keep_body_order() -> None:
    graph = pipeline(node("a"), node("b"))

    learned, found = learned_graph(
        graph,
        locks(a={"x.txt": "d"}, b={"y.txt": "d"}),
        {"p.a": ("y.txt",), "p.b": ("x.txt",)},
    )

    assert learned.learned == (("a", "b"),)
    assert len(found) == 2
    graphs.check(learned)  # no cycle


def test_nothing_written_orders_nothing() -> None:
    graph = pipeline(node("use"), node("other"))

    assert learned_graph(graph, locks(use={"x.txt": "d"}), {}) == (graph, [])
    assert learned_graph(graph, locks(use={"x.txt": "d"}), {"q.other": ("x.txt",)}) == (graph, [])


def test_a_step_writing_what_it_reads_is_no_overlap() -> None:
    graph = pipeline(node("a"))

    assert find(graph, {"a": ["log.txt"]}, {"a": ["log.txt"]}) == []


def test_steps_not_in_the_graph_are_ignored() -> None:
    graph = pipeline(node("a"))

    assert find(graph, {"gone": ["x"]}, {"other": ["x"], "a": ["y"]}) == []


def test_the_reader_waits_on_a_dirty_writer() -> None:
    graph = pipeline(node("use"), node("write"), node("other"))
    learned, _ = learned_graph(graph, locks(use={"x": "d"}), {"p.write": ("x",)})

    assert learned_upstreams(learned, "use", {"p.write"}) == ["write"]
    assert learned_upstreams(learned, "use", {"p.other"}) == []
    assert learned_upstreams(learned, "write", {"p.write"}) == []


def test_notes_say_how_to_declare_the_overlap() -> None:
    graph = pipeline(node("use"), node("write", outs=("out.txt",)))
    learned, found = learned_graph(
        graph, locks(use={"x.txt": "d", "out.txt": "d"}), {"p.write": ("x.txt",)}
    )

    assert notes(learned, found, "use") == [
        "reads out.txt, which step write writes (outs); it runs after write: say so with "
        'deps=["out.txt"] here',
        "reads x.txt, which step write writes; it runs after write: say so with "
        'outs=["x.txt"] on write and deps=["x.txt"] here',
    ]
    assert notes(learned, found, "write") == []


# --------------------------------------------------------------------------- within a run


def early(writer: str, reader: str, path: str) -> Overlap:
    return Overlap(writer, reader, path, early=True)


def test_steps_side_by_side_overlap_whichever_finishes_first() -> None:
    for reader_first in (True, False):
        run = RunOverlaps()
        run.begin("write")
        run.begin("use")
        if reader_first:
            assert run.finish("use", ["x.txt"], []) == []
            found = run.finish("write", [], ["x.txt"])
        else:
            assert run.finish("write", [], ["x.txt"]) == []
            found = run.finish("use", ["x.txt"], [])
        assert found == [early("write", "use", "x.txt")]


def test_a_writer_that_finished_before_the_reader_began_is_an_order_kept() -> None:
    run = RunOverlaps()
    run.begin("write")
    run.finish("write", [], ["x.txt"])
    run.begin("use")

    assert run.finish("use", ["x.txt"], []) == [Overlap("write", "use", "x.txt")]


def test_a_reader_run_again_after_the_writer_read_in_time() -> None:
    run = RunOverlaps()
    run.begin("use")
    run.finish("use", ["x.txt"], [])
    run.begin("write")
    assert run.finish("write", [], ["x.txt"]) == [early("write", "use", "x.txt")]
    run.begin("use")

    assert run.finish("use", ["x.txt"], []) == [Overlap("write", "use", "x.txt")]


def test_a_writer_run_again_overlaps_its_readers_again() -> None:
    run = RunOverlaps()
    run.begin("write")
    run.finish("write", [], ["x.txt"])
    run.begin("use")
    run.finish("use", ["x.txt"], [])
    run.begin("write")

    assert run.finish("write", [], ["x.txt"]) == [early("write", "use", "x.txt")]


def test_two_steps_that_read_and_rewrite_one_file_overlap_both_ways() -> None:
    run = RunOverlaps()
    run.begin("a")
    run.finish("a", ["log.txt"], ["log.txt"])
    run.begin("b")

    found = run.finish("b", ["log.txt"], ["log.txt"])

    assert set(found) == {early("b", "a", "log.txt"), Overlap("a", "b", "log.txt")}
    graph = pipeline(node("a"), node("b"))
    assert forward_first(graph, found) == [Overlap("a", "b", "log.txt"), early("b", "a", "log.txt")]


def test_overlaps_through_folders_name_the_path_the_reader_read() -> None:
    run = RunOverlaps()
    run.begin("use")
    run.begin("write")
    run.finish("write", [], ["data/a/b.txt"])
    assert run.finish("use", [], [], deps=["data/"]) == [early("write", "use", "data")]

    run = RunOverlaps()
    run.begin("use")
    run.finish("use", [], [], deps=["data"])
    assert run.finish("restored", [], ["data/a/b.txt"]) == [early("restored", "use", "data")]

    run = RunOverlaps()
    run.begin("use")
    run.finish("use", ["reports/m.json"], [])
    assert run.finish("write", [], ["reports/"]) == [early("write", "use", "reports/m.json")]

    run = RunOverlaps()
    run.begin("use")
    run.begin("write")
    run.finish("write", [], ["reports"])
    assert run.finish("use", ["reports/m.json"], []) == [early("write", "use", "reports/m.json")]


def test_a_step_that_did_not_execute_reads_nothing() -> None:
    """A cached step that put its outs back is a writer, never a reader."""
    run = RunOverlaps()
    run.begin("write")

    assert run.finish("cached", ["x.txt"], []) == []
    assert run.finish("write", [], ["x.txt"]) == []


def test_each_overlap_is_reported_once() -> None:
    run = RunOverlaps()
    run.begin("use")
    run.finish("use", ["x.txt"], [], deps=["x.txt"])

    assert run.finish("write", [], ["x.txt", "x.txt"]) == [early("write", "use", "x.txt")]


# --------------------------------------------------------------------------- kept on disk


def test_seen_writes_round_trip_and_keep_only_known_steps(tmp_path: Path) -> None:
    path = tmp_path / "writes.json"
    writes = SeenWrites(path)
    writes.put("p.a", ["b.txt", "a.txt", "a.txt"])
    writes.put("p.gone", ["c.txt"])
    writes.save(keep=["p.a"])

    assert SeenWrites(path).steps == {"p.a": ("a.txt", "b.txt")}


def test_seen_writes_are_written_only_when_they_change(tmp_path: Path) -> None:
    path = tmp_path / "writes.json"
    writes = SeenWrites(path)
    writes.put("p.a", [])
    writes.save(keep=["p.a"])
    assert not path.exists()

    writes.put("p.a", ["x"])
    writes.save(keep=["p.a"])
    again = SeenWrites(path)
    again.put("p.a", ["x"])
    assert not again.changed
    again.put("p.a", [])
    again.save(keep=["p.a"])
    assert SeenWrites(path).steps == {}


def test_seen_writes_know_the_files_as_the_run_left_them(tmp_path: Path) -> None:
    """``as_left``: the files a step wrote that hold what its run of that fingerprint left
    (by size and time), kept across commands; none for another fingerprint."""
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    writes = SeenWrites(tmp_path / "writes.json")
    writes.put("p.w", ["a.txt", "b.txt"], "fp1", tmp_path)
    writes.save(keep=["p.w"])
    again = SeenWrites(tmp_path / "writes.json")
    assert again.as_left("p.w", "fp1", tmp_path) == {"a.txt", "b.txt"}
    assert again.as_left("p.w", "fp2", tmp_path) == set()  # another run's (a branch's)
    (tmp_path / "b.txt").write_text("bb")  # changed since
    assert again.as_left("p.w", "fp1", tmp_path) == {"a.txt"}
    assert again.as_left("p.other", "fp1", tmp_path) == set()


def test_seen_writes_keep_the_files_appended_to_and_read_older_formats(tmp_path: Path) -> None:
    path = tmp_path / "writes.json"
    writes = SeenWrites(path)
    writes.put("p.a", ["t.csv", "log.txt"], appends=["log.txt", "other.txt"])
    writes.put("p.w", ["t.csv"])
    writes.save(keep=["p.a", "p.w"])
    assert SeenWrites(path).appends == {"p.a": ("log.txt",)}

    again = SeenWrites(path)
    again.put("p.a", ["t.csv", "log.txt"])  # written anew this time
    assert again.changed and again.appends == {}
    path.write_text(json.dumps({"format": 2, "steps": {"p.a": ["x"]}, "left": {}}))
    old = SeenWrites(path)  # by an older incr: appended to, for all it knows
    assert old.steps == {"p.a": ("x",)} and old.guessed == {"p.a"}
    assert "x" in old.appends["p.a"]
    old.put("p.a", ["x"])  # run again: known
    assert old.appends == {} and old.guessed == set()


def test_damaged_seen_writes_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "writes.json"
    for text in ["{", "[]", '{"format": 99, "steps": {}}', '{"format": 1, "steps": 3}']:
        path.write_text(text, encoding="utf-8")
        assert SeenWrites(path).steps == {}
    path.write_text(json.dumps({"format": 1, "steps": {"p.a": ["x"], "p.b": 3}}))
    assert SeenWrites(path).steps == {"p.a": ("x",)}


def test_a_failed_save_is_no_error(tmp_path: Path) -> None:
    writes = SeenWrites(tmp_path / "missing" / "folder" / "writes.json")
    writes.put("p.a", ["x"])
    (tmp_path / "missing").write_text("a file, not a folder")

    writes.save(keep=["p.a"])

    assert writes.changed  # tried again next time


def test_forget_run_drops_the_record_made_with_those_reads(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    fp = "ab" * 32
    store.record_run(fp, {}, {"x.txt": "new"}, 1.0, "p.use")
    store.record_run(fp, {}, {"x.txt": "old"}, 2.0, "p.use")

    store.forget_run(fp, {"x.txt": "new"})
    assert [r.reads for r in store.lookup_runs(fp)] == [{"x.txt": "old"}]
    store.forget_run(fp, {"x.txt": "other"})
    assert len(store.lookup_runs(fp)) == 1
    store.forget_run(fp, {"x.txt": "old"})
    assert store.lookup_runs(fp) == []


def test_the_stale_marker_is_never_a_digest() -> None:
    assert not all(c in "0123456789abcdef" for c in WRITTEN_AFTER_READ)
    assert WRITTEN_AFTER_READ != "missing"
