"""incr/fingerprint.py: code closures over in-memory modules, canonical JSON and the digest."""

import ast
import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incr import fingerprint as fpmod
from incr.codeast import PART_DIGEST_LEN, ModuleSource, function_closure, normalise
from incr.codeindex import CodeIndex
from incr.fingerprint import canonical_json, fingerprint
from incr.model import Facts

from .support import json_values, make_index

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- helpers


def parts_of(flow: str, helpers: str | None = None, *, name: str = "double") -> dict[str, str]:
    modules = {"pipelines.flow": flow}
    if helpers is not None:
        modules["pipelines.helpers"] = helpers
    return make_index(modules).closure("pipelines.flow", name).parts


def packages_of(flow: str, helpers: str | None = None, *, name: str = "double") -> frozenset:
    modules = {"pipelines.flow": flow}
    if helpers is not None:
        modules["pipelines.helpers"] = helpers
    return make_index(modules).closure("pipelines.flow", name).packages


FLOW = """
from pipelines.helpers import scale

FACTOR = 3


def double(x):
    return scale(x, 2) + FACTOR


def other():
    return 0
"""

HELPERS = """
ROUND_TO = 2


def scale(value, factor):
    return round(value * factor, ROUND_TO)


def unused(value):
    return value - 1
"""


def test_closure_holds_the_step_and_everything_it_refers_to():
    parts = parts_of(FLOW, HELPERS)
    assert set(parts) == {
        "pipelines/flow.py:double",
        "pipelines/flow.py:FACTOR",
        "pipelines/helpers.py:scale",
        "pipelines/helpers.py:ROUND_TO",
    }
    assert all(len(d) == PART_DIGEST_LEN for d in parts.values())


# --------------------------------------------------------------------------- cosmetic edits

COSMETIC_FLOWS = {
    "comments": """
        # a leading comment
        from pipelines.helpers import scale  # trailing comment

        FACTOR = 3  # the factor


        def double(x):
            # a comment inside
            return scale(x, 2) + FACTOR  # and one at the end


        def other():
            return 0
        """,
    "blank lines": """

        from pipelines.helpers import scale



        FACTOR = 3
        def double(x):

            return scale(x, 2) + FACTOR
        def other():
            return 0


        """,
    "docstrings": '''
        """A module docstring."""
        from pipelines.helpers import scale

        FACTOR = 3


        def double(x):
            """Double it.

            With a long explanation.
            """
            return scale(x, 2) + FACTOR


        def other():
            "one-liner"
            return 0
        ''',
    "reformatted": """
        from pipelines.helpers import (
            scale,
        )

        FACTOR = (3)


        def double(
            x,
        ):
            return (
                scale(
                    x,
                    2,
                )
                + FACTOR
            )


        def other(): return 0
        """,
    "reordered": """
        def other():
            return 0


        def double(x):
            return scale(x, 2) + FACTOR


        FACTOR = 3
        from pipelines.helpers import scale
        """,
    "quote style": """
        from pipelines.helpers import scale
        FACTOR = 3
        def double(x): return scale(x, 2) + FACTOR
        def other(): return 0
        """,
    "other function edited": """
        from pipelines.helpers import scale

        FACTOR = 3


        def double(x):
            return scale(x, 2) + FACTOR


        def other():
            return 12345
        """,
}


@pytest.mark.parametrize("variant", list(COSMETIC_FLOWS), ids=list(COSMETIC_FLOWS))
def test_cosmetic_edits_keep_the_closure(variant):
    assert parts_of(COSMETIC_FLOWS[variant], HELPERS) == parts_of(FLOW, HELPERS)


COSMETIC_HELPERS = {
    "comments and blank lines": """
        # helpers

        ROUND_TO = 2   # digits


        def scale(value, factor):
            # multiply, then round

            return round(value * factor, ROUND_TO)
        """,
    "docstring and reorder": '''
        """Helpers."""
        def unused(value):
            return value - 1
        def scale(value, factor):
            """Scale a value."""
            return round(value * factor, ROUND_TO)
        ROUND_TO = 2
        ''',
    "unused helper edited": """
        ROUND_TO = 2


        def scale(value, factor):
            return round(value * factor, ROUND_TO)


        def unused(value):
            return value * 1000 - 7
        """,
    "unused helper deleted, new one added": """
        ROUND_TO = 2


        def scale(value, factor):
            return round(value * factor, ROUND_TO)


        def brand_new():
            return 42
        """,
}


