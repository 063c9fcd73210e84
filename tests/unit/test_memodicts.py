"""``incr.memodicts``: which module-level dicts are a memo only, and so pass no value on."""

from __future__ import annotations

import ast
import textwrap

import pytest

from incr.memodicts import memo_names

MEMOS = {
    "a membership test": """
        _V = {}
        def vocab(n):
            if n not in _V:
                _V[n] = load(n)
            return _V[n]
        """,
    "get, then a chained store": """
        _V = dict()
        def vocab(n):
            v = _V.get(n)
            if v is None:
                v = _V[n] = load(n)
            return v
        """,
    "setdefault": """
        from collections import OrderedDict
        _V: dict = OrderedDict()
        def vocab(n):
            return _V.setdefault(n, load(n))
        """,
    "a defaultdict and a method": """
        import collections
        _C = collections.defaultdict(list)
        class Loader:
            def get(self, n):
                if n not in _C:
                    _C[n] = compute(n)
                return _C[n]
        """,
    "an eviction": """
        _C = {}
        def f(n):
            if n in _C:
                del _C[n]
            _C[n] = 2
            return _C.pop(n)
        """,
}

NOT_MEMOS = {
    "public": """
        CACHE = {}
        def f(n):
            if n not in CACHE:
                CACHE[n] = 2
            return CACHE[n]
        """,
    "an entry computed from the dict": """
        _S = {}
        def seen(n):
            _S[n] = len(_S)
            return _S[n]
        """,
    "an entry added to": """
        _S = {}
        def count(n):
            _S[n] = 0
            _S[n] += 1
            return _S[n]
        """,
    "setdefault from the dict": """
        _S = {}
        def seen(n):
            return _S.setdefault(n, len(_S))
        """,
    "read by another function": """
        _R = {}
        def register(n, v):
            _R[n] = v
        def get(n):
            return _R[n]
        """,
    "filled by two functions": """
        _C = {}
        def f(n):
            _C[n] = 2
            return _C[n]
        def g(n):
            _C[n] = 3
            return _C[n]
        """,
    "iterated": """
        _R = {}
        def add(n):
            _R[n] = 1
            return list(_R)
        """,
    "passed on": """
        _C = {}
        def f(n):
            if n not in _C:
                _C[n] = 2
            use(_C)
            return _C[n]
        """,
    "filled at the top level": """
        _R = {}
        _R["a"] = 1
        def f(n):
            if n not in _R:
                _R[n] = 2
            return _R[n]
        """,
    "rebound with global": """
        _C = {}
        def f(n):
            global _C
            if n not in _C:
                _C[n] = 2
            return _C[n]
        """,
    "not empty": """
        _C = {"a": 1}
        def f(n):
            if n not in _C:
                _C[n] = 2
            return _C[n]
        """,
    "a default argument": """
        _C = {}
        def f(n, c=_C):
            if n not in c:
                c[n] = 2
            return c[n]
        """,
    "filled by no function here": """
        _C = {}
        def f(n):
            return n
        """,
    "a second binding": """
        _C = {}
        _C = {}
        def f(n):
            if n not in _C:
                _C[n] = 2
            return _C[n]
        """,
}


@pytest.mark.parametrize("source", MEMOS.values(), ids=MEMOS.keys())
def test_a_dict_one_function_fills_and_reads_by_key_is_a_memo(source: str) -> None:
    tree = ast.parse(textwrap.dedent(source))
    assert len(memo_names(tree)) == 1


@pytest.mark.parametrize("source", NOT_MEMOS.values(), ids=NOT_MEMOS.keys())
def test_a_dict_that_may_pass_a_value_on_is_not(source: str) -> None:
    assert memo_names(ast.parse(textwrap.dedent(source))) == frozenset()


