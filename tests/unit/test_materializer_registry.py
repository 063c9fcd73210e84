"""incr/materializers.py: the registry (which materializer stores a value) and matbase (folders
packed into one object)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from incr import Materializer, materializers, register_materializer
from incr.errors import MaterializeError
from incr.matbase import Declined, pack_folder, unpack_folder


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test registers into a registry of its own (entry points not loaded yet)."""
    monkeypatch.setattr(materializers, "_registry", materializers._Registry())


class Animal:
    def __init__(self, name):
        self.name = name


class Dog(Animal):
    pass


class TextMaterializer(Materializer):
    types = (Animal,)
    kind = "animal"

    def save(self, obj, folder):
        (folder / "name.txt").write_text(obj.name)
        (folder / "sub").mkdir()
        (folder / "sub" / "class.txt").write_text(type(obj).__name__)

    def load(self, folder):
        cls = {"Animal": Animal, "Dog": Dog}[(folder / "sub" / "class.txt").read_text()]
        return cls((folder / "name.txt").read_text())


class DogMaterializer(TextMaterializer):
    types = (Dog,)
    kind = "dog"


class Picky(Materializer):
    types = (list,)
    kind = "picky"

    def save(self, obj, folder):
        raise Declined("it has no red items")


def kind_of(value, annotation=None, override=None):
    return materializers.encode(value, "s.out", annotation, override).kind


def test_a_registered_class_stores_its_type_and_loads_it_back():
    register_materializer(TextMaterializer)
    stored = materializers.encode(Dog("rex"), "s.out")
    assert stored.kind == "animal@1"
    assert stored.owner is TextMaterializer
    assert stored.names == [(__name__, "TextMaterializer")]
    back = materializers.decode("animal@1", b"".join(stored.parts))
    assert type(back) is Dog and back.name == "rex"


def test_the_most_specific_class_of_the_value_wins():
    register_materializer(DogMaterializer)
    register_materializer(TextMaterializer)  # registered later, but for the base class
    assert kind_of(Dog("rex")) == "dog@1"
    assert kind_of(Animal("cat")) == "animal@1"


def test_the_annotation_comes_before_the_value_type():
    register_materializer(TextMaterializer)
    register_materializer(DogMaterializer)
    assert kind_of(Dog("rex"), annotation=Animal) == "animal@1"
    assert kind_of(Dog("rex"), annotation=Dog) == "dog@1"
    assert kind_of([1, 2], annotation=Animal) == "json"  # not an instance: by its type


def test_an_override_comes_first_and_a_declined_one_falls_back_with_a_note():
    register_materializer(TextMaterializer)
    assert kind_of(Dog("rex"), override=DogMaterializer) == "dog@1"
    stored = materializers.encode([1, {2}], "step s, output out", override=Picky)
    assert stored.kind == "pickle"
    assert stored.notes == [
        "step s, output out: not stored as picky (it has no red items); stored as pickle"
    ]


def test_later_registrations_of_one_class_come_first_and_builtins_last():
    class Mine(Materializer):
        types = (dict,)
        kind = "mine"

        def save_bytes(self, obj):
            return (repr(sorted(obj.items())).encode(),)

    register_materializer(Mine)
    assert kind_of({"a": 1}) == "mine@1"
    assert kind_of([1]) == "json"


def test_registering_checks_the_class():
    class NoKind(Materializer):
        types = (int,)

    class Reserved(Materializer):
        types = (int,)
        kind = "file"

    class NoTypes(Materializer):
        kind = "none"

    class Taken(Materializer):
        types = (int,)
        kind = "parquet"

    for bad in (NoKind, Reserved, NoTypes, Taken, int):
        with pytest.raises(MaterializeError):
            register_materializer(bad)


def test_a_taken_kind_is_an_error_but_the_same_class_again_replaces_it():
    register_materializer(TextMaterializer)
    register_materializer(TextMaterializer)
    clash = type("Clash", (TextMaterializer,), {"types": (int,), "kind": "animal"})
    with pytest.raises(MaterializeError, match=r"kind 'animal'.*is taken"):
        register_materializer(clash)