@pytest.mark.parametrize("variant", list(COSMETIC_HELPERS), ids=list(COSMETIC_HELPERS))
def test_cosmetic_helper_edits_keep_the_closure(variant):
    assert parts_of(FLOW, COSMETIC_HELPERS[variant]) == parts_of(FLOW, HELPERS)


# --------------------------------------------------------------------------- real edits

FLOW_EDITS = {
    "constant": ("FACTOR = 3", "FACTOR = 4", "pipelines/flow.py:FACTOR"),
    "literal in step": ("scale(x, 2)", "scale(x, 3)", "pipelines/flow.py:double"),
    "operator": ("+ FACTOR", "- FACTOR", "pipelines/flow.py:double"),
    "argument name": (
        "def double(x):\n    return scale(x, 2)",
        "def double(y):\n    return scale(y, 2)",
        "pipelines/flow.py:double",
    ),
    "default value": ("def double(x):", "def double(x=1):", "pipelines/flow.py:double"),
}


@pytest.mark.parametrize("edit", list(FLOW_EDITS), ids=list(FLOW_EDITS))
def test_semantic_edits_in_the_step_module_change_the_closure(edit):
    old, new, changed_part = FLOW_EDITS[edit]
    edited = FLOW.replace(old, new)
    assert edited != FLOW
    before, after = parts_of(FLOW, HELPERS), parts_of(edited, HELPERS)
    assert before[changed_part] != after[changed_part]
    assert {k for k in before if before[k] != after.get(k)} == {changed_part}


HELPER_EDITS = {
    "helper body": ("value * factor", "value / factor", "pipelines/helpers.py:scale"),
    "constant used by helper": ("ROUND_TO = 2", "ROUND_TO = 3", "pipelines/helpers.py:ROUND_TO"),
}


@pytest.mark.parametrize("edit", list(HELPER_EDITS), ids=list(HELPER_EDITS))
def test_editing_a_used_helper_in_another_module_changes_the_closure(edit):
    old, new, changed_part = HELPER_EDITS[edit]
    before = parts_of(FLOW, HELPERS)
    after = parts_of(FLOW, HELPERS.replace(old, new))
    assert before[changed_part] != after[changed_part]
    assert before["pipelines/flow.py:double"] == after["pipelines/flow.py:double"]


def test_editing_a_helper_in_the_same_module_changes_the_closure():
    flow = """
    def _inner(x):
        return x * 2

    def _unrelated():
        return 1

    def double(x):
        return _inner(x)
    """
    before = parts_of(flow)
    assert set(before) == {"pipelines/flow.py:double", "pipelines/flow.py:_inner"}
    assert parts_of(flow.replace("x * 2", "x * 3")) != before
    assert parts_of(flow.replace("return 1", "return 2")) == before


def test_transitive_helpers_count():
    helpers = """
    def a(x):
        return b(x) + 1

    def b(x):
        return c(x) * 2

    def c(x):
        return x - 3
    """
    flow = "from pipelines.helpers import a\ndef double(x):\n    return a(x)\n"
    before = parts_of(flow, helpers)
    assert {"pipelines/helpers.py:a", "pipelines/helpers.py:b", "pipelines/helpers.py:c"} <= set(
        before
    )
    assert parts_of(flow, helpers.replace("x - 3", "x - 4")) != before


# Every way of reaching ``scale`` in pipelines/helpers.py from pipelines/flow.py.
IMPORT_STYLES = {
    "from x import y": "from pipelines.helpers import scale\nUSE = 'scale(x, 2)'",
    "from x import y as z": "from pipelines.helpers import scale as s\nUSE = 's(x, 2)'",
    "import x as h": "import pipelines.helpers as h\nUSE = 'h.scale(x, 2)'",
    "import x.y": "import pipelines.helpers\nUSE = 'pipelines.helpers.scale(x, 2)'",
    "from x import *": "from pipelines.helpers import *\nUSE = 'scale(x, 2)'",
    "from .helpers import y": "from .helpers import scale\nUSE = 'scale(x, 2)'",
    "guarded import": "if __name__ != '__main__':\n    from pipelines.helpers import scale\n"
    "USE = 'scale(x, 2)'",
    "from . import helpers": pytest.param("from . import helpers\nUSE = 'helpers.scale(x, 2)'"),
    "from pkg import helpers": pytest.param(
        "from pipelines import helpers\nUSE = 'helpers.scale(x, 2)'"
    ),
}


