"""Shared test support for the unit tests."""

from __future__ import annotations

import textwrap

from hypothesis import strategies as st

from incr.codeast import ModuleSource
from incr.codeindex import CodeIndex


def make_index(modules: dict[str, str], packages: tuple[str, ...] = ("pipelines",)) -> CodeIndex:
    """A CodeIndex over ``modules`` (dotted name -> source); names in ``packages`` are packages."""
    sources = {name: "" for name in packages}
    sources.update(modules)
    loaded = {}
    for name, text in sources.items():
        is_package = name in packages
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        loaded[name] = ModuleSource(name, path, textwrap.dedent(text), is_package)
    return CodeIndex(loaded.get)


def json_values(max_leaves: int) -> st.SearchStrategy:
    """Plain JSON values (no NaN or infinity), nested in lists and objects."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=max_leaves,
    )
