"""incr/objectcode.py: the globals of a pickle stream, which of them are project code, the
digest of that code, and how outputs record them (``Artifact.refs``)."""

from __future__ import annotations

import collections
import functools
import json
import pickle
import pickletools

import pytest

from incr import lockfile
from incr.errors import LockfileError
from incr.fingerprint import CodeClosure
from incr.lockfile import entry_from_json as _entry_from_json
from incr.lockfile import entry_to_json as _entry_to_json
from incr.model import Artifact, Facts, LockEntry
from incr.objectcode import input_identity, object_code, pickle_globals, project_refs
from incr.store import Store

HERE = __name__


class Scaler:
    def __init__(self) -> None:
        self.mean = 2.0

    def transform(self, xs: list[float]) -> list[float]:
        return [x - self.mean for x in xs]


class Outer:
    class Inner:
        pass


def double(value: int) -> int:
    return 2 * value


def triple(value: int) -> int:
    return 3 * value


PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


# --------------------------------------------------------------------------- pickle_globals


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_instance_names_its_class(protocol):
    assert (HERE, "Scaler") in pickle_globals(pickle.dumps(Scaler(), protocol=protocol))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_functions_in_a_dict_and_in_a_partial(protocol):
    value = {"f": double, "p": functools.partial(triple, 4), "n": [1, 2]}
    found = pickle_globals(pickle.dumps(value, protocol=protocol))
    assert (HERE, "double") in found
    assert (HERE, "triple") in found
    assert ("functools", "partial") in found