def test_lazy_singletons_are_names_bound_once_on_first_use_from_nothing_a_caller_gives() -> None:
    from incr.memodicts import lazy_singletons

    source = """
import multiprocessing
_POOL = None
MODEL = None
ENC = None
FIT = None
TWICE = None
TWICE = None


def pool():
    global _POOL
    if _POOL is None:
        _POOL = multiprocessing.get_context("fork").Pool(2)
    return _POOL


def model():
    global MODEL
    if not MODEL:
        MODEL = load("m.pkl")
    return MODEL


def enc(train):
    global ENC
    if ENC is None:
        ENC = LabelEncoder().fit(train)  # from what the first caller gives
    return ENC


def train():
    global FIT
    FIT = 3  # unguarded


def twice():
    global TWICE
    if TWICE is None:
        TWICE = 1
"""
    assert lazy_singletons(ast.parse(source)) == {"_POOL", "MODEL"}


def test_lazy_attributes_are_private_attributes_bound_once_on_first_use() -> None:
    from incr.memodicts import lazy_attributes

    source = """
class Client:
    def __init__(self, host):
        self._conn = None
        self._fitted = None
        self._scale = 1.0
        self._other = None

    @property
    def conn(self):
        if self._conn is None:
            self._conn = connect(self.host)
        return self._conn

    def fit(self, data):
        if self._fitted is None:
            self._fitted = train(data)  # from what the first caller gives

    def set_scale(self, v):
        self._scale = v

    def other(self):
        if not self._other:
            self._other = make()
        return self._other

    def reset(self):
        self._other = None
"""
    klass = ast.parse(source).body[0]
    assert isinstance(klass, ast.ClassDef)
    assert lazy_attributes(klass) == {"_conn"}


def test_a_closure_dict_a_function_stores_into_and_reads_by_key_is_a_memo() -> None:
    from incr.memodicts import memo_cells

    source = """
def outer():
    def memo(x):
        if x not in cache:
            cache[x] = f(x)
        return cache[x]

    def setter(v):
        box["scale"] = v

    def getter():
        return box["scale"]

    def counts(k):
        seen[k] = len(seen)
        return seen[k]

    def listing(k):
        if k not in reg:
            reg[k] = k
        return list(reg)
"""
    functions = {f.name: f for f in ast.parse(source).body[0].body}  # type: ignore[attr-defined]
    found = {
        name: memo_cells(f, ("cache", "box", "seen", "reg", "f")) for name, f in functions.items()
    }
    assert found == {
        "memo": {"cache"},
        "setter": set(),
        "getter": set(),
        "counts": set(),
        "listing": set(),
    }


def test_a_private_attribute_filled_by_key_alone_is_a_memo() -> None:
    from incr.memoattrs import memo_attributes

    source = """
class Vocab:
    _index = {}
    _shared = {}
    _table: dict = field(default_factory=dict)

    def __init__(self):
        self._memo = {}
        self.__squares = {}
        self._seen = {}
        self._filled = load()
        self._passed = {}
        self._counts = {}

    @classmethod
    def encode(cls, w):
        if w not in cls._index:
            cls._index[w] = len(cls._index)
        return cls._index[w]

    def upper(self, w):
        return Vocab._shared.setdefault(w, w.upper())

    def table(self, w):
        if w not in self._table:
            self._table[w] = w * 2
        return self._table[w]

    def length(self, w):
        if w not in self._memo:
            self._memo[w] = len(w)
        return self._memo[w]

    def square(self, w):
        if w not in self.__squares:
            self.__squares[w] = len(w) ** 2
        return self.__squares[w]

    def seen(self, w):
        self._seen[w] = True
        return len(self._seen)

    def filled(self, w):
        self._filled[w] = 1

    def passed(self, w, other):
        self._passed[w] = 1
        return other._passed

    def count(self, w):
        self._counts[w] += 1
"""
    klass = ast.parse(source).body[0]
    assert isinstance(klass, ast.ClassDef)
    found = memo_attributes(klass, ["Vocab"])
    assert found == {"_shared", "_table", "_memo", "_Vocab__squares"}
