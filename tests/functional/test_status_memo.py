"""An unchanged ``incr status`` answered from the last all-clean one (incr/statusmemo.py): the
answer is the same as deciding afresh, and anything that could change it is seen.

A kept answer is only made once every file is older than the racy window: each test waits
that long before the status that keeps it (``INCR_RACY_SECONDS`` shortens the window here; a
test checks that a file younger than it keeps the answer from being kept). The status that
keeps an answer and the ones that reuse it run in the test itself: pytest sets
``PYTEST_CURRENT_TEST`` to another value during a fixture, and every environment variable is
part of what a kept answer depends on."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from incr.statusmemo import DISABLE_ENV, RACY_ENV

from .conftest import FLOW_FILES, MakeProject, Project, Result

ENV_FILES = {
    **FLOW_FILES,
    "pipelines/moded.py": """\
        import os

        from incr import pipeline, step
        from pipelines.mark import mark


        @step(env=["MODE"])
        def moded() -> str:
            mark("moded")
            return os.environ.get("MODE", "plain")


        @pipeline
        def modes():
            moded()
        """,
}


#: The racy window of these tests (two seconds by default).
RACY = 0.5


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RACY_ENV, str(RACY))


def settle() -> None:
    time.sleep(RACY + 0.2)


def status(project: Project, *args: str) -> Result:
    """``incr status ARGS`` with the module imports shown (``-X importtime``)."""
    result = project.python("-X", "importtime", "-m", "incr.cli", "status", *args)
    assert result.returncode == 0, result.output
    return result


def decided(result: Result) -> bool:
    """True when the status decided afresh (it loaded the workspace), False when it printed
    the kept answer."""
    return "incr.session" in result.stderr


def fresh(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    with monkeypatch.context() as m:
        m.setenv(DISABLE_ENV, "1")
        result = status(project, *args)
    assert decided(result)
    return result.stdout


@pytest.fixture
def kept(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project brought up to date, its files old enough for an answer to be kept."""
    monkeypatch.delenv("MODE", raising=False)
    project = make_project(ENV_FILES)
    project.repro()
    project.take_ran()
    settle()
    return project


def keep(project: Project, *args: str) -> None:
    """A status that decides and keeps its answer, and one that prints it."""
    assert decided(status(project, *args))
    assert not decided(status(project, *args))


@pytest.mark.parametrize("mode", [(), ("--json",)])
def test_an_unchanged_status_prints_the_kept_answer(kept, monkeypatch, mode) -> None:
    keep(kept, *mode)
    answer = status(kept, *mode)
    assert not decided(answer)
    assert answer.stdout == fresh(kept, monkeypatch, *mode)
    assert "all 6 steps clean" in answer.stdout or '"dirty": 0' in answer.stdout


