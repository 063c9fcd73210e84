"""``StepConfig`` fields annotated ``int``, ``float``, ``bool`` or ``str`` convert the values
given as ZenML's pydantic configs did, and refuse those they cannot convert."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incr import BaseStepConfig, StepConfig
from incr.errors import DefinitionError


class Train(BaseStepConfig):
    epochs: int = 3
    lr: float = 1
    shuffle: bool = False
    name: str = "run"
    path: str = None  # type: ignore[assignment]  # pydantic 1 took this for Optional
    seed: Optional[int] = None  # noqa: UP045  # the ZenML era's spelling
    layers: list = [64, 32]  # noqa: RUF012  # another annotation: taken as given


def test_defaults_take_their_field_types() -> None:
    config = Train()
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.layers == [64, 32] and config.path is None and config.seed is None


def test_strings_from_the_environment_become_the_annotated_types() -> None:
    config = Train(epochs="10", lr=" 0.5 ", shuffle="yes", seed="7", path="data.csv")
    assert (config.epochs, config.lr, config.shuffle, config.seed) == (10, 0.5, True, 7)
    assert type(config.epochs) is int and type(config.seed) is int


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("epochs", "ten", "not an int"),
        ("epochs", 2.5, "not a whole number"),
        ("shuffle", "maybe", "not a bool"),
        ("lr", "fast", "not a float"),
        ("name", ["a"], "a list, for a str field"),
        ("seed", "x", "not an int"),
    ],
)
def test_a_value_that_does_not_convert_is_refused_naming_the_field(
    field: str, value: object, said: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        Train(**{field: value})
    assert f"Train.{field} = {value!r}: {said}" in caught.value.message


@given(st.integers(-(10**12), 10**12))
def test_an_int_and_its_text_give_one_config(number: int) -> None:
    assert Train(epochs=number) == Train(epochs=str(number)) == Train(epochs=float(number))


@given(st.booleans())
def test_a_bool_and_its_words_give_one_config(flag: bool) -> None:
    words = ["true", "on", "1", "Yes"] if flag else ["false", "off", "0", "No"]
    assert all(Train(shuffle=word) == Train(shuffle=flag) for word in words)
    assert Train(shuffle=int(flag)).shuffle is flag


def test_a_subclass_converts_its_own_fields_and_its_parents() -> None:
    class Deeper(Train):
        depth: int = "4"  # type: ignore[assignment]

    config = Deeper(epochs="5")
    assert (config.depth, config.epochs, config.lr) == (4, 5, 1.0)


def test_numbers_for_a_str_field_become_text_as_pydantic_one_did() -> None:
    assert Train(name=5).name == "5"


def test_an_annotation_no_module_defines_takes_the_value_as_given() -> None:
    class Later(StepConfig):
        model: NotDefinedAnywhere = "x"  # type: ignore[name-defined]  # noqa: F821
        size: int = "3"  # type: ignore[assignment]

    assert Later().model == "x" and Later().size == 3


def test_numpy_numbers_convert_as_pydantic_took_them() -> None:
    np = pytest.importorskip("numpy")
    config = Train(epochs=np.int64(4), lr=np.float32(0.5), shuffle=np.bool_(True))
    assert (config.epochs, config.lr, config.shuffle) == (4, 0.5, True)
    assert type(config.epochs) is int and type(config.lr) is float and config.shuffle is True
    with pytest.raises(DefinitionError, match="not a whole number"):
        Train(epochs=np.float64(2.5))
    with pytest.raises(DefinitionError, match="an object, for an int field"):
        Train(epochs=object())


@dataclasses.dataclass
class Optim:
    lr: float = 0.1
    betas: list = dataclasses.field(default_factory=lambda: [0.9, 0.999])


@dataclasses.dataclass
class Layer:
    width: int = 8
    optim: Optim | None = None


class Schedule(StepConfig):
    warmup: int = 0


class Nested(StepConfig):
    optim: Optim = Optim()  # an instance default: each config gets its own copy
    layers: list[Layer] = [Layer(), Layer(16)]  # noqa: RUF012
    schedule: Schedule = Schedule()


def test_a_dataclass_field_holds_one_and_counts_as_a_dict() -> None:
    config = Nested()
    assert config.optim == Optim() and config.optim is not Nested().optim
    assert config.to_dict() == {
        "optim": {"lr": 0.1, "betas": [0.9, 0.999]},
        "layers": [{"width": 8, "optim": None}, {"width": 16, "optim": None}],
        "schedule": {"warmup": 0},
    }


def test_a_dict_given_for_a_dataclass_field_is_made_one_with_its_fields_converted() -> None:
    values = Nested(optim=Optim(lr=0.5), layers=[Layer(4, Optim(0.2))]).to_dict()
    made = Nested(**values)  # as a config is made again from the values a lockfile keeps
    assert made.optim == Optim(lr=0.5) and made.schedule == Schedule()
    assert made.layers == [Layer(4, Optim(0.2))]
    assert Nested(optim={"lr": "0.3"}).optim.lr == 0.3  # converted as a config's field is
    assert Nested(schedule={"warmup": "2"}).schedule.warmup == 2
    assert made.to_dict() == values


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"optim": {"rate": 1}}, "Nested.optim = {'rate': 1}: Optim has no field 'rate'"),
        ({"optim": 3}, "Nested.optim = 3: an int, for an Optim field (give one, or a dict)"),
        ({"layers": [{"width": "x"}]}, "Nested.layers = [{'width': 'x'}]: not an int"),
    ],
)
def test_a_value_that_makes_no_dataclass_is_refused(given: dict[str, Any], said: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        Nested(**given)
    assert caught.value.message == said


_optims = st.builds(
    Optim,
    lr=st.floats(0, 10, allow_nan=False),
    betas=st.lists(st.floats(0, 1, allow_nan=False), max_size=3),
)
_layers = st.builds(Layer, width=st.integers(1, 4096), optim=st.none() | _optims)


@given(_optims, st.lists(_layers, max_size=4), st.integers(0, 100))
def test_a_nested_config_made_again_from_its_values_is_the_same(
    optim: Optim, layers: list[Layer], warmup: int
) -> None:
    """What a lockfile keeps (``to_dict``) makes the same config again, as the graph cache and
    the workers of ``--jobs`` make it."""
    config = Nested(optim=optim, layers=layers, schedule=Schedule(warmup=warmup))
    values = config.to_dict()
    assert Nested(**values) == config
    assert Nested(**values).to_dict() == values


class Mode(str, enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class ModeConfig(StepConfig):
    mode: Mode = Mode.SLOW
    maybe: Optional[Mode] = None  # noqa: UP045 (as configs of that era wrote it)


def test_the_value_of_an_enum_member_makes_the_member_as_pydantic_did() -> None:
    config = ModeConfig(mode="fast", maybe="slow")
    assert config.mode is Mode.FAST and config.maybe is Mode.SLOW
    assert ModeConfig(mode=Mode.FAST, maybe=Mode.SLOW) == config
    with pytest.raises(DefinitionError, match=r"not a Mode \(one of 'fast', 'slow'\)"):
        ModeConfig(mode="medium")


def test_a_changed_enum_config_shows_values_on_both_sides() -> None:
    from incr.plan import describe_mapping_change

    assert describe_mapping_change({"mode": "fast"}, {"mode": Mode.SLOW}) == (
        "mode: 'fast' -> 'slow'"
    )
