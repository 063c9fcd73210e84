"""Hard code cases of the code fingerprint (issue 3), on ``incr.fingerprint.CodeIndex`` over
in-memory modules: for each case, the edits that must change the step's closure and the ones
that must not.
"""

from __future__ import annotations

import textwrap

import pytest

from incr.codeindex import CodeIndex

from .support import make_index

STEP_MODULE = "pipelines.flow"


def parts(modules: dict[str, str], step: str = "step") -> dict[str, str]:
    return make_index(modules).closure(STEP_MODULE, step).parts


def edited(modules: dict[str, str], module: str, old: str, new: str) -> dict[str, str]:
    text = textwrap.dedent(modules[module])
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {module}"
    return {**modules, module: text.replace(old, new)}


def changed_parts(modules: dict[str, str], module: str, old: str, new: str) -> set[str]:
    """The closure parts that differ after replacing ``old`` by ``new`` in ``module``."""
    before, after = parts(modules), parts(edited(modules, module, old, new))
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def assert_dirties(modules: dict[str, str], module: str, old: str, new: str, part: str) -> None:
    assert part in changed_parts(modules, module, old, new)


def assert_keeps(modules: dict[str, str], module: str, old: str, new: str) -> None:
    assert changed_parts(modules, module, old, new) == set()


FLOW = "pipelines.flow"
HELPERS = "pipelines.helpers"

# ---------------------------------------- closures

CLOSURE = {
    HELPERS: """
        def make_scaler(k):
            def scaler(v):
                return v * k

            return scaler


        scale3 = make_scaler(3)


        def make_other(k):
            return lambda v: v + k
        """,
    FLOW: """
        from pipelines.helpers import scale3


        def step(values):
            return [scale3(v) for v in values]
        """,
}


def test_closure_made_at_module_level_counts_with_its_factory():
    assert set(parts(CLOSURE)) == {
        "pipelines/flow.py:step",
        "pipelines/helpers.py:scale3",
        "pipelines/helpers.py:make_scaler",
    }


def test_closure_free_variable_value_edit_dirties():
    assert_dirties(
        CLOSURE, HELPERS, "make_scaler(3)", "make_scaler(4)", "pipelines/helpers.py:scale3"
    )


def test_closure_factory_edit_dirties():
    assert_dirties(
        CLOSURE, HELPERS, "return v * k", "return v * k + 1", "pipelines/helpers.py:make_scaler"
    )


def test_closure_unrelated_factory_edit_keeps():
    assert_keeps(CLOSURE, HELPERS, "v + k", "v - k")


def test_closure_over_a_module_constant():
    modules = {
        FLOW: """
            K = 3


            def make(k):
                def inner(v):
                    return v * k

                return inner


            scale = make(K)


            def step(v):
                return scale(v)
            """
    }
    assert_dirties(modules, FLOW, "K = 3", "K = 4", "pipelines/flow.py:K")


# ---------------------------------------- default arguments

DEFAULTS = {
    HELPERS: """
        LIMIT = 10


        def clip(x, top=LIMIT, low=0):
            return min(max(x, low), top)
        """,
    FLOW: """
        from pipelines.helpers import clip

        SCALE = 2


        def step(x, factor=SCALE):
            return clip(x * factor)
        """,
}


def test_default_argument_literal_of_a_helper_dirties():
    assert_dirties(DEFAULTS, HELPERS, "low=0", "low=1", "pipelines/helpers.py:clip")


def test_default_argument_constant_of_a_helper_dirties():
    assert_dirties(DEFAULTS, HELPERS, "LIMIT = 10", "LIMIT = 11", "pipelines/helpers.py:LIMIT")


def test_default_argument_constant_of_the_step_dirties():
    assert_dirties(DEFAULTS, FLOW, "SCALE = 2", "SCALE = 3", "pipelines/flow.py:SCALE")


# ---------------------------------------- decorated helpers

DECORATED = {
    HELPERS: """
        import functools


        def twice(func):
            @functools.wraps(func)
            def wrapper(x):
                return func(func(x))

            return wrapper


        def repeat(times):
            def deco(func):
                def wrapper(x):
                    for _ in range(times):
                        x = func(x)
                    return x

                return wrapper

            return deco


        def unused_deco(func):
            return func


        @twice
        def inc(x):
            return x + 1


        @repeat(3)
        def dec(x):
            return x - 1
        """,
    FLOW: """
        from pipelines.helpers import dec, inc


        def step(x):
            return inc(dec(x))
        """,
}


def test_decorator_edit_dirties():
    assert_dirties(
        DECORATED, HELPERS, "return func(func(x))", "return func(x)", "pipelines/helpers.py:twice"
    )


def test_decorator_factory_edit_dirties():
    assert_dirties(
        DECORATED,
        HELPERS,
        "for _ in range(times):",
        "for _ in range(times + 1):",
        "pipelines/helpers.py:repeat",
    )


def test_decorator_argument_edit_dirties():
    assert_dirties(DECORATED, HELPERS, "@repeat(3)", "@repeat(4)", "pipelines/helpers.py:dec")


def test_decorated_helper_body_edit_dirties():
    assert_dirties(DECORATED, HELPERS, "return x + 1", "return x + 2", "pipelines/helpers.py:inc")


def test_unused_decorator_edit_keeps():
    assert_keeps(DECORATED, HELPERS, "    return func\n", "    return None\n")


