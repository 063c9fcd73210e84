"""A step returning a set (a vocabulary, labels, a dict of sets) stores the same bytes in every
process: an edit that leaves the set equal cuts off the steps after it, and two runs from
scratch write the same ``pipeline.lock`` (a set's order follows the per-process hash seed,
which the fork servers vary from one command to the next, as separate processes do)."""

from __future__ import annotations

import pickle

from .conftest import MakeProject

VOCAB = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    MAXLEN = 10
    WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]


    @step
    def vocab() -> set:
        mark("vocab")
        return {w for w in WORDS if len(w) < MAXLEN}


    @step
    def groups(words: set) -> dict:
        mark("groups")
        short = frozenset(w for w in words if len(w) < 5)
        return {"short": short, "all": words, "n": [{b"x", b"y"}]}


    @step
    def report(groups: dict) -> None:
        mark("report")
        os.makedirs("reports", exist_ok=True)
        with open("reports/out.json", "w") as fh:
            json.dump(sorted(groups["all"]), fh)


    @pipeline
    def words():
        report(groups(vocab()))
    """


def test_an_equal_set_cuts_off_the_steps_after_it(make_project: MakeProject) -> None:
    project = make_project({"pipelines/words.py": VOCAB})
    project.repro()
    assert project.take_ran() == ["vocab", "groups", "report"]
    first = project.lock()
    project.edit("pipelines/words.py", "MAXLEN = 10", "MAXLEN = 11")  # the same words
    for _ in range(3):  # each command in a process of its own hash seed
        result = project.repro()
        assert result.returncode == 0, result.output
    assert project.take_ran() == ["vocab"]
    assert project.lock()["words.vocab"].outputs == first["words.vocab"].outputs
    assert project.lock()["words.groups"] == first["words.groups"]
    digest = project.lock()["words.groups"].outputs["output"].digest
    stored = pickle.loads(project.object_bytes(digest))  # loads with any unpickler
    assert stored["all"] == {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"} | {
        "theta",
        "iota",
    }
    assert stored["short"] == frozenset({"beta", "zeta", "eta", "iota"})
    assert stored["n"] == [{b"x", b"y"}]


def test_runs_from_scratch_write_the_same_lockfile(make_project: MakeProject) -> None:
    project = make_project({"pipelines/words.py": VOCAB})
    locks = []
    for _ in range(3):
        result = project.incr("repro", "--force")
        assert result.returncode == 0, result.output
        locks.append(project.read("pipeline.lock"))
    assert locks[0] == locks[1] == locks[2]
