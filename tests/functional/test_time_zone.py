"""A step whose code asks for local time computes something that depends on the machine's
time zone (``TZ``, or ``/etc/localtime``): it counts by the zone it ran in, so that a run in
another zone (a teammate's laptop, CI) does not reuse its result; steps that use UTC alone,
or no times, are left alone.

Each test builds a real project and drives ``incr`` in subprocesses with ``TZ`` set in their
environment, and checks which steps ran (``ran.txt``), what ``incr status`` says and what
``pipeline.lock`` holds.
"""

from __future__ import annotations

import os

import pytest

from .conftest import MakeProject

UTILS = """\
    import time


    def stamp(ts):
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    """

FLOW = """\
    import os
    import time
    from datetime import datetime, timezone

    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.utils import stamp


    @step(deps=["data/x.csv"])
    def modified() -> str:
        mark("modified")
        return datetime.fromtimestamp(os.path.getmtime("data/x.csv")).strftime("%H:%M")


    @step
    def local_hour() -> str:
        mark("local_hour")
        return time.strftime("%Y-%m-%d %H", time.localtime(1700000000))


    @step
    def offset() -> int:
        mark("offset")
        return datetime.now().astimezone().utcoffset().seconds // 3600


    @step
    def helper() -> str:
        mark("helper")
        return stamp(1700000000)


    @step
    def in_utc() -> str:
        mark("in_utc")
        day = datetime.fromtimestamp(1700000000, timezone.utc).strftime("%H:%M")
        return day + time.strftime(" %H", time.gmtime(1700000000))


    @step
    def plain() -> int:
        mark("plain")
        return 1


    @pipeline
    def flow():
        modified()
        local_hour()
        offset()
        helper()
        in_utc()
        plain()
    """

LOCAL = ["modified", "local_hour", "offset", "helper"]


def test_a_step_asking_for_local_time_counts_by_the_time_zone(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TZ=Asia/Tokyo incr repro`` after ``TZ=UTC incr repro`` reruns the steps formatting
    local time, with the result a run from scratch in Tokyo gives, and not the others; back
    in UTC the UTC results come back from the cache."""
    files = {"data/x.csv": "a,b\n", "pipelines/utils.py": UTILS, "pipelines/flow.py": FLOW}
    project = make_project(files)
    os.utime(project.root / "data/x.csv", (1700000000, 1700000000))
    monkeypatch.setenv("TZ", "UTC")
    project.repro()
    assert sorted(project.take_ran()) == sorted([*LOCAL, "in_utc", "plain"])
    assert project.lock()["flow.modified"].facts.code["tz"] == "UTC +0000"
    assert "tz" not in project.lock()["flow.in_utc"].facts.code
    assert "tz" not in project.lock()["flow.plain"].facts.code

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert project.dirty() == {name: [("time zone changed", "UTC -> Asia/Tokyo")] for name in LOCAL}
    project.repro()
    assert sorted(project.take_ran()) == sorted(LOCAL)
    assert project.dirty() == {}
    tokyo = {key: entry.outputs for key, entry in project.lock().items()}

    fresh = make_project(files, where="fresh")  # a run from scratch in Tokyo
    os.utime(fresh.root / "data/x.csv", (1700000000, 1700000000))
    fresh.repro()
    assert {key: entry.outputs for key, entry in fresh.lock().items()} == tokyo

    monkeypatch.setenv("TZ", "UTC")
    assert sorted(project.dirty()) == sorted(LOCAL)
    project.repro()
    assert project.take_ran() == []  # the UTC results, from the cache
    assert project.lock()["flow.local_hour"].facts.code["tz"] == "UTC +0000"


def test_the_zone_of_etc_localtime_counts_when_tz_is_unset(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``TZ`` unset the zone is the machine's (``/etc/localtime``); its names of UTC are
    one zone with ``TZ=UTC``: nothing reruns."""
    if not os.path.exists("/etc/localtime"):
        pytest.skip("no /etc/localtime")
    project = make_project(
        {"pipelines/utils.py": UTILS, "pipelines/flow.py": FLOW, "data/x.csv": ""}
    )
    monkeypatch.delenv("TZ", raising=False)
    project.repro()
    project.take_ran()
    zone = project.lock()["flow.local_hour"].facts.code["tz"]
    other = "Asia/Tokyo" if not zone.startswith("Asia/Tokyo") else "Europe/Paris"
    monkeypatch.setenv("TZ", other)
    assert project.dirty() == {
        name: [("time zone changed", f"{zone.rpartition(' ')[0]} -> {other}")] for name in LOCAL
    }
    if zone == "UTC +0000":
        monkeypatch.setenv("TZ", "Etc/UTC")
        assert project.dirty() == {}
