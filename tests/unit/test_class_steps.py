"""Definitions in a class body (``Steps.load``) are found through their class: their closure
holds the module-level helpers and constants they use, like a module-level definition's."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from incr.codeast import defined_in_class
from incr.coderef import code_ref

from .support import make_index

FLOW = """
    from pipelines.helpers import scale

    FACTOR = 3


    def helper(x):
        return x + FACTOR


    class Steps:
        LEVEL = 2

        @staticmethod
        def load(x):
            return helper(scale(x))

        @staticmethod
        def other(x):
            return x

        class Inner:
            def deep(self, x):
                return helper(x)

        def _impl(x):
            return x * FACTOR

        alias = staticmethod(_impl)
    """
HELPERS = """
    def scale(x):
        return 2 * x


    def unused(x):
        return x
    """


def parts(flow: str = FLOW, name: str = "Steps.load") -> dict[str, str]:
    modules = {"pipelines.flow": flow, "pipelines.helpers": HELPERS}
    return make_index(modules).closure("pipelines.flow", name).parts


def test_a_static_method_counts_the_module_level_names_it_uses() -> None:
    assert set(parts()) == {
        "pipelines/flow.py:Steps.load",
        "pipelines/flow.py:helper",
        "pipelines/flow.py:FACTOR",
        "pipelines/helpers.py:scale",
    }


def test_editing_a_constant_the_method_uses_changes_its_closure() -> None:
    before = parts()
    after = parts(FLOW.replace("FACTOR = 3", "FACTOR = 4"))
    assert {k for k in before if before[k] != after[k]} == {"pipelines/flow.py:FACTOR"}


def test_editing_a_sibling_method_keeps_the_closure() -> None:
    assert parts() == parts(FLOW.replace("return x\n", "return -x\n"))
    assert parts() == parts(FLOW.replace("LEVEL = 2", "LEVEL = 5"))


def test_nested_classes_and_class_attributes_are_found() -> None:
    assert "pipelines/flow.py:helper" in parts(name="Steps.Inner.deep")
    assert set(parts(name="Steps._impl")) == {
        "pipelines/flow.py:Steps._impl",
        "pipelines/flow.py:FACTOR",
    }


def test_a_missing_member_has_an_empty_closure() -> None:
    assert parts(name="Steps.missing") == {}
    assert parts(name="Nope.load") == {}


def test_normalised_source_of_a_member() -> None:
    index = make_index({"pipelines.flow": FLOW, "pipelines.helpers": HELPERS})
    text = index.normalised_source("pipelines.flow", "Steps.load")
    assert text is not None and text.startswith("@staticmethod\ndef load(x):")


@pytest.mark.parametrize(
    ("qualname", "expected"),
    [
        ("Steps.load", True),
        ("Steps.Inner.deep", True),
        ("Steps.alias", True),
        ("Steps.nothing", False),
        ("helper", False),
        ("Other.load", False),
    ],
)
def test_defined_in_class(qualname: str, expected: bool) -> None:
    assert defined_in_class(textwrap.dedent(FLOW), "flow.py", qualname) is expected


def test_code_ref_of_a_class_member_is_found_through_its_class(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        class Steps:
            @staticmethod
            def load():
                return 1


        def factory():
            def inner():
                return 2

            return inner
        """
    )
    (tmp_path / "classmod.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import classmod  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("classmod", None)
    ref = code_ref(classmod.Steps.load, tmp_path)
    assert (ref.module, ref.qualname, ref.own_digest) == ("classmod", "Steps.load", None)
    nested = code_ref(classmod.factory(), tmp_path)
    # inside a function: it counts through the module-level definition around it
    assert (nested.qualname, nested.own_digest) == ("factory", None)
