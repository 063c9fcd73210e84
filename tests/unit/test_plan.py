"""incr/plan.py: cache precedence, the decide ladder and its reasons, upstream inputs."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr.fingerprint import fingerprint
from incr.model import Artifact, Facts, InputRef, LockEntry, Reason, StepNode
from incr.plan import (
    Verdict,
    cache_enabled,
    decide,
    describe_code_change,
    describe_mapping_change,
    file_upstreams,
    upstream_inputs,
)
from incr.plan import same_facts as _same_facts


def node(name="double", *, inputs=None, enable_cache=None, deps=(), outs=()):
    return StepNode(
        pipeline="flow",
        name=name,
        func_name=name,
        source_file="pipelines/flow.py",
        config={},
        inputs=inputs or {},
        outputs=("output",),
        deps=deps,
        outs=outs,
        enable_cache=enable_cache,
    )


FACTS = Facts(
    code={"pipelines/flow.py:double": "a" * 32, "pkg:scikit-learn": "1.8.0"},
    config={"factor": 2},
    inputs={"rows": "r" * 64},
    deps={"data/raw.csv": "d" * 64},
)
TRANSFORM_INPUT = {"rows": InputRef("transform", "output")}


def locked(facts=FACTS, outputs=None):
    return LockEntry("flow.double", fingerprint(facts), facts, outputs or {})


def with_(**changes):
    return Facts(**{**FACTS.__dict__, **changes})


# --------------------------------------------------------------------------- cache_enabled


@pytest.mark.parametrize(
    ("run", "pipeline", "step"),
    list(itertools.product([None, True, False], [True, False], [None, True, False])),
)
def test_cache_enabled_precedence(run, pipeline, step):
    if run is not None:
        expected = run  # the run override beats everything
    elif not pipeline:
        expected = False  # @pipeline(enable_cache=False) beats the step
    elif step is not None:
        expected = step
    else:
        expected = True  # the default
    assert cache_enabled(node(enable_cache=step), pipeline, run) is expected


def test_cache_enabled_table_spot_checks():
    assert cache_enabled(node(enable_cache=False), True, True) is True
    assert cache_enabled(node(enable_cache=True), False, None) is False
    assert cache_enabled(node(enable_cache=True), True, False) is False
    assert cache_enabled(node(enable_cache=False), True, None) is False
    assert cache_enabled(node(), True, None) is True


# --------------------------------------------------------------------------- decide


def test_clean_when_nothing_changed():
    assert decide(node(inputs=TRANSFORM_INPUT), locked(), FACTS, enabled=True) == []


def test_a_fingerprint_no_rung_explains_still_makes_the_step_dirty():
    entry = LockEntry("flow.double", "0" * 32, FACTS, {})
    reasons = decide(node(inputs=TRANSFORM_INPUT), entry, FACTS, enabled=True)
    assert reasons == [Reason(Reason.FINGERPRINT)]


def test_config_values_are_compared_as_json():
    old = with_(config={"factor": 2})
    reasons = decide(node(), locked(old), with_(config={"factor": 2.0}), enabled=True)
    assert [str(r) for r in reasons] == ["config changed (factor: 2 -> 2.0)"]


def test_new_step():
    reasons = decide(node(), None, FACTS, enabled=True)
    assert reasons == [Reason(Reason.NEW)]
    assert str(reasons[0]) == "new step"


def test_new_step_keeps_forced_and_disabled_first():
    reasons = decide(node(), None, FACTS, enabled=False, forced=True)
    assert [r.kind for r in reasons] == [Reason.FORCED, Reason.CACHE_DISABLED, Reason.NEW]


def test_code_change_names_the_definition_and_file():
    facts = with_(code={**FACTS.code, "pipelines/flow.py:double": "b" * 32})
    reasons = decide(node(), locked(), facts, enabled=True)
    assert reasons == [Reason(Reason.CODE, "double in pipelines/flow.py")]
    assert str(reasons[0]) == "code changed (double in pipelines/flow.py)"


def test_code_change_names_a_package_version():
    facts = with_(code={**FACTS.code, "pkg:scikit-learn": "1.9.1"})
    reasons = decide(node(), locked(), facts, enabled=True)
    assert [str(r) for r in reasons] == ["code changed (scikit-learn 1.8.0 -> 1.9.1)"]


def test_code_change_added_and_removed_parts():
    old = {"pipelines/flow.py:double": "a", "pipelines/helpers.py:gone": "g"}
    new = {"pipelines/flow.py:double": "a", "pipelines/helpers.py:scale": "s", "pkg:numpy": "2.0"}
    assert describe_code_change(old, new) == (
        "-gone in pipelines/helpers.py, +scale in pipelines/helpers.py, started using numpy 2.0"
    )
    assert describe_code_change(
        {"pipelines/helpers.py:*": "1"}, {"pipelines/helpers.py:*": "2"}
    ) == ("module in pipelines/helpers.py")


def test_config_change():
    reasons = decide(node(), locked(), with_(config={"factor": 5}), enabled=True)
    assert reasons == [Reason(Reason.CONFIG, "factor: 2 -> 5")]
    assert str(reasons[0]) == "config changed (factor: 2 -> 5)"


def test_config_change_details():
    assert describe_mapping_change({"a": "x", "b": 1}, {"a": "y", "c": [1]}) == (
        "a: 'x' -> 'y', b: 1 -> (unset), c: (unset) -> [1]"
    )
    assert describe_mapping_change({"a": None}, {"a": 0}) == "a: None -> 0"


def test_a_config_change_inside_a_nested_record_is_named_by_its_path():
    old = {"optim": {"lr": 0.1, "sched": {"steps": 7}}, "n": 1}
    new = {"optim": {"lr": 0.1, "sched": {"steps": 8}, "wd": 0.0}, "n": 1}
    assert describe_mapping_change(old, new) == (
        "optim.sched.steps: 7 -> 8, optim.wd: (unset) -> 0.0"
    )
    # an empty one, a list, a tuple as the fingerprint marks it: shown whole
    assert describe_mapping_change({"o": {}}, {"o": {"a": 1}}) == "o: {} -> {'a': 1}"
    assert describe_mapping_change({"o": {"a": 1}}, {"o": [1]}) == "o: {'a': 1} -> [1]"
    old_t, new_t = {"t": {"<tuple>": [1]}}, {"t": {"<tuple>": [2]}}
    assert describe_mapping_change(old_t, new_t) == "t: (1,) -> (2,)"
    # a dataclass's fields in their own order: by path too, whole when only the order changed
    ordered = {"head": {"<dict in order>": [["size", 5], ["out", 15]]}}
    assert (
        describe_mapping_change(ordered, {"head": {"size": 5, "out": 20}}) == "head.out: 15 -> 20"
    )
    moved = {"head": {"<dict in order>": [["out", 15], ["size", 5]]}}
    assert describe_mapping_change(ordered, moved) == (
        "head: {'size': 5, 'out': 15} -> {'out': 15, 'size': 5}"
    )


def test_config_key_added_with_value_none_is_named():
    reasons = decide(node(), locked(), with_(config={"factor": 2, "label": None}), enabled=True)
    assert [str(r) for r in reasons] == ["config changed (label: (unset) -> None)"]


def test_dep_change():
    facts = with_(deps={"data/raw.csv": "missing", "data/new.csv": "n" * 64})
    reasons = decide(node(), locked(), facts, enabled=True)
    assert reasons == [Reason(Reason.DEP, "data/new.csv, data/raw.csv")]
    assert str(reasons[0]) == "dep changed (data/new.csv, data/raw.csv)"


def test_input_change_names_the_upstream_step():
    facts = with_(inputs={"rows": "s" * 64})
    reasons = decide(node(inputs=TRANSFORM_INPUT), locked(), facts, enabled=True)
    assert [str(r) for r in reasons] == ["input changed (from transform)"]


def test_input_change_from_two_steps_is_sorted_and_deduplicated():
    inputs = {
        "a": InputRef("zeta", "x"),
        "b": InputRef("alpha", "y"),
        "c": InputRef("alpha", "z"),
    }
    old = with_(inputs={"a": "1", "b": "2", "c": "3"})
    new = with_(inputs={"a": "9", "b": "8", "c": "7"})
    reasons = decide(node(inputs=inputs), locked(old), new, enabled=True)
    assert reasons == [Reason(Reason.INPUT, "from alpha, from zeta")]


def _parts(*producers):
    return {f"parts[{i}]": InputRef(p, "output") for i, p in enumerate(producers)}


def _given(*digests):
    return with_(inputs={f"parts[{i}]": d for i, d in enumerate(digests)})


@pytest.mark.parametrize(
    ("before", "now", "producers", "said"),
    [
        # a part added first: the others moved, only the new one is named
        (("1", "2", "3"), ("0", "1", "2", "3"), ("p0", "p1", "p2", "p3"), "from p0"),
        # the first part removed: named by the place it had
        (("1", "2", "3"), ("2", "3"), ("p2", "p3"), "parts[0] no longer given"),
        # the last part removed
        (("1", "2", "3"), ("1", "2"), ("p1", "p2"), "parts[2] no longer given"),
        # one part changed in its place
        (("1", "2", "3"), ("1", "9", "3"), ("p1", "p2", "p3"), "from p2"),
        # the same parts in another order: the order is what changed
        (("1", "2", "3"), ("3", "2", "1"), ("p3", "p2", "p1"), "order of parts"),
        # one of two parts of the same value removed: which one cannot be told
        (
            ("1", "2", "1"),
            ("2", "1"),
            ("p2", "p3"),
            "one of 2 equal inputs of parts no longer given",
        ),
    ],
    ids=["added-first", "first-removed", "last-removed", "changed", "reordered", "equal-removed"],
)
def test_a_fan_in_change_names_what_came_or_went(before, now, producers, said):
    reasons = decide(
        node(inputs=_parts(*producers)), locked(_given(*before)), _given(*now), enabled=True
    )
    assert reasons == [Reason(Reason.INPUT, said)]


def test_parts_moved_by_one_not_known_yet_are_no_change():
    """A part added first whose producer has not run: the others moved by one place, which
    is the waiting, not a change of theirs."""
    nodes = node(inputs=_parts("p0", "p1", "p2", "p3"))
    now = with_(inputs={"parts[1]": "1", "parts[2]": "2", "parts[3]": "3"})  # parts[0]: waiting
    reasons = decide(nodes, locked(_given("1", "2", "3")), now, enabled=True, waiting_on=["p0"])
    assert reasons == [Reason(Reason.UPSTREAM, "p0")]


def test_an_input_not_known_yet_is_not_a_change():
    # facts.inputs holds only known inputs; the unknown one shows as waiting instead
    reasons = decide(
        node(inputs=TRANSFORM_INPUT),
        locked(),
        with_(inputs={}),
        enabled=True,
        waiting_on=["transform"],
    )
    assert reasons == [Reason(Reason.UPSTREAM, "transform")]
    assert str(reasons[0]) == "after transform"


def test_missing_outputs():
    reasons = decide(node(), locked(), FACTS, enabled=True, missing=["output", "extra"])
    assert reasons == [Reason(Reason.MISSING, "output, extra")]
    assert str(reasons[0]) == "output missing from cache (output, extra)"


def test_modified_outs():
    reasons = decide(node(), locked(), FACTS, enabled=True, modified=["reports/summary.json"])
    assert reasons == [Reason(Reason.MODIFIED, "reports/summary.json")]
    assert str(reasons[0]) == "output modified (reports/summary.json)"


def test_forced():
    reasons = decide(node(), locked(), FACTS, enabled=True, forced=True)
    assert reasons == [Reason(Reason.FORCED)]
    assert str(reasons[0]) == "forced"


def test_cache_disabled():
    reasons = decide(node(), locked(), FACTS, enabled=False)
    assert reasons == [Reason(Reason.CACHE_DISABLED)]
    assert str(reasons[0]) == "cache disabled"


def test_every_reason_in_ladder_order():
    facts = Facts(
        code={"pipelines/flow.py:double": "b" * 32},
        config={"factor": 3},
        inputs={"rows": "s" * 64},
        deps={"data/raw.csv": "e" * 64},
    )
    reasons = decide(
        node(inputs=TRANSFORM_INPUT),
        locked(),
        facts,
        enabled=False,
        forced=True,
        missing=["output"],
        modified=["reports/out.json"],
        waiting_on=["load"],
    )
    assert [r.kind for r in reasons] == [
        Reason.FORCED,
        Reason.CACHE_DISABLED,
        Reason.CODE,
        Reason.CONFIG,
        Reason.DEP,
        Reason.INPUT,
        Reason.UPSTREAM,
        Reason.MISSING,
        Reason.MODIFIED,
    ]


def test_decide_does_not_mutate_its_arguments():
    facts = with_(config={"factor": 5})
    entry = locked()
    decide(node(), entry, facts, enabled=True)
    assert facts.config == {"factor": 5} and entry.facts == FACTS


def test_verdict():
    clean = Verdict(node(), (), "f" * 32)
    assert not clean.dirty
    dirty = Verdict(node(), (Reason(Reason.UPSTREAM, "load"), Reason(Reason.CONFIG, "a: 1 -> 2")))
    assert dirty.dirty
    assert dirty.own_reasons == (Reason(Reason.CONFIG, "a: 1 -> 2"),)
    assert dirty.fingerprint is None


# --------------------------------------------------------------------------- upstream inputs


def _lock(key, **outputs):
    return LockEntry(
        key, "0" * 32, Facts({}, {}, {}, {}), {k: Artifact("json", v) for k, v in outputs.items()}
    )


def test_upstream_inputs_from_clean_steps():
    n = node(inputs={"X": InputRef("load", "X"), "y": InputRef("load", "y")})
    locks = {"flow.load": _lock("flow.load", X="x" * 64, y="y" * 64)}
    assert upstream_inputs(n, locks, dirty=set()) == ({"X": "x" * 64, "y": "y" * 64}, [])


def test_upstream_inputs_wait_on_dirty_steps():
    n = node(inputs={"rows": InputRef("load", "output"), "scale": InputRef("config", "output")})
    locks = {
        "flow.load": _lock("flow.load", output="l" * 64),
        "flow.config": _lock("flow.config", output="c" * 64),
    }
    inputs, waiting = upstream_inputs(n, locks, dirty={"flow.load"})
    assert inputs == {"scale": "c" * 64}
    assert waiting == ["load"]


def test_upstream_inputs_wait_on_unlocked_steps_and_missing_outputs():
    n = node(
        inputs={
            "a": InputRef("never_ran", "output"),
            "b": InputRef("load", "gone"),
            "c": InputRef("load", "output"),
        }
    )
    locks = {"flow.load": _lock("flow.load", output="l" * 64)}
    inputs, waiting = upstream_inputs(n, locks, dirty=set())
    assert inputs == {"c": "l" * 64}
    assert waiting == ["load", "never_ran"]


def test_upstream_inputs_only_look_in_the_own_pipeline():
    n = node(inputs={"rows": InputRef("load", "output")})
    locks = {"other.load": _lock("other.load", output="l" * 64)}
    assert upstream_inputs(n, locks, dirty=set()) == ({}, ["load"])


def test_file_upstreams():
    n = node("train", deps=("data/features", "data/raw.csv"))
    producers = {
        "data/features/a.npy": "featurize",
        "data/raw.csv": "download",
        "data/other.csv": "unrelated",
        "data": "train",  # its own outs never count
    }
    assert file_upstreams(n, producers, dirty={"flow.featurize", "flow.unrelated"}) == ["featurize"]
    assert file_upstreams(n, producers, dirty={"flow.featurize", "flow.download"}) == [
        "download",
        "featurize",
    ]
    assert file_upstreams(n, producers, dirty=set()) == []


def test_same_facts_compares_configs_as_json():
    # 1, 1.0 and True are equal in Python, and three different fingerprints.
    base = Facts({"a:f": "d1"}, {"k": 1}, {"x": "i"}, {"data": "h"})
    assert _same_facts(base, Facts({"a:f": "d1"}, {"k": 1}, {"x": "i"}, {"data": "h"}))
    assert not _same_facts(base, Facts({"a:f": "d1"}, {"k": 1.0}, {"x": "i"}, {"data": "h"}))
    assert not _same_facts(base, Facts({"a:f": "d1"}, {"k": True}, {"x": "i"}, {"data": "h"}))
    assert not _same_facts(base, Facts({"a:f": "d2"}, {"k": 1}, {"x": "i"}, {"data": "h"}))
    assert not _same_facts(base, Facts({"a:f": "d1"}, {"k": 1}, {}, {"data": "h"}))
    assert not _same_facts(base, Facts({"a:f": "d1"}, {"k": 1}, {"x": "i"}, {}))


def test_stale_locks_drops_gone_pipelines_and_steps():
    from incr.plan import stale_locks

    keys = ["a.x", "a.y", "b.z", "c.w"]
    assert stale_locks(keys, {"a": {"x"}, "b": None}) == ["a.y", "c.w"]
    assert stale_locks(keys, {}) == keys


_PLACES = ["a", "b", "c", "parts[0]", "parts[1]"]
_values = st.sampled_from(["1" * 64, "2" * 64, "3" * 64, "4" * 64])


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_inputs_replaced_in_place_are_named_as_the_general_rule_names_them(
    data: st.DataObject,
) -> None:
    """The quick answer for inputs replaced in place is the one the rule for moved inputs
    gives, whatever the places, values and repeats."""
    from incr.faninreasons import _moved_inputs, changed_inputs

    places = data.draw(st.lists(st.sampled_from(_PLACES), unique=True))
    keys = data.draw(st.lists(st.sampled_from([*_PLACES, "gone"]), unique=True))
    before = {k: data.draw(_values) for k in keys}
    if data.draw(st.booleans()):  # the same places, other values: most edits
        now = {k: data.draw(_values) for k in keys}
    else:
        now = data.draw(st.dictionaries(st.sampled_from(_PLACES), _values))
    step = node("s", inputs={p: InputRef(f"up{i}", "output") for i, p in enumerate(places)})
    old, new = Facts({}, {}, before, {}), Facts({}, {}, now, {})
    changed = [p for p, d in now.items() if before.get(p) != d]
    gone = [p for p in before.keys() - now.keys() if p not in step.inputs]
    expected = _moved_inputs(step, old, new, changed, gone) if changed or gone else []
    assert changed_inputs(step, old, new) == expected
