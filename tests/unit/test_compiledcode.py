"""Compiled code kept by text (``incr.compiledcode``): running a module's chunks is running the
module, and chunks taken over from an earlier version carry the line numbers a fresh compile
gives."""

from __future__ import annotations

import ast
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incr import compiledcode
from incr.digests import digest_bytes

PIECES = [
    "def f{i}(a, b={i}):\n    x = a + b\n    return [y for y in range(x)]\n",
    "@functools.lru_cache\ndef c{i}(n):\n    return n * {i}\n",
    "class K{i}:\n    k = {i}\n\n    def m(self):\n        return lambda z: z + self.k\n",
    "V{i} = {i}; W{i} = V{i} + 1\n",
    "A{i}: int = {i}\n",
    '"""a lone string {i}"""\n',
    'try:\n    T{i} = int("{i}")\nexcept ValueError:\n    T{i} = 0\n',
    "def g{i}():\n    try:\n        raise KeyError({i})\n"
    "    except KeyError as e:\n        return str(e)\n",
]
GAPS = ["", "\n", "\n\n", "# a comment\n", "\n# two\n\n"]


def module_text(pieces: list[tuple[int, int]], edited: int | None = None) -> str:
    """A module of ``(piece kind, gap)`` pairs; ``edited``: that function's body longer."""
    lines = ['"""The module\'s docstring."""\n', "import functools\n"]
    for i, (kind, gap) in enumerate(pieces):
        text = PIECES[kind].format(i=i)
        if i == edited:
            text = text.replace("    x = a + b\n", "    x = a + b\n    x += 0\n\n    x -= 0\n")
        lines += [GAPS[gap], text]
    return "".join(lines)


def chunked(folder: Path, text: str) -> list[types.CodeType]:
    data = text.encode()
    tree = ast.parse(text)
    return compiledcode.chunked_code(folder, "/p/m.py", digest_bytes(data), data, tree, 0)


def run(codes: list[types.CodeType]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "m"}
    if compiledcode.annotated(codes):
        namespace["__annotations__"] = {}
    for code in codes:
        exec(code, namespace)
    return namespace


def codes_of(namespace: dict[str, Any]) -> dict[str, list[Any]]:
    """Every code object of the module's functions and classes' methods, with where each of
    its instructions is, by qualified name."""
    found: dict[str, list[Any]] = {}

    def walk(code: types.CodeType) -> None:
        found[f"{code.co_qualname}:{code.co_firstlineno}"] = list(code.co_positions())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                walk(const)

    for value in namespace.values():
        function = getattr(value, "__wrapped__", value)
        if isinstance(function, types.FunctionType):
            walk(function.__code__)
        elif isinstance(value, type):
            for member in vars(value).values():
                if isinstance(member, types.FunctionType):
                    walk(member.__code__)
    return found


def same_as_whole(codes: list[types.CodeType], text: str) -> None:
    mine, whole = run(codes), run([compile(text, "/p/m.py", "exec", dont_inherit=True)])
    assert sorted(mine) == sorted(whole)
    assert mine["__doc__"] == whole["__doc__"] == "The module's docstring."
    assert mine.get("__annotations__") == whole.get("__annotations__")
    assert codes_of(mine) == codes_of(whole)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, len(PIECES) - 1), st.integers(0, len(GAPS) - 1)),
        min_size=1,
        max_size=120,
    ),
    gaps=st.lists(st.integers(0, len(GAPS) - 1), max_size=120),
    data=st.data(),
)
def test_moved_chunks_run_as_the_module_compiled_whole(
    tmp_path_factory: pytest.TempPathFactory,
    pieces: list[tuple[int, int]],
    gaps: list[int],
    data: st.DataObject,
) -> None:
    folder = tmp_path_factory.mktemp("kept")
    before = module_text(pieces)
    same_as_whole(chunked(folder, before), before)
    # An edit: one function's body gets longer, and blank lines and comments come and go.
    functions = [i for i, (kind, _) in enumerate(pieces) if kind == 0]
    edited = data.draw(st.sampled_from(functions)) if functions else None
    moved = [(kind, gaps[i] if i < len(gaps) else gap) for i, (kind, gap) in enumerate(pieces)]
    after = module_text(moved, edited)
    same_as_whole(chunked(folder, after), after)


