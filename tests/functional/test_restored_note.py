"""A step put back from the cache (an edit reverted) while it writes a file its ``outs`` do not
list: that file is not put back, and the run says so, naming it."""

from __future__ import annotations

from .conftest import MakeProject

EVALUATE = """\
    import json
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    BONUS = 0


    @step
    def score() -> int:
        mark("score")
        value = 10 + BONUS
        os.makedirs("reports", exist_ok=True)
        with open("reports/score.json", "w") as fh:
            json.dump(value, fh)
        return value


    @step(outs=["reports/listed.json"])
    def listed(value: int) -> None:
        mark("listed")
        with open("reports/listed.json", "w") as fh:
            json.dump(value, fh)


    @pipeline
    def evaluate():
        listed(score())
    """


def test_a_step_put_back_names_the_files_it_writes_outside_its_outs(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/evaluate.py": EVALUATE})
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    project.edit("pipelines/evaluate.py", "BONUS = 0", "BONUS = 5")
    project.repro()
    assert project.take_ran() == ["score", "listed"]
    project.edit("pipelines/evaluate.py", "BONUS = 5", "BONUS = 0")  # reverted
    result = project.repro()
    assert project.take_ran() == []  # both put back from the cache
    notes = [" ".join(line.split()) for line in result.stderr.splitlines() if "put back" in line]
    score = [n for n in notes if n.startswith("note: step evaluate.score was put back")]
    assert len(score) == 1 and "reports/score.json" in score[0], notes  # (and the test's ran.txt)
    assert "which it writes without listing in outs" in score[0]
    assert not any("reports/listed.json" in n for n in notes)  # in listed's outs: put back
    assert project.read("reports/listed.json") == "10"
    assert project.read("reports/score.json") == "15"  # as the note says
    assert "was put back" not in project.repro().output  # a no-op run: nothing put back
