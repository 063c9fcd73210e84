"""Which module-level values count as set at run time (``incr.globalvalues``)."""

from __future__ import annotations

import types
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from incr import globalvalues
from incr.boundnames import global_names

PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers() | st.text(), max_size=4)
        | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


def _typed(value: object) -> object:
    """``value`` with the type of every part of it spelled out (1 and True differ)."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, frozenset):
        return ("frozenset", sorted(repr(_typed(v)) for v in value))
    if isinstance(value, dict):
        return ("dict", sorted((repr(_typed(k)), repr(_typed(v))) for k, v in value.items()))
    return (type(value).__name__, repr(value))


def _module(root: Path, name: str, **values: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(root / (name.replace(".", "/") + ".py"))
    vars(module).update(values)
    return module


@given(value=PLAIN, other=PLAIN)
def test_a_value_counts_when_it_is_no_longer_the_one_its_import_left(
    tmp_path_factory, value, other
) -> None:
    root = tmp_path_factory.mktemp("project").resolve()
    module = _module(root, "pipelines.config", VALUE=value)
    globalvalues.imported(module)
    module.VALUE = type(value)(value) if isinstance(value, list | dict) else value  # a copy
    assert "pipelines/config.py:VALUE" not in globalvalues.changed(root)
    module.VALUE = other
    same = _typed(other) == _typed(value)
    assert ("pipelines/config.py:VALUE" in globalvalues.changed(root)) is not same


def test_equal_values_of_other_types_differ_and_sets_keep_no_order(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    module = _module(root, "pipelines.kinds", FLAG=1, NAMES={"a", "b", "c"}, BIG=list(range(3)))
    globalvalues.imported(module)
    module.NAMES = {"c", "b", "a"}
    assert globalvalues.changed(root) == {}
    module.FLAG = True  # == 1, but another value
    assert list(globalvalues.changed(root)) == ["pipelines/kinds.py:FLAG"]


def test_objects_and_large_values_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    large = list(range(globalvalues.MAX_ITEMS + 1))
    module = _module(root, "pipelines.objects", MODEL=object(), LARGE=large)
    globalvalues.imported(module)
    module.MODEL = object()
    module.LARGE.append(1)
    assert globalvalues.changed(root) == {}


def test_the_names_a_main_block_binds_or_changes_count_by_their_value(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "pipelines").mkdir()
    (root / "pipelines" / "script.py").write_text(
        "EPOCHS = 1\nSETTINGS = {}\nOTHER = 2\n"
        'if __name__ == "__main__":\n'
        "    EPOCHS, (A, *B) = 3, (1, 2)\n"
        "    SETTINGS['lr'] = 0.5\n"
        "    SETTINGS.update(x=1)\n"
        "    args = object()\n",
        encoding="utf-8",
    )
    module = _module(root, "pipelines.script", EPOCHS=3, SETTINGS={"lr": 0.5}, OTHER=2, A=1)
    module.B, module.args = [2], object()
    globalvalues.ran_main(module)
    assert sorted(globalvalues.changed(root)) == [
        f"pipelines/script.py:{name}" for name in ("A", "B", "EPOCHS", "SETTINGS")
    ]


def test_records_count_by_their_class_and_fields(tmp_path: Path) -> None:
    """A dataclass config, a named tuple, a namespace, a pydantic model and an enum member:
    rebound or changed in place, each counts; an equal one made again does not."""
    import argparse
    import collections
    import dataclasses
    import enum

    import pydantic

    @dataclasses.dataclass
    class Config:
        lr: float = 0.1
        layers: tuple[int, ...] = (64, 32)

    class Point(collections.namedtuple("Point", "x y")):
        pass

    class Model(pydantic.BaseModel):
        depth: int = 3

    class Mode(enum.Enum):
        FAST = 1
        SLOW = 2

    root = tmp_path.resolve()
    records = {
        "CFG": Config(),
        "POINT": Point(1, 2),
        "NS": types.SimpleNamespace(a=1),
        "ARGS": argparse.Namespace(epochs=1),
        "MODEL": Model(),
        "MODE": Mode.FAST,
    }
    module = _module(root, "pipelines.records", **records)
    globalvalues.imported(module)
    module.CFG, module.POINT, module.MODEL = Config(), Point(1, 2), Model()
    module.NS, module.ARGS = types.SimpleNamespace(a=1), argparse.Namespace(epochs=1)
    assert globalvalues.changed(root) == {}
    module.CFG.lr = 0.5  # in place
    module.POINT = Point(1, 3)
    module.NS.a = 2
    module.ARGS = argparse.Namespace(epochs=2)
    module.MODEL = Model(depth=4)
    module.MODE = Mode.SLOW
    assert sorted(globalvalues.changed(root)) == [
        f"pipelines/records.py:{name}" for name in sorted(records)
    ]


def test_a_main_block_read_alone_or_with_its_module(tmp_path: Path) -> None:
    """The main block is read from its own lines; a string in it that goes back to the first
    column cuts those short, and the whole module is read instead."""
    root = tmp_path.resolve()
    (root / "pipelines").mkdir()
    (root / "pipelines" / "cut.py").write_text(
        'if __name__ == "__main__":\n    NOTE = """\nfirst column\n"""\n    EPOCHS = 2\nX = 1\n',
        encoding="utf-8",
    )
    module = _module(root, "pipelines.cut", NOTE="\nfirst column\n", EPOCHS=2, X=1)
    globalvalues.ran_main(module)
    assert sorted(globalvalues.changed(root)) == [
        "pipelines/cut.py:EPOCHS",
        "pipelines/cut.py:NOTE",
    ]


def test_attrs_instances_and_omegaconf_configs_count_by_their_fields(tmp_path: Path) -> None:
    """Hydra's configs (OmegaConf) and attrs classes, rebound or changed in place; a config
    whose interpolation cannot be resolved is no plain value."""
    import attrs
    from omegaconf import OmegaConf

    @attrs.define
    class Settings:
        lr: float = 0.1

    root = tmp_path.resolve()
    cfg = OmegaConf.create({"train": {"lr": 0.1, "layers": [64, 32]}, "ref": "${train.lr}"})
    broken = OmegaConf.create({"ref": "${nowhere}"})
    module = _module(root, "pipelines.hydra", CFG=cfg, SETTINGS=Settings(), BROKEN=broken)
    globalvalues.imported(module)
    module.CFG = OmegaConf.create({"train": {"lr": 0.1, "layers": [64, 32]}, "ref": 0.1})
    module.SETTINGS = Settings()
    module.BROKEN = OmegaConf.create({"ref": "${elsewhere}"})
    assert globalvalues.changed(root) == {}  # the same values (the reference resolved)
    module.CFG.train.layers.append(16)
    module.SETTINGS.lr = 0.5
    assert sorted(globalvalues.changed(root)) == [
        "pipelines/hydra.py:CFG",
        "pipelines/hydra.py:SETTINGS",
    ]


def test_a_step_sets_only_plain_values_and_keeps_those_it_set_before(tmp_path: Path) -> None:
    """``set_since`` around a step: a plain value set counts, an object a helper keeps after
    its first use (a pool, a client) does not; a value the step set when it last ran still
    counts while it differs from its import, though it holds it already."""
    root = tmp_path.resolve()
    module = _module(root, "pipelines.shared", N_CLASSES=0, _POOL=None)
    globalvalues.imported(module)
    before = globalvalues.changed(root)
    module.N_CLASSES = 3
    module._POOL = object()
    assert globalvalues.set_since(before, root) == ["pipelines/shared.py:N_CLASSES"]
    again = globalvalues.changed(root)  # a second run in the same process: no change seen
    assert globalvalues.set_since(again, root) == []
    part = "pipelines/shared.py:N_CLASSES"
    assert globalvalues.set_since(again, root, also=[part]) == [part]
    module.N_CLASSES = 0  # as its import left it: no longer set
    assert globalvalues.set_since(again, root, also=[part]) == []


def test_values_a_step_set_are_put_in_the_module_of_another_process(tmp_path: Path) -> None:
    """What a setter's outcome carries (``values_of``) is set in the module of the process
    running a later step (``put_values``); a module not to be found gives nothing."""
    import sys

    from incr.jobrun import put_values, values_of

    module = types.ModuleType("pipelines_values_probe")
    module.N_CLASSES = 3  # type: ignore[attr-defined]
    sys.modules["pipelines_values_probe"] = module
    try:
        carried, digests = values_of(["pipelines_values_probe.py:N_CLASSES", "nowhere/else.py:X"])
        assert carried == {"pipelines_values_probe.py:N_CLASSES": 3}
        assert digests == {}  # a plain value counts by its value
        module.N_CLASSES = 0  # type: ignore[attr-defined]
        put_values(carried)
        assert module.N_CLASSES == 3  # type: ignore[attr-defined]
    finally:
        del sys.modules["pipelines_values_probe"]


def test_the_names_functions_declare_global_are_read_from_the_text(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "EPOCHS = 1\n"
        "def main():\n"
        "    global EPOCHS, LR\n"
        "    EPOCHS = 2\n"
        "class K:\n"
        "    def m(self):\n"
        "        global\tSEED\n"
        "global TOP_LEVEL_IGNORED\n"
    )
    assert globalvalues._global_names(script) == ["EPOCHS", "LR", "SEED"]
    assert globalvalues._global_names(tmp_path / "missing.py") == []
    assert global_names(b"def f():\n    global A,B\n") == ["A", "B"]


def test_the_names_a_top_level_binds_once_are_those_a_literal_may_give() -> None:
    import ast

    from incr.boundnames import bound_once

    tree = ast.parse('A = 1\nB: dict = {"x": 1}\nC = 2\nC = 3\nD = E = []\nif X:\n    F = 1\n')
    assert {k: ast.literal_eval(v) for k, v in bound_once(tree).items()} == {
        "A": 1,
        "B": {"x": 1},
        "D": [],
        "E": [],
    }
