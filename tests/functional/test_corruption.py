"""Reliability, corruption: damaged cache objects are found and recomputed; a damaged lockfile is
reported and never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .reliability import _object_of, _objects
from .reliability import writer as writer  # a fixture: pytest finds it by this name

#: Arrays of 80 KB: each gets a file of its own (a run packs smaller objects; see PACKED).
ARRAYS = """\
    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def base() -> np.ndarray:
        mark("base")
        return np.arange(10_000, dtype=np.int64)


    @step
    def other() -> np.ndarray:
        mark("other")
        return np.linspace(0.0, 1.0, 10_000)


    @step
    def combine(a: np.ndarray, b: np.ndarray) -> float:
        mark("combine")
        return float(a.sum() + b.sum())


    @pipeline
    def arrays():
        combine(base(), other())
    """


@pytest.fixture
def arrays(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/arrays.py": ARRAYS})
    project.repro()
    assert project.take_ran() == ["base", "other", "combine"]
    return project


def _damage(project: Project) -> tuple[Path, Path]:
    """Flip a byte of base's array and cut other's in half; the two object paths."""
    flipped, cut = _object_of(project, "arrays.base"), _object_of(project, "arrays.other")
    data = bytearray(flipped.read_bytes())
    data[-3] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    return flipped, cut


def test_verify_names_damaged_objects_and_repro_recomputes_their_producers(
    arrays: Project,
) -> None:
    before = arrays.lock_bytes()
    flipped, cut = _damage(arrays)

    result = arrays.incr("verify")

    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert any(
        "arrays.base" in line and "output" in line and str(flipped) in line for line in lines
    )
    assert any("arrays.other" in line and str(cut) in line for line in lines)
    assert not any("arrays.combine" in line for line in lines)
    arrays.repro()
    assert arrays.take_ran() == ["base", "other"], "combine gets the same bytes: cut off"
    assert arrays.lock_bytes() == before
    again = arrays.incr("verify")
    assert again.returncode == 0, again.output
    assert arrays.dirty() == {}


def test_repro_detects_damaged_objects_it_reads_and_recomputes_them(arrays: Project) -> None:
    before = arrays.lock()
    flipped, cut = _damage(arrays)
    arrays.edit("pipelines/arrays.py", "a.sum() + b.sum()", "b.sum() + a.sum()")

    result = arrays.repro()

    assert arrays.take_ran() == ["base", "other", "combine"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    assert str(flipped) in warnings[0] and "base" in warnings[0]
    assert str(cut) in warnings[1] and "other" in warnings[1]
    after = arrays.lock()
    for key in ("arrays.base", "arrays.other"):
        assert after[key].outputs == before[key].outputs
    assert arrays.incr("verify").returncode == 0


#: Small values: a run appends them to a pack (``incr.packs``).
PACKED = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def first() -> list:
        mark("first")
        return [1, 2, 3]


    @step
    def second(values: list) -> int:
        mark("second")
        return sum(values)


    @pipeline
    def packed():
        second(first())
    """


