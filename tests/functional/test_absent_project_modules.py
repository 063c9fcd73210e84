"""A module of a project package that is not there (an optional ``local_settings`` imported in
a ``try`` with an ``except ImportError`` fallback) counts as absent: the step reruns when it
appears or vanishes, by its code, and no edit of another module of the package reruns it (its
package counted as a third-party one by all its files, so any edit in ``pipelines/`` did)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = """\
    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.conf.settings import BATCH


    @step
    def sized() -> int:
        mark("sized")
        return BATCH * 2


    @pipeline
    def flow():
        sized()
    """

IMPORTS = {
    "relative": "from .local_settings import BATCH",
    "absolute": "from pipelines.conf.local_settings import BATCH",
    "module": "import pipelines.conf.local_settings as ls\n    BATCH = ls.BATCH",
}


@pytest.fixture(params=sorted(IMPORTS))
def optional(make_project: MakeProject, request: pytest.FixtureRequest) -> Project:
    project = make_project(
        {
            "pipelines/flow.py": FLOW,
            "pipelines/conf/__init__.py": "",
            "pipelines/conf/settings.py": (
                f"try:\n    {IMPORTS[request.param]}\nexcept ImportError:\n    BATCH = 32\n"
            ),
            "pipelines/conf/paths.py": "DATA = 'data'\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["sized"]
    return project


def test_an_edit_of_another_module_of_the_package_reruns_nothing(optional: Project) -> None:
    assert not any(k.startswith("pkg:") for k in optional.lock()["flow.sized"].facts.code)
    optional.edit("pipelines/conf/paths.py", "'data'", "'data'  # where the data is")
    optional.write({"pipelines/notes.py": "N = 1\n"})
    assert optional.dirty() == {}
    optional.repro()
    assert optional.take_ran() == []


def test_the_module_appearing_and_vanishing_reruns_the_step(
    optional: Project, tmp_path: Path
) -> None:
    optional.write({"pipelines/conf/local_settings.py": "BATCH = 5\n"})
    added = "+BATCH in pipelines/conf/local_settings.py"
    assert optional.dirty() == {"sized": [("code changed", added)]}
    optional.repro()
    assert optional.take_ran() == ["sized"]
    assert_same_as_scratch(optional, fresh_copy(optional, tmp_path / "fresh"))
    optional.edit("pipelines/conf/local_settings.py", "5", "6")
    assert optional.dirty() == {"sized": [("code changed", added[1:])]}
    optional.repro()
    assert optional.take_ran() == ["sized"]
    (optional.root / "pipelines/conf/local_settings.py").unlink()
    assert optional.dirty() == {"sized": [("code changed", "-" + added[1:])]}
    optional.repro()  # the result of the first run, kept in the cache, is taken again
    assert_same_as_scratch(optional, fresh_copy(optional, tmp_path / "fresh_again"))
    assert optional.dirty() == {}


def test_a_sourceless_module_counts_by_its_file(optional: Project) -> None:
    """A module that is there without a source (a ``.pyc`` beside the sources, as a compiled
    extension) is no absent one: the step reruns when it appears and when it changes."""
    import py_compile

    source = optional.root / "local.py"
    target = optional.root / "pipelines/conf/local_settings.pyc"
    for batch in (7, 8):
        source.write_text(f"BATCH = {batch}\n", encoding="utf-8")
        py_compile.compile(str(source), cfile=str(target), doraise=True)
        source.unlink()
        assert list(optional.dirty()) == ["sized"]
        optional.repro()
        assert optional.take_ran() == ["sized"]
        assert optional.python("-c", _READ).stdout.strip() == str(batch * 2)
    assert optional.lock()["flow.sized"].facts.code["pkg:pipelines"].startswith("files:")


_READ = (
    "from incr import Repository; "
    "print(Repository().get_pipeline('flow').runs[-1].get_step('sized').output.read())"
)
