"""history: two lockfiles compared step by step in the words of status; params flattened;
plan's words for a package used or no longer used."""

from __future__ import annotations

from incr.history import ParamChange, diff_locks, diff_params, flatten
from incr.model import Artifact, Facts, LockEntry
from incr.plan import describe_code_change


def entry(key: str, code: str = "a", lr: float = 0.1, out: str = "d1") -> LockEntry:
    facts = Facts({"pipelines/m.py:train": code}, {"opt": {"lr": lr}}, {"rows": "i1"}, {})
    return LockEntry(key, f"fp-{code}-{lr}-{out}", facts, {"output": Artifact("json", out)})


def test_diff_names_new_removed_and_changed_steps() -> None:
    old = {"m.load": entry("m.load"), "m.train": entry("m.train"), "m.gone": entry("m.gone")}
    new = {
        "m.load": entry("m.load"),
        "m.train": entry("m.train", code="b", lr=0.2, out="d2"),
        "m.new": entry("m.new"),
    }

    changes = {c.key: [str(r) for r in c.reasons] for c in diff_locks(old, new)}

    assert changes == {
        "m.gone": ["removed step"],
        "m.new": ["new step"],
        "m.train": [
            "code changed (train in pipelines/m.py)",
            "config changed (opt.lr: 0.1 -> 0.2)",
            "outputs changed (output)",
        ],
    }


def test_params_are_flattened_per_step() -> None:
    old = {"m.train": entry("m.train")}
    new = {"m.train": entry("m.train", lr=0.2), "m.new": entry("m.new")}

    assert flatten({"a": {"b": 1, "c": {}}, "d": 2}) == {"a.b": 1, "a.c": {}, "d": 2}
    assert diff_params(old, new) == [
        ParamChange("m.new", "opt.lr", None, 0.1, (False, True)),
        ParamChange("m.train", "opt.lr", 0.1, 0.2, (True, True)),
    ]


def test_a_package_no_longer_used_or_newly_used_reads_as_such() -> None:
    assert describe_code_change({"pkg:scikit-learn": "1.9.1"}, {}) == "stopped using scikit-learn"
    assert describe_code_change({}, {"pkg:numpy": "2.1.0"}) == "started using numpy 2.1.0"
    local = {"pkg:common": "files:da0f5c11"}  # its digest would tell the reader nothing
    assert describe_code_change({}, local) == "started using common's local code"
    assert describe_code_change({"pkg:numpy": "2.0"}, {"pkg:numpy": "2.1"}) == "numpy 2.0 -> 2.1"
