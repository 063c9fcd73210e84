"""Module-level dicts that a module uses as a memo only: filled by the one function that reads
it, each entry computed without reading the dict, and seen nowhere else.

::

    _VOCAB = {}

    def vocab(name):
        if name not in _VOCAB:
            _VOCAB[name] = load_vocab(name)
        return _VOCAB[name]

A step that calls ``vocab`` fills ``_VOCAB``: a plain value that differs from the one the
module's import left, which ``incr.globalvalues`` would take for a value set at run time,
passed on to the steps after it (the step would then execute on every run, and each step
using ``vocab`` would be decided on the dict's content). A memo passes nothing on: whoever
asks gets what computing the entry gives, whether the entry was there or not. Such dicts are
left out of the values set at run time.

A dict counts as a memo only when its name is private (``_VOCAB``), and in its module's text:

- it is bound once at the top level, to an empty dict (``{}``, ``dict()``,
  ``OrderedDict()``, ``defaultdict(...)``), and appears nowhere else at the top level;
- one function names it, stores entries into it (``_VOCAB[key] = ...``, ``.setdefault``)
  and uses it only by key: ``key in _VOCAB``, ``_VOCAB[key]``, ``.get``, ``.setdefault``,
  ``.pop``, ``del _VOCAB[key]``; no iteration, no ``len``, no passing it on, no ``global``;
- no entry stored is computed from the dict itself (``_SEEN[key] = len(_SEEN)`` counts what
  was stored before: the order of the steps would show in their results).

Another module that uses it (``helpers._VOCAB``) is not looked for: the name is private, and
another module's private dict is rarely used. A public one (``CACHE = {}``) is never taken
for a memo.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

#: Calls that make an empty dict.
_EMPTY_CALLS = frozenset({"dict", "OrderedDict", "defaultdict"})
#: Methods of the dict a memo's functions may call.
_KEYED_METHODS = frozenset({"get", "setdefault", "pop"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def memo_names(tree: ast.Module) -> frozenset[str]:
    """The names of the module-level dicts that ``tree`` uses as a memo only."""
    candidates = _empty_dicts(tree)
    if not candidates:
        return frozenset()
    bad: set[str] = set()
    writes: dict[str, set[int]] = {}  # name -> the functions (by id) that store into it
    users: dict[str, set[int]] = {}  # name -> the functions that name it
    for node, parent, function in _walk(tree):
        if not isinstance(node, ast.Name) or node.id not in candidates:
            if isinstance(node, ast.Global | ast.Nonlocal):
                bad.update(candidates.keys() & set(node.names))
            continue
        name = node.id
        if function is None:
            if not (isinstance(node.ctx, ast.Store) and parent is candidates[name]):
                bad.add(name)  # another use at the top level (or a second binding)
            continue
        users.setdefault(name, set()).add(id(function))
        use = keyed_use(node, parent)
        if use is None:
            bad.add(name)
        elif use == "store":
            writes.setdefault(name, set()).add(id(function))
    bad.update(_computed_from_itself(tree, candidates.keys()))
    for name, functions in users.items():
        if len(functions) > 1 or functions - writes.get(name, set()):
            bad.add(name)  # read elsewhere (a value passed on), or filled in two places
    return frozenset(users.keys() - bad)  # one no function here uses is filled elsewhere


def _empty_dicts(tree: ast.Module) -> dict[str, ast.stmt]:
    """Names bound at the top level to an empty dict, with their binding."""
    found: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name) and _private(target.id) and empty_dict(value):
            found[target.id] = stmt
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def empty_dict(node: ast.expr) -> bool:
    if isinstance(node, ast.Dict):
        return not node.keys
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "defaultdict":
            return len(node.args) <= 1 and not node.keywords
        return name in _EMPTY_CALLS and not node.args and not node.keywords
    return False


def _walk(tree: ast.Module) -> Iterator[tuple[ast.AST, ast.AST, ast.AST | None]]:
    """Each node with its parent and the outermost function it is in (None: the top level,
    class bodies included)."""
    todo: list[tuple[ast.AST, ast.AST, ast.AST | None]] = [(tree, tree, None)]
    while todo:
        node, parent, function = todo.pop()
        yield node, parent, function
        inner = function
        if inner is None and isinstance(node, _FUNCTIONS):
            inner = node
        for child in ast.iter_child_nodes(node):
            # a function's decorators and defaults run where it is defined
            at = function if child in _outside(node) else inner
            todo.append((child, node, at))


def _outside(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        args = node.args
        return [*node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d)]
    if isinstance(node, ast.Lambda):
        return [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
    return []


def keyed_use(node: ast.expr, parent: ast.AST) -> str | None:
    """How a function uses the dict ``node`` names: "store" (an entry stored), "read" (by
    key), or None for any other use."""
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return "store" if isinstance(parent.ctx, ast.Store) else "read"  # Del: an eviction
    if isinstance(parent, ast.Compare) and node in parent.comparators:
        i = parent.comparators.index(node)
        return "read" if isinstance(parent.ops[i], ast.In | ast.NotIn) else None
    if isinstance(parent, ast.Attribute) and parent.attr in _KEYED_METHODS:
        return "store" if parent.attr == "setdefault" else "read"
    return None


def _computed_from_itself(tree: ast.Module, names: Iterable[str]) -> set[str]:
    """Those of ``names`` into which an entry computed from the dict itself is stored
    (``_SEEN[key] = len(_SEEN)``, ``_SEEN.setdefault(key, len(_SEEN))``, ``_N[key] += 1``)."""
    names = set(names)
    found: set[str] = set()
    for node in ast.walk(tree):
        stored, values = stores(node)
        for target in stored:
            holder = target.value if isinstance(target, ast.Subscript | ast.Attribute) else None
            if not isinstance(holder, ast.Name) or holder.id not in names:
                continue
            if isinstance(node, ast.AugAssign) or any(
                isinstance(n, ast.Name) and n.id == holder.id
                for value in values
                for n in ast.walk(value)
            ):
                found.add(holder.id)
    return found


def lazy_singletons(tree: ast.Module) -> frozenset[str]:
    """The module-level names ``tree`` uses for a value made once, on first use, from nothing
    a caller gives (``incr.objectstates`` leaves them out of the objects a step changes)::

        _POOL = None

        def pool():
            global _POOL
            if _POOL is None:
                _POOL = Pool(2)
            return _POOL

    The name is bound once at the top level, to None, and elsewhere only by functions that
    declare it ``global``, each time in the body of an ``if NAME is None:`` (or ``if not
    NAME:``), to a value computed from none of that function's parameters."""
    bound: dict[str, int] = {}
    for stmt in tree.body:
        for target in _top_targets(stmt):
            bound[target] = bound.get(target, 0) + 1
    found = {
        t.id
        for s in tree.body
        if isinstance(s, ast.Assign) and _is_none(s.value)
        for t in s.targets
        if isinstance(t, ast.Name) and bound.get(t.id) == 1
    }
    for func in ast.walk(tree) if found else ():  # most modules: no name bound to None
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        declared = {n for s in ast.walk(func) if isinstance(s, ast.Global) for n in s.names}
        params = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
        for sub in ast.walk(func):
            if not (isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del)):
                continue
            if sub.id in found and (
                sub.id not in declared or not _guarded(func, sub, sub.id, params)
            ):
                found.discard(sub.id)
    return frozenset(found)