def tops(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The globals of this module, by top-level name, in order."""
    seen = [(module, qualname.split(".")[0]) for module, qualname in found if module == HERE]
    return list(dict.fromkeys(seen))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_method_and_a_nested_class_name_their_top_level_definition(protocol):
    found = pickle_globals(pickle.dumps([Scaler.transform, Outer.Inner()], protocol=protocol))
    assert tops(found) == [(HERE, "Scaler"), (HERE, "Outer")]
    if protocol >= 4:  # a qualified name; before, getattr(Scaler, "transform")
        assert (HERE, "Scaler.transform") in found
        assert (HERE, "Outer.Inner") in found


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_names_fetched_from_the_memo_resolve(protocol):
    """The second class of a module reuses the module name from the memo (``BINGET``)."""
    data = pickle.dumps([Scaler(), double, Outer.Inner(), Scaler(), triple], protocol=protocol)
    if protocol >= 4:
        ops = [op.name for op, _, _ in pickletools.genops(data)]
        assert "BINGET" in ops and "STACK_GLOBAL" in ops
    found = pickle_globals(data)
    assert tops(found) == [(HERE, "Scaler"), (HERE, "double"), (HERE, "Outer"), (HERE, "triple")]


def test_a_string_that_looks_like_a_module_is_not_a_global():
    data = pickle.dumps(["pipelines.scalers", "MeanScaler", {"k": "pipelines.x"}], protocol=5)
    assert pickle_globals(data) == []


def test_plain_data_names_no_globals():
    assert pickle_globals(pickle.dumps({"a": [1, 2.5, None], "b": (1, "x")}, protocol=5)) == []


def test_stdlib_objects_name_their_classes():
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=5)
    assert pickle_globals(data) == [("collections", "OrderedDict")]


def test_bytes_that_are_not_a_pickle_raise_value_error():
    with pytest.raises(ValueError):
        pickle_globals(pickle.dumps(Scaler(), protocol=5)[:-1])


# --------------------------------------------------------------------------- project_refs


def test_project_refs_keep_project_modules_only():
    names = [
        ("pipelines.scalers", "MeanScaler"),
        ("pipelines.scalers", "MeanScaler.transform"),
        ("pipelines.funcs", "offset"),
        ("__main__", "Local"),
        ("collections", "OrderedDict"),
        ("incr.api", "StepConfig"),
        ("sklearn.pipeline", "Pipeline"),
        ("builtins", "getattr"),
    ]
    is_project = {"pipelines.scalers", "pipelines.funcs", "__main__", "incr.api"}.__contains__
    assert project_refs(names, is_project) == (
        "pipelines.funcs:offset",
        "pipelines.scalers:MeanScaler",
    )


def test_a_method_counts_by_its_class():
    names = [("pipelines.scalers", "MeanScaler.transform"), ("pipelines.a", "Outer.Inner")]
    refs = project_refs(names, lambda module: True)
    assert refs == ("pipelines.a:Outer", "pipelines.scalers:MeanScaler")


def test_no_project_globals_give_no_refs():
    assert project_refs([("numpy", "ndarray")], lambda module: False) == ()


# --------------------------------------------------------------------------- object_code


def closures(table: dict[tuple[str, str], CodeClosure]):
    asked: list[tuple[str, str]] = []

    def closure(module: str, name: str) -> CodeClosure:
        asked.append((module, name))
        return table.get((module, name), CodeClosure({}, frozenset()))

    return closure, asked


SCALER = CodeClosure({"pipelines/scalers.py:MeanScaler": "aa"}, frozenset({"numpy"}))


def version(package: str) -> tuple[str, str]:
    return {"numpy": ("numpy", "2.0")}.get(package, (package, "unknown"))


def test_object_code_follows_the_code_and_its_packages():
    closure, _ = closures({("pipelines.scalers", "MeanScaler"): SCALER})
    code = object_code(["pipelines.scalers:MeanScaler"], closure, version)
    assert len(code) == 32
    edited = CodeClosure({"pipelines/scalers.py:MeanScaler": "bb"}, frozenset({"numpy"}))
    closure2, _ = closures({("pipelines.scalers", "MeanScaler"): edited})
    assert object_code(["pipelines.scalers:MeanScaler"], closure2, version) != code
    upgraded = object_code(["pipelines.scalers:MeanScaler"], closure, lambda p: (p, "2.1"))
    assert upgraded != code


def test_object_code_of_a_name_incr_cannot_see_is_its_whole_module():
    module = CodeClosure({"pipelines/made.py:*": "cc"}, frozenset())
    closure, asked = closures({("pipelines.made", "*"): module})
    code = object_code(["pipelines.made:Dynamic"], closure, version)
    assert asked == [("pipelines.made", "Dynamic"), ("pipelines.made", "*")]
    closure2, _ = closures({("pipelines.made", "*"): CodeClosure({"p:*": "dd"}, frozenset())})
    assert object_code(["pipelines.made:Dynamic"], closure2, version) != code


def test_input_identity_is_the_digest_alone_without_code():
    assert input_identity("d" * 64, "") == "d" * 64
    assert input_identity("d" * 64, "c" * 32) == "d" * 64 + "+" + "c" * 32


# --------------------------------------------------------------------------- Artifact.refs


def test_artifact_without_refs_encodes_as_before():
    assert Artifact("pickle", "ab").encode() == "pickle:ab"
    assert Artifact.decode("pickle:ab") == Artifact("pickle", "ab")


def test_artifact_refs_round_trip():
    artifact = Artifact("pickle", "ab", ("pipelines.funcs:offset", "pipelines.scalers:Mean"))
    text = artifact.encode()
    assert text == "pickle:ab+pipelines.funcs:offset+pipelines.scalers:Mean"
    assert Artifact.decode(text) == artifact


@pytest.mark.parametrize("text", ["pickle:ab+", "pickle:+x:y", "pickle:ab++x:y"])
def test_artifact_with_an_empty_ref_is_refused(text):
    with pytest.raises(ValueError):
        Artifact.decode(text)


def entry(*refs: str) -> LockEntry:
    facts = Facts({"python": "3.11"}, {}, {}, {})
    return LockEntry("flow.fit", "f" * 32, facts, {"output": Artifact("pickle", "a" * 64, refs)})


def test_lockfile_round_trips_refs():
    text = lockfile.dumps([entry("pipelines.scalers:MeanScaler")])
    assert f'output = "pickle:{"a" * 64}+pipelines.scalers:MeanScaler"' in text
    assert lockfile.loads(text)["flow.fit"] == entry("pipelines.scalers:MeanScaler")


def test_lockfile_without_refs_is_unchanged():
    assert f'output = "pickle:{"a" * 64}"\n' in lockfile.dumps([entry()])


@pytest.mark.parametrize("ref", ["pipelines.scalers", "a b:C", "pipelines.:X", "1x:Y"])
def test_lockfile_refuses_a_malformed_ref(ref):
    text = lockfile.dumps([entry(ref)])
    with pytest.raises(LockfileError, match=r"outputs\.output"):
        lockfile.loads(text)


def test_run_cache_records_keep_refs(tmp_path):
    store = Store(tmp_path / ".pipecache")
    digest = store.put(pickle.dumps(Scaler(), protocol=5))
    outputs = {"output": Artifact("pickle", digest, ("pipelines.scalers:MeanScaler",))}
    store.record_run("f" * 32, outputs, {}, 1.0, "flow.fit")
    assert store.lookup_runs("f" * 32)[0].outputs == outputs


def test_parsed_lockfile_copy_keeps_refs():
    kept = entry("pipelines.scalers:MeanScaler")
    assert _entry_from_json(kept.key, json.loads(json.dumps(_entry_to_json(kept)))) == kept
