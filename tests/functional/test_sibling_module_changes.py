"""What a sibling pipeline module changes in a project module as it is imported counts for a
step by what the step reads: ``settings.OPT.lr = 0.5`` for a step reading ``settings.OPT``,
not ``settings.EXTRA = 2`` there too (``incr.registries``, ``coderesolve``)."""

from __future__ import annotations

import pytest

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


STEPS = """\
    from incr import pipeline, step
    IMPORTS
    from pipelines.mark import mark


    @step
    def fit() -> int:
        mark("fit")
        return READ


    @step
    def show(value: int) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(str(value))


    @pipeline
    def flow():
        show(fit())
    """

SETS_WIDTH = """\
    from pipelines import consts

    consts.WIDTH = 20
    """


def _width_project(make_project: MakeProject, imports: str, read: str, **files: str) -> Project:
    project = make_project(
        {
            "pipelines/consts.py": "WIDTH = 10\n",
            "pipelines/m_steps.py": STEPS.replace(
                "IMPORTS", imports.replace("\n", "\n    ")
            ).replace("READ", read),
            **{f"pipelines/{name}.py": text for name, text in files.items()},
        }
    )
    project.repro()
    assert project.take_ran() == ["fit"]
    return project


def test_a_value_set_after_a_module_imported_it_by_name_leaves_its_steps_clean(
    make_project: MakeProject,
) -> None:
    """``from pipelines.consts import WIDTH`` binds 10 as m_steps is imported, before z_late
    sets ``consts.WIDTH``: the step reads 10 whatever z_late sets. Before, each edit of z_late
    reran it (value of WIDTH in pipelines/consts.py)."""
    project = _width_project(
        make_project, "from pipelines.consts import WIDTH", "WIDTH", z_late=SETS_WIDTH
    )
    assert project.read("shown.txt") == "10"
    project.edit("pipelines/z_late.py", "WIDTH = 20", "WIDTH = 30")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.read("shown.txt") == "10"


@pytest.mark.parametrize(
    ("imports", "setter"),
    [
        ("from pipelines.consts import WIDTH", "a_early"),  # discovery imports it first
        ("import pipelines.z_set\nfrom pipelines.consts import WIDTH", "z_set"),
    ],
    ids=["module-sorted-before", "imported-before-the-name"],
)
def test_a_value_set_before_a_module_imports_it_by_name_counts(
    make_project: MakeProject, imports: str, setter: str
) -> None:
    """Set before the import, the value is the one the module's name holds."""
    project = _width_project(make_project, imports, "WIDTH", **{setter: SETS_WIDTH})
    assert project.read("shown.txt") == "20"
    project.edit(f"pipelines/{setter}.py", "WIDTH = 20", "WIDTH = 30")
    assert project.dirty()["fit"] == [("code changed", "value of WIDTH in pipelines/m_steps.py")]
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "30"


def test_a_value_read_on_its_module_as_the_step_runs_counts_when_set_after(
    make_project: MakeProject,
) -> None:
    project = _width_project(
        make_project, "from pipelines import consts", "consts.WIDTH", z_late=SETS_WIDTH
    )
    assert project.read("shown.txt") == "20"
    project.edit("pipelines/z_late.py", "WIDTH = 20", "WIDTH = 30")
    assert project.dirty()["fit"] == [("code changed", "value of WIDTH in pipelines/consts.py")]
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "30"


def test_a_name_imported_by_name_that_a_sibling_sets_again_counts(
    make_project: MakeProject,
) -> None:
    """``m_steps.WIDTH = 7`` in a sibling: the step reads 7. Before, the step counted
    consts.WIDTH alone, and an edit to 8 left it clean with 7."""
    project = _width_project(
        make_project,
        "from pipelines.consts import WIDTH",
        "WIDTH",
        z_late="from pipelines import m_steps\n\nm_steps.WIDTH = 7\n",
    )
    assert project.read("shown.txt") == "7"
    project.edit("pipelines/z_late.py", "WIDTH = 7", "WIDTH = 8")
    assert "fit" in project.dirty()
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "8"


