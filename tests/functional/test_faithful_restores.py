"""Restored ``outs`` are the files the step produced: modes (an executable script, a private
key), symlinks as symlinks, empty folders; a file the user added to an outs folder is moved
aside with a warning, never deleted; ``output modified`` names what differs. Each restore is
compared with a from-scratch run of the same sources in a fresh copy.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from blake3 import blake3

from incr import cachefile
from incr.storage import FILE_MODE

from .conftest import MakeProject, Project
from .scratch import unsealed

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes and symlinks")

FAITHFUL = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark

    GREETING = "hello"


    def link(target, name):
        if os.path.lexists(name):
            os.remove(name)
        os.symlink(target, name)


    @step(outs=["models", "bin/tool.sh"])
    def build() -> None:
        mark("build")
        os.makedirs("models/sub", exist_ok=True)
        os.makedirs("models/empty", exist_ok=True)
        os.makedirs("bin", exist_ok=True)
        for name in ("a.bin", "b.bin", "sub/c.txt", "run.sh", "private.key"):
            with open("models/" + name, "w", encoding="utf-8") as fh:
                fh.write(GREETING + " " + name + "\\n")
        os.chmod("models/run.sh", 0o755)
        os.chmod("models/private.key", 0o600)
        link("a.bin", "models/latest")
        link(os.path.abspath("models/sub/c.txt"), "models/absolute")
        link("../data/input.txt", "models/input")
        with open("bin/tool.sh", "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\\necho " + GREETING + "\\n")
        os.chmod("bin/tool.sh", 0o755)


    @pipeline
    def faithful():
        build()
    """
RULE = "pipelines/faithful.py"


