"""``model.fast_init``: a frozen dataclass built through it is the one ``dataclasses`` builds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from incr.fingerprint import CodeClosure
from incr.model import (
    Artifact,
    CodeRef,
    Facts,
    InputRef,
    LockEntry,
    Reason,
    StepNode,
    fast_init,
)
from incr.plan import Verdict


@dataclass(frozen=True)
class Plain:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


@fast_init
@dataclass(frozen=True)
class Fast:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, "x"), {}), ((1,), {"c": [2]}), ((), {"a": 3, "b": "y", "c": [4]})],
)
def test_fields_defaults_and_factories_as_dataclasses_gives_them(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert vars(Fast(*args, **kwargs)) == vars(Plain(*args, **kwargs))
    assert Fast(*args, **kwargs) == Fast(*args, **kwargs)
    assert Fast(1).c is not Fast(1).c  # a new list each time


def test_instances_stay_frozen_and_bad_calls_fail_alike() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fast(1).b = "z"  # type: ignore[misc]
    for call in (lambda cls: cls(), lambda cls: cls(1, d=2), lambda cls: cls(1, "b", [], 4)):
        with pytest.raises(TypeError):
            call(Plain)
        with pytest.raises(TypeError):
            call(Fast)
    assert dataclasses.replace(Fast(1), b="r") == Fast(1, "r")


def test_classes_it_cannot_reproduce_are_refused() -> None:
    with pytest.raises(TypeError, match="post_init"):

        @fast_init
        @dataclass(frozen=True)
        class Checked:
            a: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="takes a name it uses itself"):

        @fast_init
        @dataclass(frozen=True)
        class Clash:
            fields_: int

    with pytest.raises(TypeError, match="plain init field"):

        @fast_init
        @dataclass(frozen=True)
        class Keyword:
            a: int = field(kw_only=True)


@pytest.mark.parametrize(
    "cls", [InputRef, StepNode, Artifact, Facts, LockEntry, Reason, CodeRef, CodeClosure, Verdict]
)
def test_incrs_values_have_the_dataclass_signature(cls: type) -> None:
    """Every parameter of the generated ``__init__`` in order, the required ones first."""
    import inspect

    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
