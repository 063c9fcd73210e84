"""The environment a step's recorder hands a process it starts (``incr.processes``)."""

from __future__ import annotations

import os

from incr.processes import GIVEN_PATH, with_variables


def _as_dict(env: list[bytes] | None) -> dict[bytes, bytes]:
    assert env is not None
    return dict(item.partition(b"=")[::2] for item in env)


def test_the_start_folder_goes_first_and_the_given_path_is_kept() -> None:
    env = [b"HOME=/home/me", b"PYTHONPATH=/src:/lib", b"INCR_READS_RELAY=old"]
    found = _as_dict(with_variables(env, {"PYTHONPATH": "/tmp/start", "INCR_READS_RELAY": "{}"}))
    assert found[b"PYTHONPATH"] == b"/tmp/start" + os.pathsep.encode() + b"/src:/lib"
    assert found[os.fsencode(GIVEN_PATH)] == b"/src:/lib"
    assert found[b"INCR_READS_RELAY"] == b"{}"  # set once, not twice
    assert found[b"HOME"] == b"/home/me"


def test_no_given_path_leaves_none_to_put_back() -> None:
    found = _as_dict(with_variables([b"HOME=/home/me"], {"PYTHONPATH": "/tmp/start"}))
    assert found[b"PYTHONPATH"] == b"/tmp/start"
    assert os.fsencode(GIVEN_PATH) not in found


def test_no_environment_given_is_this_process_s(monkeypatch) -> None:
    monkeypatch.setenv("SOME_SETTING", "on")
    found = _as_dict(with_variables(None, {"PYTHONPATH": "/tmp/start"}))
    assert found[b"SOME_SETTING"] == b"on"


def test_an_environment_of_another_kind_is_left_alone() -> None:
    assert with_variables(["HOME=/home/me"], {"PYTHONPATH": "/tmp/start"}) is None  # type: ignore[list-item]


def test_the_variables_the_step_chose_for_the_process_are_named(monkeypatch) -> None:
    import json

    from incr.processes import CHOSEN

    monkeypatch.setenv("SEED", "5")
    monkeypatch.setenv("GONE", "x")
    env = [k + b"=" + v for k, v in os.environb.items() if k != b"GONE"]
    env = [item for item in env if not item.startswith(b"SEED=")] + [b"SEED=1", b"NEW=2"]
    found = _as_dict(with_variables(env, {"PYTHONPATH": "/tmp/start"}))
    assert json.loads(found[os.fsencode(CHOSEN)]) == ["GONE", "NEW", "SEED"]
