"""incr/astnorm.py: ``dumped`` gives ``ast.dump``'s very text (code digests are made of it)."""

import ast
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incr.astnorm import dumped

EVERY_KIND = '''
from __future__ import annotations
import os.path as p, sys
from . import sibling
from ..parent import (a as b, c)

@decorator(1, *args, key=2, **kw)
async def f(x: int, /, y=3, *rest: str, z, w: float = 1.5, **more) -> list[int]:
    """A docstring."""
    global G
    async with open(x) as fh, other():
        async for item in fh:
            yield item
    await g()
    return [i async for i in h() if i]

class C(Base, metaclass=Meta):
    x: int = 0
    y: "str"
    def method(self):
        nonlocal_test = lambda a, *b, c=1, **d: (a, b, c, d)
        return {k: v for k, v in {}.items()}, {s for s in ()}, (g for g in [])

match command:
    case [1, 2, *rest]:
        pass
    case {"k": v, **others}:
        pass
    case Point(x=0, y=yy) | None as whole if whole:
        pass
    case _:
        pass

try:
    raise ValueError("x") from None
except* (TypeError, ValueError) as group:
    del group
else:
    x = y = 1
finally:
    assert x, f"{x!r:>{width}} {y=}"
while not x:
    x += 1 if x else -1; break
for i, (j, k) in enumerate([]):
    continue
with a as (b, c):
    print(b[1:2, ::3], c[...], -x ** 2 @ y, x is not y, x not in y, 1 < x <= 2)
value = (walrus := 10) and b"bytes" or 1j or None or True
type_comment = 1  # type: int
'''


def _stdlib_files() -> list[Path]:
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


@pytest.mark.parametrize("text", [EVERY_KIND, "", "pass", "x = 1\n" * 3])
def test_dumped_is_ast_dump(text: str) -> None:
    tree = ast.parse(text, type_comments=True)
    assert dumped(tree) == ast.dump(tree)
    for node in ast.walk(tree):
        assert dumped(node) == ast.dump(node)


def test_dumped_is_ast_dump_on_the_standard_library() -> None:
    files = _stdlib_files()
    assert len(files) > 100
    for path in files:
        tree = ast.parse(path.read_bytes(), filename=str(path))
        assert dumped(tree) == ast.dump(tree), path


_NODES = [n for n in ast.walk(ast.parse(EVERY_KIND, type_comments=True)) if n._fields]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(_NODES))), st.data())
def test_dumped_is_ast_dump_with_fields_missing_or_none(index: int, data: st.DataObject) -> None:
    """Trees made by hand or changed by incr (a step body cut to ``pass``) may lack a field or
    hold None where Python put a value: ``ast.dump`` leaves out a missing field, and a None
    whose class default is None, and writes ``name=None`` otherwise."""
    original = _NODES[index]
    node = type(original)(**{f: getattr(original, f) for f in original._fields})
    for field in original._fields:
        change = data.draw(st.sampled_from(["keep", "drop", "none"]), label=field)
        if change == "drop":
            delattr(node, field)
        elif change == "none":
            setattr(node, field, None)
    assert dumped(node) == ast.dump(node)