def snapshot(folder: Path) -> dict[str, tuple]:
    """Everything under ``folder``: files (bytes, permission bits), folders (permission
    bits), links (where they lead, from ``folder``: the copies live in other folders)."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[rel] = ("link", os.path.relpath(os.path.realpath(path), folder))
            elif stat.S_ISDIR(mode):
                found[rel] = ("dir", stat.S_IMODE(mode))
            else:
                found[rel] = ("file", path.read_bytes(), stat.S_IMODE(mode))
    return found


def from_scratch(project: Project, where: Path) -> dict[str, tuple]:
    """What a run of the same sources in a fresh copy (no cache, no lockfile) produces."""
    skip = shutil.ignore_patterns(
        ".pipecache", "pipeline.lock", "ran.txt", "models", "bin", "__pycache__"
    )
    shutil.copytree(project.root, where, ignore=skip, symlinks=True)
    copy = Project(where)
    copy.repro()
    return snapshot(where)


def failure(project: Project) -> list[str]:
    """The lines from ``error:`` on of an ``incr repro`` whose step fails with a user error."""
    result = project.incr("repro")
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert errors, result.output
    return lines[errors[0] :]


def produced(project: Project) -> dict[str, tuple]:
    return {k: v for k, v in snapshot(project.root).items() if k.split("/")[0] in OUTS}


OUTS = ("models", "bin")


@pytest.fixture
def faithful(make_project: MakeProject) -> Project:
    project = make_project({RULE: FAITHFUL, "data/input.txt": "input\n"})
    project.repro()
    assert project.take_ran() == ["build"]
    return project


def _fresh(project: Project, tmp_path: Path) -> dict[str, tuple]:
    fresh = from_scratch(project, tmp_path / "fresh")
    return {k: v for k, v in fresh.items() if k.split("/")[0] in OUTS}


def test_what_a_step_produced_is_what_the_cache_restores(faithful: Project, tmp_path: Path) -> None:
    made = produced(faithful)
    assert made["models/run.sh"][2] == 0o755
    assert made["models/private.key"][2] == 0o600
    assert made["models/latest"][0] == "link"
    assert made["models/empty"][0] == "dir"
    lock_before = faithful.lock_bytes()
    shutil.rmtree(faithful.root / "models")
    (faithful.root / "bin/tool.sh").unlink()

    faithful.repro()

    assert faithful.take_ran() == []  # restored, not executed
    assert produced(faithful) == made == _fresh(faithful, tmp_path)
    assert os.readlink(faithful.root / "models/latest") == "a.bin"  # as the step wrote it
    assert os.readlink(faithful.root / "models/absolute") == "sub/c.txt"  # no absolute path
    assert faithful.lock_bytes() == lock_before
    assert faithful.dirty() == {}


def test_a_revert_restores_modes_links_and_empty_folders(faithful: Project, tmp_path: Path) -> None:
    made = produced(faithful)
    faithful.edit(RULE, 'GREETING = "hello"', 'GREETING = "howdy"')
    faithful.edit(RULE, 'os.chmod("models/run.sh", 0o755)', 'os.chmod("models/run.sh", 0o700)')
    faithful.edit(RULE, 'os.makedirs("models/empty", exist_ok=True)', "pass")
    faithful.repro()
    assert faithful.take_ran() == ["build"]
    assert produced(faithful)["models/run.sh"][2] == 0o700

    faithful.edit(RULE, 'GREETING = "howdy"', 'GREETING = "hello"')
    faithful.edit(RULE, 'os.chmod("models/run.sh", 0o700)', 'os.chmod("models/run.sh", 0o755)')
    faithful.edit(RULE, "pass", 'os.makedirs("models/empty", exist_ok=True)')
    # Run on top of the newer outs: the run cache puts the old ones back as they were.
    faithful.repro()

    assert faithful.take_ran() == []
    assert produced(faithful) == made == _fresh(faithful, tmp_path)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda root: os.chmod(root / "models/run.sh", 0o644), "models: run.sh mode changed"),
        (lambda root: (root / "models/b.bin").write_text("edited"), "models: b.bin changed"),
        (lambda root: (root / "models/empty").rmdir(), "models: empty/ removed"),
        (lambda root: (root / "models/new").mkdir(), "models: new/ added"),
        (lambda root: (root / "models/latest").unlink(), "models: latest removed"),
        (lambda root: os.chmod(root / "bin/tool.sh", 0o644), "bin/tool.sh: mode changed"),
    ],
    ids=["chmod", "edit", "empty-folder-gone", "new-empty-folder", "link-gone", "file-out-chmod"],
)
def test_a_changed_out_is_named_with_what_changed_and_put_back(
    faithful: Project, change, detail: str
) -> None:
    made = produced(faithful)
    change(faithful.root)

    assert faithful.dirty() == {"build": [("output modified", detail)]}
    status = faithful.incr("status")
    assert f"output modified ({detail})" in status.stdout

    faithful.repro()
    assert faithful.take_ran() == []
    assert produced(faithful) == made
    assert faithful.dirty() == {}


def test_many_changes_are_counted(faithful: Project) -> None:
    for name in ("a.bin", "b.bin", "run.sh", "sub/c.txt"):
        (faithful.root / "models" / name).write_text("edited")
    # latest and absolute lead to a.bin and sub/c.txt: they changed too
    detail = "models: a.bin changed, absolute changed, b.bin changed, 3 more"
    assert faithful.dirty() == {"build": [("output modified", detail)]}


def test_a_file_the_user_added_is_moved_aside_with_a_warning(
    faithful: Project, tmp_path: Path
) -> None:
    made = produced(faithful)
    (faithful.root / "models/notes.txt").write_text("my notes\n", encoding="utf-8")
    (faithful.root / "models/sub/mine").mkdir()
    (faithful.root / "models/sub/mine/draft.txt").write_text("draft\n", encoding="utf-8")
    reasons = faithful.dirty()["build"]
    assert reasons == [("output modified", "models: notes.txt added, sub/mine/draft.txt added")]

    result = faithful.repro()

    assert faithful.take_ran() == []
    assert produced(faithful) == made == _fresh(faithful, tmp_path)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    kept = {}
    for line in warnings:
        head, _, where = line.partition(": moved it to ")
        assert head.startswith("warning: models/") and head.endswith(
            " is not an output of faithful.build"
        ), line
        assert where.startswith(".pipecache/kept/"), line
        kept[head.split()[1]] = faithful.root / where
    assert kept["models/notes.txt"].read_text(encoding="utf-8") == "my notes\n"
    assert kept["models/sub/mine/draft.txt"].read_text(encoding="utf-8") == "draft\n"
    assert kept["models/notes.txt"].relative_to(faithful.root / ".pipecache/kept").parts[1:] == (
        "models",
        "notes.txt",
    )
    assert faithful.dirty() == {}


def test_a_user_file_where_the_step_made_a_link_is_kept(faithful: Project) -> None:
    (faithful.root / "models/latest").unlink()
    (faithful.root / "models/latest").write_text("not a link\n", encoding="utf-8")
    assert faithful.dirty() == {"build": [("output modified", "models: latest changed")]}

    result = faithful.repro()

    assert faithful.take_ran() == []
    assert os.readlink(faithful.root / "models/latest") == "a.bin"
    assert "warning: models/latest is not an output of faithful.build" in result.stderr


def test_a_link_out_of_the_project_is_refused_naming_the_step_and_path(
    make_project: MakeProject, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs\n", encoding="utf-8")
    leak = f"""\
        import os

        from incr import pipeline, step


        @step(outs=["leaky"])
        def leak() -> None:
            os.makedirs("leaky", exist_ok=True)
            with open("leaky/fine.txt", "w", encoding="utf-8") as fh:
                fh.write("fine\\n")
            os.symlink({str(outside)!r}, "leaky/escape")


        @pipeline
        def leaks():
            leak()
        """
    project = make_project({"pipelines/leaks.py": leak})

    lines = failure(project)

    assert lines[0] == (
        f"error: step leaks.leak cannot store leaky: leaky/escape is a symlink to {outside}, "
        "outside the project"
    )
    assert lines[1].startswith("  hint: ")
    assert "leaks.leak" not in project.lock()


def test_a_link_that_climbs_out_through_the_project_root_is_refused(
    make_project: MakeProject,
) -> None:
    leak = """\
        import os

        from incr import pipeline, step


        @step(outs=["leaky"])
        def leak() -> None:
            os.makedirs("leaky", exist_ok=True)
            os.symlink("../../elsewhere", "leaky/up")


        @pipeline
        def leaks():
            leak()
        """
    project = make_project({"pipelines/leaks.py": leak})
    line = failure(project)[0]
    assert line.endswith(": leaky/up is a symlink to ../../elsewhere, outside the project")


def test_an_old_record_without_modes_reruns_rather_than_undo_the_step(
    faithful: Project,
) -> None:
    """A folder recorded before modes and links were kept (a manifest of [path, digest]
    pairs) cannot say whether run.sh was executable: the step reruns instead of a restore
    that would strip the bit."""
    entry = faithful.lock()["faithful.build"]
    digest = entry.outputs["models"].digest
    objects = faithful.root / ".pipecache/objects"
    manifest = json.loads(faithful.object_bytes(digest))
    old = [[item[0], item[1]] for item in manifest if item[1] not in ("link", "dir")]
    old_bytes = json.dumps(old, sort_keys=True, separators=(",", ":")).encode()
    old_digest = blake3(old_bytes).hexdigest()
    (objects / old_digest[:2]).mkdir(exist_ok=True)
    (objects / old_digest[:2] / old_digest[2:]).write_bytes(old_bytes)
    text = faithful.lockfile.read_text(encoding="utf-8")
    faithful.lockfile.write_text(unsealed(text).replace(digest, old_digest), encoding="utf-8")
    for shard in (faithful.root / ".pipecache/runs").glob("*.bin"):
        text = json.dumps(cachefile.read(shard)).replace(digest, old_digest)
        cachefile.write(shard, json.loads(text))
    for name in ("latest", "absolute", "input"):
        (faithful.root / "models" / name).unlink()
    shutil.rmtree(faithful.root / "models/empty")
    os.chmod(faithful.root / "models/private.key", FILE_MODE)  # the usual mode

    assert faithful.dirty() == {"build": [("output modified", "models: run.sh mode changed")]}
    faithful.repro()

    assert faithful.take_ran() == ["build"]
    assert stat.S_IMODE(os.stat(faithful.root / "models/run.sh").st_mode) == 0o755
    assert faithful.lock()["faithful.build"].outputs["models"].digest == digest


def test_an_old_record_of_plain_files_still_restores(make_project: MakeProject) -> None:
    plain = """\
        import os

        from incr import pipeline, step
        from pipelines.mark import mark


        @step(outs=["out"])
        def make() -> None:
            mark("make")
            os.makedirs("out/sub", exist_ok=True)
            for name in ("a.txt", "sub/b.txt"):
                with open("out/" + name, "w", encoding="utf-8") as fh:
                    fh.write(name)


        @pipeline
        def plain():
            make()
        """
    project = make_project({"pipelines/plain.py": plain})
    project.repro()
    assert project.take_ran() == ["make"]
    digest = project.lock()["plain.make"].outputs["out"].digest
    pairs = json.loads(project.object_bytes(digest))
    assert all(len(item) == 2 for item in pairs)  # the format of older manifests, unchanged
    shutil.rmtree(project.root / "out")

    project.repro()

    assert project.take_ran() == []
    assert (project.root / "out/sub/b.txt").read_text(encoding="utf-8") == "sub/b.txt"


#: ``write_feat`` writes work/feat.txt without listing it in outs; ``report`` reads it.
SIDE_FILE = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class C(StepConfig):
        k: int = 1


    @step
    def write_feat(config: C) -> int:
        mark("write_feat")
        os.makedirs("work", exist_ok=True)
        with open("work/feat.txt", "w", encoding="utf-8") as fh:
            fh.write(str(config.k * 100))
        return config.k


    @step(outs=["result.txt"])
    def report(k: int) -> None:
        mark("report")
        with open("work/feat.txt", encoding="utf-8") as fh:
            text = f"k={k} feat={fh.read()}"
        with open("result.txt", "w", encoding="utf-8") as fh:
            fh.write(text)


    @pipeline
    def p():
        report(write_feat(config=C(k=1)))
    """


