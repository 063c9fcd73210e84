"""incr/statusmemo.py: when a kept ``incr status`` answer is made, reused and refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from incr import statusmemo
from incr.project import TABLE_MEMO, Project
from incr.statusmemo import StatusMemo


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    (tmp_path / "pyproject.toml").write_text("[tool.incr]\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flow.py").write_text("X = 1\n")
    (tmp_path / ".pipecache" / "objects" / "ab").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return Project.find(tmp_path)


def kept_now(project: Project, output: str = "all clean") -> None:
    memo = StatusMemo(project, "text")
    assert memo.answer() is None
    memo.keep(output)


def test_files_younger_than_the_racy_window_keep_nothing(project: Project) -> None:
    kept_now(project)  # the files were written just now
    assert not (project.cache / statusmemo.FILE).exists()


def test_a_kept_answer_holds_until_anything_moves(project, monkeypatch) -> None:
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    kept_now(project)
    assert StatusMemo(project, "text").answer() == "all clean"
    assert StatusMemo(project, "json").answer() is None  # another mode

    monkeypatch.setenv("SOME_VARIABLE", "1")
    assert StatusMemo(project, "text").answer() is None
    monkeypatch.delenv("SOME_VARIABLE")
    assert StatusMemo(project, "text").answer() == "all clean"

    (project.cache / "objects" / "ab" / "cdef").write_bytes(b"x")  # an object came
    assert StatusMemo(project, "text").answer() is None


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "pipelines" / "flow.py").write_text("X = 2\n"),
        lambda root: (root / "data.csv").write_text("1\n"),
        lambda root: (root / "pipelines" / "flow.py").chmod(0o600),
        lambda root: (root / ".pipecache" / "leftovers.json").write_text("{}"),
    ],
)
def test_a_change_while_deciding_keeps_nothing(project, monkeypatch, change) -> None:
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    memo = StatusMemo(project, "text")
    assert memo.answer() is None
    change(project.root)  # between the signature before deciding and the one after
    memo.keep("all clean")
    assert not (project.cache / statusmemo.FILE).exists()


def test_caches_that_only_save_work_are_not_part_of_it(project, monkeypatch) -> None:
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    memo = StatusMemo(project, "text")
    assert memo.answer() is None
    for name in ("stat.json", "graph.bin", "lockfile.bin", "closures.bin", "code.bin"):
        (project.cache / name).write_text("{}")  # what a status itself rewrites
    (project.root / "pipelines" / "__pycache__").mkdir()
    memo.keep("all clean")
    assert StatusMemo(project, "text").answer() == "all clean"


def test_the_file_holds_no_value_of_the_environment(project, monkeypatch) -> None:
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    monkeypatch.setenv("SECRET_TOKEN", "hunter2-do-not-store")
    kept_now(project)
    text = (project.cache / statusmemo.FILE).read_text()
    assert text.endswith("all clean")
    assert "hunter2" not in text and "SECRET_TOKEN" not in text
    assert StatusMemo(project, "text").answer() == "all clean"


def test_a_status_makes_no_cache_folder(project, monkeypatch) -> None:
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    monkeypatch.setattr(statusmemo, "MOST_ENTRIES", 2)
    (project.cache / "objects" / "ab").rmdir()
    (project.cache / "objects").rmdir()
    (project.cache / TABLE_MEMO).unlink()  # kept by Project.find, the folder being there
    project.cache.rmdir()  # a project never run
    assert StatusMemo(project, "text").answer() is None  # too large: noted nowhere
    monkeypatch.setattr(statusmemo, "MOST_ENTRIES", 100)
    kept_now(project)
    assert not project.cache.exists()


def test_a_project_too_large_to_walk_is_not_walked_again(project, monkeypatch) -> None:
    monkeypatch.setattr(statusmemo, "MOST_ENTRIES", 2)
    assert StatusMemo(project, "text").answer() is None
    assert (project.cache / statusmemo.FILE).read_text().startswith("too large: ")

    def walked(*args: object) -> list:
        raise AssertionError("walked again")

    monkeypatch.setattr(statusmemo, "_tree", walked)
    assert StatusMemo(project, "text").answer() is None
    (project.root / "more.txt").write_text("x")  # the root changed: walking may pay again
    with pytest.raises(AssertionError, match="walked again"):
        StatusMemo(project, "text").answer()


def test_the_racy_window_is_two_seconds_unless_set(monkeypatch):
    monkeypatch.delenv(statusmemo.RACY_ENV, raising=False)
    assert statusmemo.racy_seconds() == statusmemo.RACY_SECONDS == 2.0
    for value, seconds in (("0.25", 0.25), ("10", 10.0), ("-3", 0.0), ("soon", 2.0), ("", 2.0)):
        monkeypatch.setenv(statusmemo.RACY_ENV, value)
        assert statusmemo.racy_seconds() == seconds, value


def test_files_outside_the_project_are_part_of_it(project, monkeypatch, tmp_path_factory):
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    data = tmp_path_factory.mktemp("outside") / "rows.csv"  # not under the project root
    data.write_text("1\n")
    memo = StatusMemo(project, "text")
    assert memo.answer() is None
    memo.keep("all clean", [str(data)])
    assert StatusMemo(project, "text").answer() == "all clean"
    data.write_text("1\n2\n")
    assert StatusMemo(project, "text").answer() is None

    # Moved while a status decided: the stamp taken before differs from the one after.
    memo = StatusMemo(project, "text")
    assert memo.answer() is None
    memo.keep("all clean", [str(data)])  # kept with the new stamp
    memo = StatusMemo(project, "text")
    assert memo.answer() == "all clean"
    data.write_text("3\n")
    memo.keep("all clean", [str(data)])
    assert StatusMemo(project, "text").answer() is None


def test_the_machines_time_zone_is_part_of_it(project, monkeypatch, tmp_path) -> None:
    """With ``TZ`` unset, a step asking for local time counts by the zone ``/etc/localtime``
    names (``incr.zoneid``): another zone there, and the kept answer no longer holds."""
    monkeypatch.setattr(statusmemo, "RACY_SECONDS", -1e9)
    zones = tmp_path / "zoneinfo"
    for name in ("UTC", "Tokyo"):
        (zones / name).parent.mkdir(parents=True, exist_ok=True)
        (zones / name).write_bytes(b"TZif" + name.encode())
    link = tmp_path / "localtime"
    link.symlink_to(zones / "UTC")
    monkeypatch.setattr(statusmemo, "LOCALTIME", str(link))
    kept_now(project)
    assert StatusMemo(project, "text").answer() == "all clean"
    link.unlink()
    link.symlink_to(zones / "Tokyo")
    assert StatusMemo(project, "text").answer() is None
