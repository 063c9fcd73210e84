"""A function's own names are never references to the module (``incr.scopes``)."""

from __future__ import annotations

import ast

import pytest

from incr.codeast import references
from incr.scopes import local_names

SOURCE = """
def split(n=train):
    X = make(n)
    train, test = tts(X, random_state=0)
    return train, test


def evaluate(model, train, *rest, key=None, **options):
    return model.score(train) + scale(data) + len(rest) + len(options) + (key or 0)


def comp(xs):
    return [c for c in xs if c > K] + [K for _ in xs] + [c for c in c_list]


def declared():
    global model
    model = 3
    return model


def outer():
    m = 1

    def inner():
        return m + z

    f = lambda y: y + m + w
    return inner() + f(2)


def walrus(xs):
    ys = [(t := x) for x in xs]
    return t, ys


class Holder(Base):
    k = K

    def method(self, a):
        return a + k + self.v


def statements():
    try:
        pass
    except ValueError as err:
        return err
    import os
    for i, (a, b) in enumerate(z):
        pass
    with open(p) as fh:
        pass
    del gone
    return os, i, a, b, fh, gone


def unbound_then_bound():
    print(late)
    late = 1
    return late


def nested_class():
    base = 1

    class Inner:
        size = base

        def get(self):
            return base + size
    return Inner


def matching(value):
    match value:
        case [first, *others]:
            return first, others
        case {"k": kv, **extra}:
            return kv, extra
        case Point(x=px) as whole:
            return px, whole
    return missing
"""

EXPECTED = {
    "split": {"make", "train", "tts"},  # ``train`` in the default: the module's
    "evaluate": {"data", "scale", "len"},
    "comp": {"K", "c_list"},
    "declared": {"model"},
    "outer": {"w", "z"},
    "walrus": set(),
    "Holder": {"Base", "K", "k", "self"},  # a class body's names are not its methods'
    "statements": {"ValueError", "enumerate", "open", "p", "z", "os"},  # (imported: followed)
    "unbound_then_bound": {"print"},  # local everywhere in it, as Python has it
    "nested_class": {"size"},  # the class body's ``size`` is not ``get``'s
    "matching": {"Point", "missing"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_functions_own_names_are_not_references(name: str) -> None:
    tree = ast.parse(SOURCE)
    node = next(n for n in tree.body if getattr(n, "name", None) == name)
    assert {ref[0] for ref in references(node)} == EXPECTED[name]


def test_a_module_level_statement_has_no_local_names() -> None:
    tree = ast.parse("X = make(train)\nfor row in rows:\n    TABLE[row] = row\n")
    assert all(local_names(node) == set() for node in tree.body)
