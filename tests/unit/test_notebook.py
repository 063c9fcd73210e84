"""A notebook's code as one module (``incr.notebook``): each name keeps its latest definition,
whatever order the cells ran in; and which source files are a notebook's or a prompt's."""

from __future__ import annotations

import pytest

from incr.codeast import ModuleSource, definitions
from incr.codeindex import CodeIndex
from incr.notebook import NOTEBOOK, is_interactive, latest_definitions


def module(cells: list[str]) -> ModuleSource:
    return ModuleSource("__main__", NOTEBOOK, latest_definitions(cells))


def test_a_cell_run_again_after_an_edit_replaces_its_old_definitions() -> None:
    cells = ["K = 2\ndef f():\n    return K", "print(f())", "K = 3\ndef f():\n    return K"]
    source = module(cells)
    assert definitions(source, "K") == definitions(module(["K = 3"]), "K")
    assert len(definitions(source, "f")) == 1


def test_the_order_cells_ran_in_does_not_matter_for_the_latest_definitions() -> None:
    helpers, steps = "K = 2\ndef f():\n    return K", "def g():\n    return f()"
    edited = helpers.replace("K = 2", "K = 5")
    in_one_kernel = module([helpers, steps, edited])  # the helpers cell edited and run again
    in_a_new_one = module([edited, steps])
    for name in ("K", "f", "g"):
        assert definitions(in_one_kernel, name) == definitions(in_a_new_one, name)


def test_changes_in_place_add_to_a_name_until_it_is_bound_again() -> None:
    kept = module(["ITEMS = [1]", "ITEMS.append(2)"])
    assert len(definitions(kept, "ITEMS")) == 2
    rebound = module(["ITEMS = [1]", "ITEMS.append(2)", "ITEMS = []"])
    assert definitions(rebound, "ITEMS") == definitions(module(["ITEMS = []"]), "ITEMS")


def test_statements_binding_nothing_and_cells_that_do_not_parse_are_left_out() -> None:
    text = latest_definitions(["print(1)", "def f(:\n", "x = 1", "flow().run()"])
    assert text == "x = 1\n"


def test_identical_statements_are_kept_once() -> None:
    assert latest_definitions(["A.update(b=1)", "A.update(b=1)"]) == "A.update(b=1)\n"


def test_the_notebook_module_resolves_imports_of_project_modules() -> None:
    cells = ["from pipelines.helpers import scale", "def step():\n    return scale(2)"]
    sources = {
        "pipelines": ModuleSource("pipelines", "pipelines/__init__.py", "", True),
        "pipelines.helpers": ModuleSource(
            "pipelines.helpers", "pipelines/helpers.py", "def scale(v):\n    return v * 2\n"
        ),
        "__main__": module(cells),
    }
    parts = CodeIndex(sources.get).closure("__main__", "step").parts
    assert set(parts) == {"<notebook>:step", "pipelines/helpers.py:scale"}


@pytest.mark.parametrize(
    ("file", "interactive"),
    [
        ("/tmp/ipykernel_4242/1934455813.py", True),
        ("<stdin>", True),
        ("<ipython-input-3-5d3f1c2b>", True),
        ("<python-input-0>", True),
        ("/home/me/project/pipelines/flow.py", False),
        ("/tmp/ipykernel_4242/helpers.py", False),
        ("/tmp/build/123.py", False),
    ],
)
def test_which_files_are_a_notebook_or_a_prompt(file: str, interactive: bool) -> None:
    assert is_interactive(file) is interactive
