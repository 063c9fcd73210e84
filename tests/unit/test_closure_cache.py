"""The closure cache never answers differently from computing the closure afresh."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr import codeindex
from incr.codeindex import CodeIndex
from incr.digests import digest_bytes
from incr.project import Project
from incr.session import Workspace

#: Versions of three modules (None: the file does not exist). ``f`` in a.py finds ``g``
#: directly, through star imports, or falls back to a local definition.
VARIANTS: dict[str, list[str | None]] = {
    "pipelines/a.py": [
        "from pipelines.b import *\n\ndef f():\n    return g()\n",
        "from pipelines.c import g\n\ndef f():\n    return g() + 1\n",
        "try:\n    from pipelines.c import g\nexcept ImportError:\n    def g():\n"
        "        return 0\n\ndef f():\n    return g()\n",
        "import pipelines.b as b\n\ndef f():\n    return b.g()\n",
    ],
    "pipelines/b.py": [
        None,
        "from pipelines.c import *\n",
        "def g():\n    return 2\n",
        "from pipelines.c import *\n\ndef g():\n    return getattr(K, 'x')\n\nK = 1\n",
    ],
    "pipelines/c.py": [
        None,
        "def g():\n    return 3\n",
        "def g():\n    return 4\n",
        "import numpy as np\n\ndef g():\n    return np.zeros(1)\n",
    ],
}

edits = st.lists(
    st.tuples(st.sampled_from(sorted(VARIANTS)), st.integers(min_value=0, max_value=3)),
    min_size=1,
    max_size=12,
)


def fresh_closure(root: Path) -> tuple:
    def load(name: str):
        workspace = Workspace(Project(root))
        return workspace._load_source(name)

    absent = Workspace(Project(root)).sources.absent  # a module of the project not there
    closure = CodeIndex(load, absent=absent).closure("pipelines.a", "f")
    return closure.parts, closure.packages, closure.dynamic


@settings(max_examples=40, deadline=None)
@given(edits)
def test_cached_closures_match_fresh_ones(changes: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipelines").mkdir()
        (root / "pipelines" / "__init__.py").write_text("")
        (root / "pipelines" / "a.py").write_text(VARIANTS["pipelines/a.py"][0])
        # Old, distinct modification times: the stat cache trusts its entries, as it would
        # for files saved long ago, so unchanged modules are not even read.
        clock = time.time() - 86_400
        for step, (rel, index) in enumerate(changes):
            text = VARIANTS[rel][index]
            path = root / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)
                os.utime(path, (clock + step, clock + step))
            for _ in range(2):  # computed, then from the cache
                workspace = Workspace(Project(root))
                closure = workspace.closure("pipelines.a", "f")
                workspace.save_stats()
                got = (closure.parts, closure.packages, closure.dynamic)
                assert got == fresh_closure(root), f"after {changes[: step + 1]}"


#: Module versions that differ inside function bodies, used or not by the closures asked:
#: a closure read again from the cache after such an edit must be the one computed afresh.
_A_HEAD = "from pipelines.b import *\n\nTABLE = {}\n\n"
BODIES: dict[str, list[str | None]] = {
    "pipelines/a.py": [
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 1\n\ndef k():\n    return 2\n",
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 1\n\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 5\n\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return k()\n\ndef h():\n    return 5\n\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return g()\n\ndef h():\n    return 5\n\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return g()\n\ndef h():\n    return 6\n\ndef k(): return 3\n",
        _A_HEAD + "def f():\n    return TABLE['x']()\n\ndef h():\n    return 6\n\ndef k():\n"
        "    TABLE['x'] = h\n",
        _A_HEAD + "def f():\n    return TABLE['x']()\n\ndef h():\n    return 7\n\ndef k():\n"
        "    TABLE['x'] = h\n",
        _A_HEAD + "def f():\n    return TABLE['x']()\n\ndef h():\n    return 7\n\ndef k():\n"
        "    TABLE['x'] = g\n",
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 7\n\ndef h():\n    return 8\n"
        "\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 7\n\ndef g():\n    return 8\n"
        "\ndef k():\n    return 3\n",
        _A_HEAD + "def f():\n    return h()\n\ndef h():\n    return 7\n\ndef k():\n    return 3\n"
        "\nclass C:\n    def m(self):\n        return h()\n",
        # the table filled by no function yet: a body that starts filling it changes f
        _A_HEAD + "def f():\n    return TABLE['x']()\n\ndef h():\n    return 6\n\ndef k():\n"
        "    return 3\n",
        # comments and blank lines around the functions only (the skeleton's text changes)
        "# the first module\n"
        + _A_HEAD.replace("TABLE = {}\n", "TABLE = {}  # by name\n")
        + "def f():\n    return h()\n\n\n\ndef h():\n    return 1\n\n# k\ndef k():\n"
        "    return 2\n",
        _A_HEAD + "\n\ndef f():\n    return h()\n\ndef h():\n    return 1\n\ndef k():\n"
        "    return 2\n# the end\n",
    ],
    "pipelines/b.py": [
        "def g():\n    return 1\n\ndef unused():\n    return 1\n",
        "def g():\n    return 1\n\ndef unused():\n    return 2\n",
        "def g():\n    return 2\n\ndef unused():\n    return 2\n",
        "def g():\n    return helper()\n\ndef helper():\n    return 2\n",
        "def g():\n    return helper()\n\ndef helper():\n    return 3\n",
        "def unused():\n    return 2\n",
    ],
}
TARGETS = [("pipelines.a", "f"), ("pipelines.a", "k"), ("pipelines.a", "C.m"), ("pipelines.b", "g")]


def fresh(root: Path, module: str, name: str) -> tuple:
    def load(found: str):
        return Workspace(Project(root))._load_source(found)

    absent = Workspace(Project(root)).sources.absent
    closure = CodeIndex(load, absent=absent).closure(module, name)
    return closure.parts, closure.packages, closure.dynamic, closure.readers


def keep(root: Path, path: Path) -> None:
    """Keep the module's text by its digest, as a run does (``Project.kept_module``): the
    closures of a later text are then rechecked only for the names its edit touched."""
    data = path.read_bytes()
    kept = Project(root).kept_module(digest_bytes(data))
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(data)


@pytest.mark.parametrize("kept", [False, True], ids=["no text kept", "texts kept"])
@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(BODIES)), st.integers(min_value=0, max_value=20)),
        min_size=1,
        max_size=10,
    )
)
def test_closures_kept_across_edits_of_other_bodies_match_fresh_ones(
    kept: bool, changes: list[tuple[str, int]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipelines").mkdir()
        (root / "pipelines" / "__init__.py").write_text("")
        clock = time.time() - 86_400
        for rel, texts in BODIES.items():
            (root / rel).write_text(texts[0] or "")
            os.utime(root / rel, (clock, clock))
            if kept:
                keep(root, root / rel)
        workspace = Workspace(Project(root))
        for module, name in TARGETS:
            workspace.closure(module, name)
        workspace.save_stats()
        for step, (rel, index) in enumerate(changes, start=1):
            texts = BODIES[rel]
            path = root / rel
            path.write_text(texts[index % len(texts)] or "")
            os.utime(path, (clock + step, clock + step))
            if kept:
                keep(root, path)
            workspace = Workspace(Project(root))
            for module, name in TARGETS:
                closure = workspace.closure(module, name)
                got = (closure.parts, closure.packages, closure.dynamic, closure.readers)
                assert got == fresh(root, module, name), f"{module}:{name} after {changes[:step]}"
            workspace.save_stats()


def counting_closures(monkeypatch) -> list[tuple[str, str]]:
    """The (module, name) of each closure the code index computes from now on."""
    computed: list[tuple[str, str]] = []
    real = CodeIndex.closure

    def counting(self: CodeIndex, module: str, name: str):
        computed.append((module, name))
        return real(self, module, name)

    monkeypatch.setattr(CodeIndex, "closure", counting)
    return computed


def test_a_closure_kept_as_saved_still_knows_what_it_read(tmp_path: Path, monkeypatch) -> None:
    """Computed, then used as saved by a later command, a closure is still kept after an edit
    of a body it does not take: the later command saved what it read along with it."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    clock = time.time() - 86_400
    for step, (rel, index) in enumerate([("pipelines/a.py", 0), ("pipelines/b.py", 0)]):
        (tmp_path / rel).write_text(BODIES[rel][index] or "")
        os.utime(tmp_path / rel, (clock + step, clock + step))
    for other in ("k", "h"):  # computed, then used as saved beside one computed (saved again)
        workspace = Workspace(Project(tmp_path))
        workspace.closure("pipelines.a", "f")
        workspace.closure("pipelines.a", other)
        workspace.save_stats()
    (tmp_path / "pipelines/a.py").write_text(BODIES["pipelines/a.py"][1] or "")  # k's body
    os.utime(tmp_path / "pipelines/a.py", (clock + 5, clock + 5))
    computed = counting_closures(monkeypatch)
    workspace = Workspace(Project(tmp_path))
    got = workspace.closure("pipelines.a", "f")
    assert computed == []
    assert (got.parts, got.packages) == fresh(tmp_path, "pipelines.a", "f")[:2]