def test_a_step_writing_a_file_it_does_not_declare_executes_rather_than_restore(
    make_project: MakeProject,
) -> None:
    """Reverted, a step that wrote a file outside its outs that another step reads runs
    again: putting back its value would leave the file the other config's run wrote, for the
    next step to read. (Every step here also appends to ran.txt, which no step reads: that
    alone would not keep them from being put back.)"""
    project = make_project({"pipelines/p.py": SIDE_FILE})
    project.repro()
    project.edit("pipelines/p.py", "C(k=1)", "C(k=2)")
    project.repro()
    assert project.read("result.txt") == "k=2 feat=200"
    project.take_ran()
    project.edit("pipelines/p.py", "C(k=2)", "C(k=1)")
    project.repro()
    assert project.take_ran() == ["write_feat"]  # report's record of feat=100 then holds
    assert project.read("result.txt") == "k=1 feat=100"
    assert project.dirty() == {}


PRIVATE = """\
    import os

    from incr import pipeline, step


    @step(outs=["out/d", "out/pub.txt"])
    def build() -> None:
        os.makedirs("out/d/sub", exist_ok=True)
        for name in ("key", "plain", "sub/a"):
            with open(f"out/d/{name}", "w") as fh:
                fh.write(name)
        os.chmod("out/d/key", 0o600)
        os.chmod("out/d/sub/a", 0o644)  # written out there, usual here
        with open("out/pub.txt", "w") as fh:
            fh.write("pub")
        os.chmod("out/pub.txt", 0o644)


    @pipeline
    def private():
        build()
    """


def test_outs_stored_under_another_umask_are_clean_and_stay_private(
    make_project: MakeProject,
) -> None:
    """A run under umask 077 makes every file 0600: usual there. Seen under umask 022 (this
    test's), its outs are clean as they are; put back, each has the bits the step made, and
    the private key is not made readable."""
    import subprocess
    import sys

    project = make_project({"pipelines/private.py": PRIVATE})
    command = 'umask 077 && exec "$0" -m incr.cli repro'
    made = subprocess.run(
        ["sh", "-c", command, sys.executable], cwd=project.root, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    modes = {
        p: stat.S_IMODE(os.stat(project.root / p).st_mode)
        for p in ("out/d/key", "out/d/plain", "out/d/sub/a", "out/pub.txt")
    }
    assert modes == {
        "out/d/key": 0o600,
        "out/d/plain": 0o600,
        "out/d/sub/a": 0o644,
        "out/pub.txt": 0o644,
    }
    assert os.umask(os.umask(0o022)) & 0o044 == 0  # this process lets others read

    assert project.dirty() == {}
    shutil.rmtree(project.root / "out")
    project.repro()
    assert {p: stat.S_IMODE(os.stat(project.root / p).st_mode) for p in modes} == modes
    assert project.dirty() == {}