def _flow_for(style: str) -> str:
    header, _, use = style.rpartition("\nUSE = ")
    return f"{header}\n\ndef double(x):\n    return {use.strip(chr(39))}\n"


@pytest.mark.parametrize("style", list(IMPORT_STYLES.values()), ids=list(IMPORT_STYLES))
def test_every_import_style_reaches_the_helper(style):
    flow = _flow_for(style)
    before = parts_of(flow, HELPERS)
    assert "pipelines/helpers.py:scale" in before
    assert "pipelines/helpers.py:unused" not in before
    assert parts_of(flow, HELPERS.replace("value * factor", "value ** factor")) != before
    assert parts_of(flow, HELPERS.replace("value - 1", "value - 2")) == before
    assert packages_of(flow, HELPERS) == frozenset()


def test_relative_imports_climb_packages():
    modules = {
        "pipelines.sub.flow": "from ..helpers import scale\ndef double(x):\n    return scale(x)\n",
        "pipelines.sub": "from .flow import double\ndef run(x):\n    return double(x)\n",
        "pipelines.helpers": "def scale(x):\n    return x * 2\n",
    }
    index = make_index(modules, packages=("pipelines", "pipelines.sub"))
    parts = index.closure("pipelines.sub.flow", "double").parts
    assert set(parts) == {"pipelines/sub/flow.py:double", "pipelines/helpers.py:scale"}
    # in a package's __init__, `.` is the package itself
    parts = index.closure("pipelines.sub", "run").parts
    assert set(parts) == {
        "pipelines/sub/__init__.py:run",
        "pipelines/sub/flow.py:double",
        "pipelines/helpers.py:scale",
    }


def test_a_fallback_definition_does_not_hide_the_imported_helper():
    flow = """
    try:
        from pipelines.helpers import scale
    except ImportError:
        def scale(value, factor):
            raise RuntimeError("helpers missing")

    def double(x):
        return scale(x, 2)
    """
    before = parts_of(flow, HELPERS)
    assert "pipelines/helpers.py:scale" in before
    assert parts_of(flow, HELPERS.replace("value * factor", "value + factor")) != before


def test_a_module_used_as_a_value_counts_as_a_whole():
    flow = "import pipelines.helpers as h\ndef double(x):\n    return h\n"
    before = parts_of(flow, HELPERS)
    assert "pipelines/helpers.py:*" in before
    assert parts_of(flow, HELPERS.replace("value - 1", "value - 2")) != before
    assert parts_of(flow, "# comment\n" + HELPERS + "\n\n# end\n") == before


def test_a_module_docstring_does_not_count_when_the_module_is_a_value():
    flow = "import pipelines.helpers as h\ndef double(x):\n    return h\n"
    assert parts_of(flow, '"""Helpers."""\n' + HELPERS) == parts_of(flow, HELPERS)


def test_imports_inside_the_step_body_are_followed():
    flow = """
    def double(x):
        import numpy as np
        from pipelines.helpers import scale
        return np.float64(scale(x, 2))
    """
    before = parts_of(flow, HELPERS)
    assert "pipelines/helpers.py:scale" in before
    assert packages_of(flow, HELPERS) == {"numpy"}


def test_the_last_star_import_wins_like_python():
    modules = {
        "pipelines.a": "def g():\n    return 'a'\n",
        "pipelines.b": "def g():\n    return 'b'\n",
        "pipelines.flow": "from pipelines.a import *\nfrom pipelines.b import *\n"
        "def double():\n    return g()\n",
    }
    parts = make_index(modules).closure("pipelines.flow", "double").parts
    assert "pipelines/b.py:g" in parts
    assert "pipelines/a.py:g" not in parts


