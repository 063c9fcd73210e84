"""Steps wired through files (deps and outs), folder deps, and the cache under damage."""

from __future__ import annotations

import shutil

import pytest

from .conftest import FLOW_ORDER, MakeProject, Project

WIRED = """\
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    VALUE = 1


    @step(outs=["data/mid.txt"])
    def produce() -> None:
        mark("produce")
        Path("data/mid.txt").write_text("odd" if VALUE % 2 else "even", encoding="utf-8")


    @step(deps=["data/mid.txt"])
    def consume() -> str:
        mark("consume")
        return Path("data/mid.txt").read_text(encoding="utf-8").upper()


    @pipeline
    def wired():
        consume()  # called first: the file wiring decides the order
        produce()
    """


@pytest.fixture
def wired(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/wired.py": WIRED, "data/.keep": ""})
    project.repro()
    assert project.take_ran() == ["produce", "consume"]
    return project


def test_file_wiring_orders_and_records(wired: Project) -> None:
    lock = wired.lock()
    produced = lock["wired.produce"].outputs["data/mid.txt"]
    assert produced.kind == "file"
    assert lock["wired.consume"].facts.deps == {"data/mid.txt": produced.digest}
    assert wired.dirty() == {}


def test_file_wiring_same_file_content_cuts_off(wired: Project) -> None:
    wired.edit("pipelines/wired.py", "VALUE = 1", "VALUE = 3")
    assert wired.dirty() == {
        "produce": [("code changed", "VALUE in pipelines/wired.py")],
        "consume": [("after", "produce")],
    }

    wired.repro()

    assert wired.take_ran() == ["produce"]
    assert wired.dirty() == {}


def test_file_wiring_new_file_content_reruns_the_consumer(wired: Project) -> None:
    wired.edit("pipelines/wired.py", "VALUE = 1", "VALUE = 2")

    wired.repro()

    assert wired.take_ran() == ["produce", "consume"]
    assert wired.read("data/mid.txt") == "even"


def test_deleted_out_file_is_restored_from_the_cache(wired: Project) -> None:
    (wired.root / "data/mid.txt").unlink()

    reasons = wired.dirty()
    assert reasons["produce"] == [("output missing", "data/mid.txt")]
    wired.repro()
    assert wired.take_ran() == []  # put back from .pipecache, not recomputed
    assert wired.read("data/mid.txt") == "odd"
    assert wired.dirty() == {}


def test_out_file_changed_by_hand_is_restored(wired: Project) -> None:
    (wired.root / "data/mid.txt").write_text("tampered", encoding="utf-8")

    assert wired.dirty()["produce"] == [("output modified", "data/mid.txt")]
    wired.repro()
    assert wired.take_ran() == []  # restored: consume sees the same bytes as before
    assert wired.read("data/mid.txt") == "odd"


def test_out_file_is_remade_when_the_cache_lost_it(wired: Project) -> None:
    (wired.root / "data/mid.txt").unlink()
    shutil.rmtree(wired.root / ".pipecache")

    wired.repro()
    # consume's own cached value went with the cache, so it is recomputed too.
    assert wired.take_ran() == ["produce", "consume"]
    assert wired.read("data/mid.txt") == "odd"


FOLDER = """\
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/inputs"])
    def gather() -> list:
        mark("gather")
        files = sorted(Path("data/inputs").iterdir())
        return [p.read_text(encoding="utf-8") for p in files]


    @pipeline
    def folder():
        gather()
    """


def test_folder_dep(make_project: MakeProject) -> None:
    project = make_project(
        {"pipelines/folder.py": FOLDER, "data/inputs/a.txt": "a", "data/inputs/b.txt": "b"}
    )
    project.repro()
    assert project.take_ran() == ["gather"]

    (project.root / "data/inputs/b.txt").touch()
    assert project.dirty() == {}

    (project.root / "data/inputs/c.txt").write_text("c", encoding="utf-8")
    assert project.dirty() == {"gather": [("dep changed", "data/inputs")]}
    project.repro()
    assert project.take_ran() == ["gather"]

    (project.root / "data/inputs/a.txt").write_text("A", encoding="utf-8")
    project.repro()
    assert project.take_ran() == ["gather"]
    assert project.dirty() == {}


def test_corrupt_cache_object_is_recomputed_not_used(flow: Project) -> None:
    digest = flow.lock()["flow.load"].outputs["output"].digest
    flow.damage_object(digest, b"[1, 2, 999]")  # the same kind of value, the wrong bytes
    flow.edit("pipelines/flow.py", "v * config.factor for", "v * config.factor + 1 for")

    result = flow.repro()

    assert flow.take_ran() == ["load", "double", "shift", "total"]
    assert "warning:" in result.stderr
    assert digest[2:] in result.stderr  # names the damaged object
    assert flow.lock()["flow.load"].outputs["output"].digest == digest
    assert flow.dirty() == {}


def test_deleted_cache_recomputes_everything(flow: Project) -> None:
    shutil.rmtree(flow.root / ".pipecache")

    reasons = flow.dirty()

    assert reasons["load"] == [("output missing from cache", "output")]
    flow.repro()
    assert flow.take_ran() == FLOW_ORDER
    assert flow.dirty() == {}