def test_adding_a_decorator_dirties():
    assert_dirties(
        DECORATED,
        HELPERS,
        "@twice\ndef inc",
        "@twice\n@unused_deco\ndef inc",
        "pipelines/helpers.py:inc",
    )


# ---------------------------------------- classes

CLASSES = {
    HELPERS: """
        class Base:
            def shift(self, v):
                return v + 100


        class Model(Base):
            bias = 1

            def predict(self, v):
                return self.shift(v) + self.bias


        class Unrelated:
            level = 1

            def go(self):
                return 0


        MODEL = Model()
        """,
    FLOW: """
        from pipelines.helpers import MODEL


        def step(values):
            return [MODEL.predict(v) for v in values]
        """,
}


def test_class_used_through_a_module_level_instance_counts():
    assert {"pipelines/helpers.py:MODEL", "pipelines/helpers.py:Model"} <= set(parts(CLASSES))
    assert "pipelines/helpers.py:Unrelated" not in parts(CLASSES)


def test_method_edit_through_an_instance_dirties():
    assert_dirties(CLASSES, HELPERS, "+ self.bias", "- self.bias", "pipelines/helpers.py:Model")


def test_class_attribute_edit_through_an_instance_dirties():
    assert_dirties(CLASSES, HELPERS, "bias = 1", "bias = 2", "pipelines/helpers.py:Model")


def test_base_class_edit_dirties():
    assert_dirties(CLASSES, HELPERS, "v + 100", "v + 200", "pipelines/helpers.py:Base")


def test_unrelated_class_edit_keeps():
    assert_keeps(CLASSES, HELPERS, "level = 1", "level = 2")
    assert_keeps(CLASSES, HELPERS, "return 0", "return 1")


def test_instance_made_inside_the_step_counts():
    modules = {
        HELPERS: CLASSES[HELPERS],
        FLOW: """
            from pipelines import helpers


            def step(values):
                model = helpers.Model()
                return [model.predict(v) for v in values]
            """,
    }
    assert_dirties(modules, HELPERS, "bias = 1", "bias = 2", "pipelines/helpers.py:Model")
    assert_keeps(modules, HELPERS, "level = 1", "level = 2")


# ---------------------------------------- nested functions

NESTED = {
    HELPERS: """
        def square(v):
            return v * v


        def cube(v):
            return v * v * v
        """,
    FLOW: """
        from pipelines.helpers import square


        def step(values):
            def inner(v):
                def innermost(w):
                    return square(w) + 1

                return innermost(v)

            return [inner(v) for v in values]
        """,
}


def test_nested_function_body_edit_dirties_the_step():
    assert_dirties(NESTED, FLOW, "square(w) + 1", "square(w) + 2", "pipelines/flow.py:step")


def test_helper_called_from_a_nested_function_counts():
    assert "pipelines/helpers.py:square" in parts(NESTED)
    assert_dirties(
        NESTED, HELPERS, "return v * v\n", "return v ** 2\n", "pipelines/helpers.py:square"
    )
    assert_keeps(NESTED, HELPERS, "v * v * v", "v ** 3")


# ---------------------------------------- lambdas and partial

LAMBDAS = {
    HELPERS: """
        import functools


        def scale(value, factor):
            return value * factor


        def unused(value):
            return value


        double = lambda x: x * 2  # noqa: E731
        triple = functools.partial(scale, factor=3)
        """,
    FLOW: """
        from pipelines.helpers import double, triple


        def step(x):
            return double(x) + triple(x)
        """,
}


def test_module_level_lambda_edit_dirties():
    assert_dirties(LAMBDAS, HELPERS, "x * 2", "x * 5", "pipelines/helpers.py:double")


def test_partial_argument_edit_dirties():
    assert_dirties(LAMBDAS, HELPERS, "factor=3", "factor=4", "pipelines/helpers.py:triple")


def test_function_wrapped_by_partial_edit_dirties():
    assert_dirties(
        LAMBDAS, HELPERS, "value * factor", "value * factor + 1", "pipelines/helpers.py:scale"
    )


def test_partial_and_lambda_leave_unused_helpers_out():
    assert "pipelines/helpers.py:unused" not in parts(LAMBDAS)
    assert_keeps(LAMBDAS, HELPERS, "return value\n", "return -value\n")


def test_lambda_defined_in_a_dict_counts():
    modules = {
        FLOW: """
            OPS = {"inc": lambda x: x + 1, "neg": lambda x: -x}


            def step(x):
                return OPS["inc"](x)
            """
    }
    assert_dirties(modules, FLOW, "x + 1", "x + 2", "pipelines/flow.py:OPS")


# ---------------------------------------- import styles

HELPERS_TEXT = '''
    """Helpers."""

    OFFSET = 5


    def scale(value, factor):
        return value * factor + OFFSET


    def unused(value):
        return value - 1
    '''

ALIAS = {
    HELPERS: HELPERS_TEXT,
    FLOW: """
        import pipelines.helpers as h


        def step(x):
            return h.scale(x, 2)
        """,
}

STAR = {
    HELPERS: HELPERS_TEXT,
    FLOW: """
        from pipelines.helpers import *


        def step(x):
            return scale(x, 2)
        """,
}


@pytest.mark.parametrize("modules", [ALIAS, STAR], ids=["import-as", "star"])
def test_helper_reached_through_the_import_is_exact(modules):
    assert set(parts(modules)) == {
        "pipelines/flow.py:step",
        "pipelines/helpers.py:scale",
        "pipelines/helpers.py:OFFSET",
    }