def test_mutual_recursion_terminates():
    flow = """
    def is_even(n):
        return True if n == 0 else is_odd(n - 1)

    def is_odd(n):
        return False if n == 0 else is_even(n - 1)

    def double(n):
        return double(n - 1) if n else is_even(n)
    """
    parts = parts_of(flow)
    assert set(parts) == {
        "pipelines/flow.py:double",
        "pipelines/flow.py:is_even",
        "pipelines/flow.py:is_odd",
    }
    assert parts_of(flow.replace("n == 0 else is_even", "n == 1 else is_even")) != parts


def test_mutual_recursion_across_modules_terminates():
    modules = {
        "pipelines.a": "from pipelines.b import g\ndef f(n):\n    return g(n)\n",
        "pipelines.b": "from pipelines.a import f\ndef g(n):\n    return f(n - 1)\n",
        "pipelines.flow": "from pipelines.a import f\ndef double(n):\n    return f(n)\n",
    }
    parts = make_index(modules).closure("pipelines.flow", "double").parts
    assert set(parts) == {"pipelines/flow.py:double", "pipelines/a.py:f", "pipelines/b.py:g"}


CLASS_FLOW = '''
from pipelines.helpers import scale


class Model:
    """A model."""

    bias = 1

    def predict(self, x):
        return scale(x, 2) + self.bias


def double(x):
    return Model().predict(x)
'''


def test_classes_used_by_the_step_count():
    before = parts_of(CLASS_FLOW, HELPERS)
    assert {"pipelines/flow.py:Model", "pipelines/helpers.py:scale"} <= set(before)
    assert parts_of(CLASS_FLOW.replace("+ self.bias", "- self.bias"), HELPERS) != before
    assert parts_of(CLASS_FLOW.replace("bias = 1", "bias = 2"), HELPERS) != before
    # a helper used only by a method still counts
    assert parts_of(CLASS_FLOW, HELPERS.replace("value * factor", "value + factor")) != before
    # the class docstring and comments do not
    assert parts_of(CLASS_FLOW.replace('"""A model."""', "# a model"), HELPERS) == before


def test_class_attribute_chain_resolves_to_the_class():
    flow = """
    class Settings:
        SCALE = 2

    def double(x):
        return x * Settings.SCALE
    """
    before = parts_of(flow)
    assert "pipelines/flow.py:Settings" in before
    assert parts_of(flow.replace("SCALE = 2", "SCALE = 3")) != before


def test_augmented_and_tuple_assignments_are_constants():
    flow = """
    A, B = 1, 2
    C = 10
    C += 1

    def double(x):
        return x * A * C
    """
    before = parts_of(flow)
    assert {"pipelines/flow.py:A", "pipelines/flow.py:C"} <= set(before)
    assert parts_of(flow.replace("C += 1", "C += 2")) != before
    assert parts_of(flow.replace("1, 2", "5, 2")) != before


# --------------------------------------------------------------------------- packages


@pytest.mark.parametrize(
    ("imports", "expression", "expected"),
    [
        ("import numpy as np", "np.zeros(3)", {"numpy"}),
        ("import numpy", "numpy.ones(2)", {"numpy"}),
        ("import numpy.linalg as la", "la.norm(x)", {"numpy"}),
        ("from numpy import zeros", "zeros(3)", {"numpy"}),
        ("from sklearn.svm import SVC", "SVC()", {"sklearn"}),
        ("import sklearn.svm", "sklearn.svm.SVC()", {"sklearn"}),
        ("import os", "os.path.join('a', x)", set()),
        ("import json", "json.dumps(x)", set()),
        ("import os.path", "os.path.join('a', x)", set()),
        ("from collections import Counter", "Counter(x)", set()),
        ("import xml.etree.ElementTree as ET", "ET.fromstring(x)", set()),
        ("from incr import step", "step", set()),
        ("import incr.api", "incr.api.Output", set()),
        ("import numpy as np", "x + 1", set()),  # imported but not used by the step
    ],
)
def test_packages_are_third_party_modules_the_closure_uses(imports, expression, expected):
    flow = f"{imports}\n\ndef double(x):\n    return {expression}\n"
    assert packages_of(flow) == frozenset(expected)
    assert all(not key.startswith("pkg:") for key in parts_of(flow))


