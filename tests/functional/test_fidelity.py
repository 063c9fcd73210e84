"""Fingerprint fidelity (issue 3): tracked reads, cached outs, explained decisions, hard code
cases, package versions, ``incr commit`` and cache expiry, in real projects driven by the CLI.

Steps append their name to ``ran.txt`` (``pipelines/mark.py``), so each test asserts what really
executed, what ``pipeline.lock`` holds and the reasons ``incr status --json`` gives.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = "pipelines/flow.py"
HELPERS = "pipelines/helpers.py"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def touch(path: Path) -> None:
    """Move a file's mtime without changing its bytes."""
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder (None) under ``folder``."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def squeezed(text: str) -> list[str]:
    """The lines of ``text`` with runs of spaces made one (status tables pad names)."""
    return [" ".join(line.split()) for line in text.splitlines()]


def object_bytes(project: Project, digest: str) -> bytes:
    return project.object_bytes(digest)


# ======================================== 1. tracked reads

READS = """\
    import pathlib

    import numpy as np
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def by_open() -> str:
        mark("by_open")
        with open("data/notes.txt", encoding="utf-8") as fh:
            return fh.read()


    @step
    def by_pathlib() -> str:
        mark("by_pathlib")
        return pathlib.Path("data/other.txt").read_text(encoding="utf-8")


    @step
    def by_numpy() -> int:
        mark("by_numpy")
        return int(np.load("data/numbers.npy").sum())


    @pipeline
    def reads():
        by_open()
        by_pathlib()
        by_numpy()
    """


def write_npy(project: Project, values: list[int]) -> None:
    np.save(project.root / "data/numbers.npy", np.array(values, dtype=np.int64))


@pytest.fixture
def reads(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/reads.py": READS, "data/notes.txt": "alpha\n", "data/other.txt": "one\n"}
    )
    write_npy(project, [1, 2, 3])
    project.repro()
    assert project.take_ran() == ["by_open", "by_pathlib", "by_numpy"]
    return project


def _edit_notes(project: Project) -> None:
    (project.root / "data/notes.txt").write_text("bravo\n", encoding="utf-8")


def _edit_other(project: Project) -> None:
    (project.root / "data/other.txt").write_text("two\n", encoding="utf-8")


def _edit_npy(project: Project) -> None:
    write_npy(project, [1, 2, 4])


READERS = {  # step -> the file it reads without declaring it
    "by_open": "data/notes.txt",
    "by_pathlib": "data/other.txt",
    "by_numpy": "data/numbers.npy",
}


def test_undeclared_reads_are_recorded_in_the_lockfile(reads: Project) -> None:
    lock = reads.lock()
    for name, path in READERS.items():
        assert list(lock[f"reads.{name}"].reads) == [path], name
        assert lock[f"reads.{name}"].facts.deps == {}, name
    text = reads.lockfile.read_text(encoding="utf-8")
    assert '[steps."reads.by_open".reads]\n"data/notes.txt" = ' in text


def test_edited_read_file_dirties_its_reader_and_reruns_it(reads: Project) -> None:
    before = reads.lock()
    _edit_notes(reads)
    assert reads.dirty() == {"by_open": [("read changed", "data/notes.txt")]}
    _edit_other(reads)
    _edit_npy(reads)
    assert reads.dirty() == {name: [("read changed", path)] for name, path in READERS.items()}

    reads.repro()
    assert reads.take_ran() == list(READERS)
    assert reads.dirty() == {}
    after = reads.lock()
    for name, path in READERS.items():
        assert after[f"reads.{name}"].reads[path] != before[f"reads.{name}"].reads[path]


def test_read_changed_is_named_in_status_text(reads: Project) -> None:
    _edit_notes(reads)
    result = reads.incr("status")
    assert result.returncode == 0, result.output
    assert "by_open dirty: read changed (data/notes.txt)" in squeezed(result.stdout)


def test_touched_read_file_reruns_nothing(reads: Project) -> None:
    lock_before = reads.lock_bytes()
    for rel in ("data/notes.txt", "data/other.txt", "data/numbers.npy"):
        touch(reads.root / rel)
    reads.repro()
    assert reads.take_ran() == []
    assert reads.lock_bytes() == lock_before


NOT_READS = """\
    import pathlib

    from incr import pipeline, step
    from pipelines.mark import mark

    OUTSIDE = {outside!r}


    @step
    def busy() -> str:
        mark("busy")
        pathlib.Path("data/made.txt").write_text("made here", encoding="utf-8")
        made = pathlib.Path("data/made.txt").read_text(encoding="utf-8")
        cached = pathlib.Path(".pipecache/private.txt").read_text(encoding="utf-8")
        outside = pathlib.Path(OUTSIDE).read_text(encoding="utf-8")
        from mylib import lazy  # imported for the first time while the step runs

        notes = pathlib.Path("data/notes.txt").read_text(encoding="utf-8")
        return made + cached + outside + lazy.WORD + notes


    @pipeline
    def quiet():
        busy()
    """