def test_a_damaged_packed_object_is_named_by_verify_and_recomputed(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/packed.py": PACKED})
    project.repro()
    assert project.take_ran() == ["first", "second"]
    digest = project.lock()["packed.first"].outputs["output"].digest
    assert not project.object_file(digest).exists(), "a small value is packed"
    before = project.lock_bytes()
    project.damage_object(digest)

    result = project.incr("verify")

    assert result.returncode == 1, result.output
    assert any("packed.first" in line and digest in line for line in result.stderr.splitlines())
    assert project.dirty() == {
        "first": [("output missing from cache", "output")],
        "second": [("after", "first")],
    }
    project.repro()
    assert project.take_ran() == ["first"], "second gets the same value: cut off"
    assert project.lock_bytes() == before
    assert project.incr("verify").returncode == 0
    assert project.object_bytes(digest) != b""


def test_a_damaged_packed_input_is_recomputed_before_its_reader_runs(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/packed.py": PACKED})
    project.repro()
    project.take_ran()
    project.damage_object(project.lock()["packed.first"].outputs["output"].digest)
    project.edit("pipelines/packed.py", "return sum(values)", "return sum(values) + 0")

    result = project.repro()

    assert project.take_ran() == ["first", "second"]
    assert "warning: " in result.stderr and "first" in result.stderr
    assert project.incr("verify").returncode == 0
    assert project.dirty() == {}


def test_a_pack_removed_by_hand_makes_its_objects_missing(make_project: MakeProject) -> None:
    project = make_project({"pipelines/packed.py": PACKED})
    project.repro()
    project.take_ran()
    before = project.lock_bytes()
    for pack in (project.root / ".pipecache/packs").glob("*.pack"):
        pack.unlink()

    assert project.dirty() == {
        "first": [("output missing from cache", "output")],
        "second": [("after", "first"), ("output missing from cache", "output")],
    }
    result = project.incr("verify")
    assert result.returncode == 1 and "missing" in result.stderr, result.output
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert project.lock_bytes() == before
    assert project.dirty() == {}


def _conflicted(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("fingerprint = "))
    lines[at:at] = ["<<<<<<< HEAD\n"]
    lines[at + 2 : at + 2] = ["=======\n", 'fingerprint = "' + "0" * 32 + '"\n', ">>>>>>> b\n"]
    return "".join(lines), at + 1


def _truncated(text: str) -> tuple[str, int]:
    cut = text[: text.index("[steps", len(text) // 2) + len("[steps")]
    return cut, len(cut.splitlines())


def _unknown_schema(text: str) -> tuple[str, int]:
    line = text.splitlines().index("schema = 1") + 1
    return text.replace("schema = 1\n", "schema = 7\n"), line


def _nonsense(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("fingerprint = "))
    lines[at] = "fingerprint = [1, 2, 3]\n"
    return "".join(lines), at + 1


@pytest.mark.parametrize("damage", [_conflicted, _truncated, _unknown_schema, _nonsense])
def test_a_damaged_lockfile_is_reported_and_never_overwritten(arrays: Project, damage) -> None:
    text, line = damage(arrays.lock_bytes().decode())
    arrays.lockfile.write_text(text, encoding="utf-8")
    objects = set(_objects(arrays.root))

    commands = [["status"], ["repro"], ["repro", "--force"], ["commit", "base"], ["verify"], ["gc"]]
    for command in commands:
        result = arrays.incr(*command)
        assert result.user_error().startswith(f"error: pipeline.lock:{line}: "), command
        assert "  hint: " in result.stderr, command  # the way out
        assert arrays.lockfile.read_text(encoding="utf-8") == text, command

    assert arrays.take_ran() == []
    assert set(_objects(arrays.root)) == objects


def _edit_output_kind(project: Project, kind: str) -> int:
    """Hand-edit the kind of disk.write's value output in the lockfile; the line edited."""
    lines = project.lock_bytes().decode().splitlines(keepends=True)
    at = lines.index('[steps."disk.write".outputs]\n') + 1
    while not lines[at].startswith("output = "):
        at += 1
    lines[at] = lines[at].replace('"json:', f'"{kind}:')
    project.lockfile.write_text("".join(lines), encoding="utf-8")
    return at + 1


def test_an_unknown_output_kind_in_the_lockfile_names_its_line(writer: Project) -> None:
    line = _edit_output_kind(writer, "foo")
    text = writer.lock_bytes()
    writer.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    for command in ("status", "repro"):
        error = writer.incr(command).user_error()
        assert error.startswith(f"error: pipeline.lock:{line}: "), error
    assert writer.lock_bytes() == text
    assert writer.take_ran() == []


@pytest.mark.parametrize("kind", ["npy", "pickle"])
def test_an_output_of_the_wrong_kind_is_recomputed_or_reported(writer: Project, kind: str) -> None:
    _edit_output_kind(writer, kind)
    writer.edit("pipelines/bad.py", "return len(values)", "return len(values) + 0")

    result = writer.incr("repro")

    assert "Traceback" not in result.output, result.output
    assert result.returncode == 0 or "pipeline.lock" in result.user_error()


REPORT = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["result.txt"])
    def report() -> None:
        mark("report")
        with open("result.txt", "w") as fh:
            fh.write("hello")


    @pipeline
    def flow():
        report()
    """


def test_the_damaged_object_of_an_intact_outs_file_is_stored_again(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``report`` is clean (its file is intact) and nothing runs to store its bytes again.
    Before, ``incr push`` removed the damaged object and asked for an ``incr repro`` that
    ran nothing, and every push after failed (`is missing here`); ``incr verify`` too."""
    remote = tmp_path / "remote"
    files = {
        "pipelines/flow.py": REPORT,
        "pyproject.toml": f'[tool.incr.remote]\nurl = "{remote}"\n',
    }
    project = make_project(files)
    project.repro()
    assert project.take_ran() == ["report"]
    digest = project.lock()["flow.report"].outputs["result.txt"].digest
    obj = _object_of(project, "flow.report", "result.txt")
    assert obj.is_file()
    obj.write_bytes(b"XXXX")  # bit rot
    result = project.incr("verify")
    assert result.returncode == 0, result.output
    assert obj.read_bytes() == b"hello"
    obj.write_bytes(b"XXXX")
    result = project.incr("push")
    assert result.returncode == 0, result.output
    assert (remote / "objects" / digest[:2] / digest[2:]).read_bytes() == b"hello"
    assert obj.read_bytes() == b"hello"
    obj.unlink()  # gone
    (remote / "objects" / digest[:2] / digest[2:]).unlink()
    assert project.incr("push").returncode == 0
    assert (remote / "objects" / digest[:2] / digest[2:]).read_bytes() == b"hello"
    assert project.take_ran() == []
    (project.root / "result.txt").write_text("edited")  # not the locked bytes: not stored
    obj.unlink()
    result = project.incr("verify")
    assert result.returncode == 1
    assert "incr repro --force STEP" in result.stderr