def test_packages_used_by_a_helper_count_transitively():
    helpers = "import numpy as np\nimport json\ndef scale(x, f):\n    return np.multiply(x, f)\n"
    assert packages_of(FLOW, helpers) == {"numpy"}


def test_a_decorator_and_annotations_count():
    flow = textwrap.dedent(
        """
        import numpy as np
        from incr import step

        @step
        def double(x: np.ndarray) -> np.ndarray:
            return x * 2
        """
    )
    assert packages_of(flow) == {"numpy"}
    without = flow.replace("@step\n", "")
    assert parts_of(without) != parts_of(flow)


def test_closure_of_an_unknown_module_or_name_is_empty():
    index = make_index({"pipelines.flow": FLOW})
    assert index.closure("pipelines.nope", "double").parts == {}
    assert index.closure("pipelines.flow", "nope").parts == {}
    assert index.closure("numpy", "zeros").parts == {}
    assert not index.is_local("numpy")
    assert not index.is_local("incr.api")
    assert index.is_local("pipelines.flow")


def test_the_loader_is_called_once_per_module():
    calls = []
    source = ModuleSource("pipelines.flow", "pipelines/flow.py", textwrap.dedent(FLOW))

    def load(name):
        calls.append(name)
        return source if name == "pipelines.flow" else None

    index = CodeIndex(load)
    index.closure("pipelines.flow", "double")
    index.closure("pipelines.flow", "double")
    assert calls.count("pipelines.flow") == 1
    assert "numpy" not in calls and "os" not in calls


def test_normalised_source_drops_docstrings_and_comments():
    flow = 'def double(x):\n    """Doc."""\n    # note\n    return x*2\n'
    index = make_index({"pipelines.flow": flow})
    assert index.normalised_source("pipelines.flow", "double") == "def double(x):\n    return x * 2"
    assert index.normalised_source("pipelines.flow", "nope") is None


# --------------------------------------------------------------------------- normalise


def test_normalise_ignores_docstrings_and_positions():
    a = ast.parse('def f(x):\n    """Doc."""\n    return x + 1\n').body[0]
    b = ast.parse("\n\n\ndef f(x):  return (x\n  + 1)\n").body[0]
    c = ast.parse("def f(x):\n    return x - 1\n").body[0]
    assert normalise(a) == normalise(b)
    assert normalise(a) != normalise(c)
    assert "lineno" not in normalise(a)


def test_normalise_keeps_a_body_that_is_only_a_docstring_valid():
    only_doc = ast.parse('def f():\n    "doc"\n').body[0]
    with_pass = ast.parse("def f():\n    pass\n").body[0]
    assert normalise(only_doc) == normalise(with_pass)


def test_normalise_does_not_mutate_its_argument():
    node = ast.parse('def f():\n    "doc"\n    return 1\n').body[0]
    before = ast.dump(node)
    normalise(node)
    assert ast.dump(node) == before


def test_a_string_that_is_not_first_is_code():
    a = ast.parse('def f():\n    x = 1\n    "not a docstring"\n    return x\n').body[0]
    b = ast.parse('def f():\n    x = 1\n    "changed"\n    return x\n').body[0]
    assert normalise(a) != normalise(b)


def test_function_closure_of_a_nested_function_ignores_indentation_and_docstrings():
    nested = '    def inner(x):\n        """Doc."""\n        return x * 2\n'
    flat = "def inner(x):\n    # comment\n    return x * 2\n"
    assert function_closure(nested, "p.py") == function_closure(flat, "p.py")
    assert function_closure(flat.replace("2", "3"), "p.py") != function_closure(flat, "p.py")


# --------------------------------------------------------------------------- canonical json


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": [1, 2.5, None], "a": {"d": True, "c": "x"}}) == (
        '{"a":{"c":"x","d":true},"b":[1,2.5,null]}'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), [float("nan")]])
def test_canonical_json_refuses_nan(bad):
    with pytest.raises(ValueError):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [object(), {1, 2}, b"bytes"])
def test_canonical_json_refuses_other_types(bad):
    with pytest.raises(TypeError):
        canonical_json(bad)