def test_values_a_steps_module_sets_count_for_the_steps_reading_each(
    make_project: MakeProject,
) -> None:
    """``config.A = 2`` and ``config.B = 3`` at the top level of the steps' own module: a new
    ``A`` reruns the step reading it alone. Before, both statements were the module's
    top-level code, and an edit of either reran every step of the module."""
    project = make_project(
        {
            "pipelines/config.py": "A = 1\nB = 1\n",
            "pipelines/flow.py": """\
                from incr import pipeline, step
                from pipelines import config
                from pipelines.mark import mark

                config.A = 2
                config.B = 3


                @step
                def read_a() -> int:
                    mark("read_a")
                    return config.A


                @step
                def read_b() -> int:
                    mark("read_b")
                    return config.B


                @pipeline
                def flow():
                    read_a()
                    read_b()
                """,
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["read_a", "read_b"]
    project.edit("pipelines/flow.py", "config.A = 2", "config.A = 5")
    assert list(project.dirty()) == ["read_a"]
    project.repro()
    assert project.take_ran() == ["read_a"]
    assert project.dirty() == {}


MODELS = """\
    from abc import ABC
    from decimal import Decimal


    class Model:
        def predict(self, x):
            return x * 2


    def scale(x):
        return x * 2


    class Numberish(ABC):
        pass
    """

USES_THEM = """\
    from decimal import Decimal

    from incr import pipeline, step
    from pipelines import models
    from pipelines.mark import mark
    from pipelines.models import Model, Numberish


    @step
    def run() -> str:
        mark("run")
        kind = "num" if isinstance(Decimal(1), Numberish) else "other"
        return f"{Model().predict(5)} {models.scale(5)} {kind}"


    @step
    def show(value: str) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(value)


    @pipeline
    def flow():
        show(run())
    """

#: Imported by discovery alone: no module a step uses imports it.
PATCHES = """\
    from decimal import Decimal

    from pipelines import models
    from pipelines.models import Model, Numberish


    def fast_predict(self, x):
        return x * 2 + 100


    def fast_scale(x):
        return x * 3


    Model.predict = fast_predict
    models.scale = fast_scale
    Numberish.register(Decimal)
    """


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("x * 2 + 100", "x * 2 + 200", "210 15 num"),  # a method patched onto a class
        ("x * 3", "x * 4", "110 20 num"),  # a module's function rebound
        ("Numberish.register(Decimal)", "Numberish.register(float)", "110 15 other"),
    ],
    ids=["method", "function", "abc-register"],
)
def test_what_a_sibling_patches_into_a_definition_a_step_uses_counts(
    make_project: MakeProject, old: str, new: str, shown: str
) -> None:
    """``Model.predict = fast_predict``, ``models.scale = fast_scale`` and
    ``Numberish.register(Decimal)`` at the top level of a module no step imports change the
    class, the function, the ABC a step uses: an edit there reruns the step. Before, the step
    stayed clean with the old result (a run from scratch gave the new one). They count as
    process-wide settings do (``incr.processwide``): for every step run after them."""
    project = make_project(
        {
            "pipelines/models.py": MODELS,
            "pipelines/m_flow.py": USES_THEM,
            "pipelines/z_patches.py": PATCHES,
        }
    )
    _an_edit_reruns_run(project, "pipelines/z_patches.py", (old, new), ("110 15 num", shown))


def _an_edit_reruns_run(
    project: Project, path: str, edit: tuple[str, str], shown: tuple[str, str]
) -> None:
    """Run the project (``run`` shows ``shown[0]``), make ``edit`` in ``path``: ``run`` is
    dirty for code changed there, and executes again to show ``shown[1]``."""
    project.repro()
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == shown[0]
    project.edit(path, *edit)
    (kind, detail), *_ = project.dirty()["run"]
    assert kind == "code changed" and f"in {path}" in detail, detail
    project.repro()
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == shown[1]
    assert project.dirty() == {}


FEATURIZER = """\
    from functools import singledispatchmethod


    class Featurizer:
        @singledispatchmethod
        def feat(self, x):
            return str(x)
    """

LIST_HANDLER = """\
    from pipelines.feat import Featurizer


    @Featurizer.feat.register
    def _(self, x: list):
        return "list:" + ",".join(map(str, x))
    """

FEATURES = """\
    import pipelines.feat_ext  # noqa: F401  (registers the list handler)
    from incr import pipeline, step
    from pipelines.feat import Featurizer
    from pipelines.mark import mark


    @step
    def run() -> str:
        mark("run")
        return Featurizer().feat([1, 2])


    @step
    def show(value: str) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(value)


    @pipeline
    def flow():
        show(run())
    """


def test_a_handler_registered_on_a_singledispatchmethod_elsewhere_counts(
    make_project: MakeProject,
) -> None:
    """``@Featurizer.feat.register`` in another module adds the handler ``Featurizer().feat``
    runs for a list: an edit of it reruns the step (before, it stayed clean with ``list:1,2``
    where a run from scratch gives ``LIST:1,2``)."""
    project = make_project(
        {
            "pipelines/feat.py": FEATURIZER,
            "pipelines/feat_ext.py": LIST_HANDLER,
            "pipelines/m_flow.py": FEATURES,
        }
    )
    edit = ('"list:"', '"LIST:"')
    _an_edit_reruns_run(project, "pipelines/feat_ext.py", edit, ("list:1,2", "LIST:1,2"))
