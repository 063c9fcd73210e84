"""The closure cache: a no-op status parses no source; any change to a module a closure
consulted (even one that gave it no part) is seen."""

from __future__ import annotations

import json

import pytest

from incr import cachefile, codeindex, lockbook
from incr.opening import open_pipelines
from incr.project import Project as IncrProject

from .conftest import MakeProject, Project
from .scratch import unsealed

PIPELINE = """\
    from incr import pipeline, step
    from pipelines.common import *
    from pipelines.mark import mark


    @step
    def first() -> int:
        mark("first")
        return helper(1)


    @step
    def second(x: int) -> int:
        mark("second")
        return x + 1


    @pipeline
    def chain():
        second(first())
    """

# ``helper`` reaches the pipeline through two star imports: common.py is consulted but
# contributes nothing until it defines a ``helper`` of its own.
COMMON = """\
    from pipelines.base import *

    SCALE = 3
    """

BASE = """\
    def helper(x):
        return x * 10
    """


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/chain.py": PIPELINE,
            "pipelines/common.py": COMMON,
            "pipelines/base.py": BASE,
        }
    )
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert project.dirty() == {}
    return project


def closures_file(project: Project) -> dict:
    return cachefile.read(project.root / ".pipecache" / "closures.bin")


def test_a_no_op_status_parses_no_source(make_project: MakeProject, monkeypatch) -> None:
    project = make(make_project)
    assert "pipelines.chain:first" in closures_file(project)["closures"]

    class NoParsing:
        def __init__(self, *args: object) -> None:
            raise AssertionError("a saved closure should have been used")

    monkeypatch.setattr(codeindex, "CodeIndex", NoParsing)
    workspace, pipelines = open_pipelines(IncrProject.find(project.root), executable=False)
    verdicts = workspace.status(pipelines)

    assert [(v.node.name, v.dirty) for v in verdicts] == [("first", False), ("second", False)]


def test_a_consulted_module_that_starts_to_shadow_is_seen(make_project: MakeProject) -> None:
    project = make(make_project)

    project.edit("pipelines/common.py", "SCALE = 3\n", "def helper(x):\n    return x\n")
    why = project.dirty()["first"]
    assert why == [("code changed", "-helper in pipelines/base.py, +helper in pipelines/common.py")]
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert project.lock()["chain.first"].facts.code.keys() >= {"pipelines/common.py:helper"}


def test_a_module_that_appears_is_seen(make_project: MakeProject) -> None:
    # ``fastmath`` is not a project module at first (the fallback runs); once a fastmath.py
    # appears in the project, the step's code is that module's too.
    project = make(make_project)
    project.edit(
        "pipelines/base.py",
        "def helper(x):",
        "try:\n    from fastmath import helper\nexcept ImportError:\n\n    def helper(x):",
    )
    project.edit("pipelines/base.py", "    return x * 10", "        return x * 10")
    project.repro()
    assert project.take_ran() == ["first"]
    assert "pkg:fastmath" in project.lock()["chain.first"].facts.code

    project.write({"fastmath.py": "def helper(x):\n    return x * 10\n"})
    why = dict(project.dirty()["first"])
    assert "+helper in fastmath.py" in why["code changed"]
    assert "stopped using fastmath" in why["code changed"]


@pytest.mark.parametrize(
    "damage",
    [
        b"{",  # an older incr's JSON
        b"",
        cachefile.MAGIC,
        cachefile.MAGIC + b"\xff\x00\x13",
        cachefile.dumps({"key": 1}),
        cachefile.dumps([]),
        "cut",
    ],
)
def test_a_damaged_file_is_only_a_miss(make_project: MakeProject, damage: bytes | str) -> None:
    project = make(make_project)
    path = project.root / ".pipecache" / "closures.bin"
    path.write_bytes(path.read_bytes()[:-7] if damage == "cut" else damage)

    assert project.dirty() == {}
    assert "pipelines.chain:first" in closures_file(project)["closures"]
    project.edit("pipelines/base.py", "x * 10", "x * 11")
    assert project.dirty()["first"] == [("code changed", "helper in pipelines/base.py")]


# ---------------------------------------------------------------------- fingerprints from the lock


def test_a_lock_entry_whose_fingerprint_does_not_match_its_facts_is_dirty(
    make_project: MakeProject,
) -> None:
    # A clean step takes its fingerprint from the lockfile only when that fingerprint was
    # checked against the entry's facts: a hand-edited one must still show.
    project = make(make_project)
    text = project.lockfile.read_text()
    old = project.lock()["chain.second"].fingerprint
    project.lockfile.write_text(unsealed(text).replace(old, "0" * len(old)))

    assert project.dirty() == {"second": [("fingerprint changed", "")]}
    assert project.dirty() == {"second": [("fingerprint changed", "")]}  # from the parsed copy
    project.repro()
    assert project.take_ran() == []  # the run cache has it: restored, not run
    assert project.lock()["chain.second"].fingerprint == old
    assert project.dirty() == {}


