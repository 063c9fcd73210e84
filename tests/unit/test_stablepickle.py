"""incr/stablepickle.py: pickles whose bytes do not depend on the process's hash seed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from incr.stablepickle import dumps

#: Values with sets at every level, of items that hash by seed (str, bytes) and not (int).
atoms = st.one_of(st.text(max_size=6), st.binary(max_size=4), st.integers(-5, 5), st.none())
hashables = st.recursive(atoms, lambda inner: st.tuples(inner, inner), max_leaves=4)
sets = st.one_of(st.sets(hashables, max_size=8), st.frozensets(hashables, max_size=8))
values = st.recursive(
    st.one_of(atoms, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=12,
)


@given(values)
def test_the_bytes_load_as_an_equal_value(value: object) -> None:
    data = dumps(value, 5)
    assert pickle.loads(data) == value
    assert dumps(pickle.loads(data), 5) == data  # loaded and dumped again: the same bytes


@given(st.lists(st.integers(), max_size=20))
def test_a_value_without_sets_is_pickled_as_by_pickle(value: list[int]) -> None:
    assert dumps(value, 5) == pickle.dumps(value, protocol=5)
    assert dumps({"a": value, "b": (1.5, b"\x8f\x91")}, 5) == pickle.dumps(
        {"a": value, "b": (1.5, b"\x8f\x91")}, protocol=5
    )


SCRIPT = """\
import sys
from incr.stablepickle import dumps
words = [f"w{i}" for i in range(40)]
value = {
    "set": set(words),
    "frozen": frozenset(words[:10]),
    "bytes": {w.encode() for w in words},
    "mixed": {1, "a", ("b", 2), None, 2.5, frozenset({"x", "y"})},
    "nested": [{"k": {("p", "q"), ("r", "s")}}],
}
sys.stdout.write(dumps(value, 5).hex())
"""


def test_processes_of_other_hash_seeds_give_the_same_bytes() -> None:
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    # and plain pickle does differ between those processes, so the test can tell
    plain = {
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import pickle,sys; sys.stdout.write(pickle.dumps("
                "{f'w{i}' for i in range(40)}).hex())",
            ],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(plain) > 1


class Node:
    """An item of a frozenset that holds that frozenset."""

    def __init__(self) -> None:
        self.owner: frozenset[Node] | None = None

    def __hash__(self) -> int:
        return 1


def test_a_set_reaching_itself_keeps_the_plain_pickle() -> None:
    node = Node()
    cycle = frozenset({node})
    node.owner = cycle
    loaded = pickle.loads(dumps(cycle, 5))
    assert isinstance(loaded, frozenset)
    (item,) = loaded
    assert item.owner is loaded
