"""Which files outside the project count as a step's reads, and the keys they get
(incr/outside.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incr import outside


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOME", "/home/ada")
    return "/home/ada"


@pytest.mark.parametrize(
    "path",
    [
        "/mnt/data/train.csv",
        "/tmp/shared/rows.parquet",
        "/home/ada/datasets/train.csv",
        "/srv/features/part-0.npy",
        "/home/ada/projects/other/data.json",
        "/opt/data/labels.txt",
    ],
)
def test_data_outside_the_project_counts(path: str) -> None:
    assert outside.counts(path)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/os-release",
        "/usr/share/zoneinfo/UTC",
        "/proc/self/status",
        "/dev/null",
        "/var/lib/dpkg/status",
        os.path.join(sys.base_prefix, "lib", "LICENSE.txt"),
        os.path.join(sys.prefix, "share", "thing.json"),
        "/work/venv/lib/python3.11/site-packages/pkg/data.csv",
        "/usr/lib/python3/dist-packages/pkg/data.csv",
        "/mnt/tools/pkg-1.0.dist-info/METADATA",
        "/mnt/repo/.git/config",
        "/mnt/code/helpers.py",
        "/mnt/code/__pycache__/helpers.cpython-311.pyc",
        "/home/ada/.cache/huggingface/hub/model.bin",
        "/home/ada/.config/matplotlib/matplotlibrc",
        "/home/ada/.keras/datasets/mnist.npz",
        os.path.join(os.path.dirname(outside.__file__), "py.typed"),
    ],
)
def test_files_of_the_system_python_and_tools_do_not(path: str) -> None:
    assert not outside.counts(path)


def test_keys(tmp_path: Path) -> None:
    root = str(tmp_path / "project")
    assert outside.key_of("/mnt/data/a.csv", root) == "/mnt/data/a.csv"
    assert outside.key_of("/home/ada/datasets/a.csv", root) == "~/datasets/a.csv"
    assert outside.resolve(root, "~/datasets/a.csv") == "/home/ada/datasets/a.csv"
    assert outside.is_outside("~/datasets/a.csv") and outside.is_outside("/mnt/a")
    assert not outside.is_outside("data/a.csv")


def test_key_for_a_path_a_step_opens(tmp_path: Path) -> None:
    root = str(tmp_path / "project")
    assert outside.key_for("~/datasets/a.csv", root) == "~/datasets/a.csv"
    assert outside.key_for("/mnt/data/a.csv", root) == "/mnt/data/a.csv"
    assert outside.key_for("../shared/a.csv", root) == str(tmp_path / "shared" / "a.csv")
    assert outside.key_for("data/a.csv", root) is None  # inside the project
    assert outside.key_for("/etc/os-release", root) is None  # the system's


def test_a_file_of_the_checkout_above_the_project_is_keyed_from_the_root(tmp_path: Path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    root = str(tmp_path / "repo" / "proj")
    full = str(tmp_path / "repo" / "data" / "a.csv")
    assert outside.key_of(full, root) == "../data/a.csv"
    assert outside.resolve(root, "../data/a.csv") == full
    assert outside.is_outside("../data/a.csv")


def test_nothing_is_keyed_from_a_checkout_that_is_the_project(tmp_path: Path) -> None:
    (tmp_path / "proj" / ".git").mkdir(parents=True)
    full = str(tmp_path / "data.csv")
    assert outside.key_of(full, str(tmp_path / "proj")) == full


part = st.text(alphabet="abcxyz-_. 0", min_size=1, max_size=8).filter(
    lambda p: p not in (".", "..")
)


@given(
    st.sampled_from(["/mnt", "/home/ada", "/tmp/x", "/home/adam"]),
    st.lists(part, min_size=1, max_size=4),
)
def test_a_key_resolves_to_its_path(top: str, parts: list[str]) -> None:
    full = os.path.join(top, *parts)
    key = outside.key_of(full, "/nonexistent-incr/project")
    assert outside.is_outside(key)
    assert outside.resolve("/nonexistent-incr/project", key) == full
