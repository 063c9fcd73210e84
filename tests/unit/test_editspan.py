"""Names an edit touched (``incr.editspan``): every definition whose name the edit did not
touch has the raw key it had before the edit, whatever the edit did to the text around it."""

from __future__ import annotations

import ast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from incr.codeast import ModuleSource, analyse, definition_nodes
from incr.codeparts import raw_key
from incr.editspan import EditedNames, edited_names, neutral
from incr.model import TOP_LEVEL

PIECES = [
    "def f{i}(a, b={i}):\n    x = a + b\n    return helper(x)\n",
    "@register\ndef d{i}(n):\n    return n * {i}\n",
    "class K{i}:\n    k = {i}\n\n    def m(self):\n        return self.k\n",
    "V{i} = {i}; W{i} = V{i} + 1\n",
    "TABLE['t{i}'] = f{i}\n",
    '"""a lone string {i}"""\n',
    'S{i} = """text {i}\ndef hidden{i}():\n    pass\n"""\n',
    "if FLAG:\n    C{i} = 1\nelse:\n    C{i} = 2\n",
    "try:\n    import json as J{i}\nexcept ImportError:\n    J{i} = None\n",
    "for k{i} in range(2):\n    TABLE[k{i}] = {i}\n",
    "X{i} = (\n    1,\n    {i},\n)\n",
    "REG.add(d{i})\n",
]
GAPS = ["", "\n", "\n\n", "# a comment\n", "\n# two\n\n"]
#: Lines an edit may put anywhere, whether or not the result still parses.
LINES = [
    "",
    "# note",
    "    x = 1",
    "        return 0",
    "else:",
    "except ValueError:",
    "finally:",
    '"""',
    "'''",
    "x = (",
    ")",
    "y = 2; f0 = 3",
    "@register",
    "def f1():",
    "    pass",
    "def V0(): return 1",
    "class K0: pass",
    "TABLE['x'] = 1",
    "    '''inside'''",
    "z = 1 \\",
    "from os import *",
    "W1 = V1",
]
NAMES = [
    *(
        f"{p}{i}"
        for p in ("f", "d", "K", "V", "W", "S", "C", "J", "X", "k", "hidden")
        for i in range(4)
    ),
    *(f"K{i}.m" for i in range(4)),
    *(f"K{i}.k" for i in range(4)),
    "TABLE",
    "REG",
    "x",
    "y",
    "z",
    TOP_LEVEL,
]


def module(pieces: list[tuple[int, int]]) -> str:
    lines = ["import functools\n"]
    for i, (kind, gap) in enumerate(pieces):
        lines += [GAPS[gap], PIECES[kind].format(i=i % 4)]
    return "".join(lines)


def info_of(text: str):
    return analyse(ModuleSource("pipelines.m", "pipelines/m.py", text, False, True))


def keys(info) -> dict[str, str]:
    """The raw key of every name asked, as ``CodeIndex._definition`` makes it (no nodes: an
    absent name, keyed all the same)."""
    return {name: raw_key(info, definition_nodes(info, name) or [], "pipelines") for name in NAMES}


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


pieces = st.lists(
    st.tuples(st.integers(0, len(PIECES) - 1), st.integers(0, len(GAPS) - 1)), max_size=12
)


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, str]:
    """A module and an edit of it: lines replaced, inserted or removed anywhere (a statement's
    middle, a string's), or statements added, removed or swapped."""
    old = module(draw(pieces))
    lines = old.split("\n")
    kind = draw(st.sampled_from(["lines", "insert", "delete", "pieces"]))
    if kind == "pieces":
        return old, module(draw(pieces))
    at = draw(st.integers(0, len(lines)))
    count = draw(st.integers(0, 3))
    new_lines = draw(st.lists(st.sampled_from(LINES), max_size=3))
    if kind == "insert":
        lines[at:at] = new_lines
    elif kind == "delete":
        del lines[at : at + max(count, 1)]
    else:
        lines[at : at + count] = new_lines
    return old, "\n".join(lines)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits())
def test_a_name_the_edit_did_not_touch_keeps_its_raw_key(edit: tuple[str, str]) -> None:
    old, new = edit
    assume(parses(old) and parses(new))
    touched = edited_names(old, new, ast.parse(new))
    if touched is None:
        return
    before, after = keys(info_of(old)), keys(info_of(new))
    for name in NAMES:
        if name.partition(".")[0] not in touched:
            assert before[name] == after[name], name


def test_an_edit_inside_one_body_touches_that_function_only() -> None:
    old = module([(0, 1), (1, 2), (2, 1), (3, 0)])
    new = old.replace("    return n * 1\n", "    n += 2\n    return n * 1\n")
    touched = edited_names(old, new, ast.parse(new))
    assert touched is not None
    assert {"d1", "register", "n"} <= touched
    assert not {"f0", "K2", "V3", "W3"} & touched


def test_an_edit_that_opens_a_string_over_later_statements_is_not_told_from_lines() -> None:
    """Before the edit, a string ran over the definitions after it; after, they are code: the
    text before is cut where the text after has a statement, and that cut does not parse."""
    old = 'A = 1\nS = """\ndef f():\n    return 1\n"""\ndef g():\n    return 2\n'
    new = 'A = 1\nS = 2\ndef f():\n    return 1\n"""\ndef g():\n    return 2\n"""\n'
    assert parses(old) and parses(new)
    touched = edited_names(old, new, ast.parse(new))
    if touched is not None:
        for name in ("f", "g"):
            earlier, now = info_of(old), info_of(new)
            keys = [
                raw_key(i, definition_nodes(i, name) or [], "pipelines") for i in (earlier, now)
            ]
            assert keys[0] == keys[1] or name in touched


