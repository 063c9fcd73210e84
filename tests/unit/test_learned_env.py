"""Environment variables read by project code (incr.envreads) and what project modules read
while imported (incr.importreads), in process, with project modules written to a temp folder."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from incr import envlibs, envreads, importreads
from incr.api import Step, step
from incr.errors import DefinitionError
from incr.graphcodec import decode, encode
from incr.model import UNSET, Facts, LockEntry, PipelineGraph, StepNode
from incr.watchset import _read_paths


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder on ``sys.path``; its modules are forgotten afterwards."""
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(project)
    before = set(sys.modules)
    yield project.resolve()
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


READER = """\
    import os


    def by_item():
        return os.environ["LE_ITEM"]


    def by_get():
        return os.environ.get("LE_GET")


    def by_getenv():
        return os.getenv("LE_GETENV", "x")


    def by_in():
        return "LE_IN" in os.environ


    def by_setdefault():
        return os.environ.setdefault("LE_DEFAULT", "1")


    def missing():
        try:
            return os.environ["LE_MISSING"]
        except KeyError:
            return None


    def copies():
        return os.environ.copy(), list(os.environ.items()), list(os.environ.values())
    """


def test_project_code_reads_are_recorded_by_name(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root, {"lereader.py": READER})
    monkeypatch.setenv("LE_ITEM", "1")
    monkeypatch.delenv("LE_DEFAULT", raising=False)
    reader = importlib.import_module("lereader")
    before = os._Environ.__getitem__  # wrapped already when a script recorder runs
    with envreads.recording(root) as seen:
        for name in ("by_item", "by_get", "by_getenv", "by_in", "by_setdefault", "missing"):
            getattr(reader, name)()
    expected = {"LE_ITEM", "LE_GET", "LE_GETENV", "LE_IN", "LE_DEFAULT", "LE_MISSING"}
    assert seen.names == expected
    assert os._Environ.__getitem__ is before  # put back


