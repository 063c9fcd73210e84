"""graphcache.wiring_of: which edits can change how the pipelines are wired."""

from __future__ import annotations

import ast
import textwrap

import pytest

from incr.graphcache import wiring_of


def wiring(text: str) -> tuple[str, bool]:
    found = wiring_of(textwrap.dedent(text).encode(), "m.py")
    assert found is not None
    return found[1], found[2]


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
