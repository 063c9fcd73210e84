"""incr/runhistory.py: which run records ``incr gc`` removes."""

from __future__ import annotations

import json
from pathlib import Path

from incr import runhistory


def _record(folder: Path, name: str, started: float, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"format": 1, "name": name, "pipeline": folder.name, "started": started, "steps": []}
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**data, **extra}, sort_keys=True))
    return path


def test_each_pipeline_keeps_its_newest_records(tmp_path: Path) -> None:
    a, b = tmp_path / "history" / "a", tmp_path / "history" / "b"
    # names that sort otherwise than the runs' start: the start decides
    olds = [_record(a, f"a-{i}", 100.0 - i) for i in range(1, 4)]
    newest = _record(a, "a-9", 100.0)
    only = _record(b, "b-1", 5.0)
    assert sorted(runhistory.beyond(tmp_path, 2)) == sorted(olds[1:])
    assert set(runhistory.beyond(tmp_path, 0)) == {*olds, newest, only}
    assert runhistory.beyond(tmp_path, 5) == []


def test_a_file_that_is_not_a_record_of_this_format_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "history" / "p"
    newer_format = _record(folder, "p-1", 1.0, format=2)
    (folder / "p-2.json").write_text('{"format": 1, "started": ')  # cut short
    (folder / "p-3.json").write_text("[1, 2]")
    assert runhistory.beyond(tmp_path, 0) == []
    assert newer_format.exists()


def test_a_record_whose_start_is_not_near_its_top_is_read_whole(tmp_path: Path) -> None:
    """Written by another writer (keys not sorted, a long name first): the whole file."""
    folder = tmp_path / "history" / "p"
    folder.mkdir(parents=True)
    old, new = folder / "p-old.json", folder / "p-new.json"
    for path, started in ((old, 1.0), (new, 2.0)):
        data = {"steps": [{"name": "x" * 5000}], "format": 1, "started": started}
        path.write_text(json.dumps(data))
    assert runhistory.beyond(tmp_path, 1) == [old]
