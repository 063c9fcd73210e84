"""Which edits of a module can change how its pipelines are wired (``graphcache``'s check).

A step's body never runs while the pipelines are imported and traced, so an edit inside the
body of a module-level ``@step`` function leaves the traced graphs as they were. A module's
*wiring* is its AST without those bodies; comments and layout never count. Two digests stand
for it:

- ``around``: the digest of the module's text with the lines of those bodies cut out
  (``moduletop.around_bodies``). Cheap: no AST is dumped. Equal texts around the cuts mean equal
  wiring. An edit inside a body, the usual edit, keeps it.
- ``tree``: the digest of the AST itself, bodies replaced by ``pass``, without positions.
  Computed only when ``around`` differs (a comment or the layout changed around the bodies,
  or the wiring did): for the text now and, unless it was saved, for the text the graphs
  were traced from (kept by the digest of its bytes, ``Project.kept_module``). Dumping the
  AST of a 10,000-step module takes 0.2 to 0.5 s: a first ``repro`` saves no ``tree``.

A module that may reach a step's body outside a run (``entrypoint``, ``func``, ``getattr`` of a
computed name, ``vars``, ``eval``...) is reported: then no edit keeps its graphs.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from incr.fingerprint import digest_bytes
from incr.readertable import LAST_NAMES

#: Attributes that reach a step's function outside a run (``my_step.entrypoint(...)``).
_BODY_ACCESS = frozenset({"entrypoint", "func", "__wrapped__", "run_function", "__dict__"})
#: Names that can reach it by other ways (``inspect.unwrap(my_step)()``, ``vars(my_step)``).
_DYNAMIC_ACCESS = frozenset({"unwrap", "vars", "eval", "exec", "__import__"})


@functools.cache
def _words() -> tuple[frozenset[bytes], frozenset[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """Made when a module's wiring is first computed (a no-op command computes none): the
    words that reach a body, and ``getattr``; the last names of the readers written in C (a
    text without one calls none of them); a word (a text's words are found in one pass, and
    each of those is a word of it: 2 ms for a 2,500-line module, against 4 ms for searching
    the two sets of words); ``import *``, the only form a star import takes (no parentheses,
    no comment before ``*``)."""
    access = frozenset(w.encode() for w in {*_BODY_ACCESS, *_DYNAMIC_ACCESS, "getattr"})
    native = frozenset(n.encode() for n in LAST_NAMES)
    return access, native, re.compile(rb"\w+"), re.compile(rb"\bimport[\s\\]*\*")


class Wiring:
    """What the wiring check learned of one module text."""

    def __init__(
        self,
        digest: str,
        around: str,
        runs_bodies: bool,
        parsed: Any,
        steps: list[Any],
        volatile: list[str] | None = None,
        native: list[str] | None = None,
        optional: list[str] | None = None,
    ) -> None:
        #: The digest of the text's bytes.
        self.digest = digest
        self.around = around
        #: Whether the module may reach a step's body outside a run.
        self.runs_bodies = runs_bodies
        #: Calls that wire the module's pipelines anew on each run (``incr.volatile``).
        self.volatile = volatile or []
        #: Files a reader written in C opens while the pipelines are wired.
        self.native = native or []
        #: Modules it imports only if they can be found (``volatile.optional_imports``).
        self.optional = optional or []
        self._parsed: Any = (parsed, steps)  # until ``tree`` is known
        self._tree: str | None = None

    def tree(self) -> str:
        """The digest of the AST without step bodies (computed once, when first asked)."""
        if self._tree is None:
            import ast
            import copy

            from incr.astnorm import dumped

            parsed, steps = self._parsed
            cut = {id(stmt) for stmt in steps}
            body = list(parsed.body)  # the parsed tree itself is left as it is
            for i, stmt in enumerate(body):
                if id(stmt) in cut:
                    body[i] = copy.copy(stmt)
                    body[i].body = [ast.Pass()]
            wired = ast.Module(body=body, type_ignores=parsed.type_ignores)
            self._tree = digest_bytes(dumped(wired).encode(), 32)
            self._parsed = None
        return self._tree

    def same_as(
        self,
        saved: Any,
        earlier: Callable[[], Wiring | None] = lambda: None,
        neutral: Callable[[Any], bool] = lambda tree: False,
    ) -> bool:
        """True when ``saved`` (an ``entry()[0]`` of an earlier text) is this wiring. The same
        text around the step bodies is the same tree: its digest is taken over, not computed.
        Another text around them is the same tree when ``neutral(tree)``, given the tree
        parsed from this text, says the edit since the earlier text changed comments and
        layout only (``editspan.neutral``); else the trees are compared: the saved one, or
        when none was saved that of ``earlier()``, the wiring of the earlier text (None: not
        known, not the same)."""
        around, tree = saved
        if around == self.around:
            if self._tree is None and tree is not None:
                self._tree, self._parsed = tree, None
            return tree is None or self._tree is None or self._tree == tree
        if self._parsed is not None and neutral(self._parsed[0]):
            if self._tree is None and tree is not None:
                self._tree, self._parsed = tree, None  # the same tree, so the same digest
            return True
        if tree is None:
            then = earlier()
            if then is None:
                return False
            tree = then.tree()
        return self.tree() == tree

    def entry(self) -> list[Any]:
        """What graph.bin keeps: ``[[around, tree], runs_bodies]``, ``tree`` None unless it
        was computed (see the module's notes)."""
        return [[self.around, self._tree], self.runs_bodies]


#: wiring_of's answers by the digest of the source: a ``repro`` checks the changed modules'
#: wiring when it loads the graphs and again when it saves them after tracing.
_wirings: dict[str, Wiring | None] = {}


def wiring_of(source: bytes, filename: str) -> Wiring | None:
    """The wiring of module text ``source``, or None when it does not parse."""
    digest = digest_bytes(source)
    key = f"{digest}:{filename}"
    if key not in _wirings:
        if len(_wirings) > 256:
            _wirings.clear()
        _wirings[key] = _wiring(source, filename, digest)
    return _wirings[key]


def _wiring(source: bytes, filename: str, digest: str) -> Wiring | None:
    import ast

    from incr.codeast import analysed_tree, hand_over
    from incr.moduletop import around_bodies
    from incr.volatile import native_reads, optional_imports, volatile_calls

    text: str | None = None
    if not source.startswith(b"\xef\xbb\xbf"):  # a byte-order mark: parsed from the bytes
        with contextlib.suppress(UnicodeDecodeError):
            text = source.decode("utf-8")  # as the code index reads it
    known = analysed_tree(text) if text is not None else None  # read here, never changed
    try:
        tree = known or ast.parse(source if text is None else text, filename=filename)
    except (SyntaxError, ValueError):
        return None
    words = set(_words()[2].findall(source))  # anywhere: comments and strings too
    names, modules, runs_bodies = _quick_scan(source, tree, words) or _scan(tree)
    steps = [
        stmt
        for stmt in tree.body
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_step(d, names, modules) for d in stmt.decorator_list)
    ]
    around = digest_bytes(around_bodies(source, steps), 32)
    if text is not None and known is None:
        hand_over(text, tree)  # the code index parses the changed module once, not twice
    volatile = volatile_calls(source, tree)
    natives: list[str] = []
    if not _words()[1].isdisjoint(words):  # a reader in C may open a file while wiring
        natives, unknown = native_reads(tree)
        volatile += [f"{call} of a path not known before it runs" for call in unknown]
    parts = filename.removeprefix("src/").removesuffix(".py").split("/")
    optional = optional_imports(source, tree, ".".join(parts[:-1]))
    return Wiring(digest, around, runs_bodies, tree, steps, volatile, natives, optional)