def test_writes_cache_files_and_imports_are_not_reads(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Files the step wrote first, incr's cache and lazily imported code are not inputs; a
    file outside the project is (see test_outside_reads.py)."""
    outside = tmp_path / "elsewhere" / "ext.txt"
    outside.parent.mkdir()
    outside.write_text("outside", encoding="utf-8")
    project = make_project(
        {
            "pipelines/quiet.py": NOT_READS.format(outside=str(outside)),
            "mylib/__init__.py": "",
            "mylib/lazy.py": 'WORD = "lazy"\n',
            ".pipecache/private.txt": "private",
            "data/notes.txt": "alpha\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["busy"]

    # data/notes.txt and the outside file are the real reads.
    assert list(project.lock()["quiet.busy"].reads) == [str(outside), "data/notes.txt"]

    (project.root / ".pipecache/private.txt").write_text("changed", encoding="utf-8")
    (project.root / "mylib/lazy.py").write_text('WORD = "lazy"  # edited\n', encoding="utf-8")
    assert project.dirty() == {}
    outside.write_text("changed outside", encoding="utf-8")
    assert project.dirty() == {"busy": [("read changed", str(outside))]}


SOURCES_AS_DATA = """\
    import inspect
    import runpy
    import warnings

    from incr import pipeline, step
    from pipelines.helpers import half
    from pipelines.mark import mark


    @step
    def configured() -> float:
        mark("configured")
        run = runpy.run_path("configs/exp.py")
        space = {}
        exec(open("configs/extra.py", encoding="utf-8").read(), space)
        warnings.warn("shown with its source line")  # linecache reads this module
        assert "def half" in inspect.getsource(half)  # inspect reads helpers.py
        return half(run["ALPHA"] * space["EPOCHS"])


    @pipeline
    def sources():
        configured()
    """


def test_a_python_source_read_as_data_is_a_read(make_project: MakeProject, tmp_path: Path):
    """``runpy.run_path`` and ``exec(open(...).read())`` read a config written in Python: an
    input. Imports, tracebacks, warnings and ``inspect`` read sources as code: not reads."""
    project = make_project(
        {
            "pipelines/sources.py": SOURCES_AS_DATA,
            "pipelines/helpers.py": "def half(x):\n    return x / 2\n",
            "configs/exp.py": "ALPHA = 0.5\n",
            "configs/extra.py": "EPOCHS = 3\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["configured"]
    assert list(project.lock()["sources.configured"].reads) == [
        "configs/exp.py",
        "configs/extra.py",
    ]

    project.edit("configs/exp.py", "0.5", "0.25")
    assert project.dirty() == {"configured": [("read changed", "configs/exp.py")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["configured"]
    assert_same_as_scratch(project, fresh)


LOADED_BY_PATH = """\
    import importlib.util
    import runpy
    from importlib.machinery import SourceFileLoader

    from incr import pipeline, step
    from pipelines.mark import mark

    BASE = SourceFileLoader("base_config", "configs/base.py").load_module().LR
    SEED = runpy.run_path("configs/seed.py")["SEED"]


    def load_config(path):
        spec = importlib.util.spec_from_file_location("exp_config", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


    @step
    def configured() -> list:
        mark("configured")
        import pipelines.helpers  # an import by name: code, not a read

        return [BASE, SEED, load_config("configs/exp.py").EPOCHS, pipelines.helpers.K]


    @pipeline
    def loaded():
        configured()
    """


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("configs/exp.py", "EPOCHS = 3", "EPOCHS = 30"),
        ("configs/base.py", "LR = 0.1", "LR = 0.2"),
        ("configs/seed.py", "SEED = 1", "SEED = 2"),
    ],
    ids=["exec_module", "load_module", "run_path-on-import"],
)
def test_a_python_config_loaded_by_its_path_is_a_read(
    make_project: MakeProject, tmp_path: Path, path: str, old: str, new: str
) -> None:
    """A config module loaded by its path, in a step or while its pipeline module is
    imported, is not a module the code index follows by name: its bytes are an input."""
    project = make_project(
        {
            "pipelines/loaded.py": LOADED_BY_PATH,
            "pipelines/helpers.py": "K = 7\n",
            "configs/exp.py": "EPOCHS = 3\n",
            "configs/base.py": "LR = 0.1\n",
            "configs/seed.py": "SEED = 1\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["configured"]
    assert "pipelines/helpers.py" not in project.lock()["loaded.configured"].reads

    project.edit(path, old, new)
    assert "configured" in project.dirty()
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["configured"]
    assert_same_as_scratch(project, fresh)


CHANGED_WHILE_RUNNING = """\
    import subprocess

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def trained() -> str:
        mark("trained")
        data = open("data/x.txt", encoding="utf-8").read().strip()
        # Another process (a git pull, an editor) changes the file while the step runs.
        subprocess.run(["sh", "-c", "echo v2 > data/x.txt"], check=True)
        return "trained on " + data


    @pipeline
    def racing():
        trained()
    """


def test_a_file_changed_while_the_step_that_read_it_runs_leaves_it_dirty(
    make_project: MakeProject,
) -> None:
    """The lockfile must not pair the file's new bytes with a result made from the old
    ones: the step is dirty until it runs on the file as it is."""
    project = make_project({"pipelines/racing.py": CHANGED_WHILE_RUNNING, "data/x.txt": "v1\n"})
    project.repro()
    assert project.take_ran() == ["trained"]
    assert project.dirty() == {"trained": [("read changed", "data/x.txt")]}


TRACK_OPTIONS = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(track_reads=False)
    def blind() -> str:
        mark("blind")
        with open("data/notes.txt", encoding="utf-8") as fh:
            return fh.read()


    @step(deps=["data/notes.txt"])
    def declared() -> str:
        mark("declared")
        with open("data/notes.txt", encoding="utf-8") as fh:
            return fh.read()


    @pipeline
    def options():
        blind()
        declared()
    """


@pytest.fixture
def options(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/options.py": TRACK_OPTIONS, "data/notes.txt": "alpha\n"})
    project.repro()
    assert project.take_ran() == ["blind", "declared"]
    return project


def test_track_reads_false_records_no_reads(options: Project) -> None:
    entry = options.lock()["options.blind"]
    assert entry.reads == {}
    assert entry.facts.deps == {}
    assert '[steps."options.blind".reads]' not in options.lockfile.read_text(encoding="utf-8")

    _edit_notes(options)
    assert "blind" not in options.dirty()


def test_declared_dep_is_not_duplicated_into_reads(options: Project) -> None:
    entry = options.lock()["options.declared"]
    assert entry.reads == {}
    assert list(entry.facts.deps) == ["data/notes.txt"]

    _edit_notes(options)
    assert options.dirty() == {"declared": [("dep changed", "data/notes.txt")]}
    options.repro()
    assert options.take_ran() == ["declared"]


def test_reverting_a_read_file_restores_without_executing(reads: Project) -> None:
    original = reads.lock_bytes()
    _edit_notes(reads)
    reads.repro()
    assert reads.take_ran() == ["by_open"]

    (reads.root / "data/notes.txt").write_text("alpha\n", encoding="utf-8")
    reads.repro()
    assert reads.take_ran() == []
    assert reads.lock_bytes() == original


# ======================================== 2. outs

OUTS = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    GREETING = "hello"


    @step(outs=["out/report.txt", "out/parts"])
    def publish() -> None:
        mark("publish")
        os.makedirs("out/parts/sub", exist_ok=True)
        with open("out/report.txt", "w", encoding="utf-8") as fh:
            fh.write(GREETING + " report\\n")
        for name in ("a.txt", "sub/b.txt"):
            with open("out/parts/" + name, "w", encoding="utf-8") as fh:
                fh.write(GREETING + " " + name + "\\n")


    @pipeline
    def outs():
        publish()
    """


@pytest.fixture
def outs(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/outs.py": OUTS})
    project.repro()
    assert project.take_ran() == ["publish"]
    return project


def test_file_and_folder_outs_are_stored_in_the_cache(outs: Project) -> None:
    outputs = outs.lock()["outs.publish"].outputs
    assert sorted(outputs) == ["out/parts", "out/report.txt"]
    report, parts = outputs["out/report.txt"], outputs["out/parts"]
    assert (report.kind, parts.kind) == ("file", "dir")
    assert object_bytes(outs, report.digest) == (outs.root / "out/report.txt").read_bytes()
    manifest = dict(json.loads(object_bytes(outs, parts.digest)))
    assert sorted(manifest) == ["a.txt", "sub/b.txt"]
    for rel, digest in manifest.items():
        assert object_bytes(outs, digest) == (outs.root / "out/parts" / rel).read_bytes()


def test_deleted_outs_are_restored_without_executing(outs: Project) -> None:
    report = (outs.root / "out/report.txt").read_bytes()
    parts = tree(outs.root / "out/parts")
    lock_before = outs.lock_bytes()
    (outs.root / "out/report.txt").unlink()
    shutil.rmtree(outs.root / "out/parts")

    why = outs.dirty()["publish"]
    assert [kind for kind, _ in why] == ["output missing"]
    assert sorted(why[0][1].split(", ")) == ["out/parts", "out/report.txt"]

    outs.repro()
    assert outs.take_ran() == []
    assert (outs.root / "out/report.txt").read_bytes() == report
    assert tree(outs.root / "out/parts") == parts
    assert outs.lock_bytes() == lock_before
    assert outs.dirty() == {}


def test_hand_edited_out_is_reported_and_restored(outs: Project) -> None:
    report = (outs.root / "out/report.txt").read_bytes()
    (outs.root / "out/report.txt").write_text("edited by hand\n", encoding="utf-8")

    assert outs.dirty() == {"publish": [("output modified", "out/report.txt")]}
    result = outs.incr("status")
    assert "publish dirty: output modified (out/report.txt)" in squeezed(result.stdout)

    outs.repro()
    assert outs.take_ran() == []
    assert (outs.root / "out/report.txt").read_bytes() == report
    assert outs.dirty() == {}


def test_folder_out_with_an_extra_file_is_restored_exactly(outs: Project) -> None:
    parts = tree(outs.root / "out/parts")
    (outs.root / "out/parts/extra.txt").write_text("not mine", encoding="utf-8")

    assert outs.dirty() == {"publish": [("output modified", "out/parts: extra.txt added")]}
    outs.repro()
    assert outs.take_ran() == []
    assert tree(outs.root / "out/parts") == parts
    assert not (outs.root / "out/parts/extra.txt").exists()


def test_revert_restores_old_outs_from_the_run_cache(outs: Project) -> None:
    report = (outs.root / "out/report.txt").read_bytes()
    parts = tree(outs.root / "out/parts")
    lock_before = outs.lock_bytes()

    outs.edit("pipelines/outs.py", 'GREETING = "hello"', 'GREETING = "howdy, partner"')
    outs.repro()
    assert outs.take_ran() == ["publish"]
    assert (outs.root / "out/report.txt").read_bytes() == b"howdy, partner report\n"
    assert tree(outs.root / "out/parts") != parts

    outs.edit("pipelines/outs.py", 'GREETING = "howdy, partner"', 'GREETING = "hello"')
    assert [k for k, _ in outs.dirty()["publish"]] == ["code changed"]
    outs.repro()
    assert outs.take_ran() == []
    assert (outs.root / "out/report.txt").read_bytes() == report
    assert tree(outs.root / "out/parts") == parts
    assert outs.lock_bytes() == lock_before


# ======================================== 3. explained decisions

SCALE_OLD = "return value * factor"
SCALE_NEW = "return value * factor * 2"


def test_status_json_shows_propagation_as_waiting(flow: Project) -> None:
    flow.edit(HELPERS, SCALE_OLD, SCALE_NEW)

    steps = {s["step"]: s for s in flow.status()["steps"]}

    assert (steps["scaled"]["dirty"], steps["scaled"]["waiting"]) == (True, False)
    assert steps["scaled"]["reasons"][0]["kind"] == "code changed"
    assert steps["scaled"]["fingerprint"] is not None
    total = steps["total"]
    assert (total["dirty"], total["waiting"]) == (True, True)
    assert [(r["kind"], r["detail"]) for r in total["reasons"]] == [("after", "scaled")]
    assert total["fingerprint"] is None
    assert not any(s["waiting"] for name, s in steps.items() if name != "total")

    assert "total waiting: after scaled" in squeezed(flow.incr("status").stdout)


def test_show_prints_the_fingerprint_parts_and_a_diff(flow: Project) -> None:
    locked = flow.lock()["flow.scaled"]
    result = flow.incr("show", "scaled")
    assert result.returncode == 0, result.output
    out = result.stdout
    assert out.splitlines()[0].startswith("flow.scaled")
    assert "state: clean" in out
    assert f"fingerprint: {locked.fingerprint}" in out
    for part, digest in locked.facts.code.items():
        assert part in out
        assert digest in out
    assert "diff of" not in out

    flow.edit(HELPERS, SCALE_OLD, SCALE_NEW)
    result = flow.incr("show", "scaled")
    assert result.returncode == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "code changed (scale in pipelines/helpers.py)" in result.stdout
    assert "diff of pipelines/helpers.py:scale:" in lines
    assert f"-    {SCALE_OLD}" in lines
    assert f"+    {SCALE_NEW}" in lines
    assert not any("diff of pipelines/flow.py" in line for line in lines)


def test_show_json_carries_the_same_facts(flow: Project) -> None:
    flow.edit(HELPERS, SCALE_OLD, SCALE_NEW)
    result = flow.incr("show", "scaled", "--json")
    assert result.returncode == 0, result.output
    data = json.loads(result.stdout)

    assert data["key"] == "flow.scaled"
    assert data["dirty"] is True
    assert [(r["kind"], r["detail"]) for r in data["reasons"]] == [
        ("code changed", "scale in pipelines/helpers.py")
    ]
    assert data["locked"]["fingerprint"] == flow.lock()["flow.scaled"].fingerprint
    assert data["fingerprint"] != data["locked"]["fingerprint"]
    assert data["now"]["code"]["python"] == PYTHON
    [diff] = data["diffs"]
    assert diff["part"] == "pipelines/helpers.py:scale"
    assert SCALE_OLD in diff["then"] and SCALE_NEW not in diff["then"]
    assert SCALE_NEW in diff["now"]


def test_status_why_prints_what_show_prints(flow: Project) -> None:
    flow.edit(HELPERS, SCALE_OLD, SCALE_NEW)
    show = flow.incr("show", "scaled")
    why = flow.incr("status", "--why", "scaled")
    assert show.returncode == why.returncode == 0, why.output
    assert "diff of pipelines/helpers.py:scale:" in show.stdout
    assert why.stdout == show.stdout


def test_show_of_a_pipeline_is_a_one_line_error(flow: Project) -> None:
    message = flow.incr("show", "flow").user_error()
    assert "flow" in message
    assert "pipeline" in message


# ======================================== 4. hard code cases

CODE_HELPERS = """\
    def make_scaler(k):
        def scaler(v):
            return v * k

        return scaler


    scale3 = make_scaler(3)


    class Model:
        bias = 1

        def predict(self, v):
            return v + self.bias


    class Unrelated:
        level = 1

        def go(self):
            return 0


    MODEL = Model()


    def secret(v):
        return v - 1
    """

CODE_STEPS = """\
    import importlib

    from incr import pipeline, step
    from pipelines.helpers import MODEL, scale3
    from pipelines.mark import mark

    _helpers = importlib.import_module(".".join(["pipelines", "helpers"]))


    @step
    def closure() -> list:
        mark("closure")
        return [scale3(v) for v in (1, 2)]


    @step
    def instance() -> list:
        mark("instance")
        return [MODEL.predict(v) for v in (1, 2)]


    @step
    def dynamic() -> int:
        mark("dynamic")
        return getattr(_helpers, "sec" + "ret")(5)


    @step(code_deps=[_helpers.secret])
    def listed() -> int:
        mark("listed")
        return getattr(_helpers, "sec" + "ret")(5)


    @step(version="2")
    def versioned() -> int:
        mark("versioned")
        return 1


    @pipeline
    def code():
        closure()
        instance()
        dynamic()
        listed()
        versioned()
    """
CODE_ORDER = ["closure", "instance", "dynamic", "listed", "versioned"]


@pytest.fixture
def code(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/helpers.py": CODE_HELPERS, "pipelines/code.py": CODE_STEPS})
    project.repro()
    assert project.take_ran() == CODE_ORDER
    return project


def test_closure_free_variable_and_factory_edits_dirty_the_step(code: Project) -> None:
    code.edit(HELPERS, "scale3 = make_scaler(3)", "scale3 = make_scaler(4)")
    assert code.dirty() == {"closure": [("code changed", "scale3 in pipelines/helpers.py")]}
    code.repro()
    assert code.take_ran() == ["closure"]

    code.edit(HELPERS, "return v * k", "return v * k + 1")
    assert code.dirty() == {"closure": [("code changed", "make_scaler in pipelines/helpers.py")]}
    code.repro()
    assert code.take_ran() == ["closure"]


def test_class_used_through_an_instance(code: Project) -> None:
    code.edit(HELPERS, "    level = 1", "    level = 2")
    code.edit(HELPERS, "return 0", "return 100")
    assert code.dirty() == {}

    code.edit(HELPERS, "    bias = 1", "    bias = 2")
    assert code.dirty() == {"instance": [("code changed", "Model in pipelines/helpers.py")]}
    code.repro()
    assert code.take_ran() == ["instance"]

    code.edit(HELPERS, "return v + self.bias", "return v - self.bias")
    assert code.dirty() == {"instance": [("code changed", "Model in pipelines/helpers.py")]}
    code.repro()
    assert code.take_ran() == ["instance"]


def test_dynamic_lookup_gives_a_note(code: Project) -> None:
    text = code.incr("status")
    assert text.returncode == 0, text.output
    notes = [line.strip() for line in text.stdout.splitlines() if "note:" in line]
    assert any("getattr() in pipelines/code.py:dynamic" in note for note in notes), text.stdout
    assert all("code_deps" in note for note in notes), text.stdout

    steps = {s["step"]: s for s in code.status()["steps"]}
    json_notes = steps["dynamic"]["notes"]
    assert any("getattr() in pipelines/code.py:dynamic" in note for note in json_notes)
    assert all("code_deps" in note for note in json_notes)
    assert len(notes) == len(json_notes)  # said once, under its step
    # listed took charge with code_deps; the others look nothing up by name
    assert all(steps[name]["notes"] == [] for name in CODE_ORDER if name != "dynamic")


def test_code_deps_make_a_dynamically_used_helper_count(code: Project) -> None:
    assert "pipelines/helpers.py:secret" in code.lock()["code.listed"].facts.code

    code.edit(HELPERS, "return v - 1", "return v - 2")
    dirty = code.dirty()
    assert dirty["listed"] == [("code changed", "secret in pipelines/helpers.py")]
    code.repro()
    assert "listed" in code.take_ran()


def test_version_change_dirties_the_step(code: Project) -> None:
    assert code.lock()["code.versioned"].facts.code["version"] == "2"

    code.edit("pipelines/code.py", 'version="2"', 'version="3"')
    why = code.dirty()
    assert list(why) == ["versioned"]
    [(kind, detail)] = why["versioned"]
    assert kind == "code changed"
    assert "version 2 -> 3" in detail.split(", ")
    code.repro()
    assert code.take_ran() == ["versioned"]
    assert code.lock()["code.versioned"].facts.code["version"] == "3"


# ======================================== 5. third-party versions

FAKE_STEPS = """\
    import fakepkg
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def uses_fake() -> int:
        mark("uses_fake")
        return fakepkg.VALUE


    @step
    def plain() -> int:
        mark("plain")
        return 2


    @pipeline
    def fake():
        uses_fake()
        plain()
    """


def metadata(version: str) -> str:
    return f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n"


def test_third_party_package_counts_by_its_version(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "lib" / "site-packages"  # installed, as pip does (not local code)
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    info = site / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(metadata("1.0"), encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *([path] if path else [])]))

    project = make_project({"pipelines/fake.py": FAKE_STEPS})
    project.repro()
    assert project.take_ran() == ["uses_fake", "plain"]
    lock = project.lock()
    assert lock["fake.uses_fake"].facts.code["pkg:fakepkg"] == "1.0"
    assert lock["fake.uses_fake"].facts.code["python"] == PYTHON
    assert "pkg:fakepkg" not in lock["fake.plain"].facts.code
    text = project.lockfile.read_text(encoding="utf-8")
    assert '"pkg:fakepkg" = "1.0"' in text
    assert f'python = "{PYTHON}"' in text

    (info / "METADATA").write_text(metadata("1.1"), encoding="utf-8")
    assert project.dirty() == {"uses_fake": [("code changed", "fakepkg 1.0 -> 1.1")]}
    project.repro()
    assert project.take_ran() == ["uses_fake"]
    assert project.lock()["fake.uses_fake"].facts.code["pkg:fakepkg"] == "1.1"


def test_what_an_installed_package_requires_counts_by_its_version(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fakepkg`` requires ``fakedep`` (which requires ``fakeroot``; not its extra's
    ``fakeextra``): a step importing fakepkg alone reruns when either is upgraded, as a result
    can change with them (numpy under pandas)."""
    site = tmp_path / "lib" / "site-packages"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    infos = {}
    for name, requires in (
        ("fakepkg", ["fakedep>=1", 'fakeextra; extra == "fast"']),
        ("fakedep", ["fakeroot"]),
        ("fakeroot", []),
        ("fakeextra", []),
    ):
        infos[name] = site / f"{name}-1.0.dist-info"
        infos[name].mkdir()
        lines = [f"Requires-Dist: {r}" for r in requires]
        text = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *lines])
        (infos[name] / "METADATA").write_text(text + "\n", encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *([path] if path else [])]))

    project = make_project({"pipelines/fake.py": FAKE_STEPS})
    project.repro()
    code = project.lock()["fake.uses_fake"].facts.code
    assert {k: v for k, v in code.items() if k.startswith("pkg:")} == {
        "pkg:fakepkg": "1.0",
        "pkg:fakedep": "1.0",
        "pkg:fakeroot": "1.0",
    }
    assert not any(k.startswith("pkg:") for k in project.lock()["fake.plain"].facts.code)
    project.take_ran()

    meta = infos["fakeroot"] / "METADATA"
    meta.write_text(meta.read_text(encoding="utf-8").replace("1.0", "2.0"), encoding="utf-8")
    assert project.dirty() == {"uses_fake": [("code changed", "fakeroot 1.0 -> 2.0")]}
    project.repro()
    assert project.take_ran() == ["uses_fake"]