JSON = json_values(max_leaves=12)


@SETTINGS
@given(st.dictionaries(st.text(), JSON, max_size=6), st.randoms(use_true_random=False))
def test_canonical_json_ignores_key_order(value, rnd):
    items = list(value.items())
    rnd.shuffle(items)
    text = canonical_json(value)
    assert canonical_json(dict(items)) == text
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


# --------------------------------------------------------------------------- fingerprint

GOLDEN_FACTS = Facts(
    code={
        "pipelines/flow.py:double": "0123456789abcdef0123456789abcdef",
        "pkg:scikit-learn": "1.8.0",
    },
    config={"factor": 2, "name": "ünï", "tags": ["a", None, 1.5, True]},
    inputs={"rows": "a" * 64},
    deps={"data/raw.csv": "b" * 64, "data/gone.csv": "missing"},
)
GOLDEN_DIGEST = "ab49cb2fdebc02722425ebb5afc75581"


def test_golden_fingerprint():
    # If this fails the canonical encoding changed: bump FINGERPRINT_SCHEMA and update the pin.
    assert fingerprint(GOLDEN_FACTS) == GOLDEN_DIGEST


def test_fingerprint_ignores_dict_order():
    reordered = Facts(
        code=dict(reversed(GOLDEN_FACTS.code.items())),
        config=dict(reversed(GOLDEN_FACTS.config.items())),
        inputs=dict(GOLDEN_FACTS.inputs),
        deps=dict(reversed(GOLDEN_FACTS.deps.items())),
    )
    assert fingerprint(reordered) == GOLDEN_DIGEST


@pytest.mark.parametrize("field", ["code", "config", "inputs", "deps"])
def test_fingerprint_changes_with_every_field(field):
    changed = {**getattr(GOLDEN_FACTS, field), "extra": "x"}
    facts = Facts(**{**GOLDEN_FACTS.__dict__, field: changed})
    assert fingerprint(facts) != GOLDEN_DIGEST


def test_fingerprint_fields_do_not_collide():
    a = Facts(code={"k": "v"}, config={}, inputs={}, deps={})
    b = Facts(code={}, config={}, inputs={}, deps={"k": "v"})
    c = Facts(code={}, config={"k": "v"}, inputs={}, deps={})
    assert len({fingerprint(a), fingerprint(b), fingerprint(c)}) == 3


def test_fingerprint_includes_the_schema(monkeypatch):
    monkeypatch.setattr(fpmod, "FINGERPRINT_SCHEMA", fpmod.FINGERPRINT_SCHEMA + 1)
    assert fingerprint(GOLDEN_FACTS) != GOLDEN_DIGEST


def test_fingerprint_is_32_hex_characters():
    digest = fingerprint(Facts({}, {}, {}, {}))
    assert len(digest) == 32
    int(digest, 16)


def test_fingerprint_config_types_matter():
    as_int = Facts({}, {"factor": 2}, {}, {})
    as_str = Facts({}, {"factor": "2"}, {}, {})
    assert fingerprint(as_int) != fingerprint(as_str)


# --------------------------------------------------------------------------- properties
#
# A random program: functions f0..fN and constants K0..KM. Each function returns a sum of integer
# literals, constants and calls to other functions (recursion allowed). The step is f0.


@st.composite
def programs(draw):
    n_funcs = draw(st.integers(1, 5))
    n_consts = draw(st.integers(0, 3))
    consts = draw(st.lists(st.integers(-50, 50), min_size=n_consts, max_size=n_consts))
    funcs = []
    for _ in range(n_funcs):
        literals = draw(st.lists(st.integers(0, 99), min_size=1, max_size=3))
        calls = draw(st.lists(st.integers(0, n_funcs - 1), max_size=2, unique=True))
        uses = draw(st.lists(st.integers(0, max(n_consts - 1, 0)), max_size=2, unique=True))
        funcs.append((literals, calls, uses if n_consts else []))
    return consts, funcs


def _terms(func):
    literals, calls, uses = func
    return [str(v) for v in literals] + [f"K{k}" for k in uses] + [f"f{j}(x - 1)" for j in calls]