def _reaches_bodies(node: Any) -> bool:
    """True for an attribute or a call that may reach a step's function: the attributes
    above, and ``getattr`` of one of those attributes or of a computed name. (``_scan``
    checks the names.)"""
    import ast

    if isinstance(node, ast.Attribute):
        return node.attr in _BODY_ACCESS or node.attr in _DYNAMIC_ACCESS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
        name = node.args[1] if len(node.args) > 1 else None
        return not (isinstance(name, ast.Constant) and name.value not in _BODY_ACCESS)
    return False


def _scan(tree: Any) -> tuple[set[str], set[str], bool]:
    """In one walk of the module: the names bound to ``incr.step`` and to the ``incr`` module
    by its top-level imports and bound nowhere else in it (rebound, a name may decorate with
    anything; a star import may bind any name), and whether it may reach a step's body."""
    import ast

    from incr.astnorm import walked

    names, modules = _incr_names(tree)
    bound: Counter[str] = Counter()  # every binding of every name, at any depth
    star = runs_bodies = False
    for node in walked(tree):  # a 10,000-step module has some 230,000 nodes
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                bound[node.id] += 1
            runs_bodies = runs_bodies or node.id in _DYNAMIC_ACCESS
        elif isinstance(node, ast.Attribute | ast.Call):
            runs_bodies = runs_bodies or _reaches_bodies(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound[node.name] += 1
        elif isinstance(node, ast.alias):
            bound[(node.asname or node.name).split(".")[0]] += 1
            star = star or node.name == "*"
        elif isinstance(node, ast.arg):
            bound[node.arg] += 1
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound[node.name] += 1
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound[node.rest] += 1
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    if star:
        return set(), set(), runs_bodies
    return {n for n in names if bound[n] == 1}, {m for m in modules if bound[m] == 1}, runs_bodies


def _incr_names(tree: Any) -> tuple[set[str], set[str]]:
    """The names the module's top-level imports bind to ``incr.step`` (``from incr import
    step as s``) and to the ``incr`` module (``import incr``)."""
    import ast

    names: set[str] = set()
    modules: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "incr" and stmt.level == 0:
            names |= {a.asname or a.name for a in stmt.names if a.name == "step"}
        elif isinstance(stmt, ast.Import):
            modules |= {a.asname or a.name for a in stmt.names if a.name == "incr"}
    return names, modules


def _quick_scan(
    source: bytes, tree: Any, words: set[bytes] | None = None
) -> tuple[set[str], set[str], bool] | None:
    """``_scan``'s answer read off the text, without walking the tree; None when the text
    cannot tell. It tells for an ASCII text (no other spelling of a name: Python folds
    ``\uff53tep`` into ``step``) that has no star import and none of the ``words`` that may
    reach a body, and in which every occurrence of each name bound to ``step`` or ``incr`` is
    one of its top-level imports or one of the top-level decorators. A binding anywhere else
    (``step = ...``, ``def step``, ``global step``, an argument, a nested import) would be
    another occurrence of the word; so would a comment or a string naming it, which only
    sends the module to the walk."""
    import ast

    access, _, word, star = _words()
    words = set(word.findall(source)) if words is None else words
    if not source.isascii() or not access.isdisjoint(words) or star.search(source):
        return None
    names, modules = _incr_names(tree)
    if not names and not modules:
        return set(), set(), False
    imported: Counter[str] = Counter()  # the names the top-level imports bind
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            imported.update(a.asname or a.name for a in stmt.names)
    used: Counter[str] = Counter()  # the names the top-level decorators start with
    for stmt in tree.body:
        for decorator in getattr(stmt, "decorator_list", ()):
            head = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(head, ast.Attribute):
                head = head.value
            if isinstance(head, ast.Name):
                used[head.id] += 1
    for name in names | modules:
        found = len(re.findall(rb"\b%s\b" % name.encode(), source))
        if found != imported[name] + used[name]:
            return None
    return (
        {n for n in names if imported[n] == 1},
        {m for m in modules if imported[m] == 1},
        False,
    )


def _is_step(decorator: Any, names: set[str], modules: set[str]) -> bool:
    import ast

    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    if isinstance(decorator, ast.Name):
        return decorator.id in names
    return (
        isinstance(decorator, ast.Attribute)
        and decorator.attr == "step"
        and isinstance(decorator.value, ast.Name)
        and decorator.value.id in modules
    )
