"""What the text of an ``importlib.import_module`` call tells of its module (``incr.dynimport``)."""

from __future__ import annotations

import ast

import pytest

from incr.dynimport import asked_distribution, named_import, prefixed_import


def _call(source: str) -> ast.Call:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    return node.value


@pytest.mark.parametrize(
    ("source", "named", "start"),
    [
        ('import_module("a.b")', "a.b", None),
        ('importlib.import_module("a." + "b")', "a.b", None),
        ('import_module(".b", "a")', "a.b", None),
        ('import_module(".b", package="a")', "a.b", None),
        ('import_module(".b")', None, None),  # relative, no package: fails at run time
        ('import_module("a." + "b." + name)', None, "a.b."),
        ('import_module(f"a.b.{name}.c")', None, "a.b."),
        ('import_module("a." + f"b.{name}")', None, "a.b."),
        ('import_module(f".{name}", __package__)', None, "pipelines."),
        ('import_module(f".models.{name}", package="pipelines")', None, "pipelines.models."),
        ('import_module(f".{name}", package=pkg)', None, None),  # the package is not known
        ("import_module(name)", None, None),
        ('import_module(f"{name}.models")', None, None),
        ('getattr(mod, "import_module")("a.b")', None, None),
    ],
)
def test_the_module_an_import_module_call_names(
    source: str, named: str | None, start: str | None
) -> None:
    call = _call(source)
    assert named_import(call) == named
    assert prefixed_import(call, "pipelines") == start


@pytest.mark.parametrize(
    ("source", "asked"),
    [
        ('version("scikit-learn")', "scikit-learn"),
        ('importlib.metadata.version("torch")', "torch"),
        ('metadata.distribution("numpy")', "numpy"),
        ('importlib_metadata.requires("pandas")', "pandas"),
        ('pkg_resources.get_distribution("numpy>=1.26")', "numpy"),
        ('pkg_resources.require("scipy==1.17")', "scipy"),
        ('get_distribution("xgboost")', "xgboost"),
        ('version(distribution_name="lightgbm")', "lightgbm"),
        ("version(name)", None),  # computed at run time
        ('version(f"{name}")', None),
        ('model.version("v2")', None),  # an attribute of another object
        ('files("pipelines")', None),  # importlib.resources.files, imported by its bare name
    ],
)
def test_the_distribution_an_importlib_metadata_call_asks_about(
    source: str, asked: str | None
) -> None:
    assert asked_distribution(_call(source)) == asked
