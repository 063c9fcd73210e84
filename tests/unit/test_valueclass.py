"""``incr.valueclass``: a class it makes behaves as the one ``dataclasses`` makes."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pytest

from incr.fingerprint import CodeClosure
from incr.model import Artifact, CodeRef, Facts, InputRef, LockEntry, Reason, StepNode
from incr.plan import Verdict
from incr.valueclass import valueclass


@dataclass(frozen=True)
class FrozenDC:
    a: int
    b: str = "b"
    c: tuple[int, ...] = field(default_factory=tuple)
    d: float = field(default=0.5, compare=False, repr=False)
    e: int = field(default=7, hash=False)
    kind: ClassVar[str] = "k"


@valueclass(frozen=True)
class FrozenVC:
    a: int
    b: str = "b"
    c: tuple[int, ...] = field(default_factory=tuple)
    d: float = field(default=0.5, compare=False, repr=False)
    e: int = field(default=7, hash=False)
    kind: ClassVar[str] = "k"


@dataclass
class MutableDC:
    a: int
    b: list[str] = field(default_factory=list)
    late: int | None = field(default=None, init=False)
    made: list[int] = field(default_factory=list, init=False)
    seen: int = field(init=False)

    def __post_init__(self) -> None:
        self.seen = self.a * 2


@valueclass
class MutableVC:
    a: int
    b: list[str] = field(default_factory=list)
    late: int | None = field(default=None, init=False)
    made: list[int] = field(default_factory=list, init=False)
    seen: int = field(init=False)

    def __post_init__(self) -> None:
        self.seen = self.a * 2


CALLS = [((1,), {}), ((1, "x"), {}), ((1,), {"c": (2,)}), ((), {"a": 3, "b": "y", "c": (4,)})]
CALLS += [((1, "x", (), 0.9, 8), {}), ((2,), {"d": 1.5})]


def shown(obj: Any) -> str:
    return repr(obj).replace(type(obj).__qualname__, "C")


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_a_frozen_class_is_made_as_dataclasses_makes_it(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    dc, vc = FrozenDC(*args, **kwargs), FrozenVC(*args, **kwargs)
    assert vars(vc) == vars(dc)
    assert shown(vc) == shown(dc)
    assert vc == FrozenVC(*args, **kwargs) and hash(vc) == hash(FrozenVC(*args, **kwargs))
    assert vc == dataclasses.replace(vc, d=9.0) and dc == dataclasses.replace(dc, d=9.0)
    assert hash(dataclasses.replace(vc, e=99)) == hash(vc)  # e is compared, not hashed
    assert vc != FrozenVC(5) and vc != dc and vc.__eq__(dc) is NotImplemented
    assert MutableVC(1).b is not MutableVC(1).b  # a new list each time


def test_a_mutable_class_is_made_as_dataclasses_makes_it() -> None:
    dc, vc = MutableDC(3, ["x"]), MutableVC(3, ["x"])
    assert vars(vc) == vars(dc) == {"a": 3, "b": ["x"], "made": [], "seen": 6}
    assert vc.late is None  # the class attribute, as a dataclass leaves it
    assert shown(vc) == shown(dc)
    assert vc == MutableVC(3, ["x"]) and vc != MutableVC(3)
    vc.a = 4
    assert vc.a == 4 and vc != MutableVC(3, ["x"])
    with pytest.raises(TypeError, match="unhashable"):
        hash(vc)
    with pytest.raises(TypeError):
        MutableVC(1, [], None)  # type: ignore[call-arg]


def test_frozen_instances_refuse_assignment_and_deletion_alike() -> None:
    vc = FrozenVC(1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'b'"):
        vc.b = "z"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'new'"):
        vc.new = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'a'"):
        del vc.a  # type: ignore[misc]

    class Sub(FrozenVC):  # not itself a dataclass: its own attributes may be set
        pass

    sub = Sub(1)
    sub.extra = 2  # type: ignore[attr-defined]
    assert sub.extra == 2  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.a = 3  # type: ignore[misc]


def test_bad_calls_fail_alike() -> None:
    for call in (lambda cls: cls(), lambda cls: cls(1, z=2), lambda cls: cls(1, "b", [], 1, 2, 3)):
        with pytest.raises(TypeError):
            call(FrozenDC)
        with pytest.raises(TypeError):
            call(FrozenVC)


def test_the_dataclasses_functions_and_pickling_work_on_it() -> None:
    vc = FrozenVC(1, "x", (2,))
    assert dataclasses.is_dataclass(vc)
    assert [f.name for f in dataclasses.fields(vc)] == ["a", "b", "c", "d", "e"]
    assert dataclasses.asdict(vc) == {"a": 1, "b": "x", "c": (2,), "d": 0.5, "e": 7}
    assert dataclasses.replace(vc, b="r") == FrozenVC(1, "r", (2,))
    assert pickle.loads(pickle.dumps(vc)) == vc and copy.deepcopy(vc) == vc
    assert FrozenVC.__match_args__ == FrozenDC.__match_args__
    params = FrozenVC.__dataclass_params__  # type: ignore[attr-defined]
    assert (params.init, params.repr, params.eq, params.frozen) == (True, True, True, True)
    assert MutableVC.__dataclass_params__.frozen is False  # type: ignore[attr-defined]
    ours, theirs = inspect.signature(FrozenVC), inspect.signature(FrozenDC)
    assert [(p.name, repr(p.default)) for p in ours.parameters.values()] == [
        (p.name, repr(p.default)) for p in theirs.parameters.values()
    ]


def test_subclasses_dataclasses_and_valueclasses_mix_as_dataclasses_do() -> None:
    @valueclass(frozen=True)
    class More(FrozenVC):
        f: int = 0

    @dataclass(frozen=True)
    class Plain(FrozenVC):
        g: int = 1

    assert vars(More(1, f=2)) == {"a": 1, "b": "b", "c": (), "d": 0.5, "e": 7, "f": 2}
    assert More(1) != FrozenVC(1) and hash(More(1, f=2)) != hash(More(1))
    assert Plain(1, g=3).g == 3
    with pytest.raises(TypeError, match="non-frozen"):

        @dataclass
        class Thawed(FrozenVC):
            h: int = 0


def test_methods_the_class_defines_itself_are_kept() -> None:
    @valueclass(frozen=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

    assert repr(Own(1)) == "own" and Own(1) == Own(2)
    assert hash(Own(1)) == hash(Own(1))  # defining __eq__ alone leaves the hash to make

    with pytest.raises(TypeError, match="__hash__"):

        @valueclass(frozen=True)
        class OwnHash:
            a: int

            def __hash__(self) -> int:
                return 0


def test_a_recursive_value_has_a_repr() -> None:
    vc = MutableVC(1)
    vc.b.append(vc)  # type: ignore[arg-type]
    assert repr(vc) == "MutableVC(a=1, b=[...], late=None, made=[], seen=2)"


def test_classes_it_cannot_reproduce_are_refused() -> None:
    with pytest.raises(TypeError, match="InitVar"):

        @valueclass
        class Init:
            a: InitVar[int]

    with pytest.raises(TypeError, match="takes a name valueclass uses itself"):

        @valueclass(frozen=True)
        class Clash:
            fields_: int

    with pytest.raises(TypeError, match="keyword-only"):

        @valueclass(frozen=True)
        class Keyword:
            a: int = field(kw_only=True)


@pytest.mark.parametrize(
    "cls", [InputRef, StepNode, Artifact, Facts, LockEntry, Reason, CodeRef, CodeClosure, Verdict]
)
def test_incrs_values_have_the_dataclass_signature(cls: type) -> None:
    """Every parameter of the generated ``__init__`` in order, the required ones first."""
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert cls.__eq__.__qualname__ == f"{cls.__qualname__}.__eq__"
