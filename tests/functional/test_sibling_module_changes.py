"""What a sibling pipeline module changes in a project module as it is imported counts for a
step by what the step reads: ``settings.OPT.lr = 0.5`` for a step reading ``settings.OPT``,
not ``settings.EXTRA = 2`` there too (``incr.registries``, ``coderesolve``)."""

from __future__ import annotations

from .conftest import MakeProject, Project

SETTINGS = """\
    from dataclasses import dataclass


    @dataclass
    class Opt:
        lr: float = 0.1


    OPT = Opt()
    EXTRA = 1
    """

#: A config object that does not count by its value (it holds an object): by its code alone.
OBJECT_SETTINGS = """\
    class Opt:
        def __init__(self):
            self.lr = 0.1
            self.lock = object()


    OPT = Opt()
    EXTRA = 1
    """

FLOW = """\
    from incr import pipeline, step
    from pipelines import settings
    from pipelines.mark import mark


    @step
    def fit() -> float:
        mark("fit")
        return READ


    @step
    def show(value: float) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(str(value))


    @pipeline
    def flow():
        show(fit())
    """

OVERRIDE = """\
    from pipelines import settings

    settings.OPT.lr = 0.5
    settings.EXTRA = 2
    """


def _project(make_project: MakeProject, settings: str, read: str, override: str) -> Project:
    project = make_project(
        {
            "pipelines/settings.py": settings,
            "pipelines/m_flow.py": FLOW.replace("READ", read),
            "pipelines/z_over.py": override,
        }
    )
    project.repro()
    assert project.take_ran() == ["fit"]
    return project


def test_a_value_a_sibling_sets_that_a_step_does_not_read_leaves_it_clean(
    make_project: MakeProject,
) -> None:
    """Before, the statement counted under ``settings``, all that the sibling changes in it:
    a new ``EXTRA`` reran the step, saying ``value of EXTRA``."""
    project = _project(make_project, SETTINGS, "settings.OPT.lr", OVERRIDE)
    assert project.read("shown.txt") == "0.5"
    project.edit("pipelines/z_over.py", "EXTRA = 2", "EXTRA = 3")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/z_over.py", "lr = 0.5", "lr = 0.7")
    assert "fit" in project.dirty()
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "0.7"


def test_a_value_a_sibling_sets_that_a_step_reads_reruns_it(make_project: MakeProject) -> None:
    project = _project(make_project, SETTINGS, "settings.OPT.lr + settings.EXTRA", OVERRIDE)
    assert project.read("shown.txt") == "2.5"
    project.edit("pipelines/z_over.py", "EXTRA = 2", "EXTRA = 3")
    assert project.dirty()["fit"] == [("code changed", "value of EXTRA in pipelines/settings.py")]
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "3.5"


def test_a_config_object_a_sibling_changes_counts_by_that_statement(
    make_project: MakeProject,
) -> None:
    """An object that does not count by its value counts by the statements that change it."""
    project = _project(make_project, OBJECT_SETTINGS, "settings.OPT.lr", OVERRIDE)
    project.edit("pipelines/z_over.py", "EXTRA = 2", "EXTRA = 3")
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/z_over.py", "lr = 0.5", "lr = 0.7")
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "0.7"


def test_a_sibling_that_imports_the_config_object_by_name_counts_alike(
    make_project: MakeProject,
) -> None:
    """``from pipelines.settings import OPT`` then ``OPT.lr = 0.5``; a call whose result
    sets the other value (which might change anything) keeps the step rerunning."""
    override = """\
        import os

        from pipelines import settings
        from pipelines.settings import OPT

        OPT.lr = 0.5
        settings.EXTRA = 2
        settings.LEVEL = int(os.environ.get("LEVEL", "1"))
        """
    project = _project(make_project, SETTINGS, "settings.OPT.lr", override)
    project.edit("pipelines/z_over.py", "EXTRA = 2", "EXTRA = 3")
    project.repro()
    assert project.take_ran() == []
    project.edit("pipelines/z_over.py", '"LEVEL", "1"', '"LEVEL", "2"')
    project.repro()
    assert project.take_ran() == ["fit"]
    project.edit("pipelines/z_over.py", "lr = 0.5", "lr = 0.6")
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "0.6"