ASKS_VERSION = """\
    import importlib.metadata
    from importlib.metadata import version

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def gated() -> str:
        mark("gated")
        return "new-api" if version("fakepkg").startswith("2") else "old-api"


    @step
    def report() -> str:
        mark("report")
        return importlib.metadata.version("fakepkg")


    @pipeline
    def asks():
        gated()
        report()
    """


def test_a_package_whose_version_a_step_asks_for_counts_by_it(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that branches on ``importlib.metadata.version("fakepkg")`` without importing it
    depends on that version as one importing it does: an upgrade reruns it (it stayed clean,
    keeping the old branch's result)."""
    site = tmp_path / "lib" / "site-packages"
    info = site / "fakepkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata("1.0"), encoding="utf-8")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *([path] if path else [])]))
    project = make_project({"pipelines/asks.py": ASKS_VERSION})
    project.repro()
    assert project.take_ran() == ["gated", "report"]
    before = project.lock()["asks.gated"]
    assert before.facts.code["pkg:fakepkg"] == "1.0"

    (info / "METADATA").write_text(metadata("2.0"), encoding="utf-8")
    info.rename(site / "fakepkg-2.0.dist-info")
    assert project.dirty() == {
        "gated": [("code changed", "fakepkg 1.0 -> 2.0")],
        "report": [("code changed", "fakepkg 1.0 -> 2.0")],
    }
    project.repro()
    assert sorted(project.take_ran()) == ["gated", "report"]
    assert project.lock()["asks.gated"].outputs != before.outputs  # the new branch's result
    assert project.dirty() == {}


# ======================================== 6. incr commit


def test_commit_records_a_refactor_without_running(flow: Project) -> None:
    before = flow.lock()
    flow.edit(HELPERS, SCALE_OLD, "return factor * value")
    assert flow.dirty() == {
        "scaled": [("code changed", "scale in pipelines/helpers.py")],
        "total": [("after", "scaled")],
    }

    result = flow.incr("commit", "scaled")
    assert result.returncode == 0, result.output
    assert "flow.scaled" in result.stdout

    assert flow.take_ran() == []
    assert flow.dirty() == {}
    after = flow.lock()
    assert after["flow.scaled"].fingerprint != before["flow.scaled"].fingerprint
    assert after["flow.scaled"].outputs == before["flow.scaled"].outputs
    assert {k: e.fingerprint for k, e in after.items() if k != "flow.scaled"} == {
        k: e.fingerprint for k, e in before.items() if k != "flow.scaled"
    }
    flow.repro()
    assert flow.take_ran() == []


def test_commit_in_a_fresh_clone_says_the_results_are_not_here(
    flow: Project, tmp_path: Path
) -> None:
    """A fresh clone (no cache) of a project whose step was refactored: the step waits on
    steps whose results this machine lacks; commit says so and how to get them, instead of
    sending the user from one upstream step to the next."""
    flow.edit(HELPERS, SCALE_OLD, "return factor * value")
    shutil.copytree(flow.root, tmp_path / "clone", ignore=shutil.ignore_patterns(".pipecache"))
    clone = Project(tmp_path / "clone")
    message = clone.incr("commit", "total").user_error()
    assert "whose results are not on this machine (a fresh clone?)" in message
    hint = clone.incr("commit", "total").stderr
    assert "incr pull" in hint and "incr repro" in hint


NEVER_RAN = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def fresh() -> int:
        mark("fresh")
        return 1


    @pipeline
    def extra():
        fresh()
    """


def test_commit_refuses_a_step_that_never_ran(flow: Project) -> None:
    flow.write({"pipelines/extra.py": NEVER_RAN})
    lock_before = flow.lock_bytes()

    message = flow.incr("commit", "fresh").user_error()

    assert "extra.fresh" in message
    assert flow.lock_bytes() == lock_before
    assert flow.take_ran() == []


def test_commit_refuses_when_an_out_is_missing(outs: Project) -> None:
    outs.edit("pipelines/outs.py", 'GREETING + " report', 'f"{GREETING} report')
    (outs.root / "out/report.txt").unlink()
    lock_before = outs.lock_bytes()

    message = outs.incr("commit", "publish").user_error()

    assert "outs.publish" in message
    assert "out/report.txt" in message
    assert outs.lock_bytes() == lock_before
    assert outs.take_ran() == []


# ======================================== 7. cache expiry

EXPIRES = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(cache_expires={value})
    def stamp() -> int:
        mark("stamp")
        return 1


    @step
    def lasting() -> int:
        mark("lasting")
        return 2


    @pipeline
    def timed():
        stamp()
        lasting()
    """


def test_expired_cache_reruns_the_step(make_project: MakeProject) -> None:
    project = make_project({"pipelines/timed.py": EXPIRES.format(value='"2s"')})
    project.repro()
    assert project.take_ran() == ["stamp", "lasting"]
    assert project.dirty() == {}

    time.sleep(2.5)
    assert project.dirty() == {"stamp": [("expired", "")]}
    assert "stamp dirty: expired" in squeezed(project.incr("status").stdout)
    project.repro()
    assert project.take_ran() == ["stamp"]
    assert project.dirty() == {}


def test_invalid_cache_expires_is_a_one_line_error(make_project: MakeProject) -> None:
    project = make_project({"pipelines/timed.py": EXPIRES.format(value='"soon"')})
    message = project.incr("status").user_error()
    assert "stamp" in message
    assert "cache_expires" in message
    assert project.take_ran() == []


# ======================================== 8. edits that keep clean

ALIAS_HELPERS = '''\
    """Helpers used through a module alias."""

    OFFSET = 5


    def scale(value, factor):
        return value * factor + OFFSET


    def unused(value):
        return value - 1
    '''

ALIAS_STEPS = """\
    import pipelines.helpers as h
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def aliased() -> list:
        mark("aliased")
        return [h.scale(v, 2) for v in (1, 2, 3)]


    @pipeline
    def alias():
        aliased()
    """


def _comment(project: Project) -> None:
    project.edit(
        HELPERS,
        "    return value * factor + OFFSET\n",
        "    # times, then shift\n    return value * factor + OFFSET  # !\n",
    )
    project.edit(HELPERS, "OFFSET = 5\n", "# the offset\nOFFSET = 5  # five\n")


def _docstring(project: Project) -> None:
    project.edit(HELPERS, '"""Helpers used through a module alias."""', '"""Other words."""')
    project.edit(
        HELPERS, "def scale(value, factor):\n", 'def scale(value, factor):\n    """Scale."""\n'
    )


def _blank_lines(project: Project) -> None:
    project.edit(HELPERS, "\n\ndef scale", "\n\n\n\n\ndef scale")
    project.edit(HELPERS, "    return value * factor", "\n    return value * factor")


def _reorder(project: Project) -> None:
    """Move ``unused`` above ``scale`` and ``scale`` above ``OFFSET``."""
    text = project.read(HELPERS)
    unused = "def unused(value):\n    return value - 1\n"
    start, end = text.index("def scale"), text.index("def unused")
    scale = text[start:end]
    assert text.count(unused) == 1 and text.count(scale) == 1
    text = text.replace(unused, "").replace(scale, "")
    offset = text.index("# the offset") if "# the offset" in text else text.index("OFFSET = 5")
    text = text[:offset] + unused + "\n\n" + scale.rstrip("\n") + "\n\n\n" + text[offset:]
    project.write({HELPERS: text})


HELPER_COSMETIC = {
    "comment": _comment,
    "docstring": _docstring,
    "blank-lines": _blank_lines,
    "reorder": _reorder,
}


def test_cosmetic_edits_of_an_aliased_helpers_module_keep_clean(make_project: MakeProject) -> None:
    project = make_project({HELPERS: ALIAS_HELPERS, "pipelines/alias.py": ALIAS_STEPS})
    project.repro()
    assert project.take_ran() == ["aliased"]
    assert "pipelines/helpers.py:scale" in project.lock()["alias.aliased"].facts.code
    lock_before = project.lock_bytes()

    for name, edit in HELPER_COSMETIC.items():
        text_before = project.read(HELPERS)
        edit(project)
        assert project.read(HELPERS) != text_before, name
        assert project.dirty() == {}, f"after the {name} edit"
    project.repro()
    assert project.take_ran() == []
    assert project.lock_bytes() == lock_before

    # The control: the same project does see a real edit of what the step uses.
    project.edit(HELPERS, "OFFSET = 5", "OFFSET = 6")
    assert project.dirty() == {"aliased": [("code changed", "OFFSET in pipelines/helpers.py")]}
    project.repro()
    assert project.take_ran() == ["aliased"]


DATA_FLOW = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(deps=["data/raw.csv"])
    def load() -> list:
        mark("load")
        with open("data/raw.csv") as fh:
            return [int(x) for x in fh.read().split(",")]


    @step
    def total(values: list) -> int:
        mark("total")
        return sum(values)


    @pipeline
    def flow():
        total(load())
    """


def test_commit_refuses_a_step_whose_data_or_inputs_changed(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Before, ``incr commit flow.load`` after an edit of ``data/raw.csv`` recorded the old
    result for the new data, in the lockfile and the run cache: ``total`` stayed 6 where a
    run from scratch gives 15, and so did every later run of that data (and a clone pulling
    it). So did committing ``total`` when its input changed."""
    project = make_project({"pipelines/flow.py": DATA_FLOW, "data/raw.csv": "1,2,3"})
    project.repro()
    assert project.take_ran() == ["load", "total"]
    (project.root / "data/raw.csv").write_text("5,5,5")
    lock_before = project.lock_bytes()
    message = project.incr("commit", "load").user_error()
    assert "flow.load: dep changed (data/raw.csv)" in message
    assert "not a change of its code or config, which is all commit accepts" in message
    assert "incr repro flow.load" in project.incr("commit", "load").stderr
    assert project.lock_bytes() == lock_before

    project.repro("flow.load")
    assert project.take_ran() == ["load"]
    message = project.incr("commit", "total").user_error()
    assert "flow.total: input changed (from load)" in message
    project.repro()
    assert project.take_ran() == ["total"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
