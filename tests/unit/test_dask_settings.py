"""The Dask executor's pure parts: which runs use Dask, what a refusing worker names, and the
resource check (no cluster here; tests/functional/test_dask.py runs real ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from incr.daskexec import DaskSettings, resource_error, unmet, wanted
from incr.daskwork import WorkOrder, code_differences, run_order
from incr.errors import IncrError
from incr.executors import StepJob
from incr.project import Project


def test_scheduler_implies_dask_and_options_beat_pyproject() -> None:
    plain = Project(Path("/p"))
    configured = Project(Path("/p"), executor="dask", scheduler="tcp://10.0.0.5:8786")
    assert wanted(None, None, plain) is None
    assert wanted("dask", None, plain) == DaskSettings()
    assert wanted(None, "tcp://h:1", plain) == DaskSettings(scheduler="tcp://h:1")
    assert wanted(None, None, configured) == DaskSettings(scheduler="tcp://10.0.0.5:8786")
    assert wanted("local", None, configured) is None
    with pytest.raises(IncrError, match="unknown executor 'spark'"):
        wanted(None, None, Project(Path("/p"), executor="spark"))


def test_a_refusal_names_the_function_the_package_and_python() -> None:
    client = {
        "python": "3.11",
        "pipelines/flow.py:double": "a1",
        "pipelines/helpers.py:scale": "b1",
        "pkg:numpy": "2.1.0",
    }
    worker = {**client, "pipelines/helpers.py:scale": "b2", "pkg:numpy": "1.26.4"}
    assert code_differences(client, worker) == [
        "scale in pipelines/helpers.py",
        "package numpy: 1.26.4 on the worker, 2.1.0 on the client",
    ]
    assert code_differences(client, {**client, "python": "3.12"}) == [
        "Python 3.12 on the worker, 3.11 on the client"
    ]
    assert code_differences(client, dict(client)) == []


def test_resources_no_worker_offers() -> None:
    offered = [{"GPU": 1.0}, {"MEMORY": 16e9}]
    assert not unmet({}, offered)
    assert not unmet({"GPU": 1}, offered)
    assert unmet({"GPU": 2}, offered)
    assert unmet({"GPU": 1, "MEMORY": 8e9}, offered)  # not both on one worker
    text = resource_error("flow.train", {"GPU": 2}, offered)
    assert text.startswith("error: step flow.train needs resources GPU=2, which no worker")
    assert "(they offer: GPU=1, MEMORY=16000000000)" in text


def test_a_worker_that_cannot_see_the_project_says_so_in_one_line(tmp_path: Path) -> None:
    job = StepJob(
        "flow", "load", "flow.load", "pipelines.flow", "load", None, {}, ("output",), (), (),
        str(tmp_path / "elsewhere"), str(tmp_path / "elsewhere" / ".pipecache"), True,
    )  # fmt: skip
    outcome = run_order(WorkOrder(job, ".pipecache", {}, {}, {}))
    assert outcome.failure is not None and outcome.artifacts == {}
    first, hint = outcome.failure.splitlines()
    assert first.startswith("error: worker (pid ") and "cannot see the project at " in first
    assert hint.startswith("  hint: put the same checkout at the same path on every worker")
