"""A module-level object that one step changes as it runs (an encoder it fits, a model it
binds to a module global) and a later step uses: the later step's result depends on it
though neither its code nor its inputs changed, so it counts by the object's digest and the
step changing it executes on every run (incr/objectstates.py). Objects a step only uses (a
DataFrame read at import, a lazy loader's attribute) change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

ENCODER = """\
from incr import pipeline, step
from sklearn.preprocessing import LabelEncoder

from pipelines.mark import mark

ENCODER = LabelEncoder()
MODEL = None


@step
def load_train() -> list:
    mark("load_train")
    return open("data/train.txt", encoding="utf-8").read().split()


@step
def load_test() -> list:
    mark("load_test")
    return open("data/test.txt", encoding="utf-8").read().split()


@step
def fit(train: list) -> int:
    global MODEL
    mark("fit")
    ENCODER.fit(train)
    MODEL = {"classes": len(ENCODER.classes_), "first": str(ENCODER.classes_[0])}
    return len(ENCODER.classes_)


@step
def encode(test: list, n: int) -> list:
    mark("encode")
    return [int(v) for v in ENCODER.transform(test)]


@step
def describe(n: int) -> str:
    mark("describe")
    return f"{MODEL['first']} of {n}"


@pipeline
def enc():
    n = fit(load_train())
    encode(load_test(), n)
    describe(n)
"""


def _project(make_project: MakeProject) -> Project:
    return make_project(
        {
            "pipelines/enc.py": ENCODER,
            "data/train.txt": "a\nb\nc\n",
            "data/test.txt": "b\nc\n",
        }
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_later_step_using_an_object_a_step_changed_reruns_when_it_changes(
    make_project: MakeProject, tmp_path: Path, jobs: str
) -> None:
    """Training data with as many classes as before gives the fitting step the same result,
    but another encoder: the steps using the encoder and the module global it binds rerun and
    give what a run from scratch gives. Before, they kept their results ([1, 2], "a of 3")."""
    project = _project(make_project)
    project.repro("--jobs", jobs)
    assert set(project.take_ran()) == {"load_train", "fit", "load_test", "encode", "describe"}
    (project.root / "data" / "train.txt").write_text("b\nc\nd\n")
    project.repro("--jobs", jobs)
    assert set(project.take_ran()) == {"load_train", "fit", "encode", "describe"}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / f"fresh{jobs}"))
    entry = project.lock()["enc.encode"]
    assert "value:pipelines/enc.py:ENCODER" in entry.facts.code
    assert "sets:pipelines/enc.py:ENCODER" in project.lock()["enc.fit"].reads
    assert "sets:pipelines/enc.py:MODEL" in project.lock()["enc.fit"].reads


def test_the_setter_executes_on_every_run_and_its_users_are_reused_when_it_leaves_the_same(
    make_project: MakeProject,
) -> None:
    project = _project(make_project)
    project.repro()
    project.take_ran()
    dirty = project.dirty()
    assert [kind for kind, _ in dirty["fit"]] == ["sets values as it runs"]
    result = project.repro()
    assert project.take_ran() == ["fit"]  # the same encoder again: its users are reused
    assert "sets ENCODER, MODEL in pipelines/enc.py as it runs" in result.output


PLAIN_USE = """\
import json

import pandas as pd
from incr import pipeline, step

from pipelines.mark import mark

FRAME = pd.read_csv("data/table.csv")


class Meta:
    def __init__(self):
        self.data = None

    def get(self):
        if self.data is None:
            with open("data/meta.json", encoding="utf-8") as fh:
                self.data = json.load(fh)
        return self.data


META = Meta()


class Calc:
    def __init__(self):
        self._memo = {}

    def double(self, v):
        if v not in self._memo:
            self._memo[v] = v * 2
        return self._memo[v]


CALC = Calc()
SHIFT = None


def shift():
    global SHIFT
    if SHIFT is None:
        SHIFT = Meta()  # made once, on first use: no step sets it
    return SHIFT