@pytest.mark.parametrize("modules", [ALIAS, STAR], ids=["import-as", "star"])
def test_helper_edit_through_the_import_dirties(modules):
    assert_dirties(
        modules, HELPERS, "value * factor +", "value * factor -", "pipelines/helpers.py:scale"
    )
    assert_dirties(modules, HELPERS, "OFFSET = 5", "OFFSET = 6", "pipelines/helpers.py:OFFSET")


@pytest.mark.parametrize("modules", [ALIAS, STAR], ids=["import-as", "star"])
def test_unused_helper_edit_through_the_import_keeps(modules):
    assert_keeps(modules, HELPERS, "value - 1", "value - 2")


HELPERS_COSMETIC = {
    "comments": '''
        """Helpers."""

        # the offset
        OFFSET = 5  # five


        def scale(value, factor):
            # multiply, then shift
            return value * factor + OFFSET  # done


        def unused(value):
            return value - 1
        ''',
    "docstrings": '''
        """Other helpers, described at length."""

        OFFSET = 5


        def scale(value, factor):
            """Scale a value, then shift it."""
            return value * factor + OFFSET


        def unused(value):
            """Never used."""
            return value - 1
        ''',
    "blank lines": '''
        """Helpers."""
        OFFSET = 5
        def scale(value, factor):

            return value * factor + OFFSET



        def unused(value):
            return value - 1
        ''',
    "reordered": '''
        """Helpers."""


        def unused(value):
            return value - 1


        def scale(value, factor):
            return value * factor + OFFSET


        OFFSET = 5
        ''',
    "rewrapped": '''
        """Helpers."""

        OFFSET = (
            5
        )


        def scale(
            value,
            factor,
        ):
            return (
                value * factor
                + OFFSET
            )


        def unused(value):
            return value - 1
        ''',
}


@pytest.mark.parametrize("modules", [ALIAS, STAR], ids=["import-as", "star"])
@pytest.mark.parametrize("variant", list(HELPERS_COSMETIC), ids=list(HELPERS_COSMETIC))
def test_cosmetic_edits_of_the_helpers_module_keep(modules, variant):
    assert parts({**modules, HELPERS: HELPERS_COSMETIC[variant]}) == parts(modules)


def test_a_helper_re_exported_through_a_chain_of_star_imports_counts():
    modules = {
        "pipelines.base": "def scale(value, factor):\n    return value * factor\n",
        HELPERS: "from pipelines.base import *\n",
        FLOW: "from pipelines.helpers import *\n\n\ndef step(x):\n    return scale(x, 2)\n",
    }
    assert "pipelines/base.py:scale" in parts(modules)
    assert_dirties(
        modules, "pipelines.base", "value * factor", "value + factor", "pipelines/base.py:scale"
    )


# ---------------------------------------- computed constants

CONSTANTS = {
    FLOW: """
        BASE = 2
        N = BASE ** 4
        M = N * 3 + len("abc")
        SIZES = tuple(range(N))
        OTHER = 2 ** 8


        def step(x):
            return x * M + SIZES[-1]
        """
}


def test_constants_computed_from_expressions_count():
    assert {
        "pipelines/flow.py:BASE",
        "pipelines/flow.py:N",
        "pipelines/flow.py:M",
        "pipelines/flow.py:SIZES",
    } <= set(parts(CONSTANTS))
    assert "pipelines/flow.py:OTHER" not in parts(CONSTANTS)


@pytest.mark.parametrize(
    ("old", "new", "part"),
    [
        ("BASE = 2", "BASE = 3", "pipelines/flow.py:BASE"),
        ("BASE ** 4", "BASE ** 5", "pipelines/flow.py:N"),
        ("N * 3", "N * 4", "pipelines/flow.py:M"),
        ('len("abc")', 'len("abcd")', "pipelines/flow.py:M"),
        ("range(N)", "range(N + 1)", "pipelines/flow.py:SIZES"),
    ],
    ids=["base", "exponent", "product", "call-argument", "range"],
)
def test_edit_of_a_computed_constant_dirties(old, new, part):
    assert_dirties(CONSTANTS, FLOW, old, new, part)


def test_edit_of_an_unused_computed_constant_keeps():
    assert_keeps(CONSTANTS, FLOW, "2 ** 8", "2 ** 9")


# ---------------------------------------- dataclasses and enums

RECORDS = {
    HELPERS: """
        import dataclasses
        import enum
        from dataclasses import dataclass, field


        @dataclass(frozen=True)
        class Settings:
            rate: float = 0.5
            tags: list = field(default_factory=lambda: ["a"])

            def scaled(self, v):
                return v * self.rate


        @dataclasses.dataclass
        class Spare:
            rate: float = 0.1


        class Color(enum.Enum):
            RED = 1
            GREEN = 2


        class Shade(enum.IntEnum):
            DARK = 1
        """,
    FLOW: """
        from pipelines.helpers import Color, Settings


        def step(v):
            return Settings().scaled(v) + Color.GREEN.value
        """,
}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("rate: float = 0.5", "rate: float = 0.25"),
        ('lambda: ["a"]', 'lambda: ["b"]'),
        ("@dataclass(frozen=True)", "@dataclass(frozen=False)"),
        ("rate: float = 0.5", "rate: int = 0.5"),
    ],
    ids=["field-default", "default-factory", "decorator-argument", "annotation"],
)
def test_dataclass_edit_dirties(old, new):
    assert_dirties(RECORDS, HELPERS, old, new, "pipelines/helpers.py:Settings")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("GREEN = 2", "GREEN = 3"),
        ("RED = 1", "RED = 5"),
        ("GREEN = 2\n", "GREEN = 2\n    BLUE = 3\n"),
    ],
    ids=["used-member", "other-member", "new-member"],
)
def test_enum_edit_dirties(old, new):
    assert_dirties(RECORDS, HELPERS, old, new, "pipelines/helpers.py:Color")


