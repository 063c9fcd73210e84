"""The project files a project's materializer reads while storing a step's output or loading
a step's input are that step's reads: an edit of one reruns the step, as a fresh run would
store or load otherwise (a header the format writes, a scale it applies on load)."""

from __future__ import annotations

import pytest

from .conftest import MakeProject

REPORT = {
    "pipelines/formats.py": """\
        from pathlib import Path

        from incr import Materializer, register_materializer


        class Report:
            def __init__(self, lines):
                self.lines = list(lines)


        class ReportMaterializer(Materializer):
            types = (Report,)
            kind = "report"

            def save(self, obj, folder):
                header = Path("assets/header.txt").read_text().strip()
                (folder / "report.txt").write_text("\\n".join([header, *obj.lines]))

            def load(self, folder):
                scale = int(Path("assets/scale.txt").read_text())
                return Report((folder / "report.txt").read_text().split("\\n") * scale)


        register_materializer(ReportMaterializer)
        """,
    "pipelines/flow.py": """\
        import json
        from pathlib import Path

        from incr import pipeline, step
        from pipelines.formats import Report
        from pipelines.mark import mark


        @step
        def make() -> Report:
            mark("make")
            return Report(["a", "b"])


        @step
        def count(report: Report) -> int:
            mark("count")
            Path("count.json").write_text(json.dumps(len(report.lines)))
            return len(report.lines)


        @step
        def first(report: Report) -> str:
            mark("first")
            Path("first.json").write_text(json.dumps(report.lines[0]))
            return report.lines[0]


        @step
        def unrelated() -> int:
            mark("unrelated")
            return 1


        @pipeline
        def flow():
            report = make()
            count(report)
            first(report)
            unrelated()
        """,
    "assets/header.txt": "HEADER-A\n",
    "assets/scale.txt": "2\n",
}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_a_materializer_reads_are_read_by_the_steps_storing_and_loading(
    make_project: MakeProject, jobs: str
):
    project = make_project(REPORT)
    project.repro("-j", jobs)
    assert sorted(project.take_ran()) == ["count", "first", "make", "unrelated"]
    lock = project.lock()
    assert "assets/header.txt" in lock["flow.make"].reads
    assert "assets/scale.txt" not in lock["flow.make"].reads
    assert "assets/scale.txt" in lock["flow.count"].reads
    assert "assets/scale.txt" in lock["flow.first"].reads
    assert project.read("count.json") == "6"  # three lines (header, a, b) twice

    project.write({"assets/header.txt": "HEADER-B\n"})  # stored otherwise
    dirty = project.dirty()
    assert dirty["make"] == [("read changed", "assets/header.txt")]
    assert dirty["count"] == dirty["first"] == [("after", "make")]
    project.repro("-j", jobs)
    assert sorted(project.take_ran()) == ["count", "first", "make"]
    assert project.read("first.json") == '"HEADER-B"'

    project.write({"assets/scale.txt": "3\n"})  # loaded otherwise
    assert set(project.dirty()) == {"count", "first"}
    project.repro("-j", jobs)
    assert sorted(project.take_ran()) == ["count", "first"]
    assert project.read("count.json") == "9"
    assert project.dirty() == {}
    project.repro("-j", jobs)
    assert project.take_ran() == []  # the materializer's temporary folders are no reads
