"""Unit tests for the pieces behind ZenML-era pipelines: main blocks, pipeline definitions
read from source, instance names, annotated fields, integrations and config defaults."""

from __future__ import annotations

import ast

import pytest

from incr import integrations
from incr.api import StepConfig, pipeline, step
from incr.codeast import references
from incr.errors import DefinitionError
from incr.integrations import SKLEARN, check_integrations, check_options
from incr.keptlocks import defined_names
from incr.mainblock import main_block
from incr.plan import describe_code_change


def test_main_block_takes_only_the_guarded_statements() -> None:
    source = (
        b'x = 1\nif __name__ == "__main__":\n    y = 2\nif "__main__" == __name__:\n    z = 3\n'
    )
    code = main_block(source, "m.py")
    assert code is not None
    space: dict[str, object] = {}
    exec(code, space)
    assert "x" not in space and space["y"] == 2 and space["z"] == 3
    assert main_block(b"x = 1\n", "m.py") is None
    assert main_block(b'if __name__ != "__main__":\n    pass\n', "m.py") is None


def test_defined_names_reads_decorators_and_classes() -> None:
    source = b"""
@pipeline
def a(): ...
@pipeline(name="bee")
def b(): ...
@incr.pipeline(enable_cache=False)
def c(): ...
class D(BasePipeline): ...
class E: ...
@step
def f(): ...
"""
    assert defined_names(source, "m.py") == ["a", "bee", "c", "D"]


def test_an_annotated_field_reads_no_global() -> None:
    tree = ast.parse("class C(StepConfig):\n    gamma: float = DEFAULT\n")
    names = {name for name, _ in references(tree)}
    assert "gamma" not in names and {"DEFAULT", "float", "StepConfig"} <= names


def test_config_defaults_are_named_as_such() -> None:
    old = {"p.py:Cfg": "a", "p.py:Cfg.<defaults>": "b"}
    new = {"p.py:Cfg": "a", "p.py:Cfg.<defaults>": "c"}
    assert describe_code_change(old, new) == "Cfg defaults in p.py"


def test_integrations_are_checked() -> None:
    check_integrations("p", [SKLEARN])
    with pytest.raises(DefinitionError, match="requires the evidently integration"):
        check_integrations("p", ["evidently"])
    with pytest.raises(DefinitionError, match=r"'google\.cloud\.aiplatform' is not installed"):
        check_integrations("p", [integrations.VERTEX])  # a dotted module, parents missing
    check_integrations("p", [integrations.KANIKO])  # a tool outside Python: nothing to check
    names = [
        n for n in dir(integrations) if n.isupper() and isinstance(getattr(integrations, n), str)
    ]
    assert len(names) >= 40 and all(
        getattr(integrations, n) in integrations.PACKAGES for n in names
    )
    check_options("p", {"requirements_file": "r.txt", "dockerignore_file": ".d"})
    with pytest.raises(DefinitionError, match="unknown option 'docker'"):
        check_options("p", {"docker": 1})


class Gamma(StepConfig):
    gamma: float = 0.001


@step
def fit(config: Gamma) -> float:
    return config.gamma


@pipeline
def sweep(trainer):
    trainer()


def test_instances_are_named_by_the_configs_they_differ_in() -> None:
    first = sweep(fit(Gamma(gamma=0.001)))
    second = sweep(fit(Gamma(gamma=0.01)))
    again = sweep(trainer=fit(Gamma(gamma=0.01)))
    assert first.name == "sweep"
    assert second.name == "sweep@fit.gamma=0.01"
    assert again.name == second.name