def test_unused_dataclass_and_enum_edits_keep():
    assert_keeps(RECORDS, HELPERS, "rate: float = 0.1", "rate: float = 0.2")
    assert_keeps(RECORDS, HELPERS, "DARK = 1", "DARK = 2")


# ---------------------------------------- mutual recursion

RECURSION = {
    HELPERS: """
        def is_even(n):
            return True if n == 0 else is_odd(n - 1)


        def is_odd(n):
            return False if n == 0 else is_even(n - 1)


        def unused(n):
            return n
        """,
    FLOW: """
        from pipelines.helpers import is_even


        def step(n):
            return is_even(n)
        """,
}


def test_mutual_recursion_terminates_and_both_helpers_count():
    assert set(parts(RECURSION)) == {
        "pipelines/flow.py:step",
        "pipelines/helpers.py:is_even",
        "pipelines/helpers.py:is_odd",
    }


@pytest.mark.parametrize(
    ("old", "new", "part"),
    [
        ("True if n == 0", "True if n <= 0", "pipelines/helpers.py:is_even"),
        ("False if n == 0", "False if n <= 0", "pipelines/helpers.py:is_odd"),
    ],
    ids=["called-directly", "called-through-the-cycle"],
)
def test_edit_of_either_recursive_helper_dirties(old, new, part):
    assert_dirties(RECURSION, HELPERS, old, new, part)


def test_a_cycle_through_three_modules_terminates():
    modules = {
        "pipelines.a": "from pipelines.b import g\n\n\ndef f(n):\n    return g(n) if n else 0\n",
        "pipelines.b": "from pipelines.c import h\n\n\ndef g(n):\n    return h(n - 1)\n",
        "pipelines.c": "import pipelines.a as a\n\n\ndef h(n):\n    return a.f(n)\n",
        FLOW: "from pipelines.a import f\n\n\ndef step(n):\n    return f(n)\n",
    }
    assert set(parts(modules)) == {
        "pipelines/flow.py:step",
        "pipelines/a.py:f",
        "pipelines/b.py:g",
        "pipelines/c.py:h",
    }
    assert_dirties(modules, "pipelines.c", "a.f(n)", "a.f(n) + 1", "pipelines/c.py:h")


# ---------------------------------------- a helper that is a step

STEP_HELPER = {
    HELPERS: """
        from incr import step


        @step
        def base(x: int) -> int:
            return x * 2


        @step
        def other(x: int) -> int:
            return x
        """,
    FLOW: """
        from incr import step as make_step
        from pipelines.helpers import base


        @make_step
        def step(x: int) -> int:
            return base.entrypoint(x) + 1
        """,
}


def test_a_helper_that_is_itself_a_step_counts():
    found = parts(STEP_HELPER)
    assert "pipelines/helpers.py:base" in found
    assert "pipelines/helpers.py:other" not in found
    assert not any(part.startswith("incr") for part in found)


def test_edit_of_a_helper_step_dirties_the_step_using_it():
    assert_dirties(STEP_HELPER, HELPERS, "x * 2", "x * 3", "pipelines/helpers.py:base")
    assert_keeps(STEP_HELPER, HELPERS, "return x\n", "return -x\n")


# ---------------------------------------- dynamic lookups

DYNAMIC = {
    HELPERS: """
        import importlib


        def secret(v):
            return v - 1


        def lookup(name):
            return globals()[name]


        def load_plugin(name):
            return importlib.import_module("pipelines." + name)
        """,
    FLOW: """
        import pipelines.helpers as h
        from pipelines.helpers import load_plugin, lookup


        def step(v, name="secret"):
            return getattr(h, name)(v)


        def by_globals(v):
            return lookup("secret")(v)


        def by_plugin(v):
            return load_plugin("helpers").secret(v)


        def literal(v):
            return getattr(h, "secret")(v)


        def plain(v):
            return v + 1
        """,
}


def dynamic(name: str) -> tuple[str, ...]:
    return make_index(DYNAMIC).closure(FLOW, name).dynamic


def test_getattr_with_a_computed_name_is_reported():
    assert dynamic("step") == ("getattr() in pipelines/flow.py:step",)


def test_dynamic_lookups_in_helpers_are_reported_where_they_are():
    assert dynamic("by_globals") == ("globals() in pipelines/helpers.py:lookup",)
    assert dynamic("by_plugin") == ()  # "pipelines." + name: followed (see below)


def test_getattr_with_a_literal_name_and_plain_code_are_not_reported():
    assert dynamic("literal") == ()
    assert dynamic("plain") == ()


def literal_parts(modules: dict[str, str]) -> dict[str, str]:
    return make_index(modules).closure(FLOW, "literal").parts


