"""runs.json: each step's last outcome, merged with what the file holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incr import runlog
from incr.events import PipelineFinished, Recorder, StepCached, StepFinished
from incr.runlog import RunLog


def finish(log: RunLog, pipeline: str, step: str, executed: bool) -> None:
    if not executed:
        log.emit(StepCached(pipeline, step, False))
    log.emit(StepFinished(pipeline, step, 0.5, executed))
    log.emit(PipelineFinished(pipeline, f"{pipeline}-run", 1.0, False))


def test_a_command_that_runs_many_pipelines_reads_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.json"
    reads: list[Path] = []
    real = runlog.load

    def counting(where: Path) -> dict:
        reads.append(where)
        return real(where)

    monkeypatch.setattr(runlog, "load", counting)
    log = RunLog(Recorder(), path)
    for i in range(5):
        finish(log, f"p{i}", "a", executed=True)
    finish(log, "p0", "a", executed=False)  # as it was but the state: written
    assert len(reads) == 1
    steps = json.loads(path.read_text())["steps"]
    assert steps["p0.a"] == {"state": "reused", "seconds": 0.5}
    assert {f"p{i}.a" for i in range(5)} == set(steps)


def test_notes_another_writer_left_meanwhile_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    log = RunLog(Recorder(), path)
    finish(log, "p", "a", executed=True)
    other = RunLog(Recorder(), path)  # another command, between two pipelines of the first
    finish(other, "q", "b", executed=True)
    finish(log, "r", "c", executed=True)
    assert set(runlog.load(path)) == {"p.a", "q.b", "r.c"}