def test_an_else_after_the_edit_belongs_to_the_statement_before() -> None:
    old = "if A:\n    x = 1\n\nelse:\n    x = 2\ny = 3\n"
    new = "if A:\n    x = 5\n\nelse:\n    x = 2\ny = 3\n"
    touched = edited_names(old, new, ast.parse(new))
    assert touched is not None and "x" in touched and "y" not in touched


def test_a_star_import_in_the_edit_says_nothing() -> None:
    old = "import os\nA = 1\nB = 2\n"
    new = "from os import *\nA = 1\nB = 2\n"
    assert edited_names(old, new, ast.parse(new)) is None


def test_earlier_texts_asked_once_and_unknown_ones_answer_none() -> None:
    asked: list[str] = []

    def earlier(digest: str) -> str | None:
        asked.append(digest)
        return "A = 1\n\nB = 2\n" if digest == "kept" else None

    names = EditedNames(earlier)
    new = "A = 1\n\nB = 3\n"
    tree = ast.parse(new)
    assert names.since(new, tree, "gone") is None
    found = names.since(new, tree, "kept")
    assert found is not None and "B" in found and "A" not in found
    names.since(new, tree, "kept")
    assert asked == ["gone", "kept"]
    assert names.since(new, tree, "") is None


def test_statements_sharing_a_line_with_the_edit_are_touched_with_it() -> None:
    old = "A = (\n    1); B = [\n    2,\n    3]\nC = 3\n\n\nD = 4\n"
    new = "A = (\n    1); B = [\n    2,\n    5]\nC = 3\n\n\nD = 4\n"
    touched = edited_names(old, new, ast.parse(new))
    assert touched is not None and {"A", "B", "C"} <= touched and "D" not in touched


def test_edits_far_apart_in_a_large_module_are_not_told_from_lines() -> None:
    """Edits at both ends of a large module touch little, but the stretch between them would
    be parsed whole: the closures are checked one by one instead."""
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(400))
    old = "import os\n\n" + body + "Z = 1\n"
    new = "import sys\n\n" + body + "Z = 2\n"
    assert edited_names(old, new, ast.parse(new)) is None
    near = old.replace("    return x + 7\n", "    return x + 8\n")
    touched = edited_names(old, near, ast.parse(near))
    assert touched is not None and "f7" in touched and "f100" not in touched


# ======================================== edits of comments and layout only


def same_tree(old: str, new: str) -> bool:
    return ast.dump(ast.parse(old)) == ast.dump(ast.parse(new))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits())
def test_an_edit_found_neutral_leaves_the_module_the_same_tree(edit: tuple[str, str]) -> None:
    old, new = edit
    assume(parses(old) and parses(new))
    if neutral(old, new, ast.parse(new)):
        assert same_tree(old, new)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces, st.data())
def test_comments_and_blank_lines_between_statements_are_neutral(layout, data) -> None:
    """The same statements with other blank lines and comments between them (anywhere, in
    several places at once): found neutral."""
    gaps = [data.draw(st.integers(0, len(GAPS) - 1)) for _ in layout]
    old, new = (
        module(layout),
        module([(kind, gap) for (kind, _), gap in zip(layout, gaps, strict=True)]),
    )
    assert neutral(old, new, ast.parse(new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("A = 1\nB = 2\n", "A = 1\n# why B\nB = 2\n"),
        ("A = 1\n\n\nB = 2\n", "A = 1\nB = 2\n"),
        ("A = f(1, 2)\n", "A = f(\n    1,  # one\n    2,\n)\n"),
        ("class K:\n    a = 1\n\n    def m(self):\n        return 1\n",
         "class K:\n    a = 1  # the first\n\n\n    def m(self):\n        return 1\n"),
        ("def f():\n    return 1\n", "def f():\n    # why\n    return 1\n"),
        ("X = 1\n", "X = 1\n# the end\n"),
    ],
)  # fmt: skip
def test_layout_and_comments_are_neutral(old: str, new: str) -> None:
    assert neutral(old, new, ast.parse(new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("A = 1\nB = 2\n", "A = 1\nB = 3\n"),
        ("A = 1\n", "A = 1\nB = 2\n"),
        ('class K:\n    """doc"""\n', 'class K:\n    """another doc"""\n'),
        ('"""module doc"""\nA = 1\n', '"""the module"""\nA = 1\n'),
        ("# -*- coding: utf-8 -*-\nA = 1\n", "# -*- coding: latin-1 -*-\nA = 1\n"),
        ("A = 1\n", "# coding: latin-1\nA = 1\n"),
        ("def f():\n    return 1\n", "def f():\n    return 2\n"),
    ],
)  # fmt: skip
def test_other_edits_are_not(old: str, new: str) -> None:
    assert not neutral(old, new, ast.parse(new))


def test_neutral_asks_for_an_earlier_text_once_and_is_false_without_one() -> None:
    asked: list[str] = []

    def earlier(digest: str) -> str | None:
        asked.append(digest)
        return "A = 1\nB = 2\n" if digest == "kept" else None

    names = EditedNames(earlier)
    new = "A = 1\n\n# why\nB = 2\n"
    tree = ast.parse(new)
    assert not names.neutral(new, tree, "gone")
    assert names.neutral(new, tree, "kept")
    assert names.neutral(new, tree, "kept")
    assert asked == ["gone", "kept"]
    assert not names.neutral("A = 1\nB = 3\n", ast.parse("A = 1\nB = 3\n"), "kept")