def test_getattr_with_a_literal_name_reads_that_attribute_only() -> None:
    """``getattr(h, "secret")`` reads ``h.secret``, as the attribute would: an edit of
    ``secret`` counts, one of another function of the module does not."""
    before = literal_parts(DYNAMIC)
    assert "pipelines/helpers.py:secret" in before
    assert "pipelines/helpers.py:lookup" not in before
    other = edited(DYNAMIC, HELPERS, "return globals()[name]", "return globals()[name + '']")
    assert literal_parts(other) == before
    changed = edited(DYNAMIC, HELPERS, "return v - 1", "return v - 2")
    assert literal_parts(changed) != before
    local = {
        **DYNAMIC,
        FLOW: "def literal(v, h=None):\n    return getattr(h, 'secret')(v)\n",
    }
    assert "pipelines/helpers.py:secret" not in literal_parts(local)  # a parameter's h


def test_a_dict_lookup_by_a_computed_name_is_reported() -> None:
    modules = {
        FLOW: """
            from pipelines import feats


            def step(v, name):
                return feats.__dict__[name](v)


            def fixed(v):
                return feats.__dict__["double"](v)
            """,
        "pipelines.feats": "def double(v):\n    return v * 2\n",
    }
    index = make_index(modules)
    assert index.closure(FLOW, "step").dynamic == ("__dict__[...] in pipelines/flow.py:step",)
    assert index.closure(FLOW, "fixed").dynamic == ()


NAMED_IMPORT = {
    "pipelines.plugins.lin": """
        def fit(v):
            return v * 2


        def unused(v):
            return v
        """,
    "pipelines.plugins": "",
    FLOW: """
        import importlib
        from importlib import import_module


        def step(v):
            return importlib.import_module("pipelines.plugins.lin").fit(v)


        def relative(v):
            return import_module(".lin", package="pipelines.plugins").fit(v)


        def folded(v):
            return import_module("pipelines." + "plugins.lin").fit(v)


        def computed(v, name="lin"):
            return import_module("pipelines.plugins." + name).fit(v)
        """,
}


@pytest.mark.parametrize("step", ["step", "relative", "folded"])
def test_import_module_of_a_constant_name_is_an_import_of_that_module(step: str) -> None:
    closure = make_index(NAMED_IMPORT).closure(FLOW, step)
    assert closure.dynamic == ()
    assert "pipelines/plugins/lin.py:*" in closure.parts  # the whole module, as `import` does
    edited_modules = edited(NAMED_IMPORT, "pipelines.plugins.lin", "v * 2", "v * 3")
    assert make_index(edited_modules).closure(FLOW, step).parts != closure.parts


def _listing(modules: dict[str, str]) -> CodeIndex:
    """``make_index`` that lists the project's modules, as incr's own index does."""
    index = make_index(modules)
    names = sorted({"pipelines", *modules})
    return CodeIndex(index.source, project=lambda: names)


@pytest.mark.parametrize(
    "call",
    [
        'import_module("pipelines.plugins." + name)',
        'importlib.import_module(f"pipelines.plugins.{name}")',
        'import_module(f".{name}", package="pipelines.plugins")',
        'import_module(f".plugins.{name}", __package__)',
    ],
)
def test_import_module_of_a_name_computed_from_a_known_start_uses_every_module_so_named(
    call: str,
) -> None:
    """A plugin picked by a name read at run time: every project module whose name starts so
    counts, so that an edit of any of them, or a new one, changes the closure."""
    modules = {
        **NAMED_IMPORT,
        "pipelines.plugins.tree": "def fit(v):\n    return v\n",
        FLOW: f"import importlib\nfrom importlib import import_module\n\n\n"
        f"def computed(v, name='lin'):\n    return {call}.fit(v)\n",
    }
    closure = _listing(modules).closure(FLOW, "computed")
    assert closure.dynamic == ()
    assert {"pipelines/plugins/lin.py:*", "pipelines/plugins/tree.py:*"} <= closure.parts.keys()
    assert "pipelines/flow.py:*" not in closure.parts
    edited_modules = edited(modules, "pipelines.plugins.tree", "return v", "return v + 1")
    assert _listing(edited_modules).closure(FLOW, "computed").parts != closure.parts
    more = _listing({**modules, "pipelines.plugins.svm": "def fit(v):\n    return -v\n"})
    assert "pipelines/plugins/svm.py:*" in more.closure(FLOW, "computed").parts


def test_import_module_of_a_name_computed_whole_is_reported() -> None:
    modules = {**NAMED_IMPORT, FLOW: NAMED_IMPORT[FLOW].replace('"pipelines.plugins." + ', "")}
    closure = _listing(modules).closure(FLOW, "computed")
    assert closure.dynamic == ("import_module() in pipelines/flow.py:computed",)


# ---------------------------------------- third-party packages


def test_third_party_imports_of_helpers_are_packages_not_parts():
    modules = {
        HELPERS: """
            import fakepkg
            from fakepkg.sub import thing


            def use(x):
                return fakepkg.f(thing(x))
            """,
        FLOW: "from pipelines.helpers import use\n\n\ndef step(x):\n    return use(x)\n",
    }
    closure = make_index(modules).closure(FLOW, "step")
    assert closure.packages == frozenset({"fakepkg"})
    assert not any("fakepkg" in part for part in closure.parts)


# ---------------------------------------- module-level mutation


def test_a_function_stored_into_a_module_level_table_counts():
    modules = {
        FLOW: """
            TABLE = {}


            def inc(x):
                return x + 1


            TABLE["inc"] = inc


            def step(x):
                return TABLE["inc"](x)
            """
    }
    assert_dirties(modules, FLOW, "x + 1", "x + 2", "pipelines/flow.py:inc")


# ---------------------------------------- definitions under if / with, imports twice