def _top_targets(stmt: ast.stmt) -> set[str]:
    """The names a top-level statement binds (outside functions and classes)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    return {
        n.id
        for n in ast.walk(stmt)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)
    }


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _guarded(func: ast.AST, name_node: ast.AST, name: str, params: set[str]) -> bool:
    """True when ``name_node`` (a store of ``name`` in ``func``) is the target of a plain
    ``NAME = value`` directly in the body of an ``if NAME is None:``/``if not NAME:`` of
    ``func``, and ``value`` reads none of ``params``."""
    for test, body in _ifs(func):
        if not _tests_unset(test, name):
            continue
        for stmt in _direct(body):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and stmt.targets[0] is name_node
            ):
                used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
                return not (used & (params | {name}))
    return False


def stores(node: ast.AST) -> tuple[list[ast.expr], list[ast.AST]]:
    """What ``node`` stores into and the values it stores: an assignment's targets and value,
    an augmented one's, or ``setdefault``'s receiver and arguments; nothing for another node."""
    if isinstance(node, ast.Assign):
        return list(node.targets), [node.value]
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target], [node.value] if node.value is not None else []
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setdefault"
    ):
        return [node.func], [*node.args, *node.keywords]
    return [], []


def _ifs(func: ast.AST) -> Iterator[tuple[ast.expr, list[ast.stmt]]]:
    for node in ast.walk(func):
        if isinstance(node, ast.If):
            yield node.test, node.body


def _direct(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body``, and of the ``with`` blocks in it (``with open(path) as
    fh: NAME = json.load(fh)``)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.With | ast.AsyncWith):
            yield from _direct(stmt.body)


#: Calls whose result is a plain value (``globalvalues.is_plain``): a parsed settings file;
#: and methods giving one (``Path(...).read_text()``, ``fh.read()``).
_PLAIN_CALLS = frozenset(
    {"json.load", "json.loads", "yaml.safe_load", "yaml.load", "yaml.full_load"}
    | {"tomllib.load", "tomllib.loads", "tomli.load", "tomli.loads", "toml.load", "toml.loads"}
    | {"os.getenv", "os.environ.get", "dict", "list", "tuple", "set", "frozenset", "sorted"}
    | {"int", "float", "str", "bool"}
)
_PLAIN_METHODS = frozenset({"read", "read_text", "splitlines", "split", "strip"})


def plain_lazies(tree: ast.Module, lazies: frozenset[str] | None = None) -> frozenset[str]:
    """The ``lazy_singletons`` of ``tree`` made of a plain value each time: a literal, or a
    call of ``_PLAIN_CALLS`` (``_SETTINGS = json.load(fh)``). ``incr.stepcaches`` binds
    them to None again before each step, which makes them again on first use: none of the
    steps sets for the others what each reads itself. ``lazies``: ``lazy_singletons(tree)``."""
    lazies = lazy_singletons(tree) if lazies is None else lazies
    values: dict[str, list[ast.expr]] = {}
    for func in ast.walk(tree) if lazies else ():
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for test, body in _ifs(func):
            for stmt in _direct(body):
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    target = stmt.targets[0]
                    if isinstance(target, ast.Name) and _tests_unset(test, target.id):
                        values.setdefault(target.id, []).append(stmt.value)
    return frozenset(n for n in lazies if values.get(n) and all(map(_plain, values[n])))


def _plain(value: ast.expr) -> bool:
    """Whether ``value`` makes a plain value (see ``plain_lazies``)."""
    if isinstance(value, ast.Constant | ast.Dict | ast.List | ast.Set | ast.Tuple):
        return True
    if isinstance(value, ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if not isinstance(value, ast.Call):
        return False
    func, chain = value.func, []
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        chain.append(func.id)
    if len(chain) > 1 and chain[0] in _PLAIN_METHODS:
        return True
    return ".".join(reversed(chain)) in _PLAIN_CALLS


def _tests_unset(test: ast.expr, name: str) -> bool:
    """``NAME is None`` or ``not NAME``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Name) and test.operand.id == name
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == name
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is)
        and _is_none(test.comparators[0])
    )