def test_decoding_an_unknown_kind_or_another_version_refuses():
    register_materializer(TextMaterializer)
    with pytest.raises(ValueError, match="no materializer of kind 'nope'"):
        materializers.decode("nope@1", b"")
    with pytest.raises(ValueError, match=r"stored as 'animal@2', but .* now stores 'animal@1'"):
        materializers.decode("animal@2", b"")
    with pytest.raises(ValueError, match="now stores 'animal@1'"):
        materializers.decode("animal", b"")  # not as it records it


def test_a_failing_materializer_is_a_user_error_naming_the_output():
    class Broken(Materializer):
        types = (Animal,)
        kind = "broken"

        def save(self, obj, folder):
            raise RuntimeError("disk on fire")

    register_materializer(Broken)
    with pytest.raises(MaterializeError, match=r"s.out: materializer .*Broken.*disk on fire"):
        materializers.encode(Animal("x"), "s.out")


def test_producer_classes_follow_the_annotations():
    register_materializer(TextMaterializer)
    register_materializer(DogMaterializer)
    assert materializers.producer_classes({"output": int}, {}) == []
    assert materializers.producer_classes({"output": Dog}, {}) == [
        DogMaterializer,
        TextMaterializer,
    ]
    both = {TextMaterializer, DogMaterializer}
    assert set(materializers.producer_classes({"output": None}, {})) == both
    assert materializers.producer_classes({}, {}) == []  # no outputs
    assert materializers.producer_classes({"output": None}, {"output": Picky}) == [Picky]


def test_an_entry_point_registers_a_package_materializer(tmp_path, monkeypatch):
    """A tiny installed distribution (a dist-info folder on sys.path) declaring one."""
    site = tmp_path / "site"
    dist = site / "incr_demo_formats-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: incr-demo-formats\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[incr.materializers]\nfraction = incr_demo_formats:FractionMaterializer\n"
    )
    (site / "incr_demo_formats.py").write_text(
        textwrap.dedent(
            """\
            from fractions import Fraction

            from incr import Materializer


            class FractionMaterializer(Materializer):
                types = (Fraction,)
                kind = "fraction"

                def save(self, obj, folder):
                    (folder / "value.txt").write_text(str(obj))

                def load(self, folder):
                    return Fraction((folder / "value.txt").read_text())
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    from fractions import Fraction

    stored = materializers.encode(Fraction(1, 3), "s.out")
    assert stored.kind == "fraction@1"
    assert materializers.decode("fraction@1", b"".join(stored.parts)) == Fraction(1, 3)
    monkeypatch.delitem(sys.modules, "incr_demo_formats")


def test_a_packed_folder_is_its_sorted_files_and_nothing_else(tmp_path: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, order in ((one, ["b", "a/c"]), (two, ["a/c", "b"])):
        for rel in order:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(rel.encode() * 3)
    assert pack_folder(one) == pack_folder(two)
    back = tmp_path / "back"
    unpack_folder(pack_folder(one), back)
    assert (back / "a" / "c").read_bytes() == b"a/ca/ca/c"
    with pytest.raises(ValueError):
        unpack_folder(pack_folder(one)[:-1], tmp_path / "short")
    with pytest.raises(ValueError):
        unpack_folder(b'incr-folder/1\n[["../x", 0]]\n', tmp_path / "out")


def test_builtin_materializers_save_and_load_folders_too(tmp_path: Path):
    """The folder API works for the built-in ones (a ZenML-style caller uses it)."""
    import numpy as np

    npy = materializers.NpyMaterializer()
    npy.save(np.arange(3), tmp_path)
    assert (tmp_path / "array.npy").is_file()
    assert npy.load(tmp_path).tolist() == [0, 1, 2]


def test_a_missing_optional_package_falls_back_to_pickle_with_a_note(monkeypatch):
    """pyarrow or skops not installed (an import of them fails): pickle, and the extra to
    install, never a failure."""
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import LinearRegression

    for name in ("pyarrow.parquet", "skops", "skops.io"):  # pandas itself may use pyarrow
        monkeypatch.setitem(sys.modules, name, None)
    frame = pd.DataFrame({"a": [1, 2]})
    stored = materializers.encode(frame, "s.frame")
    assert stored.kind == "pickle"
    assert stored.notes == [
        "s.frame: not stored as parquet (pyarrow is not installed: pip install "
        "'incr[pandas]'); stored as pickle"
    ]
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    stored = materializers.encode(model, "s.model")
    assert stored.kind == "pickle"
    assert "skops is not installed: pip install 'incr[sklearn]'" in stored.notes[0]