CONDITIONAL = {
    HELPERS: """
        import contextlib

        DEBUG = True
        USE_FAST = False
        if DEBUG:
            N_SAMPLES = 10
        else:
            N_SAMPLES = 1000

        if USE_FAST:
            def norm(v):
                return v / 2
        else:
            def norm(v):
                return v * 0.5

        with contextlib.suppress(KeyError):
            LIMIT = 3
        """,
    "pipelines.fast_ops": "def op(x):\n    return x * 2\n",
    "pipelines.slow_ops": "def op(x):\n    return x + x\n",
    "pipelines.ops": """
        BACKEND = "fast"
        try:
            from pipelines.fast_ops import op
        except ImportError:
            from pipelines.slow_ops import op

        if BACKEND == "fast":
            from pipelines.fast_ops import op as chosen
        else:
            from pipelines.slow_ops import op as chosen
        """,
    FLOW: """
        from pipelines.helpers import LIMIT, N_SAMPLES, norm
        from pipelines.ops import chosen, op


        def step(x):
            return norm(x) + N_SAMPLES + LIMIT


        def ops(x):
            return op(x)


        def picked(x):
            return chosen(x)
        """,
}


@pytest.mark.parametrize(
    ("old", "new", "part"),
    [
        ("DEBUG = True", "DEBUG = False", "pipelines/helpers.py:DEBUG"),
        ("USE_FAST = False", "USE_FAST = True", "pipelines/helpers.py:USE_FAST"),
        ("if DEBUG:", "if not DEBUG:", "pipelines/helpers.py:N_SAMPLES"),
        ("suppress(KeyError)", "suppress(ValueError)", "pipelines/helpers.py:LIMIT"),
    ],
    ids=["flag", "flag-of-a-def", "test", "with"],
)
def test_a_definition_counts_with_the_if_and_with_around_it(old: str, new: str, part: str):
    assert_dirties(CONDITIONAL, HELPERS, old, new, part)


MATCHED = {
    HELPERS: """
        ENV = "dev"
        FALLBACK = 100

        match ENV:
            case "prod":
                N_ROWS = 1_000_000
            case "test" if FALLBACK > 10:
                N_ROWS = 10
            case _:
                N_ROWS = FALLBACK
                DEPTH = 3

        try:
            import numpy
        except* ImportError:
            WIDTH = 8
        """,
    FLOW: """
        from pipelines.helpers import DEPTH, N_ROWS, WIDTH


        def step(x):
            return x + N_ROWS + DEPTH + WIDTH
        """,
}


@pytest.mark.parametrize(
    ("old", "new", "part"),
    [
        ("N_ROWS = FALLBACK", "N_ROWS = FALLBACK * 2", "pipelines/helpers.py:N_ROWS"),
        ("N_ROWS = 10", "N_ROWS = 20", "pipelines/helpers.py:N_ROWS"),
        ('case "prod":', 'case "dev":', "pipelines/helpers.py:DEPTH"),
        ("if FALLBACK > 10", "if FALLBACK > 1000", "pipelines/helpers.py:DEPTH"),
        ('ENV = "dev"', 'ENV = "prod"', "pipelines/helpers.py:ENV"),
        ("FALLBACK = 100", "FALLBACK = 5", "pipelines/helpers.py:FALLBACK"),
        ("WIDTH = 8", "WIDTH = 16", "pipelines/helpers.py:WIDTH"),
    ],
    ids=["case-body", "other-case", "earlier-pattern", "case-guard", "subject", "used", "except*"],
)
def test_a_definition_counts_with_the_match_cases_before_it(old: str, new: str, part: str):
    assert_dirties(MATCHED, HELPERS, old, new, part)


def test_a_later_case_is_not_part_of_an_earlier_one() -> None:
    modules = {
        HELPERS: """
            match 1:
                case 1:
                    A = 1
                case _:
                    B = 2
            """,
        FLOW: "from pipelines.helpers import A\n\n\ndef step(x):\n    return A\n",
    }
    assert_keeps(modules, HELPERS, "B = 2", "B = 3")
    assert_dirties(modules, HELPERS, "A = 1", "A = 5", "pipelines/helpers.py:A")


@pytest.mark.parametrize("module", ["pipelines.fast_ops", "pipelines.slow_ops"])
def test_a_name_imported_twice_counts_both_ways(module: str) -> None:
    closure = make_index(CONDITIONAL).closure(FLOW, "ops")
    assert {"pipelines/fast_ops.py:op", "pipelines/slow_ops.py:op"} <= set(closure.parts)
    edited_modules = edited(CONDITIONAL, module, "return x", "return 1 + x")
    assert make_index(edited_modules).closure(FLOW, "ops").parts != closure.parts


def test_an_import_counts_with_the_if_around_it() -> None:
    closure = make_index(CONDITIONAL).closure(FLOW, "picked")
    assert {"pipelines/fast_ops.py:op", "pipelines/slow_ops.py:op"} <= set(closure.parts)
    flipped = edited(CONDITIONAL, "pipelines.ops", 'BACKEND = "fast"', 'BACKEND = "slow"')
    after = make_index(flipped).closure(FLOW, "picked").parts
    assert after["pipelines/ops.py:BACKEND"] != closure.parts["pipelines/ops.py:BACKEND"]


# ---------------------------------------- what importing a module runs