def lazy_attributes(klass: ast.ClassDef) -> frozenset[str]:
    """The private attributes the methods of ``klass`` use for a value made once, on first
    use, from nothing a caller gives (``incr.heldstates`` leaves them out of what a step
    changes)::

        def __init__(self):
            self._client = None

        @property
        def client(self):
            if self._client is None:
                self._client = connect(HOST)
            return self._client

    Each binding of ``self._client`` is None in ``__init__``, or a plain ``self._client =
    value`` directly in the body of an ``if self._client is None:`` (or ``if not
    self._client:``) with ``value`` reading none of the method's parameters."""
    stores: dict[str, list[bool]] = {}  # name -> whether each binding is a lazy one's
    for method in klass.body:
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) or not method.args.args:
            continue
        me = method.args.args[0].arg
        params = {a.arg for a in ast.walk(method.args) if isinstance(a, ast.arg)} - {me}
        guarded = _guarded_attributes(method, me, params)
        for node in ast.walk(method):
            name = _own_attribute(node, me)
            if name is None or not isinstance(getattr(node, "ctx", None), ast.Store | ast.Del):
                continue
            initial = method.name == "__init__" and any(
                isinstance(s, ast.Assign) and s.targets == [node] and _is_none(s.value)
                for s in method.body
            )
            stores.setdefault(name, []).append(initial or id(node) in guarded)
    return frozenset(n for n, lazy in stores.items() if _private(n) and all(lazy))


def _own_attribute(node: ast.AST, me: str) -> str | None:
    """The name of ``node`` when it is ``self.NAME`` (``me``: the method's first parameter)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr if node.value.id == me else None
    return None


def _guarded_attributes(method: ast.AST, me: str, params: set[str]) -> set[int]:
    """The ``self.NAME`` targets (by id) of the plain bindings directly in the body of an ``if
    self.NAME is None:``/``if not self.NAME:`` of ``method``, from none of ``params``."""
    found = set()
    for test, body in _ifs(method):
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            tested = _own_attribute(test.operand, me)
        elif (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Is)
            and _is_none(test.comparators[0])
        ):
            tested = _own_attribute(test.left, me)
        else:
            continue
        for stmt in body:
            if (
                tested is not None
                and isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and _own_attribute(stmt.targets[0], me) == tested
            ):
                used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
                if not used & params:
                    found.add(id(stmt.targets[0]))
    return found


def memo_cells(function: ast.FunctionDef | ast.AsyncFunctionDef, names: Iterable[str]) -> set[str]:
    """The names among ``names`` (the free variables of a closure) of the dicts ``function``
    uses as a memo only, by the rules of a module's memo dict: it stores entries into it and
    reads them, by key only, none computed from the dict itself (a memoizing decorator's
    ``cache``). A function storing only (a setter), or reading only, passes values on."""
    candidates = set(names)
    bad: set[str] = set()
    stores: set[str] = set()
    reads: set[str] = set()
    tree = ast.Module(body=[function], type_ignores=[])
    for node, parent, _ in _walk(tree):
        if isinstance(node, ast.Nonlocal):
            bad.update(candidates & set(node.names))
        if not isinstance(node, ast.Name) or node.id not in candidates:
            continue
        use = keyed_use(node, parent)
        if use is None:
            bad.add(node.id)
        (stores if use == "store" else reads).add(node.id)
    return (stores & reads) - bad - _computed_from_itself(tree, candidates)
