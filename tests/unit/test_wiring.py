"""incr/wiring.py: which edits can change how the pipelines are wired."""

from __future__ import annotations

import ast
import itertools
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr.wiring import Wiring, wiring_of

#: Each text is read under a name of its own: ``wiring_of`` keeps its answers per text and name.
_names = (f"m{n}.py" for n in itertools.count())


def wired(text: str) -> Wiring:
    found = wiring_of(textwrap.dedent(text).encode(), next(_names))
    assert found is not None
    return found


def wiring(text: str) -> tuple[str, bool]:
    found = wired(text)
    return found.tree(), found.runs_bodies


def kept(before: str, after: str) -> bool:
    """Whether ``after``, checked against what graph.bin saved for ``before``, keeps the
    saved graphs (as ``graphcache`` asks it, with the text of ``before`` kept)."""
    then = wired(before)
    return wired(after).same_as(then.entry()[0], lambda: then)


@pytest.mark.parametrize(
    "header",
    [
        "from incr import pipeline, step\n\n@step",
        "from incr import step as s\n\n@s(enable_cache=False)",
        "import incr\n\n@incr.step",
        "import incr as i\n\n@i.step(outs=['x'])",
    ],
)
def test_a_step_body_does_not_count(header: str) -> None:
    before = wiring(header + "\ndef f(x: int) -> int:\n    return x + 1\n")
    after = wiring(header + "\ndef f(x: int) -> int:\n    y = x * 2  # other\n    return y\n")
    assert before == after
    assert not before[1]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("def f(x: int) -> int:", "def f(x: int, y: int = 0) -> int:"),  # the signature
        ("@step\n", "@step(enable_cache=False)\n"),  # the decorator
        ("N = 3", "N = 4"),  # module-level code
        ("    return [f(i) for i in range(N)]", "    return [f(i) for i in range(N + 1)]"),
    ],
)
def test_everything_else_counts(old: str, new: str) -> None:
    text = """\
from incr import pipeline, step

N = 3


@step
def f(x: int) -> int:
    return x + 1


@pipeline
def p():
    return [f(i) for i in range(N)]
"""
    assert old in text
    assert wiring(text) != wiring(text.replace(old, new))


def test_comments_and_layout_do_not_count() -> None:
    text = "from incr import pipeline\n\n@pipeline\ndef p():\n    a(b())\n"
    assert wiring(text) == wiring(text.replace("a(b())", "a(  # wired\n        b()\n    )"))


@pytest.mark.parametrize(
    "text",
    [
        # another library's ``step``
        "from other import step\n\n@step\ndef f():\n    return 1\n",
        # a step defined inside a function: its body is the function's
        "from incr import step\n\ndef make():\n    @step\n    def f():\n        return 1\n",
        # ``step`` rebound after the import: it may call what it decorates
        "from incr import step\n\nstep = lambda f: f() and f\n\n@step\ndef f():\n    return 1\n",
        "from incr import step\n\ndef step(f):\n    return f\n\n@step\ndef f():\n    return 1\n",
        "import incr\nfrom x import incr\n\n@incr.step\ndef f():\n    return 1\n",
        "from incr import step\n\ntry:\n    pass\nexcept E as step:\n    pass\n\n"
        "@step\ndef f():\n    return 1\n",
    ],
)
def test_only_module_level_incr_steps_lose_their_bodies(text: str) -> None:
    assert wiring(text) != wiring(text.replace("return 1", "return 2"))


@pytest.mark.parametrize(
    "access",
    [
        "f.entrypoint(1)",
        "f.func(1)",
        "f.__wrapped__(1)",
        "f.run_function(None, {})",
        "inspect.unwrap(f)(1)",
        "unwrap(f)(1)",
        'getattr(f, "func")(1)',
        "getattr(f, NAME)(1)",
        'vars(f)["func"](1)',
        'f.__dict__["func"](1)',
        'eval("f.func(1)")',
    ],
)
def test_reaching_a_step_body_is_reported(access: str) -> None:
    text = f"from incr import step\n\n@step\ndef f(x):\n    return x\n\nV = {access}\n"
    assert wiring(text)[1]