TOP = {
    "pipelines": """
        import sklearn
        from pipelines import patches

        sklearn.set_config(transform_output="pandas")
        """,
    "pipelines.patches": """
        from pipelines.base import Model


        def _fast(self, v):
            return v * 5


        Model.transform = _fast
        """,
    "pipelines.base": "class Model:\n    def transform(self, v):\n        return v\n",
    "pipelines.accessors": """
        import pandas as pd


        @pd.api.extensions.register_dataframe_accessor("feat")
        class Feat:
            def __init__(self, df):
                self.df = df

            def ratio(self):
                return self.df.a / self.df.b
        """,
    "pipelines.unrelated": "import os\n\nos.environ['MODE'] = 'fast'\n",
    FLOW: """
        import decimal

        import pipelines.accessors  # noqa: F401
        from incr import pipeline, step
        from pipelines.base import Model

        decimal.getcontext().prec = 4


        @step
        def step(x):
            return Model().transform(x)


        @pipeline
        def flow():
            step(1)


        flow().run()

        if __name__ == "__main__":
            print("ran")
        """,
}


@pytest.mark.parametrize(
    ("module", "old", "new", "part"),
    [
        ("pipelines", '"pandas"', '"default"', "pipelines/__init__.py:<top level>"),
        ("pipelines.patches", "v * 5", "v * 7", "pipelines/patches.py:_fast"),
        ("pipelines.accessors", "a / self", "a * self", "pipelines/accessors.py:<top level>"),
        (FLOW, "prec = 4", "prec = 8", "pipelines/flow.py:<top level>"),
    ],
    ids=["package-call", "monkeypatch", "accessor", "own-module-store"],
)
def test_what_importing_a_module_runs_counts_where_it_is_imported(module, old, new, part):
    assert_dirties(TOP, module, old, new, part)


def test_a_module_not_imported_and_running_a_pipeline_leave_the_closure_as_it_is():
    closure = parts(TOP)
    assert not any(p.startswith("pipelines/unrelated.py") for p in closure)
    assert_keeps(TOP, FLOW, "flow().run()", "flow().run(enable_cache=False)")
    assert_keeps(TOP, FLOW, 'print("ran")', 'print("done")')  # a __main__ block: not on import


@pytest.mark.parametrize("call", ["pydoc.locate(name)", "hydra.utils.instantiate(cfg)"])
def test_a_class_looked_up_by_a_name_from_a_config_file_is_reported(call: str) -> None:
    head = call.split(".")[0]
    flow = f"import {head}\nimport hydra.utils\n\n\ndef step(name, cfg):\n    return {call}\n"
    closure = make_index({FLOW: flow}).closure(FLOW, "step")
    assert closure.dynamic == (
        f"{call.split('(')[0].rpartition('.')[2]}() in pipelines/flow.py:step",
    )


WHOLE_MODULE = {
    "pipelines.base": "def double(x):\n    return 2 * x\n",
    "pipelines.features": """
        from pipelines.base import double


        def feat(x):
            return double(x)
        """,
    FLOW: """
        import importlib

        import pipelines.features as F


        def apply_all(mod, x):
            return mod.feat(x)


        def step(x):
            return apply_all(F, x)


        def named(x):
            return importlib.import_module("pipelines.features").feat(x)
        """,
}


@pytest.mark.parametrize("step", ["step", "named"])
def test_a_module_used_whole_counts_with_what_it_uses(step: str) -> None:
    before = make_index(WHOLE_MODULE).closure(FLOW, step).parts
    assert "pipelines/features.py:*" in before
    edited_modules = edited(WHOLE_MODULE, "pipelines.base", "2 * x", "3 * x")
    after = make_index(edited_modules).closure(FLOW, step).parts
    assert after["pipelines/base.py:double"] != before["pipelines/base.py:double"]


def test_a_process_wide_setting_changed_in_a_step_is_reported_at_top_level_it_counts() -> None:
    modules = {
        FLOW: """
            import pandas as pd
            import sklearn

            pd.set_option("display.precision", 3)


            def step(x):
                sklearn.set_config(transform_output="pandas")
                pd.options.mode.copy_on_write = True
                return x
            """
    }
    closure = make_index(modules).closure(FLOW, "step")
    assert closure.dynamic == (
        "pandas.options() in pipelines/flow.py:step",
        "sklearn.set_config() in pipelines/flow.py:step",
    )
    assert "pipelines/flow.py:<top level>" in closure.parts  # not a note: counted


# ---------------------------------------- names read from strings

NAMED_IN_STRINGS = {
    "pipelines.consts": """
        MIN_AGE = 30
        SCALE = 2
        """,
    "pipelines.models": """
        from dataclasses import dataclass, field


        @dataclass
        class OptSpec:
            lr: float = 0.1


        @dataclass
        class TrainSpec:
            opt: "OptSpec | None" = None  # a model (pydantic) builds it from the name
            more: list["OptSpec"] = field(default_factory=list)
        """,
    FLOW: """
        from pipelines.consts import MIN_AGE, SCALE
        from pipelines.models import TrainSpec


        def step(df):
            spec = TrainSpec()
            kept = df.query("age > @MIN_AGE")
            return kept.eval(expr="y = x * @SCALE"), spec
        """,
}


@pytest.mark.parametrize(
    ("module", "old", "new", "part"),
    [
        ("pipelines.consts", "MIN_AGE = 30", "MIN_AGE = 40", "pipelines/consts.py:MIN_AGE"),
        ("pipelines.consts", "SCALE = 2", "SCALE = 3", "pipelines/consts.py:SCALE"),
        ("pipelines.models", "lr: float = 0.1", "lr: float = 0.2", "pipelines/models.py:OptSpec"),
    ],
    ids=["query", "eval", "quoted-annotation"],
)
def test_names_read_from_strings_count(module: str, old: str, new: str, part: str) -> None:
    """A pandas query or eval string reads ``@NAME`` from its caller; a quoted annotation
    (a forward reference) names the class a model builds a field from."""
    assert_dirties(NAMED_IN_STRINGS, module, old, new, part)


