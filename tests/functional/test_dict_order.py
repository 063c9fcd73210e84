"""Dict outputs keep their key order through the cache: a consumer that iterates a dict gets
the same order whether the dict comes from this run, from the cache after an edit, from the run
cache after a revert, or from a worker process, and that is the order a from-scratch run gives.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from blake3 import blake3

from .conftest import MakeProject, Project
from .scratch import unsealed

#: ``evaluate`` makes metrics in an order that is not sorted, at every level; ``headline``
#: writes what it sees when it iterates them.
METRICS = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    SUFFIX = ""


    @step
    def evaluate() -> dict:
        mark("evaluate")
        return {"loss": 0.25, "accuracy": 0.9, "per_class": {"zebra": 1, "ant": [{"k": 1, "b": 2}]}}


    @step(outs=["report/headline.txt"])
    def headline(metrics: dict) -> str:
        mark("headline")
        first = next(iter(metrics))
        classes = ",".join(metrics["per_class"])
        inner = ",".join(metrics["per_class"]["ant"][0])
        os.makedirs("report", exist_ok=True)
        with open("report/headline.txt", "w", encoding="utf-8") as fh:
            fh.write(f"{first} {classes} {inner}{SUFFIX}\\n")
        return first


    @pipeline
    def metrics():
        headline(evaluate())
    """

FIRST_LINE = "loss zebra,ant k,b\n"
RULE = "pipelines/metrics.py"
SWAPPED = '{"accuracy": 0.9, "loss": 0.25, "per_class": {"ant": [{"b": 2, "k": 1}], "zebra": 1}}'
ORIGINAL = '{"loss": 0.25, "accuracy": 0.9, "per_class": {"zebra": 1, "ant": [{"k": 1, "b": 2}]}}'


def _project(make_project: MakeProject) -> Project:
    project = make_project({RULE: METRICS})
    project.repro()
    assert project.take_ran() == ["evaluate", "headline"]
    assert project.read("report/headline.txt") == FIRST_LINE
    return project


def from_scratch(project: Project, where: Path) -> str:
    """The headline a run of the same sources in a fresh copy (no cache, no lockfile) gives."""
    skip = shutil.ignore_patterns(".pipecache", "pipeline.lock", "ran.txt", "report", "__pycache__")
    shutil.copytree(project.root, where, ignore=skip)
    copy = Project(where)
    copy.repro()
    return copy.read("report/headline.txt")


def test_a_consumer_that_reruns_sees_the_order_the_producer_made(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    project.edit(RULE, 'SUFFIX = ""', 'SUFFIX = "!"')

    project.repro()

    assert project.take_ran() == ["headline"]  # metrics came from the cache
    assert project.read("report/headline.txt") == "loss zebra,ant k,b!\n"
    assert project.read("report/headline.txt") == from_scratch(project, tmp_path / "fresh")


def test_a_worker_process_sees_the_order_the_producer_made(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    project.edit(RULE, 'SUFFIX = ""', 'SUFFIX = "?"')

    project.repro("--jobs", "2")

    assert project.take_ran() == ["headline"]
    assert project.read("report/headline.txt") == from_scratch(project, tmp_path / "fresh")


def test_a_value_restored_by_a_revert_keeps_its_order(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = _project(make_project)
    project.edit(RULE, ORIGINAL, SWAPPED)
    project.repro()
    assert project.take_ran() == ["evaluate", "headline"]
    assert project.read("report/headline.txt") == "accuracy ant,zebra b,k\n"

    # Back to the first order, and the consumer edited: evaluate comes from the run cache,
    # headline runs on the value it holds.
    project.edit(RULE, SWAPPED, ORIGINAL)
    project.edit(RULE, 'SUFFIX = ""', 'SUFFIX = "."')
    project.repro()

    assert project.take_ran() == ["headline"]
    assert project.read("report/headline.txt") == "loss zebra,ant k,b.\n"
    assert project.read("report/headline.txt") == from_scratch(project, tmp_path / "fresh")


def test_the_same_values_in_another_order_are_another_output(make_project: MakeProject) -> None:
    project = _project(make_project)
    before = project.lock()["metrics.evaluate"].outputs["output"]
    project.edit(RULE, ORIGINAL, SWAPPED)  # equal as dicts, not when iterated

    project.repro()

    assert project.take_ran() == ["evaluate", "headline"]  # no early cutoff
    after = project.lock()["metrics.evaluate"].outputs["output"]
    assert after.kind == before.kind == "json"
    assert after.digest != before.digest
    assert project.read("report/headline.txt") == "accuracy ant,zebra b,k\n"


def test_a_sorted_dict_keeps_the_digest_of_the_sorted_encoding(make_project: MakeProject) -> None:
    """Lockfiles and caches written when incr sorted keys stay valid for sorted dicts."""
    project = _project(make_project)
    project.edit(RULE, ORIGINAL, SWAPPED)
    project.repro()
    value = json.loads(SWAPPED)
    sorted_text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    expected = blake3(sorted_text.encode()).hexdigest()
    assert project.lock()["metrics.evaluate"].outputs["output"].digest == expected


def test_an_object_stored_sorted_still_loads(make_project: MakeProject) -> None:
    """An object written when keys were sorted (the cache of an older incr) is read as it is."""
    project = _project(make_project)
    artifact = project.lock()["metrics.evaluate"].outputs["output"]
    old = json.dumps(json.loads(ORIGINAL), sort_keys=True, separators=(",", ":")).encode()
    old_digest = blake3(old).hexdigest()
    objects = project.root / ".pipecache" / "objects"
    (objects / old_digest[:2]).mkdir(exist_ok=True)
    (objects / old_digest[:2] / old_digest[2:]).write_bytes(old)
    text = project.lockfile.read_text(encoding="utf-8")
    project.lockfile.write_text(
        unsealed(text).replace(artifact.digest, old_digest), encoding="utf-8"
    )
    project.edit(RULE, 'SUFFIX = ""', 'SUFFIX = "~"')

    project.repro()

    assert project.take_ran() == ["headline"]
    assert project.read("report/headline.txt") == "accuracy ant,zebra b,k~\n"