def test_copies_and_standard_library_reads_are_not_recorded(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the whole environment counts only by the variables set that the project's
    code spells (none here); what the standard library reads is the machine's
    (``envlibs.ambient``). The project's code is the reader alone (this process has imported
    test modules spelling those names, local code as the project's would be)."""
    monkeypatch.delenv("LE_DEFAULT", raising=False)
    write(root, {"lereader.py": READER})
    words = envlibs.words_of([str(root / "lereader.py")])
    monkeypatch.setattr(envreads, "project_words", lambda frame, files: words)
    reader = importlib.import_module("lereader")
    with envreads.recording(root) as seen:
        reader.copies()
        tempfile._candidate_tempdir_list()  # reads TMPDIR, TEMP, TMP
        os.path.expanduser("~")
        os.environ.get("LE_FROM_A_TEST")  # this file: local code outside the project
    assert seen.names == {"LE_FROM_A_TEST"}


def test_reads_count_from_project_files_and_local_code_outside(root: Path, tmp_path: Path) -> None:
    """Local code outside the project (a shared library on PYTHONPATH) counts; Python's,
    an installed package's, a tool's in a hidden folder of the home and incr's do not."""
    files = envreads.ProjectFiles(root)
    assert files.reads_count(str(root / "pipelines/flow.py"))
    assert files.reads_count(str(tmp_path / "libs" / "common" / "ops.py"))
    assert not files.reads_count(str(root / ".venv/lib/x.py"))
    assert not files.reads_count(str(tmp_path / "lib" / "site-packages" / "pkg" / "x.py"))
    assert not files.reads_count(tempfile.__file__)
    assert not files.reads_count(envreads.__file__)
    assert not files.reads_count("<frozen os>")
    assert not files.reads_count(os.path.expanduser("~/.local/lib/tool/x.py"))


def test_env_value_is_a_digest_or_unset() -> None:
    assert envreads.env_value("X", {}) == UNSET
    value = envreads.env_value("X", {"X": "secret"})
    assert len(value) == 32 and "secret" not in value
    assert value != envreads.env_value("X", {"X": "other"})
    assert envreads.env_value("X", {"X": ""}) != UNSET


def test_project_files_leave_out_hidden_installed_and_incr_files(root: Path) -> None:
    files = envreads.ProjectFiles(root)
    assert files.rel(str(root / "pipelines/flow.py")) == "pipelines/flow.py"
    assert files.rel(str(root / ".venv/lib/x.py")) is None
    assert files.rel(str(root / "lib/site-packages/pkg/x.py")) is None
    assert files.rel(str(root.parent / "elsewhere.py")) is None
    assert files.rel(envreads.__file__) is None
    assert files.rel("<frozen os>") is None


IMPORTS = {
    "lepkg/__init__.py": "",
    "lepkg/util.py": """\
        import os


        def read_pairs(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read()


        def flag():
            return os.environ.get("LE_FLAG")
        """,
    "lepkg/inner.py": """\
        with open("inner.txt", encoding="utf-8") as fh:
            INNER = fh.read()
        with open("more.txt", encoding="utf-8") as fh:
            print(fh.read())
        """,
    "lepkg/outer.py": """\
        import os

        from lepkg import inner
        from lepkg.util import flag, read_pairs

        PARAMS = read_pairs("params.yaml")
        FLAG = flag()
        MODE = os.environ.get("LE_MODE")
        with open("written.txt", "w", encoding="utf-8") as fh:
            fh.write("x")
        """,
    "params.yaml": "a: 1\n",
    "inner.txt": "inner\n",
    "more.txt": "more\n",
}


def test_reads_at_import_are_attributed_to_the_module_being_imported(root: Path) -> None:
    write(root, IMPORTS)
    before = os._Environ.__getitem__
    with importreads.recording(root) as seen:
        importlib.import_module("lepkg.outer")
    facts = seen.facts(lambda path: f"digest of {path}", {"LE_MODE": "on"})
    assert facts == {
        # helpers called at import count for the module whose top-level code called them,
        # for the name the statement reading binds
        "lepkg/outer.py:PARAMS": {"import:lepkg/outer.py:params.yaml": "digest of params.yaml"},
        "lepkg/outer.py:FLAG": {"$LE_FLAG": UNSET},
        "lepkg/outer.py:MODE": {"$LE_MODE": envreads.env_value("LE_MODE", {"LE_MODE": "on"})},
        # read by a ``with`` statement binding names: for those names and its ``as`` name
        "lepkg/inner.py:INNER": {"import:lepkg/inner.py:inner.txt": "digest of inner.txt"},
        "lepkg/inner.py:fh": {"import:lepkg/inner.py:inner.txt": "digest of inner.txt"},
        # read by a ``with`` statement doing more: for all of the module
        "lepkg/inner.py": {"import:lepkg/inner.py:more.txt": "digest of more.txt"},
    }
    assert seen.env_names == {"LE_FLAG", "LE_MODE"}
    assert os._Environ.__getitem__ is before


def test_reads_outside_a_module_body_belong_to_no_module(root: Path) -> None:
    write(root, IMPORTS)
    util = importlib.import_module("lepkg.util")
    with importreads.recording(root) as seen:
        util.read_pairs("params.yaml")  # called from this test, not from a module body
        util.flag()
    assert seen.facts(lambda path: path, {}) == {}
    assert seen.env_names == {"LE_FLAG"}  # read by project code: it keys the graph cache


def test_step_facts_come_from_the_modules_of_the_code_parts() -> None:
    imports = {
        "pipelines/lookup.py": {"import:pipelines/lookup.py:params.yaml": "d1", "$A": "unset"},
        "pipelines/other.py": {"import:pipelines/other.py:other.yaml": "d2"},
    }
    code = {
        "python": "3.11",
        "pkg:numpy": "2.0",
        "version": "1",
        "pipelines/flow.py:train": "c1",
        "pipelines/lookup.py:factor": "c2",
    }
    assert importreads.code_modules(code) == {"pipelines/flow.py", "pipelines/lookup.py"}
    assert importreads.step_facts(imports, code) == imports["pipelines/lookup.py"]
    named = {
        "pipelines/lookup.py:PARAMS": {"import:pipelines/lookup.py:params.yaml": "d1"},
        "pipelines/lookup.py:SCALE": {"$SCALE": "unset"},
    }
    assert importreads.step_facts(named, code) == {}  # factor uses neither
    with_params = {**code, "pipelines/lookup.py:PARAMS": "c3"}
    assert importreads.step_facts(named, with_params) == named["pipelines/lookup.py:PARAMS"]
    whole = {**code, "pipelines/lookup.py:*": "c4"}  # the module used as a value: all of it
    assert importreads.step_facts(named, whole) == {
        **named["pipelines/lookup.py:PARAMS"],
        **named["pipelines/lookup.py:SCALE"],
    }
    assert importreads.merged({"a.py": {"k": "1", "j": "2"}}, {"a.py": {"k": "3"}}) == {
        "a.py": {"k": "3", "j": "2"}
    }


def test_step_env_is_checked_and_kept_in_order() -> None:
    def f() -> int:
        return 1

    made = step(env=["B", "A", "B"])(f)
    assert isinstance(made, Step)
    assert made.env == ("B", "A")
    with pytest.raises(DefinitionError, match="env must be a list"):
        step(env="BINS")(f)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="not an environment variable name"):
        step(env=["A=B"])(f)


def test_graph_cache_keeps_a_step_s_env() -> None:
    from incr.api import TracedPipeline
    from incr.coderef import CodeRef, StepCode

    node = StepNode("p", "s", "s", "pipelines/p.py", {}, {}, ("output",), env=("BINS",))
    graph = PipelineGraph("p", "pipelines/p.py", (node,))
    traced = TracedPipeline(graph, {}, {}, {"s": StepCode(CodeRef("pipelines.p", "s"))})
    assert decode(encode(traced)).graph.steps[0] == node


def test_watch_follows_the_files_behind_learned_facts() -> None:
    reads = {
        "data/a.txt": "d",
        "$BINS": "unset",
        "import:pipelines/lookup.py:params.yaml": "d",
        "ls:data/parts": "d",
        "exists:data/override.txt": "missing",
    }
    entry = LockEntry("p.s", "f", Facts({}, {}, {}, {}), reads=reads)
    assert _read_paths(entry.reads) == {
        "data/a.txt",
        "params.yaml",
        "data/parts",
        "data/override.txt",
    }
