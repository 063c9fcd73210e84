"""State a step changes as it runs, kept where a module's names do not show it: a counter a
dataclass field draws from (``default_factory=itertools.count(1).__next__``), one in a
method's default argument (``_ids=itertools.count(1)``) or in a function's, a vocabulary a
class or an instance fills in a private dict in an order-dependent way (``cls._index[w] =
len(cls._index)``). Two steps build items with it: the first counts as setting it (it
executes while a step after it uses it), as module-level state does (incr/heldstates.py,
incr/memoattrs.py), and a step after it gets what a run from scratch gives. A private dict a
class uses as a memo (an entry depends on its key alone) sets nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

STATES = {
    "factory": """\
import itertools
from dataclasses import dataclass, field


@dataclass
class Item:
    name: str
    uid: int = field(default_factory=itertools.count(1).__next__)


def make(name):
    return Item(name).uid
""",
    "default": """\
import itertools


class Item:
    def __init__(self, name, _ids=itertools.count(1)):
        self.name = name
        self.uid = next(_ids)


def make(name):
    return Item(name).uid
""",
    "function": """\
import itertools


def make(name, *, _ids=itertools.count(1)):
    return next(_ids)
""",
    "class_dict": """\
class Vocab:
    _index = {}

    @classmethod
    def encode(cls, w):
        if w not in cls._index:
            cls._index[w] = len(cls._index)
        return cls._index[w]


def make(name):
    return Vocab.encode(name)
""",
    "instance_dict": """\
class Tokenizer:
    def __init__(self):
        self._index = {}

    def encode(self, w):
        if w not in self._index:
            self._index[w] = len(self._index)
        return self._index[w]


TOK = Tokenizer()


def make(name):
    return TOK.encode(name)
""",
}

HOLDERS = {
    "factory": "Item",
    "default": "Item",
    "function": "make",
    "class_dict": "Vocab",
    "instance_dict": "TOK",
}

FLOW = """\
import json
from pathlib import Path

from incr import pipeline, step

from pipelines.entities import make
from pipelines.mark import mark


def read(path):
    return [make(w) for w in Path(path).read_text(encoding="utf-8").split()]


@step(deps=["data/items.txt"])
def load_items() -> list:
    mark("load_items")
    return read("data/items.txt")


@step(deps=["data/extra.txt"])
def load_extra() -> list:
    mark("load_extra")
    return read("data/extra.txt")


@step(outs=["reports/ids.json"])
def report(items: list, extra: list) -> None:
    mark("report")
    Path("reports").mkdir(exist_ok=True)
    Path("reports/ids.json").write_text(json.dumps([items, extra]), encoding="utf-8")


@pipeline
def shop():
    report(load_items(), load_extra())
"""


@pytest.mark.parametrize(
    ("kind", "jobs"),
    [*((k, "1") for k in STATES), ("factory", "2"), ("default", "2"), ("instance_dict", "2")],
)
def test_state_hidden_in_a_class_or_a_default_counts_as_set(
    make_project: MakeProject, tmp_path: Path, kind: str, jobs: str
) -> None:
    """An edit of the second loader's data: the first loader executes again before it, so
    the ids go on from where it left them, as in a run from scratch (the second restarted
    at 1, or with an empty vocabulary, and clashed with the first's). With ``--jobs`` the
    second gets the state in its own process. A second repro executes the first alone."""
    project = make_project(
        {
            "pipelines/entities.py": STATES[kind],
            "pipelines/flow.py": FLOW,
            "data/items.txt": "apple pear fig\n",
            "data/extra.txt": "kiwi plum\n",
        }
    )
    project.repro("--jobs", jobs)
    project.take_ran()
    assert f"sets:pipelines/entities.py:{HOLDERS[kind]}" in project.lock()["shop.load_items"].reads
    (project.root / "data" / "extra.txt").write_text("kiwi plum lime\n")
    project.repro("--jobs", jobs)
    assert sorted(project.take_ran()) == ["load_extra", "load_items", "report"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    start = 0 if kind.endswith("_dict") else 1
    assert project.read("reports/ids.json") == str(
        [[start, start + 1, start + 2], [start + 3, start + 4, start + 5]]
    )
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["load_items"]


MEMOS = """\
import functools
from dataclasses import dataclass, field


class Lookup:
    _shared = {}

    def __init__(self):
        self._memo = {}
        self.__squares = {}

    def length(self, w):
        if w not in self._memo:
            self._memo[w] = len(w)
        return self._memo[w]

    def square(self, w):
        if w not in self.__squares:
            self.__squares[w] = len(w) ** 2
        return self.__squares[w]

    @classmethod
    def upper(cls, w):
        return cls._shared.setdefault(w, w.upper())

    @functools.lru_cache(maxsize=None)
    def flipped(self, w):
        return w[::-1]


@dataclass
class Token:
    text: str
    _cache: dict = field(default_factory=dict)

    def size(self):
        if "n" not in self._cache:
            self._cache["n"] = len(self.text)
        return self._cache["n"]


LOOKUP = Lookup()


def make(w):
    return [LOOKUP.length(w), LOOKUP.square(w), Lookup.upper(w), LOOKUP.flipped(w), Token(w).size()]
"""


def test_a_private_dict_a_class_uses_as_a_memo_sets_nothing(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Private dicts a class or an instance fills with entries computed from their key alone
    (``self._memo``, a mangled ``self.__squares``, ``cls._shared.setdefault``, a dataclass
    field), and an ``lru_cache`` method: no step sets anything, an edit of the second
    loader's data executes it and the report alone, and a second repro executes nothing."""
    project = make_project(
        {
            "pipelines/entities.py": MEMOS,
            "pipelines/flow.py": FLOW,
            "data/items.txt": "apple pear fig\n",
            "data/extra.txt": "kiwi plum\n",
        }
    )
    project.repro()
    project.take_ran()
    assert not any(k.startswith("sets:") for e in project.lock().values() for k in e.reads)
    (project.root / "data" / "extra.txt").write_text("kiwi plum lime\n")
    project.repro()
    assert project.take_ran() == ["load_extra", "report"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