def render(program, style=None):
    """Source text for ``program``; ``style`` holds random cosmetic choices."""
    consts, funcs = program
    blocks = [f"K{k} = {v}" for k, v in enumerate(consts)]
    for i, func in enumerate(funcs):
        terms = _terms(func)
        if style and style["wrap"][i % len(style["wrap"])]:
            body = "    return (\n" + "".join(f"        + {t}\n" for t in terms) + "    )"
            body = body.replace("(\n        + ", "(\n        ", 1)
        else:
            body = f"    return {' + '.join(terms)}"
        doc = ""
        if style and style["doc"][i % len(style["doc"])]:
            doc = f'    """{style["text"]} {i}."""\n'
        blocks.append(f"def f{i}(x):\n{doc}{body}")
    if style:
        order = style["order"]
        blocks = [
            blocks[j] for j in sorted(range(len(blocks)), key=lambda j: order[j % len(order)])
        ]
        gaps = style["gaps"]
        out = []
        for j, block in enumerate(blocks):
            gap = gaps[j % len(gaps)]
            out.append("\n" * gap + (f"# {style['text']}\n" if gap % 2 else "") + block)
        return "\n".join(out) + "\n"
    return "\n\n\n".join(blocks) + "\n"


COMMENT_TEXT = st.text(alphabet="abcdefgh XYZ,.-", max_size=20)
STYLES = st.fixed_dictionaries(
    {
        "wrap": st.lists(st.booleans(), min_size=1, max_size=5),
        "doc": st.lists(st.booleans(), min_size=1, max_size=5),
        "order": st.lists(st.integers(0, 100), min_size=1, max_size=9),
        "gaps": st.lists(st.integers(1, 4), min_size=1, max_size=5),
        "text": COMMENT_TEXT,
    }
)


def _program_parts(text):
    return make_index({"pipelines.flow": text}).closure("pipelines.flow", "f0").parts


@SETTINGS
@given(programs(), STYLES)
def test_property_cosmetic_rewrites_keep_the_closure(program, style):
    plain, fancy = render(program), render(program, style)
    ast.parse(fancy)  # the cosmetic rendering is a valid program
    assert _program_parts(fancy) == _program_parts(plain)
    assert fingerprint(Facts(_program_parts(fancy), {}, {}, {})) == fingerprint(
        Facts(_program_parts(plain), {}, {}, {})
    )


def _reachable(program):
    _consts, funcs = program
    seen, todo = set(), [0]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(funcs[i][1])
    used_consts = {k for i in seen for k in funcs[i][2]}
    return seen, used_consts


@SETTINGS
@given(programs(), st.data())
def test_property_a_constant_change_changes_the_digest_iff_reachable(program, data):
    consts, funcs = program
    # choose one integer slot: a module constant or a literal inside a function
    slots = [("const", k, None) for k in range(len(consts))]
    slots += [("lit", i, j) for i, f in enumerate(funcs) for j in range(len(f[0]))]
    kind, i, j = data.draw(st.sampled_from(slots))
    if kind == "const":
        old = consts[i]
        new_consts = list(consts)
        new_consts[i] = data.draw(st.integers(-50, 50).filter(lambda v: v != old))
        mutated = (new_consts, funcs)
    else:
        literals = list(funcs[i][0])
        old = literals[j]
        literals[j] = data.draw(st.integers(0, 99).filter(lambda v: v != old))
        new_funcs = list(funcs)
        new_funcs[i] = (literals, funcs[i][1], funcs[i][2])
        mutated = (consts, new_funcs)

    funcs_reached, consts_reached = _reachable(program)
    reachable = i in (consts_reached if kind == "const" else funcs_reached)
    before = fingerprint(Facts(_program_parts(render(program)), {}, {}, {}))
    after = fingerprint(Facts(_program_parts(render(mutated)), {}, {}, {}))
    assert (before != after) == reachable


@SETTINGS
@given(programs())
def test_property_closure_is_exactly_the_reachable_definitions(program):
    funcs_reached, consts_reached = _reachable(program)
    expected = {f"pipelines/flow.py:f{i}" for i in funcs_reached}
    expected |= {f"pipelines/flow.py:K{k}" for k in consts_reached}
    assert set(_program_parts(render(program))) == expected