def test_a_dep_rewritten_with_its_old_size_and_time_is_seen(kept, monkeypatch) -> None:
    keep(kept)
    path = kept.root / "data" / "raw.csv"
    before = path.stat()
    path.write_text("1\n2\n4\n", encoding="utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same time: the change time moves
    answer = status(kept)
    assert decided(answer)
    assert "load    dirty: dep changed (data/raw.csv)" in answer.stdout
    assert answer.stdout == fresh(kept, monkeypatch)


def test_an_environment_variable_a_step_reads_is_seen(kept, monkeypatch) -> None:
    keep(kept)
    monkeypatch.setenv("MODE", "fast")
    answer = status(kept)
    assert decided(answer)
    assert "dirty: env changed (MODE)" in answer.stdout
    kept.repro()
    assert kept.take_ran() == ["moded"]


def test_a_stored_output_removed_is_seen(kept, monkeypatch) -> None:
    keep(kept)
    digest = kept.lock()["flow.total"].outputs["output"].digest
    kept.remove_object(digest)
    answer = status(kept)
    assert decided(answer)
    assert "total   dirty" in answer.stdout
    kept.repro()
    assert kept.take_ran() == ["total"]


def test_a_lockfile_put_back_is_seen(kept, monkeypatch) -> None:
    keep(kept)
    saved = kept.root.parent / "saved.lock"
    shutil.copy2(kept.lockfile, saved)
    kept.edit("pipelines/helpers.py", "return value * factor", "return value * factor * 1")
    kept.repro()
    assert kept.take_ran() == ["scaled"]
    settle()
    keep(kept)
    shutil.copy2(saved, kept.lockfile)  # the lockfile of before the edit, with its old time
    answer = status(kept)
    assert decided(answer)
    assert "scaled  dirty: code changed" in answer.stdout


def test_no_answer_is_kept_while_a_step_can_expire(make_project, monkeypatch) -> None:
    files = {**FLOW_FILES}
    files["pipelines/flow.py"] = files["pipelines/flow.py"].replace(
        "@step\n        def total", '@step(cache_expires="1h")\n        def total'
    )
    assert files["pipelines/flow.py"] != FLOW_FILES["pipelines/flow.py"]
    project = make_project(files)
    project.repro()
    settle()
    assert decided(status(project))
    assert decided(status(project))  # nothing was kept: the clock alone may change it


def test_check_and_targets_always_decide(kept) -> None:
    keep(kept)
    assert decided(status(kept, "--check"))
    assert decided(status(kept, "flow"))


def test_no_answer_is_kept_while_a_file_is_younger_than_the_window(kept, monkeypatch) -> None:
    monkeypatch.setenv(RACY_ENV, "30")  # every file of the project is younger than that
    assert decided(status(kept))
    assert decided(status(kept))  # nothing was kept
    monkeypatch.setenv(RACY_ENV, str(RACY))
    keep(kept)


OUTSIDE = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    ROWS = {rows!r}
    PARTS = {parts!r}


    @step
    def rows() -> str:
        mark("rows")
        with open(ROWS, encoding="utf-8") as fh:
            return fh.read()


    @pipeline
    def outside():
        rows()


    import os

    KINDS = sorted(os.listdir(PARTS))  # read while the module is imported
    """


@pytest.mark.parametrize("change", ["read by a step", "listed while importing"])
def test_files_outside_the_project_are_seen(make_project, tmp_path, change) -> None:
    data = tmp_path / "data"
    (data / "parts").mkdir(parents=True)
    (data / "rows.csv").write_text("1\n", encoding="utf-8")
    module = OUTSIDE.format(rows=str(data / "rows.csv"), parts=str(data / "parts"))
    project = make_project({"pipelines/outside.py": module})
    project.repro()
    assert project.take_ran() == ["rows"]
    settle()
    keep(project)
    if change == "read by a step":
        (data / "rows.csv").write_text("2\n", encoding="utf-8")
    else:
        (data / "parts" / "new.txt").write_text("", encoding="utf-8")
    answer = status(project)
    assert decided(answer)
    if change == "read by a step":
        assert f"rows  dirty: read changed ({data / 'rows.csv'})" in answer.stdout
        project.repro()
        assert project.take_ran() == ["rows"]


OUTSIDE_DEPS = """\
    import os

    import pandas as pd

    from incr import pipeline, step
    from pipelines.mark import mark

    TABLE = {table!r}
    PARTS = {parts!r}


    @step(deps=[PARTS])
    def parts() -> int:
        mark("parts")
        return sum(len(open(os.path.join(PARTS, n)).read()) for n in sorted(os.listdir(PARTS)))


    @step
    def table() -> int:
        mark("table")
        return int(pd.read_parquet(TABLE)["a"].sum())  # opened in C: a dep


    @pipeline
    def outside_deps():
        parts()
        table()
    """


@pytest.mark.parametrize("change", ["a file in a deps folder", "a file a reader in C opens"])
def test_deps_outside_the_project_are_seen(make_project, tmp_path, change) -> None:
    import pandas as pd

    data = tmp_path / "data"
    (data / "parts").mkdir(parents=True)
    (data / "parts" / "a.txt").write_text("1", encoding="utf-8")
    pd.DataFrame({"a": [1, 2]}).to_parquet(data / "t.parquet")
    module = OUTSIDE_DEPS.format(table=str(data / "t.parquet"), parts=str(data / "parts"))
    project = make_project({"pipelines/outside_deps.py": module})
    project.repro()
    assert sorted(project.take_ran()) == ["parts", "table"]
    settle()
    keep(project)
    if change == "a file in a deps folder":
        (data / "parts" / "a.txt").write_text("22", encoding="utf-8")
    else:
        pd.DataFrame({"a": [5, 6]}).to_parquet(data / "t.parquet")
    answer = status(project)
    assert decided(answer)
    assert "1 of 2 steps dirty" in answer.stdout, answer.stdout


def test_an_edit_of_a_local_package_is_seen(make_project, tmp_path, monkeypatch) -> None:
    library = tmp_path / "libs" / "shared"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("def scale(x):\n    return 2 * x\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "libs"))
    module = """\
        from incr import pipeline, step
        from shared import scale


        @step
        def scaled() -> int:
            return scale(21)


        @pipeline
        def local():
            scaled()
        """
    project = make_project({"pipelines/local.py": module})
    project.repro()
    settle()
    keep(project)
    (library / "__init__.py").write_text("def scale(x):\n    return 3 * x\n", encoding="utf-8")
    answer = status(project)
    assert decided(answer)
    assert "scaled  dirty: code changed (shared's local code)" in answer.stdout


def test_a_library_the_wiring_reads_is_watched_after_a_status_that_traced(
    make_project, tmp_path, monkeypatch
) -> None:
    """A pipeline wired from a shared library's constant: the answer a status kept right after
    tracing (no saved graphs yet) is not printed once that library changes."""
    library = tmp_path / "libs" / "shared"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("COUNT = 1\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "libs"))
    module = """\
        from incr import pipeline, step
        from shared import COUNT


        @step
        def one() -> int:
            return 1


        @pipeline
        def wired():
            for i in range(COUNT):
                one(name=f"one_{i}")
        """
    project = make_project({"pipelines/wired.py": module})
    project.repro()
    (project.root / ".pipecache" / "graph.bin").unlink()  # the next status traces
    settle()
    keep(project)
    (library / "__init__.py").write_text("COUNT = 2\n", encoding="utf-8")
    answer = status(project)
    assert decided(answer)
    assert "one_1  dirty: new step" in answer.stdout


def repro(project: Project, *args: str) -> Result:
    """``incr repro ARGS``, started as ``status`` starts (the same ``sys.path``)."""
    result = project.python("-m", "incr.cli", "repro", *args)
    assert result.returncode == 0, result.output
    return result


def last_run(project: Project) -> dict[str, object]:
    """The newest run record of pipeline ``flow`` in ``.pipecache/history``."""
    import json

    found = sorted((project.root / ".pipecache" / "history" / "flow").glob("*.json"))
    record = json.loads(found[-1].read_text(encoding="utf-8"))
    return {
        "status": record["status"],
        "steps": [(s["name"], s["status"]) for s in record["steps"]],
    }


def test_a_repro_after_a_kept_status_reuses_every_step_as_deciding_does(kept, monkeypatch) -> None:
    """A no-op ``repro`` while the kept answer holds takes every step as clean without deciding
    it again (incr/opening.py ``kept_clean``): the same steps reused, the same output, the same
    run record and lockfile as a repro that decides each step; and the answer still holds
    after it, for the next status and repro."""
    keep(kept)
    lock = kept.lock_bytes()
    quick = repro(kept)
    assert kept.take_ran() == []
    quick_run = last_run(kept)
    assert not decided(status(kept))  # the repro left the answer valid
    with monkeypatch.context() as m:
        m.setenv(DISABLE_ENV, "1")
        slow = repro(kept)
    assert kept.take_ran() == []
    assert last_run(kept) == quick_run
    assert quick_run["steps"] and all(s == "cached" for _, s in quick_run["steps"])  # type: ignore[union-attr]

    def lines(result: Result) -> list[str]:  # but the run names and times
        return [re.sub(r"\S+_\S+|[0-9.]+s\b", "", line) for line in result.stdout.splitlines()]

    assert lines(quick) == lines(slow)
    assert "5 steps reused from the cache" in quick.stdout
    assert kept.lock_bytes() == lock


def test_a_repro_after_a_kept_status_runs_what_changed_since(kept, monkeypatch) -> None:
    """The answer a status kept is taken by ``repro`` only while nothing it depends on moved:
    a dep rewritten with its old size and time, or a variable a step reads, runs its step."""
    keep(kept)
    path = kept.root / "data" / "raw.csv"
    before = path.stat()
    path.write_text("1\n2\n4\n", encoding="utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    repro(kept)
    assert kept.take_ran()[0] == "load"
    settle()
    keep(kept)
    monkeypatch.setenv("MODE", "fast")
    repro(kept)
    assert kept.take_ran() == ["moded"]
