"""Module-level state one step changes as it runs and a later step uses, kept where an
object's public attributes do not show it: a value set on a function (``scale.factor``), a
closure's cell, a ``ContextVar``, a ``deque``, an ``array``, slots, a private attribute
behind a property, an iterator's position (incr/heldstates.py). The step changing it counts
as setting it, as for a fitted encoder (test_object_state.py): a later step gets what a run
from scratch gives. A step that only reads such state sets nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

STATE = """\
import array
import collections
import contextvars
import functools


def scale(x):
    return x * scale.factor


scale.factor = 1.0


def _make():
    box = {"scale": 1.0}

    def set_box(v):
        box["scale"] = v

    def get_box():
        return box["scale"]

    return set_box, get_box


set_box, get_box = _make()


def _make_cell():
    value = 1.0

    def set_cell(v):
        nonlocal value
        value = v

    def get_cell():
        return value

    return set_cell, get_cell


set_cell, get_cell = _make_cell()
OFFSET = contextvars.ContextVar("offset", default=1.0)
HISTORY = collections.deque([1.0])
NUMBERS = array.array("d", [1.0])


class Slotted:
    __slots__ = ("scale",)

    def __init__(self):
        self.scale = 1.0


SLOTTED = Slotted()


class Settings:
    def __init__(self):
        self._scale = 1.0

    def set_scale(self, v):
        self._scale = v

    @property
    def scale(self):
        return self._scale


SETTINGS = Settings()


class Lazy:
    def __init__(self):
        self._table = None
        self._memo = {}

    def table(self):
        if self._table is None:
            self._table = [i * i for i in range(5)]
        return self._table

    def square(self, v):
        if v not in self._memo:
            self._memo[v] = v * v
        return self._memo[v]


LAZY = Lazy()


def memo(function):
    cache = {}

    @functools.wraps(function)
    def wrapper(x):
        if x not in cache:
            cache[x] = function(x)
        return cache[x]

    return wrapper


@memo
def cube(x):
    return x**3


def put(kind, v):
    if kind == "funcattr":
        scale.factor = v
    elif kind == "closure":
        set_box(v)
    elif kind == "nonlocal":
        set_cell(v)
    elif kind == "ctxvar":
        OFFSET.set(v)
    elif kind == "deque":
        HISTORY.append(v)
    elif kind == "array":
        NUMBERS[0] = v
    elif kind == "slots":
        SLOTTED.scale = v
    else:
        SETTINGS.set_scale(v)


def get(kind):
    if kind == "funcattr":
        return scale(1.0)
    if kind == "closure":
        return get_box()
    if kind == "nonlocal":
        return get_cell()
    if kind == "ctxvar":
        return OFFSET.get()
    if kind == "deque":
        return HISTORY[-1]
    if kind == "array":
        return NUMBERS[0]
    if kind == "slots":
        return SLOTTED.scale
    return SETTINGS.scale
"""

FLOW = """\
from incr import pipeline, step

from pipelines import state
from pipelines.mark import mark


@step
def setup() -> int:
    mark("setup")
    values = [float(v) for v in open("data/v.txt", encoding="utf-8").read().split()]
    state.put("KIND", sum(values))
    return 1


@step
def use(n: int) -> float:
    mark("use")
    return state.get("KIND") + n


@pipeline
def flow():
    use(setup())
