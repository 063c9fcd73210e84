"""Pipelines run from a Jupyter notebook, in a real kernel (nbclient, ipykernel).

The project is the one of the kernel's working folder (not the temporary folder ipykernel
compiles cells into), a step is fingerprinted from its cell's source and the notebook-level
definitions it uses, editing a cell reruns exactly what changed, in the same kernel and in a
new one, and a new kernel running the same notebook reuses every result.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from .conftest import Project
from .test_factories import values

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

IMPORTS = "import dataclasses\n\nfrom incr import pipeline, step\n"

HELPERS = """\
FACTOR = 2


def scale(v):
    return v * FACTOR


def mark(name):
    with open("ran.txt", "a", encoding="utf-8") as fh:
        fh.write(name + "\\n")
"""

STEPS = '''\
@step(deps=["data.csv"])
def load() -> list:
    """Read the numbers next to the notebook."""
    mark("load")
    with open("data.csv", encoding="utf-8") as fh:
        return [int(line) for line in fh if line.strip()]


@step
def double(values: list) -> list:
    mark("double")
    return [scale(v) for v in values]


@step
def count() -> int:
    mark("count")
    return 7


def make(k):
    @step(name=f"times_{k}")
    def times() -> int:
        mark(f"times_{k}")
        return 10 * k

    return times


times_2, times_3 = make(2), make(3)


@dataclasses.dataclass
class Rate:
    value: int

    def apply(self, v):
        return v * self.value


def rated(rate):
    @step(name=f"rated_{rate.value}")
    def rated_step() -> int:
        mark(f"rated_{rate.value}")
        return rate.apply(10)

    return rated_step


rated_4 = rated(Rate(4))
'''

RUN = """\
@pipeline
def analysis():
    double(load())
    count()
    times_2()
    times_3()
    rated_4()


result = analysis().run()
print(json.dumps({"executed": result.executed, "cached": result.cached}))
"""


class Kernel:
    """A python3 Jupyter kernel working in ``folder``; code runs in it cell by cell."""

    def __init__(self, folder: Path) -> None:
        self.notebook = nbformat.v4.new_notebook()
        self.client = nbclient.NotebookClient(
            self.notebook,
            kernel_name="python3",
            timeout=120,
            resources={"metadata": {"path": str(folder)}},
        )
        self._kernel: Any = None

    def __enter__(self) -> Kernel:
        self._kernel = self.client.setup_kernel()
        self._kernel.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._kernel.__exit__(kind, exc, tb)

    def cell(self, source: str) -> str:
        """Run one cell; its printed output (an error in it fails the test)."""
        cell = nbformat.v4.new_code_cell(source)
        self.notebook.cells.append(cell)
        self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        streams = [out for out in cell.outputs if out["output_type"] == "stream"]
        return "".join(out["text"] for out in streams)

    def run(self) -> dict[str, list[str]]:
        """Run the pipeline cell: which steps executed and which were cached."""
        return did(self.cell(RUN))

    def notebook_file(self, path: Path) -> dict[str, list[str]]:
        """Run every cell of the notebook at ``path``; what its last ``.run()`` did."""
        printed = ""
        for cell in nbformat.read(path, as_version=4).cells:
            printed = self.cell(cell.source) or printed
        return did(printed)


def did(printed: str) -> dict[str, list[str]]:
    """What a ``.run()`` did, from the JSON line the pipeline cell prints last."""
    return json.loads(printed.strip().splitlines()[-1])


def write_notebook(path: Path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)


def edit_cell(path: Path, old: str, new: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    sources = [cell.source for cell in notebook.cells]
    assert sum(source.count(old) for source in sources) == 1, old
    write_notebook(path, [source.replace(old, new) for source in sources])


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project folder holding a notebook and the data file next to it."""
    project = Project(tmp_path / "project")
    project.write(
        {
            "pyproject.toml": '[project]\nname = "demo"\nversion = "0.0.0"\n',
            "data.csv": "1\n2\n3\n",
        }
    )
    write_notebook(project.root / "analysis.ipynb", [IMPORTS + "import json", HELPERS, STEPS, RUN])
    return project


ALL = ["load", "double", "count", "times_2", "times_3", "rated_4"]


def test_a_notebook_caches_in_its_project_and_reruns_what_an_edit_changed(
    project: Project,
) -> None:
    notebook = project.root / "analysis.ipynb"
    with Kernel(project.root) as kernel:
        assert kernel.notebook_file(notebook)["executed"] == ALL
        assert sorted(project.take_ran()) == sorted(ALL)
        assert project.lockfile.exists() and (project.root / ".pipecache").is_dir()
        assert "ipykernel" not in project.lockfile.read_text(encoding="utf-8")
        expected = {"load": [1, 2, 3], "double": [2, 4, 6], "count": 7, "times_2": 20}
        assert values(project) == {**expected, "times_3": 30, "rated_4": 40}

        # the same kernel: an edited cell run again reruns what uses it, nothing else
        edit_cell(notebook, "FACTOR = 2", "FACTOR = 5")
        assert kernel.notebook_file(notebook)["executed"] == ["double"]
        assert values(project)["double"] == [5, 10, 15]
        assert kernel.run()["executed"] == []
        assert project.take_ran() == ["double"]

        # a docstring and a comment change nothing; a factory's body reruns what it made
        edit_cell(notebook, "Read the numbers next to the notebook.", "Read the data.")
        edit_cell(notebook, "return 10 * k", "return 100 * k  # ten times more")
        assert kernel.notebook_file(notebook)["executed"] == ["times_2", "times_3"]
        assert values(project)["times_3"] == 300
        # a method of a notebook class the step captures an instance of
        edit_cell(notebook, "return v * self.value", "return v * self.value + 1")
        assert kernel.notebook_file(notebook)["executed"] == ["rated_4"]
        assert values(project)["rated_4"] == 41
        project.take_ran()

    # a new kernel running the same notebook reuses every result
    with Kernel(project.root) as kernel:
        assert kernel.notebook_file(notebook) == {"executed": [], "cached": ALL}
        assert project.take_ran() == []

        # the data file next to the notebook is a dep
        (project.root / "data.csv").write_text("1\n2\n", encoding="utf-8")
        assert kernel.run() == {"executed": ["load", "double"], "cached": ALL[2:]}
        assert project.take_ran() == ["load", "double"]
        assert values(project)["double"] == [5, 10]


def test_only_the_edited_cell_need_run_again(project: Project) -> None:
    notebook = project.root / "analysis.ipynb"
    with Kernel(project.root) as kernel:
        kernel.notebook_file(notebook)
        project.take_ran()
        # the helpers cell alone is edited and run again, then the pipeline cell
        kernel.cell(HELPERS.replace("FACTOR = 2", "FACTOR = 3"))
        assert kernel.run()["executed"] == ["double"]
        assert values(project)["double"] == [3, 6, 9]
        # and back: the earlier result is restored from the cache, not computed
        kernel.cell(HELPERS)
        assert kernel.run()["executed"] == []
        assert values(project)["double"] == [2, 4, 6]
    assert project.take_ran() == ["double"]


def test_a_notebook_outside_any_project_caches_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "data.csv").write_text("4\n", encoding="utf-8")
    write_notebook(folder / "n.ipynb", [IMPORTS + "import json", HELPERS, STEPS, RUN])
    with Kernel(folder) as kernel:
        assert kernel.notebook_file(folder / "n.ipynb")["executed"] == ALL
    with Kernel(folder) as kernel:
        assert kernel.notebook_file(folder / "n.ipynb")["executed"] == []
    assert (folder / "pipeline.lock").exists()