def test_a_module_that_does_not_parse() -> None:
    assert wiring_of(b"def f(:\n", "m.py") is None


def test_getattr_of_a_plain_attribute_is_not_reaching_a_body() -> None:
    text = 'from incr import step\n\n@step\ndef f(x):\n    return x\n\nW = getattr(f, "name")\n'
    assert not wiring(text)[1]


def test_a_star_import_may_rebind_step() -> None:
    text = "from incr import step\nfrom helpers import *\n\n@step\ndef f():\n    return 1\n"
    assert wiring(text) != wiring(text.replace("return 1", "return 2"))


STEP = "from incr import pipeline, step\n\n\n@step\n"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("def f(x):\n    return x\n", "def f(x):\n    y = x  # more lines\n    return y\n"),
        ('def f(x):\n    """Doc."""\n    return x\n', "def f(x):\n    return x + 1\n"),
        ("async def f(x):\n    return x\n", "async def f(x):\n    return await g(x)\n"),
    ],
)
def test_an_edit_inside_a_step_body_keeps_the_text_around_it(old: str, new: str) -> None:
    assert wired(STEP + old).around == wired(STEP + new).around
    assert kept(STEP + old, STEP + new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a signature on the body's line: that line is not cut
        ("def f(x): return x\n", "def f(x, y=1): return x\n"),
        ("def f(x\n):  return x\n", "def f(x, y=2\n):  return x\n"),
        # a statement moved from the module into the body, and back out
        ("def f(x):\n    return x\nN = 1\n", "def f(x):\n    return x\n    N = 1\n"),
        ("def f(x):\n    return x\n    N = 1\n", "def f(x):\n    return x\nN = 1\n"),
        # a string opened in the body that swallows what follows it
        (
            'def f(x):\n    return x\nN = 1\nM = """\n"""\n',
            'def f(x):\n    return """\nN = 1\nM = """\n',
        ),
        # a decorator or the signature
        ("def f(x):\n    return x\n", "def f(x, y):\n    return x\n"),
    ],
)
def test_wiring_edits_change_the_text_around_the_bodies_and_the_tree(old: str, new: str) -> None:
    assert wired(STEP + old).around != wired(STEP + new).around
    assert not kept(STEP + old, STEP + new)


def test_a_comment_around_the_bodies_is_found_the_same_through_the_tree() -> None:
    old = STEP + "def f(x):\n    return x\n\n\n@pipeline\ndef p():\n    f(1)\n"
    new = old.replace("    f(1)", "    # the only step\n    f(  1  )")
    assert wired(old).around != wired(new).around
    assert kept(old, new)