"""

KINDS = ["funcattr", "closure", "nonlocal", "ctxvar", "deque", "array", "slots", "private"]


@pytest.mark.parametrize(
    ("kind", "jobs"),
    [*((k, "1") for k in KINDS), *((k, "2") for k in ("funcattr", "closure", "ctxvar"))],
)
def test_state_a_step_keeps_out_of_public_attributes_counts_as_set(
    make_project: MakeProject, tmp_path: Path, kind: str, jobs: str
) -> None:
    """Data giving the setter the same result but another state: the step using the state
    reruns, as a run from scratch computes it (it was reused with the old state). A second
    repro executes the setter alone: the state it leaves is the same. With ``--jobs`` the
    step using it gets the state in its own process (a function's by what it holds: the
    values set on it, its closure's)."""
    project = make_project(
        {
            "pipelines/state.py": STATE,
            "pipelines/flow.py": FLOW.replace("KIND", kind),
            "data/v.txt": "1 2 3\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["setup", "use"]
    assert f"sets:pipelines/state.py:{_holder(kind)}" in project.lock()["flow.setup"].reads
    (project.root / "data" / "v.txt").write_text("1 2 9\n")
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["setup", "use"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["setup"]


def _holder(kind: str) -> str:
    return {
        "funcattr": "scale",
        "closure": "set_box",
        "nonlocal": "set_cell",
        "ctxvar": "OFFSET",
        "deque": "HISTORY",
        "array": "NUMBERS",
        "slots": "SLOTTED",
        "private": "SETTINGS",
    }[kind]


READERS = """\
from incr import pipeline, step

from pipelines import state
from pipelines.mark import mark


def double(x):
    return 2 * x


def tick():
    tick.n = getattr(tick, "n", 0) + 1
    return tick.n


@step
def first() -> float:
    mark("first")
    return sum(state.get(k) for k in KINDS) + double(1) + state.LAZY.table()[2] + state.cube(2)


@step
def second(v: float) -> float:
    mark("second")
    return v + sum(state.get(k) for k in KINDS) + double(2) + state.LAZY.square(3) + state.cube(2)


@step
def own() -> float:
    mark("own")
    return float(tick())


@pipeline
def readers():
    second(first())
    own()
"""


def test_a_step_only_reading_such_state_sets_nothing(make_project: MakeProject) -> None:
    """Two steps reading each kind of state, calling a plain function of the module, a
    function a memoizing decorator wraps (its closure's ``cache``) and the methods of a
    project object that fill a memo (``self._memo``) or make a value on first use (``if
    self._table is None: self._table = ...``), and a step setting a value on a function no
    other step uses: no step counts as setting anything, and a second repro executes
    nothing."""
    readers = READERS.replace("KINDS", repr(KINDS))
    project = make_project({"pipelines/state.py": STATE, "pipelines/readers.py": readers})
    project.repro()
    assert project.take_ran() == ["first", "second", "own"]
    assert not any(k.startswith("sets:") for e in project.lock().values() for k in e.reads)
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


ITERATORS = {
    "iter": "IDS = iter(range(100, 200))\n",
    "list": "IDS = iter([100, 101, 102, 103])\n",
    "gen": "def _ids():\n    i = 100\n    while True:\n        yield i\n        i += 1\n\n\n"
    "IDS = _ids()\n",
}

DRAWS = """\
from incr import pipeline, step

from pipelines.ids import IDS
from pipelines.mark import mark


@step
def a() -> int:
    mark("a")
    return next(IDS)


@step
def b() -> str:
    mark("b")
    return f"b-{next(IDS)}"


@pipeline
def draws():
    a()
    b()
"""


@pytest.mark.parametrize("kind", list(ITERATORS))
def test_an_iterator_two_steps_draw_from_counts_as_set(
    make_project: MakeProject, tmp_path: Path, kind: str
) -> None:
    """An edit of the second step alone: the first draws again before it, as in a run from
    scratch (the second took the first item). An iterator over a range or a list is decided
    on its position and reused while it is the same; a generator's position cannot be read
    or copied: the step after the one drawing from it reruns every time, and a note says
    so."""
    project = make_project({"pipelines/ids.py": ITERATORS[kind], "pipelines/draws.py": DRAWS})
    result = project.repro()
    assert project.take_ran() == ["a", "b"]
    assert "sets:pipelines/ids.py:IDS" in project.lock()["draws.a"].reads
    assert "step draws.a draws from IDS in pipelines/ids.py" in result.output
    project.edit("pipelines/draws.py", 'f"b-{', 'f"B-{')
    project.repro()
    assert project.take_ran() == ["a", "b"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    result = project.repro()
    if kind == "gen":
        assert project.take_ran() == ["a", "b"]
        assert "incr cannot copy or compare the position of IDS" in result.output
    else:
        assert project.take_ran() == ["a"]