def test_a_closure_kept_across_one_edit_is_kept_across_the_next(
    tmp_path: Path, monkeypatch
) -> None:
    """A saved closure found the same after an edit of a body it does not take is saved with
    what it read, so the next such edit keeps it too, without computing it."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    clock = time.time() - 86_400
    a, b = tmp_path / "pipelines/a.py", tmp_path / "pipelines/b.py"
    b.write_text(BODIES["pipelines/b.py"][0] or "")
    os.utime(b, (clock, clock))
    computed = counting_closures(monkeypatch)
    # f takes h, not k: versions 0 and 1 differ in k's body only, edited back and forth
    for step, index in enumerate([0, 1, 0, 1]):
        a.write_text(BODIES["pipelines/a.py"][index] or "")
        os.utime(a, (clock + step + 1, clock + step + 1))
        computed.clear()
        workspace = Workspace(Project(tmp_path))
        got = workspace.closure("pipelines.a", "f")
        workspace.save_stats()
        assert computed == ([("pipelines.a", "f")] if step == 0 else []), f"edit {step}"
        assert (got.parts, got.packages) == fresh(tmp_path, "pipelines.a", "f")[:2]


@pytest.mark.parametrize("kept", [False, True], ids=["no text kept", "text kept"])
def test_a_kept_text_spares_the_raw_keys_of_definitions_the_edit_did_not_touch(
    tmp_path: Path, monkeypatch, kept: bool
) -> None:
    """After an edit of k's body, f's saved closure (f and h, taken whole) is rechecked: with
    the text before the edit kept, without reading f or h again; without it, by their keys."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    clock = time.time() - 86_400
    a, b = tmp_path / "pipelines/a.py", tmp_path / "pipelines/b.py"
    for step, (path, text) in enumerate(
        [(b, BODIES["pipelines/b.py"][0]), (a, BODIES["pipelines/a.py"][0])]
    ):
        path.write_text(text or "")
        os.utime(path, (clock + step, clock + step))
        keep(tmp_path, path)
    workspace = Workspace(Project(tmp_path))
    workspace.closure("pipelines.a", "f")
    workspace.save_stats()
    a.write_text(BODIES["pipelines/a.py"][1] or "")  # k's body
    os.utime(a, (clock + 5, clock + 5))
    if not kept:
        for path in (tmp_path / ".pipecache/sources/modules").iterdir():
            path.unlink()
    keyed: list[int] = []
    real = codeindex.raw_key
    monkeypatch.setattr(codeindex, "raw_key", lambda *args: keyed.append(1) or real(*args))
    computed = counting_closures(monkeypatch)
    got = Workspace(Project(tmp_path)).closure("pipelines.a", "f")
    assert computed == []
    assert len(keyed) == (0 if kept else 2)
    assert (got.parts, got.packages) == fresh(tmp_path, "pipelines.a", "f")[:2]


