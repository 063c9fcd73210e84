"""The ``[tool.incr]`` table is kept in the cache folder with the text of pyproject.toml it came
from (``incr.project.tool_table``): a command then parses no TOML, and any edit of the file,
however small, is read again."""

from __future__ import annotations

import json

from incr.project import TABLE_MEMO

from .conftest import FLOW_ORDER, PYPROJECT, Project

LOADED = (
    "import sys\nfrom incr.project import Project\nProject.find('.')\n"
    "print('tomllib' in sys.modules)"
)


def test_a_command_reads_the_kept_table_while_pyproject_is_unchanged(flow: Project) -> None:
    memo = flow.root / ".pipecache" / TABLE_MEMO
    assert json.loads(memo.read_text())["text"] == PYPROJECT

    result = flow.python("-c", LOADED)

    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["False"]


def test_each_edit_of_pyproject_is_read_again(flow: Project) -> None:
    flow.write({"pyproject.toml": PYPROJECT + '\n[tool.incr]\nlockfile = "other.lock"\n'})
    assert set(flow.dirty()) == set(FLOW_ORDER)  # no lock entry in other.lock

    flow.write({"pyproject.toml": PYPROJECT + '\n[tool.incr]\nlockfile = "other.lock\n'})
    assert "pyproject.toml" in flow.incr("status").user_error()

    flow.write({"pyproject.toml": PYPROJECT + "\n[tool.incr]\nbogus = 1\n"})
    assert "unknown key 'bogus'" in flow.incr("status").user_error()

    flow.write({"pyproject.toml": PYPROJECT})
    assert flow.dirty() == {}
    assert flow.take_ran() == []


def test_a_table_json_cannot_hold_is_parsed_each_time(flow: Project) -> None:
    memo = flow.root / ".pipecache" / TABLE_MEMO
    memo.unlink()
    flow.write({"pyproject.toml": PYPROJECT + "\n[tool.incr]\nremote = {since = 2026-12-04}\n"})

    assert flow.dirty() == {}
    assert not memo.exists()
    result = flow.python("-c", LOADED)
    assert result.stdout.split() == ["True"]


def test_a_pyproject_in_another_encoding_is_an_error_naming_its_line(flow: Project) -> None:
    (flow.root / "pyproject.toml").write_bytes(b'[project]\nname = "caf\xe9"\n')

    line = flow.incr("status").user_error()

    assert line == "error: pyproject.toml:2: not UTF-8 text (byte 0xe9)"