@step
def first() -> int:
    mark("first")
    return CALC.double(int(FRAME["x"].sum())) + META.get()["k"]


@step
def second(v: int) -> int:
    mark("second")
    return CALC.double(v) + int(FRAME["x"].max()) + META.get()["k"] + shift().get()["k"]


@pipeline
def plain():
    second(first())
"""


def test_objects_only_used_or_lazily_loaded_set_nothing(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A DataFrame read at import, an object keeping a memo in a private attribute, a
    project object that loads a file into a public attribute on first use, and a module
    global bound on first use by a helper (``if SHIFT is None: SHIFT = ...``):
    no step counts as setting them, a second repro executes nothing; an edit of the file the
    loader read reruns both steps (its read goes on with the object)."""
    project = make_project(
        {
            "pipelines/plain.py": PLAIN_USE,
            "data/table.csv": "x\n1\n2\n",
            "data/meta.json": '{"k": 10}',
        }
    )
    project.repro()
    assert project.take_ran() == ["first", "second"]
    project.repro()
    assert project.take_ran() == []
    assert not any(k.startswith("sets:") for e in project.lock().values() for k in e.reads)
    (project.root / "data" / "meta.json").write_text('{"k": 20}')
    project.repro()
    assert project.take_ran() == ["first", "second"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


UNDIGESTABLE = """\
from incr import pipeline, step

from pipelines.mark import mark


class Holder:
    def __init__(self):
        self.fn = None


HOLDER = Holder()


@step
def setup() -> int:
    mark("setup")
    HOLDER.fn = lambda x: x + 1
    return 1


@step
def use(v: int) -> int:
    mark("use")
    return HOLDER.fn(v)


@pipeline
def undig():
    use(setup())
"""


def test_an_object_that_cannot_be_digested_reruns_its_users_and_says_why(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/undig.py": UNDIGESTABLE})
    project.repro()
    assert project.take_ran() == ["setup", "use"]
    result = project.repro()
    assert project.take_ran() == ["setup", "use"]
    assert "value of HOLDER in pipelines/undig.py, which incr cannot digest" in result.output


OWN_MODEL = """\
from incr import pipeline, step
from sklearn.linear_model import LinearRegression

from pipelines.mark import mark

MODEL = LinearRegression()


@step
def train() -> float:
    mark("train")
    MODEL.fit([[0], [1], [2]], [1, 3, 5])
    return round(float(MODEL.coef_[0]), 6)


@step
def report(slope: float) -> str:
    mark("report")
    return f"slope {slope}"


@pipeline
def own():
    report(train())
"""


def test_an_object_only_the_step_changing_it_uses_sets_nothing(make_project: MakeProject) -> None:
    """A model fitted in place by the one step that uses it passes nothing on: the step is
    reused like any other (it would otherwise fit again on every run)."""
    project = make_project({"pipelines/own.py": OWN_MODEL})
    project.repro()
    assert project.take_ran() == ["train", "report"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


SHARED_GENERATORS = """\
import itertools
import random

import numpy as np
from incr import pipeline, step

from pipelines.mark import mark

RNG = np.random.default_rng(42)
RS = np.random.RandomState(0)
PY = random.Random(7)
IDS = itertools.count(1)


@step
def init() -> list:
    mark("init")
    return [float(RNG.normal()), float(RS.rand()), PY.random(), next(IDS)]


@step
def mask(w: list) -> list:
    mark("mask")
    return [float(RNG.random()) > 0.5, float(RS.rand()) > 0.5, PY.random() > 0.5, next(IDS)]


@pipeline
def gen():
    mask(init())
"""


def test_a_random_generator_or_counter_two_steps_draw_from_counts_as_set(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A seeded generator at a module's top level that two steps draw from: each draw moves
    it on, so the second step's numbers depend on the first having executed (reused, it
    drew nothing, and an edit of the second step alone took the first numbers)."""
    project = make_project({"pipelines/gen.py": SHARED_GENERATORS})
    result = project.repro()
    assert project.take_ran() == ["init", "mask"]
    assert "step gen.init draws from IDS, PY, RNG, RS in pipelines/gen.py" in result.output
    assert all(
        f"sets:pipelines/gen.py:{name}" in project.lock()["gen.init"].reads
        for name in ("RNG", "RS", "PY", "IDS")
    )

    project.edit("pipelines/gen.py", "> 0.5, next(IDS)]", "> 0.25, next(IDS)]")
    project.repro()
    assert project.take_ran() == ["init", "mask"]  # init draws first, as in a fresh run
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_the_last_step_drawing_from_a_shared_generator_is_reused(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """No step after ``mask`` draws: it gets the state ``init`` leaves, and is decided on
    that state like any input (an expensive ``fit`` drawing last is not run every time)."""
    project = make_project({"pipelines/gen.py": SHARED_GENERATORS})
    project.repro()
    assert project.take_ran() == ["init", "mask"]
    mask = project.lock()["gen.mask"]
    assert "sets:pipelines/gen.py:RNG" in mask.reads
    ids = ("IDS", "PY", "RNG", "RS")
    assert project.dirty() == {
        "init": [("sets values as it runs", ", ".join(f"{n} in pipelines/gen.py" for n in ids))],
        "mask": [("after", "init")],
    }
    for args in ((), ("--jobs", "2")):
        project.repro(*args)
        assert project.take_ran() == ["init"]
    assert project.lock()["gen.mask"] == mask

    # init draws otherwise: mask gets another state, and runs
    project.edit("pipelines/gen.py", "float(RNG.normal())", "float(RNG.normal(size=2)[1])")
    project.repro()
    assert project.take_ran() == ["init", "mask"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))

    # a step added after mask that draws: mask executes on every run again
    project.edit(
        "pipelines/gen.py",
        "    mask(init())",
        "    tail(mask(init()))",
    )
    project.edit(
        "pipelines/gen.py",
        "@pipeline",
        '@step\ndef tail(m: list) -> float:\n    mark("tail")\n'
        "    return float(RNG.random())\n\n\n@pipeline",
    )
    assert "mask" in project.dirty()
    project.repro()
    assert project.take_ran() == ["init", "mask", "tail"]
    assert [kind for kind, _ in project.dirty()["mask"]] == ["sets values as it runs", "after"]
    project.repro()
    assert project.take_ran() == ["init", "mask"]  # tail: the state mask leaves is the same
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh2"))


CLASS_AND_DEFAULT = """\
from incr import pipeline, step

from pipelines.mark import mark


class Cfg:
    LR = 0.5


class IdGen:
    counter = 0

    @classmethod
    def next(cls):
        cls.counter += 1
        return cls.counter


def register(name, seen=[]):
    seen.append(name)
    return len(seen)


@step
def users() -> list:
    mark("users")
    return [IdGen.next(), register("u"), Cfg.LR]


@step
def items(u: list) -> list:
    mark("items")
    return [IdGen.next(), IdGen.next(), register("i"), Cfg.LR]
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_class_attribute_or_a_mutable_default_two_steps_change_counts_as_set(
    make_project: MakeProject, tmp_path: Path, jobs: str
) -> None:
    """``cls.counter += 1`` in a classmethod, ``seen.append`` on a default ``seen=[]``: state
    a class or function holds, that the step after sees changed (an edit of ``items`` alone
    reran it from 0). A class that only holds constants (``Cfg.LR``) sets nothing. With
    ``--jobs``, ``items`` gets that state in its own process (it started from 0 there)."""
    module = CLASS_AND_DEFAULT + "\n\n@pipeline\ndef ids():\n    items(users())\n"
    project = make_project({"pipelines/ids.py": module})
    project.repro()
    assert project.take_ran() == ["users", "items"]
    reads = project.lock()["ids.users"].reads
    assert {"sets:pipelines/ids.py:IdGen", "sets:pipelines/ids.py:register"} <= set(reads)
    assert "sets:pipelines/ids.py:Cfg" not in reads

    project.edit("pipelines/ids.py", 'register("i"), Cfg.LR]', 'register("i"), Cfg.LR, 1]')
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["users", "items"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