def test_comments_around_the_functions_keep_every_closure_and_the_next_edit_too(
    tmp_path: Path, monkeypatch
) -> None:
    """Comments and blank lines edited around the functions change the module's skeleton
    but not its tree: no closure is computed again, nor after a later edit of k's body
    (rechecked by the names it touched, against the skeleton of the text now)."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    clock = time.time() - 86_400
    a, b = tmp_path / "pipelines/a.py", tmp_path / "pipelines/b.py"
    texts = BODIES["pipelines/a.py"]
    edited_k = texts[14].replace("    return 2\n# the end", "    return 3\n# the end")
    b.write_text(BODIES["pipelines/b.py"][0] or "")
    os.utime(b, (clock, clock))
    for step, text in enumerate([texts[0], texts[13], texts[14], edited_k], start=1):
        a.write_text(text or "")
        os.utime(a, (clock + step, clock + step))
        keep(tmp_path, a)
        computed = counting_closures(monkeypatch)
        workspace = Workspace(Project(tmp_path))
        got = workspace.closure("pipelines.a", "f")
        workspace.save_stats()
        assert computed == ([("pipelines.a", "f")] if step == 1 else []), f"text {step}"
        assert (got.parts, got.packages) == fresh(tmp_path, "pipelines.a", "f")[:2]


def test_the_code_memo_is_kept_for_the_next_command(tmp_path: Path) -> None:
    """A closure computed again (its saved one dropped) takes its definitions from the memo
    the command before saved in ``code.bin``, and finds the same closure."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "a.py").write_text(BODIES["pipelines/a.py"][0] or "")
    (tmp_path / "pipelines" / "b.py").write_text(BODIES["pipelines/b.py"][0] or "")
    workspace = Workspace(Project(tmp_path))
    first = workspace.closure("pipelines.a", "f")
    workspace.save_stats()
    cache = Project(tmp_path).cache
    assert (cache / "code.bin").is_file() and not (cache / "code.json").exists()
    (cache / "closures.bin").unlink()
    again = Workspace(Project(tmp_path))
    closure = again.closure("pipelines.a", "f")
    assert again.sources.code.memo_used  # read from the memo, not digested again
    assert (closure.parts, closure.packages) == (first.parts, first.packages)