@pytest.mark.parametrize(
    ("edit", "same"),
    [
        (("N = 3\n", "N = 3  # the size\n\n"), True),
        (("@pipeline\n", "# the pipeline\n@pipeline\n"), True),
        (("N = 3\n", "N = 4\n"), False),
        (("    f(N)\n", "    f(N + 1)\n"), False),
    ],
)
def test_a_neutral_edit_keeps_the_wiring_without_its_tree(
    edit: tuple[str, str], same: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Comments and layout edited around the step bodies: ``editspan.neutral`` says so, and no
    tree is dumped; any other edit is found by the trees, as before."""
    from incr import astnorm
    from incr.editspan import neutral

    old = STEP + "def f(x):\n    return x\n\n\nN = 3\n\n\n@pipeline\ndef p():\n    f(N)\n"
    new = old.replace(*edit)
    then, now = wired(old), wired(new)
    assert then.around != now.around
    dumped: list[int] = []
    real = astnorm.dumped
    monkeypatch.setattr(astnorm, "dumped", lambda *a: dumped.append(1) or real(*a))
    found = now.same_as(then.entry()[0], lambda: then, lambda tree: neutral(old, new, tree))
    assert found is same
    assert dumped == ([] if same else [1, 1])


_BODY = [
    "    return x",
    "    y = x",
    '    """doc"""',
    "    # note",
    "    x = g(1)",
    "    if x:",
    "        x = 2",
]
_TOP = [
    "N = 1",
    "M = f0(N)",
    "# top",
    "",
    "class C:\n    k = 1",
    "@pipeline\ndef p():\n    f0(g(1))",
]
#: Lines an edit puts in: indented like a body, or not, or opening a string.
_EDIT = [*_BODY, *_TOP, "@step", "def h(x):", '    s = """', '"""', "    return (", "    )"]


@st.composite
def modules(draw) -> list[str]:
    """The lines of a module of step functions (some one-liners) and other statements."""
    lines: list[str] = []
    for n in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            lines += ["@step", f"def f{n}(x):"]
            lines += [*draw(st.lists(st.sampled_from(_BODY[:5]), max_size=2)), "    return x"]
        else:
            lines += ["@step", f"def f{n}(x): return x"]
        lines += draw(st.lists(st.sampled_from(_TOP), max_size=2))
    return lines


@settings(max_examples=400, deadline=None)
@given(
    modules(),
    st.lists(
        st.tuples(
            st.integers(0, 30), st.sampled_from(["put", "insert", "drop"]), st.sampled_from(_EDIT)
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_property_the_same_text_around_the_bodies_is_the_same_wiring(lines, edits) -> None:
    """A module and the same module edited a little (a line replaced, added or removed):
    when their texts around the step bodies are equal, so are their wirings."""
    edited = list(lines)
    for at, how, line in edits:
        at %= len(edited) + 1
        if how == "insert" or at == len(edited):
            edited.insert(at, line)
        elif how == "put":
            edited[at] = line
        elif len(edited) > 1:
            del edited[at]
    header = "from incr import pipeline, step\n\n"
    first = wiring_of((header + "\n".join(lines) + "\n").encode(), next(_names))
    second = wiring_of((header + "\n".join(edited) + "\n").encode(), next(_names))
    assert first is not None
    if second is None:
        return  # the edit does not parse
    if first.around == second.around:
        assert first.tree() == second.tree()


def test_the_tree_handed_to_the_code_index_keeps_every_step_body() -> None:
    """The wiring check hands its parse to the code index: a step body it left out of the
    wiring must still be in the tree the step's fingerprint is computed from."""
    from incr.codeast import ModuleSource, analyse, definitions

    text = "from incr import step\n\n\n@step\ndef f(x: int) -> int:\n    return x + 41\n"
    assert wiring_of(text.encode(), "pipelines/handed.py") is not None
    info = analyse(ModuleSource("pipelines.handed", "pipelines/handed.py", text))
    assert "41" in ast.unparse(info.defs["f"][0])
    assert definitions(ModuleSource("pipelines.handed", "pipelines/handed.py", text), "f") == [
        definitions(ModuleSource("x", "x.py", text + "\n"), "f")[0]
    ]


def test_the_wiring_check_reads_the_tree_the_code_index_parsed(monkeypatch) -> None:
    """After the code index parsed a module for its closures (a first ``repro``), the graph
    save's wiring check reads that tree instead of parsing the text again, and finds the
    wiring a parse of its own finds."""
    from incr.codeast import ModuleSource, analyse

    text = textwrap.dedent(
        """\
        from incr import pipeline, step

        RATE = 2  # around the bodies


        @step
        def f(x: int) -> int:
            \"\"\"Doubled.\"\"\"
            return x * RATE


        @pipeline
        def p():
            f(1)
        """
    )
    parsed = wiring_of(text.encode(), "pipelines/own.py")
    assert parsed is not None
    expected = parsed.entry()
    info = analyse(ModuleSource("pipelines.reread", "pipelines/reread.py", text))

    parses = []
    real_parse = ast.parse

    def parse(*args: object, **kwargs: object) -> ast.AST:
        parses.append(args[0])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", parse)
    found = wiring_of(text.encode(), "pipelines/reread.py")
    monkeypatch.undo()
    assert parses == [], "parsed again"
    assert found is not None and found.entry() == expected
    assert "Doubled" in ast.unparse(info.defs["f"][0]), "the tree the index keeps is unchanged"


QUICK = [
    "from incr import pipeline, step\n\n@step\ndef f(x):\n    return x\n\n@pipeline\ndef p():\n"
    "    f(1)\n",
    "import incr\n\n@incr.step\ndef f():\n    return 1\n\n@incr.pipeline\ndef p():\n    f()\n",
    "from incr import step as s\n\n@s(enable_cache=False)\ndef f():\n    return 1\n",
    "import os\nimport incr.api\n\n@incr.step\ndef f():\n    return os.sep\n",
]
WALKED = [
    # a name bound to step again, or spelled otherwise, or mentioned where the text cannot tell
    "from incr import step\n\nstep = lambda f: f\n\n@step\ndef f():\n    return 1\n",
    "from incr import step\n\ndef g(step):\n    return step\n\n@step\ndef f():\n    return 1\n",
    "from incr import step\n\ndef g():\n    global step\n    step = 1\n\n@step\ndef f():\n"
    "    return 1\n",
    "from incr import step\nif X:\n    from other import step\n\n@step\ndef f():\n    return 1\n",
    "from incr import step\n\n@step\ndef f():\n    return 1  # a step\n",
    "from incr import step\n\n\uff53tep = 1\n\n@step\ndef f():\n    return 1\n",
    "from incr import step\nfrom helpers import \\\n    *\n\n@step\ndef f():\n    return 1\n",
    "from incr import step\n\nclass C:\n    @step\n    def f(self):\n        return 1\n",
    "from incr import step\n\n@step(name=step)\ndef f():\n    return 1\n",
    # a word that may reach a body, even in a string
    "from incr import step\n\n@step\ndef f():\n    return 1\n\nN = 'func'\n",
    "import incr\nfrom incr import step\n\n@incr.step\ndef f():\n    return 1\n",
]


@pytest.mark.parametrize("text", QUICK + WALKED)
def test_the_quick_scan_answers_as_the_walk_or_not_at_all(text: str) -> None:
    from incr.wiring import _quick_scan, _scan

    tree = ast.parse(text)
    quick = _quick_scan(text.encode(), tree)
    assert (quick is not None) == (text in QUICK)
    assert quick is None or quick == _scan(tree)


_WORDS = ["step", "incr", "s", "x", "func", "eval", "#", "'", "*", "import", "(", ")", "\\\n"]
_LINES = [
    "from incr import step",
    "from incr import step as s",
    "import incr",
    "import incr as s",
    "from other import step",
    "@step",
    "@s",
    "@incr.step",
    "@step()",
    "def f{n}(x):\n    return x",
    "@step\ndef f{n}(x):\n    return x",
    "@s\ndef f{n}(x):\n    return {w}",
    "@incr.step\n@step\ndef f{n}(x):\n    return x",
    "class C{n}:\n    pass",
    "x = {w}",
    "def g{n}({w}):\n    return 1",
    "{w} = 1",
    "for {w} in []:\n    pass",
    "try:\n    pass\nexcept E as {w}:\n    pass",
    "if x:\n    from m import {w}",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_LINES), st.sampled_from(_WORDS)), max_size=8))
def test_property_the_quick_scan_never_disagrees_with_the_walk(lines) -> None:
    from incr.wiring import _quick_scan, _scan

    text = "".join(line.format(n=i, w=w) + "\n" for i, (line, w) in enumerate(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    quick = _quick_scan(text.encode(), tree)
    assert quick is None or quick == _scan(tree)


def test_a_first_save_dumps_no_tree_and_without_the_earlier_text_nothing_is_kept() -> None:
    """The tree's digest is computed only to compare two texts that differ around the step
    bodies; without the earlier text (not kept, or damaged) the graphs are traced again."""
    old = STEP + "def f(x):\n    return x\n\n\n@pipeline\ndef p():\n    f(1)\n"
    new = old.replace("    f(1)", "    # the only step\n    f(  1  )")
    saved = wired(old).entry()
    assert saved[0][1] is None
    assert not wired(new).same_as(saved[0], lambda: None)
    assert wired(new).same_as(saved[0], lambda: wired(old))
    inside = old.replace("return x", "return x  # a body edit")
    assert wired(inside).same_as(saved[0], lambda: None), "the same text around: no tree needed"