def test_an_empty_kept_source_is_no_source(make_project: MakeProject) -> None:
    # Kept sources are written without fsync: a power cut may leave an empty file, which
    # must read as "not kept", not as an empty old version, and be written again.
    project = make(make_project)
    digest = project.lock()["chain.first"].facts.code["pipelines/base.py:helper"]
    sources = project.root / ".pipecache" / "sources"
    file, module, name = json.loads((sources / "parts.json").read_text())["parts"][digest]
    assert (file, name) == ("pipelines/base.py", "helper")
    kept = sources / "modules" / module
    assert "x * 10" in kept.read_text()
    kept.write_text("")

    project.edit("pipelines/base.py", "x * 10", "x * 11")
    shown = project.incr("show", "first").output
    assert "(its source then is no longer in the cache)" in shown
    assert "-    return x * 10" not in shown

    project.edit("pipelines/base.py", "x * 11", "x * 10")
    project.repro("--force", "first")  # runs with that code again: its source is kept again
    assert "x * 10" in kept.read_text()


def test_a_new_fingerprint_schema_is_not_hidden_by_the_parsed_lockfile(
    make_project: MakeProject, monkeypatch
) -> None:
    # The parsed copy of the lockfile says which entries' fingerprints match their facts; an
    # incr that computes fingerprints differently must not trust it.
    project = make(make_project)
    assert (project.root / ".pipecache" / "lockfile.bin").is_file()
    from incr import fingerprint as fingerprint_module

    monkeypatch.setattr(lockbook, "FINGERPRINT_SCHEMA", 99)
    monkeypatch.setattr(fingerprint_module, "FINGERPRINT_SCHEMA", 99)
    workspace, pipelines = open_pipelines(IncrProject.find(project.root), executable=False)
    verdicts = workspace.status(pipelines)

    assert [(v.node.name, [r.kind for r in v.reasons]) for v in verdicts] == [
        ("first", ["fingerprint changed"]),
        ("second", ["after"]),
    ]


def test_a_run_leaves_the_parsed_copy_of_the_lockfile_it_wrote(make_project: MakeProject) -> None:
    # The next command reads the lockfile through that copy instead of parsing its TOML: the
    # copy must hold exactly what the lockfile says, under the lockfile's digest.
    from incr import lockfile
    from incr.hashing import file_digest

    project = make(make_project)
    for edit in (None, ("x * 10", "x * 12")):
        if edit is not None:
            project.edit("pipelines/base.py", *edit)
            project.repro()
            assert project.take_ran() == ["first", "second"]
        copy = cachefile.read(project.root / ".pipecache" / "lockfile.bin")
        assert copy["digest"] == file_digest(project.lockfile)
        parsed = {k: lockfile.entry_from_json(k, v) for k, v in copy["entries"].items()}
        assert parsed == lockfile.read(project.lockfile)
        assert sorted(copy["consistent"]) == ["chain.first", "chain.second"]


def test_a_run_keeps_each_module_text_once_not_each_part(make_project: MakeProject) -> None:
    project = make(make_project)
    sources = project.root / ".pipecache" / "sources"
    parts = json.loads((sources / "parts.json").read_text())["parts"]
    code = {**project.lock()["chain.first"].facts.code, **project.lock()["chain.second"].facts.code}
    kept = {p: d for p, d in code.items() if p.startswith("pipelines/")}
    assert sorted(parts) == sorted(set(kept.values()))
    files = {file for file, _, _ in parts.values()}
    assert files == {"pipelines/chain.py", "pipelines/base.py", "pipelines/mark.py"}
    # one text per module version: those the graphs were traced from, parts or not (the
    # wiring check compares a changed module with its text)
    traced = cachefile.read(project.root / ".pipecache/graph.bin")["key"]["modules"]
    assert {p.name for p in (sources / "modules").iterdir()} == {
        digest for rel, digest in traced.items() if rel.endswith(".py")
    }
    assert files <= set(traced)
    assert sorted(p.name for p in sources.iterdir()) == ["modules", "parts.json"]

    project.edit("pipelines/base.py", "x * 10", "x * 11")
    shown = project.incr("show", "first").output
    assert "-    return x * 10" in shown and "+    return x * 11" in shown