def test_an_edit_compiles_only_its_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces = [(0, 1)] * 400
    chunked(tmp_path, module_text(pieces))
    compiled: list[int] = []

    def counting(source: Any, *args: Any, **kwargs: Any) -> types.CodeType:
        compiled.append(len(source.body))
        return compile(source, *args, **kwargs)

    monkeypatch.setattr(compiledcode, "compile", counting, raising=False)
    after = module_text(pieces, edited=7)  # three lines more: every statement below moves
    codes = chunked(tmp_path, after)
    assert len(compiled) == 1 and compiled[0] < 100  # the chunk of f7, of 402 statements
    same_as_whole(codes, after)
    data = after.encode()
    assert compiledcode.kept_code(tmp_path, "/p/m.py", digest_bytes(data), 0) is not None
    assert compiledcode.kept_code(tmp_path, "/p/m.py", digest_bytes(data + b"\n"), 0) is None
    assert compiledcode.kept_code(tmp_path, "/p/m.py", digest_bytes(data), 1) is None  # -O
    assert compiledcode.kept_code(tmp_path, "/p/other.py", digest_bytes(data), 0) is None


def test_future_features_reach_every_chunk(tmp_path: Path) -> None:
    functions = "".join(f"def f{i}(x: Missing{i}) -> Nowhere:\n    return x\n\n" for i in range(99))
    text = f'"""The module\'s docstring."""\nfrom __future__ import annotations\n\n{functions}'
    codes = chunked(tmp_path, text)
    assert len(codes) > 2
    namespace = run(codes)  # annotations left as text: no NameError
    assert namespace["f90"].__annotations__ == {"x": "Missing90", "return": "Nowhere"}
    same_as_whole(codes, text)


def test_only_the_first_statement_is_the_docstring(tmp_path: Path) -> None:
    lone = "".join(f'"""not the docstring {i}"""\nX{i} = {i}\n' for i in range(300))
    text = f'"""The module\'s docstring."""\n{lone}'
    codes = chunked(tmp_path, text)
    assert len(codes) > 2
    assert run(codes)["__doc__"] == "The module's docstring."


def test_damaged_or_foreign_files_are_compiled_again(tmp_path: Path) -> None:
    text = module_text([(0, 0), (3, 1)])
    chunked(tmp_path, text)
    (kept,) = (tmp_path / "compiled").iterdir()
    kept.write_bytes(b"not marshal")
    digest = digest_bytes(text.encode())
    assert compiledcode.kept_code(tmp_path, "/p/m.py", digest, 0) is None
    same_as_whole(chunked(tmp_path, text), text)
    assert compiledcode.kept_code(tmp_path, "/p/m.py", digest, 0) is not None


def test_annotations_are_set_up_before_the_first_chunk(tmp_path: Path) -> None:
    fill = "".join(f"F{i} = {i}\n" for i in range(300))
    early = 'EARLY = "__annotations__" in globals()\n'
    text = f'"""The module\'s docstring."""\n{early}{fill}N: int = 1\n'
    codes = chunked(tmp_path, text)
    assert len(codes) > 2
    assert run(codes)["EARLY"] is True
    same_as_whole(codes, text)


def test_small_trees_wait_for_the_code_index_in_greater_numbers() -> None:
    from incr import codeast

    waiting = dict(codeast._handed)
    codeast._handed.clear()
    try:
        for i in range(70):  # a first repro of a project of many small modules
            codeast.hand_over(f"x{i} = {i}\n", ast.Module(body=[], type_ignores=[]))
        assert len(codeast._handed) == codeast.HANDED_MANY
        assert "x69 = 69\n" in codeast._handed and "x5 = 5\n" not in codeast._handed
        big = "y = 1\n" * 200_000  # beyond HANDED_TEXT alone: the oldest go, down to four
        codeast.hand_over(big, ast.Module(body=[], type_ignores=[]))
        assert list(codeast._handed) == ["x67 = 67\n", "x68 = 68\n", "x69 = 69\n", big]
    finally:
        codeast._handed.clear()
        codeast._handed.update(waiting)