def test_a_closure_saved_since_is_seen_by_the_next_cache_of_the_process(tmp_path: Path) -> None:
    """A cache made again in one process (a script's next ``.run()``) takes what the process
    last read of the file while the file is unchanged, and what a write since put there."""
    from incr.codecache import ClosureCache
    from incr.fingerprint import CodeClosure

    path = tmp_path / "closures.bin"
    where = {"pipelines.a": ("pipelines/a.py", "1" * 32), "pipelines.b": ("pipelines/b.py", "2")}

    def cache() -> ClosureCache:
        return ClosureCache(path, where.__getitem__)

    one = CodeClosure({"pipelines/a.py:f": "a" * 32}, frozenset())
    two = CodeClosure({"pipelines/b.py:g": "b" * 32}, frozenset())
    first = cache()
    first.put("pipelines.a", "f", one, {"pipelines.a": where["pipelines.a"]})
    first.save()
    assert cache().get("pipelines.a", "f") == one
    assert cache().get("pipelines.a", "f") == one  # taken as this process read it

    writer = cache()
    writer.put("pipelines.b", "g", two, {"pipelines.b": where["pipelines.b"]})
    writer.save()
    later = cache()
    assert later.get("pipelines.b", "g") == two and later.get("pipelines.a", "f") == one
    path.unlink()
    assert cache().get("pipelines.a", "f") is None  # gone from disk: nothing is saved