MODULE_GETATTR = {
    "pipelines.newmod": """
        def new_scale(x):
            return x * 2
        """,
    "pipelines.compat": """
        import warnings


        def __getattr__(name):
            if name == "old_scale":
                warnings.warn("old_scale is new_scale now", DeprecationWarning)
                from pipelines.newmod import new_scale

                return new_scale
            raise AttributeError(name)
        """,
    FLOW: """
        from pipelines.compat import old_scale


        def step(x):
            return old_scale(x)
        """,
}


def test_a_name_a_module_getattr_answers_counts_by_it() -> None:
    """PEP 562: a name the module does not define is what its ``__getattr__`` returns."""
    assert_dirties(
        MODULE_GETATTR, "pipelines.newmod", "x * 2", "x * 3", "pipelines/newmod.py:new_scale"
    )
    assert_dirties(
        MODULE_GETATTR,
        "pipelines.compat",
        '"old_scale"',
        '"older_scale"',
        "pipelines/compat.py:__getattr__",
    )


def test_code_read_as_text_is_reported() -> None:
    """A docstring used as a template, or a function's source written into a report: the
    comments and docstrings the code digest leaves out change the result."""
    modules = {
        FLOW: """
            import inspect


            def template():
                \"\"\"Total: {total}\"\"\"


            def step(total):
                return template.__doc__.format(total=total)


            def report(fn):
                return inspect.getsource(fn)
            """,
    }
    index = make_index(modules)
    assert index.closure(FLOW, "step").dynamic == ("__doc__ in pipelines/flow.py:step",)
    assert index.closure(FLOW, "report").dynamic == ("getsource() in pipelines/flow.py:report",)


def test_names_made_through_globals_in_a_loop_count_by_that_loop() -> None:
    """``globals()[f"scale_{k}"] = make(k)`` in a module-level loop makes names no statement
    binds: the loop is the module's top-level code, which every step using the module takes."""
    modules = {
        "pipelines.scalers": """
            def make(k):
                return lambda x: x * k


            for k in (2, 3):
                globals()[f"scale_{k}"] = make(k)
            """,
        FLOW: """
            from pipelines import scalers


            def step(x):
                return scalers.scale_2(x)
            """,
    }
    assert_dirties(
        modules, "pipelines.scalers", "(2, 3)", "(4, 3)", "pipelines/scalers.py:<top level>"
    )
    assert_dirties(modules, "pipelines.scalers", "x * k", "x * k + 1", "pipelines/scalers.py:make")


STARS = {
    "pipelines.fast": """
        __all__ = ["other"]


        def scale(x):  # not exported: a star import does not bind it
            return x * 3


        def other(x):
            return x
        """,
    "pipelines.slow": """
        def scale(x):
            return x * 2


        def _private(x):
            return x
        """,
    FLOW: """
        from pipelines.slow import *
        from pipelines.fast import *


        def step(x):
            return scale(x)
        """,
}


def test_a_star_import_binds_only_what_the_module_exports() -> None:
    """The last star import binds ``scale`` only if that module exports it (its ``__all__``,
    or every name without a leading underscore): here it is ``slow``'s."""
    assert_dirties(STARS, "pipelines.slow", "x * 2", "x * 4", "pipelines/slow.py:scale")
    assert_keeps(STARS, "pipelines.fast", "x * 3", "x * 5")


def test_a_star_import_after_a_definition_may_rebind_it() -> None:
    """``K = 1`` then ``from pipelines.overrides import *``: the star import rebinds ``K``
    when that module defines or imports it; either may be the one a step reads."""
    modules = {
        HELPERS: """
            K = 1
            from pipelines.local_overrides import *
            from pipelines.quiet import *
            """,
        "pipelines.local_overrides": "from pipelines.base import K as K\n",
        "pipelines.base": "K = 2\n",
        "pipelines.quiet": "_K = 3\n",
        FLOW: """
            from pipelines import helpers


            def step(x):
                return x + helpers.K
            """,
    }
    assert "pipelines/helpers.py:K" in parts(modules)
    assert_dirties(modules, "pipelines.base", "K = 2", "K = 3", "pipelines/base.py:K")
    assert_dirties(modules, HELPERS, "K = 1", "K = 5", "pipelines/helpers.py:K")
    assert_keeps(modules, "pipelines.quiet", "_K = 3", "_K = 4")


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("from pipelines.base import *\n\nK = 1\n", False),  # the definition binds it for good
        ("from pipelines.base import *\n\nK += 1\n", True),  # it keeps what the star bound
        ("from pipelines.base import *\n\nif FLAG:\n    K = 1\n", True),  # may not run
        ("K = 1\nfrom pipelines.base import *\n", True),
    ],
    ids=["def-after", "augmented", "guarded", "star-after"],
)
def test_a_star_import_counts_unless_a_definition_follows_it(text: str, counts: bool) -> None:
    modules = {
        HELPERS: text,
        "pipelines.base": "K = 2\nFLAG = True\n",
        FLOW: "from pipelines.helpers import K\n\n\ndef step(x):\n    return x + K\n",
    }
    assert ("pipelines/base.py:K" in parts(modules)) is counts
