"""Steps that draw from a global random generator get a ``note:`` in ``incr status``: what they
return depends on what drew before them in the same process, so rerunning only some steps
gives other values than a run from scratch. ``incr verify --rerun`` names them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import MakeProject, Project

# Seeded at import, as scripts often do; two steps draw from numpy's global generator, one
# from the random module's, through a helper and a from-import.
PIPELINE = """\
    import random
    from random import choice

    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark

    np.random.seed(0)
    random.seed(0)


    def noise(n):
        return np.random.rand(n)


    @step
    def first() -> list:
        mark("first")
        return noise(2).round(6).tolist()


    @step
    def second() -> list:
        mark("second")
        return np.random.randint(0, 1000, size=2).tolist()


    @step
    def pick() -> int:
        mark("pick")
        return choice(range(1000))


    @step
    def owned() -> float:
        mark("owned")
        return float(np.random.default_rng(0).random())


    @step
    def reseeds() -> float:
        mark("reseeds")
        np.random.seed(1)
        return float(np.random.rand())


    def set_seed(seed):
        np.random.seed(seed)
        random.seed(seed)


    @step
    def by_a_helper() -> float:
        mark("by_a_helper")
        set_seed(2)
        return float(np.random.rand()) + random.random()


    @pipeline
    def p():
        first()
        second()
        pick()
        owned()
        reseeds()
        by_a_helper()
    """
FIX_NP = "pass a seeded np.random.default_rng(...)"
FIX_RANDOM = "pass a seeded random.Random(...)"
DEPENDS = "results depend on what ran before it in the same process"


def note(call: str, where: str, fix: str) -> str:
    return f"{call} in {where} draws from the global random generator; {DEPENDS}: {fix}"


def values(project: Project) -> dict[str, object]:
    """Each step's recorded value, from the cache."""
    found = {}
    for key, entry in project.lock().items():
        digest = entry.outputs["output"].digest
        found[key.partition(".")[2]] = json.loads(project.object_bytes(digest))
    return found


def made(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/x.py": PIPELINE})
    project.repro()
    assert project.take_ran() == ["first", "second", "pick", "owned", "reseeds", "by_a_helper"]
    return project


def test_status_notes_steps_that_draw_from_a_global_generator(make_project: MakeProject) -> None:
    project = made(make_project)

    steps = {s["step"]: s for s in project.status()["steps"]}

    assert steps["first"]["notes"] == [note("np.random.rand()", "pipelines/x.py:noise", FIX_NP)]
    assert steps["second"]["notes"] == [
        note("np.random.randint()", "pipelines/x.py:second", FIX_NP)
    ]
    assert steps["pick"]["notes"] == [note("random.choice()", "pipelines/x.py:pick", FIX_RANDOM)]
    assert steps["owned"]["notes"] == []  # its own seeded generator
    assert steps["reseeds"]["notes"] == []  # seeds the global one itself, right before
    assert steps["by_a_helper"]["notes"] == []  # a set_seed helper it calls seeds both
    assert not any(s["dirty"] for s in steps.values())  # a note is not a reason

    text = project.incr("status").stdout.splitlines()
    at = next(i for i, line in enumerate(text) if line.split() == ["first", "clean"])
    assert text[at + 1].split(maxsplit=1) == [
        "note:",
        note("np.random.rand()", "pipelines/x.py:noise", FIX_NP),
    ]


def test_what_the_note_warns_about(make_project: MakeProject, tmp_path: Path) -> None:
    # Rerunning second alone draws first from the freshly seeded generator: another value
    # than second gets in a run from scratch (after first drew). Not a bug incr can see.
    project = made(make_project)
    project.edit("pipelines/x.py", "size=2).tolist()", "size=2).tolist()[::-1][::-1]")
    project.repro()
    assert project.take_ran() == ["second"]

    scratch = Project(tmp_path / "scratch")
    shutil.copytree(project.root, scratch.root, ignore=shutil.ignore_patterns(".pipecache"))
    scratch.lockfile.unlink()
    scratch.repro()

    assert values(project)["first"] == values(scratch)["first"]
    assert values(project)["second"] != values(scratch)["second"]
    assert project.status()["steps"][1]["notes"] != []


def test_verify_rerun_names_them_as_non_deterministic(make_project: MakeProject) -> None:
    project = made(make_project)

    result = project.incr("verify", "--rerun")

    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    non_deterministic = "non-deterministic (two runs in a row gave different outputs)"
    assert lines[0] == f"p.first  outputs differ (output): {non_deterministic}"
    assert lines[1] == f"  note: {note('np.random.rand()', 'pipelines/x.py:noise', FIX_NP)}"
    assert f"p.pick  outputs differ (output): {non_deterministic}" in lines
    assert any(line.startswith("p.owned  same outputs") for line in lines)
    assert any(line.startswith("p.reseeds  same outputs") for line in lines)
    assert lines[-1] == (
        "6 steps run again: 3 not as recorded: p.first (non-deterministic), "
        "p.second (non-deterministic), p.pick (non-deterministic)"
    )


def test_the_note_stays_when_the_step_lists_code_deps(make_project: MakeProject) -> None:
    module = """\
        import numpy as np

        from incr import pipeline, step


        def helper():
            return 1


        @step(code_deps=[helper], version="1")
        def draw() -> float:
            fn = getattr(np, "abs")
            return float(fn(np.random.normal()))


        @pipeline
        def p():
            draw()
        """
    project = make_project({"pipelines/x.py": module})
    project.repro()

    notes = project.status()["steps"][0]["notes"]

    assert notes == [note("np.random.normal()", "pipelines/x.py:draw", FIX_NP)]
