"""A file or variable read while a module is imported counts for the steps whose code uses
the name the reading statement binds (``PARAMS = yaml.safe_load(open("params.yaml"))``),
directly or through another name (``LR = PARAMS["lr"]``), not for every step of the module:
the DVC-style ``params.yaml`` read at the top of a pipeline module that feeds step configs
reruns only the steps whose config or code changed (incr/importreads.py)."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = """\
import json
import os

from incr import StepConfig, pipeline, step

from pipelines.mark import mark

PARAMS = json.load(open("params.json", encoding="utf-8"))
LR = PARAMS["lr"]
SCALE = float(os.environ.get("FLOW_SCALE", "1"))
print(open("banner.txt", encoding="utf-8").read())  # a statement doing more: counts for all


class LoadCfg(StepConfig):
    n: int = 3


@step
def load(config: LoadCfg) -> list:
    mark("load")
    return list(range(config.n))


@step
def fit(xs: list) -> float:
    mark("fit")
    return sum(xs) * LR


@step
def scale(v: float) -> float:
    mark("scale")
    return v * SCALE


@pipeline
def flow():
    scale(fit(load(config=LoadCfg(n=PARAMS["n"]))))
"""


def test_a_read_at_import_counts_for_the_steps_using_what_it_binds(
    make_project: MakeProject, tmp_path: Path, monkeypatch
) -> None:
    project = make_project(
        {
            "pipelines/flow.py": FLOW,
            "params.json": '{"lr": 0.5, "n": 3}',
            "banner.txt": "hello",
        }
    )
    project.repro()
    assert project.take_ran() == ["load", "fit", "scale"]
    (project.root / "params.json").write_text('{"lr": 0.25, "n": 3}')
    dirty = project.dirty()
    assert set(dirty) == {"fit", "scale"}  # load's config is the same: it stays clean
    assert dirty["fit"][0] == (
        "read changed",
        "params.json, read when pipelines/flow.py is imported",
    )
    project.repro()
    assert project.take_ran() == ["fit", "scale"]
    (project.root / "params.json").write_text('{"lr": 0.25, "n": 5}')
    project.repro()
    assert project.take_ran() == ["load", "fit", "scale"]  # its config changed
    monkeypatch.setenv("FLOW_SCALE", "2")
    assert set(project.dirty()) == {"scale"}
    project.repro()
    assert project.take_ran() == ["scale"]
    (project.root / "banner.txt").write_text("bye")  # read by a call: every step using the module
    assert set(project.dirty()) == {"load", "fit", "scale"}
    project.repro()
    project.take_ran()
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


GUARDED = """\
import json

from incr import pipeline, step

from pipelines.mark import mark

with open("params.json", encoding="utf-8") as f:
    PARAMS = json.load(f)
if open("mode.txt", encoding="utf-8").read().strip() == "big":
    SIZE = 10
else:
    SIZE = 2
with open("banner.txt", encoding="utf-8") as f:
    print(f.read())  # a block doing more than binding names: counts for all


@step
def fit() -> float:
    mark("fit")
    return PARAMS["lr"]


@step
def size() -> int:
    mark("size")
    return SIZE


@step
def other() -> int:
    mark("other")
    return 1


@pipeline
def flow():
    fit()
    size()
    other()
"""


def test_a_read_in_a_with_or_if_header_counts_for_the_names_the_block_binds(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        {
            "pipelines/flow.py": GUARDED,
            "params.json": '{"lr": 0.5}',
            "mode.txt": "small",
            "banner.txt": "hello",
        }
    )
    project.repro()
    assert project.take_ran() == ["fit", "size", "other"]
    (project.root / "params.json").write_text('{"lr": 0.25}')
    assert set(project.dirty()) == {"fit"}
    project.repro()
    assert project.take_ran() == ["fit"]
    (project.root / "mode.txt").write_text("big")
    assert set(project.dirty()) == {"size"}
    project.repro()
    assert project.take_ran() == ["size"]
    (project.root / "banner.txt").write_text("bye")
    assert set(project.dirty()) == {"fit", "size", "other"}
    project.repro()
    project.take_ran()
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
