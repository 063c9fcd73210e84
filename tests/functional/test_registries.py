"""Tables filled by registration decorators: a step that reads ``MODELS[name]`` reruns when a
definition registered in ``MODELS`` changes, wherever it is registered, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .fresh import assert_same_as_fresh, outputs

REGISTRY = "pipelines/registry.py"
MODELS = "pipelines/models.py"
KINDS = "pipelines/kinds.py"
TOOLS = "pipelines/tools.py"

FILES = {
    REGISTRY: """\
        MODELS = {}
        TOOLS = []


        def register(name):
            def deco(fn):
                MODELS[name] = fn
                return fn

            return deco


        def tool(fn):
            TOOLS.append(fn)
            return fn


        class Registry:
            def __init__(self):
                self._items = {}

            def register(self, name):
                def deco(fn):
                    self._items[name] = fn
                    return fn

                return deco

            def __getitem__(self, name):
                return self._items[name]


        KINDS = Registry()
        """,
    MODELS: """\
        from pipelines.registry import register


        @register("lin")
        def lin(x):
            return 2 * x


        @register("sq")
        class Square:
            power = 2

            def __call__(self, x):
                return x**self.power


        def cube(x):
            return x**3


        register("cube")(cube)


        def unregistered(x):
            return x
        """,
    KINDS: """\
        from pipelines.registry import KINDS


        @KINDS.register("double")
        def double(x):
            return x * 2
        """,
    TOOLS: """\
        from pipelines.registry import tool


        @tool
        def hammer():
            return "bang"
        """,
    "pipelines/flow.py": """\
        import pipelines.kinds  # noqa: F401  (fills KINDS)
        import pipelines.models  # noqa: F401  (fills MODELS)
        import pipelines.tools  # noqa: F401  (fills TOOLS)
        from incr import StepConfig, pipeline, step
        from pipelines.mark import mark
        from pipelines.registry import KINDS, MODELS


        class FitConfig(StepConfig):
            name: str = "lin"


        @step
        def fit(config: FitConfig) -> list:
            mark("fit")
            return [MODELS[config.name](v) for v in (1, 2, 3)]


        @step
        def kind() -> int:
            mark("kind")
            return KINDS["double"](21)


        @step
        def plain() -> int:
            mark("plain")
            return 1


        @pipeline
        def flow():
            fit(config=FitConfig(name="lin"))
            fit(config=FitConfig(name="cube"))
            kind()
            plain()
        """,
}
ORDER = ["fit", "fit", "kind", "plain"]


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    project = make_project(FILES)
    project.repro()
    assert project.take_ran() == ORDER
    return project


def dirty(project: Project) -> dict[str, list[tuple[str, str]]]:
    steps = project.status()["steps"]
    return {
        s["step"]: [(r["kind"], r["detail"]) for r in s["reasons"]] for s in steps if s["dirty"]
    }


def test_editing_a_decorated_definition_reruns_the_step(project: Project, tmp_path: Path) -> None:
    before = outputs(project)
    project.edit(MODELS, "return 2 * x", "return 3 * x")
    reason = [("code changed", "lin in pipelines/models.py")]
    assert dirty(project) == {"fit": reason, "fit_2": reason}
    project.repro()
    assert project.take_ran() == ["fit", "fit"]
    assert outputs(project) != before
    assert_same_as_fresh(project, tmp_path / "fresh")

    project.edit(MODELS, "return 3 * x", "return 2 * x")  # revert: restored, not rerun
    assert set(dirty(project)) == {"fit", "fit_2"}
    project.repro()
    assert project.take_ran() == []
    assert outputs(project) == before


def test_a_registration_by_a_plain_call_counts(project: Project, tmp_path: Path) -> None:
    project.edit(MODELS, "return x**3", "return x**3 + 1")
    assert dirty(project)["fit_2"] == [("code changed", "cube in pipelines/models.py")]
    project.repro()
    assert sorted(project.take_ran()) == ["fit", "fit"]
    assert_same_as_fresh(project, tmp_path / "fresh")


@pytest.mark.parametrize(
    "line",
    ['from pipelines import registry\nregistry.MODELS["cube"] = cube', 'MODELS["cube"] = cube'],
)
def test_an_item_set_in_a_table_of_another_module_counts_for_its_readers_only(
    project: Project, tmp_path: Path, line: str
) -> None:
    """``registry.MODELS["cube"] = cube`` (or ``MODELS["cube"] = cube``, ``MODELS`` imported)
    registers as ``register("cube")(cube)`` does: the steps that read ``MODELS`` take it in,
    not every step of a module that imports the one registering it."""
    project.edit(MODELS, 'register("cube")(cube)', line)
    project.edit(MODELS, "import register\n", "import MODELS, register\n")
    assert set(dirty(project)) <= {"fit", "fit_2"}, dirty(project)  # the form: its readers
    project.repro()
    assert set(project.take_ran()) <= {"fit"}
    project.edit(MODELS, "return x**3", "return x**3 + 1")
    assert set(dirty(project)) == {"fit", "fit_2"}, dirty(project)  # not kind, not plain
    project.repro()
    assert sorted(project.take_ran()) == ["fit", "fit"]
    assert_same_as_fresh(project, tmp_path / "fresh")
    project.edit(MODELS, 'MODELS["cube"] = cube', 'MODELS["cubed"] = cube')  # another key
    assert set(dirty(project)) == {"fit", "fit_2"}, dirty(project)


def test_a_decorated_class_counts(project: Project) -> None:
    project.edit(MODELS, "power = 2", "power = 3")
    assert dirty(project)["fit"] == [("code changed", "Square in pipelines/models.py")]


def test_a_method_of_a_registry_instance_as_decorator(project: Project, tmp_path: Path) -> None:
    project.edit(KINDS, "return x * 2", "return x * 4")
    assert dirty(project) == {"kind": [("code changed", "double in pipelines/kinds.py")]}
    project.repro()
    assert project.take_ran() == ["kind"]
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_a_new_registered_definition_in_a_new_module_counts(
    project: Project, tmp_path: Path
) -> None:
    project.write(
        {
            "pipelines/extra.py": """\
                from pipelines.registry import register


                @register("neg")
                def neg(x):
                    return -x
                """
        }
    )
    reason = [("code changed", "+neg in pipelines/extra.py")]
    # Counted as soon as the module exists (a rerun for nothing at worst, never a stale one).
    assert dirty(project) == {"fit": reason, "fit_2": reason}
    project.edit(
        MODELS,
        "from pipelines.registry import register\n",
        "import pipelines.extra  # noqa: F401\nfrom pipelines.registry import register\n",
    )
    assert dirty(project) == {"fit": reason, "fit_2": reason}
    project.repro()
    assert project.take_ran() == ["fit", "fit"]
    assert_same_as_fresh(project, tmp_path / "fresh")


def test_unrelated_edits_rerun_nothing(project: Project) -> None:
    project.edit(MODELS, "def lin(x):", "def lin(x):  # the linear model")
    project.edit(MODELS, "    return x\n", "    return x + 1\n")  # not registered
    project.edit(TOOLS, 'return "bang"', 'return "boom"')  # registered in another table
    project.write(
        {
            "tests/test_models.py": """\
                from pipelines.registry import register


                @register("fake")
                def fake(x):
                    return 0
                """
        }
    )
    assert dirty(project) == {}
    project.repro()
    assert project.take_ran() == []


def test_a_table_filled_from_entry_points_gives_a_note(make_project: MakeProject) -> None:
    registry = """\
        from importlib.metadata import entry_points

        PLUGINS = {}


        def load_plugins():
            for ep in entry_points(group="demo.plugins"):
                PLUGINS[ep.name] = ep.load()
        """
    flow = """\
        from incr import pipeline, step
        from pipelines.registry import PLUGINS, load_plugins


        @step
        def use() -> int:
            load_plugins()
            return len(PLUGINS)


        @pipeline
        def flow():
            use()
        """
    project = make_project({REGISTRY: registry, "pipelines/flow.py": flow})
    project.repro()
    text = project.incr("status")
    notes = [line.strip() for line in text.stdout.splitlines() if "note:" in line]
    assert notes == [
        "note: PLUGINS filled in pipelines/registry.py:load_plugins: incr cannot see which code "
        "this reaches; list it with @step(code_deps=[...]) or change @step(version=...) when "
        "it changes"
    ], text.stdout


PICKED_BY_NAME = """\
    import importlib

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def train(arch: str = "lin") -> int:
        mark("train")
        model = importlib.import_module(f"pipelines.models.{arch}")
        return model.score()


    @step
    def report(score: int) -> None:
        print("SCORE", score)


    @pipeline
    def flow():
        report(train())
    """


def test_a_module_imported_by_a_name_computed_from_a_known_start_counts(
    make_project: MakeProject,
) -> None:
    """``import_module(f"pipelines.models.{arch}")``: every project module whose name starts
    so counts for the step, so an edit of the one it picks reruns it (its result was stale
    before: only a note said incr could not follow the name), and so does a new one."""
    project = make_project(
        {
            "pipelines/models/__init__.py": "",
            "pipelines/models/lin.py": "def score():\n    return 1\n",
            "pipelines/models/tree.py": "def score():\n    return 2\n",
            "pipelines/flow.py": PICKED_BY_NAME,
        }
    )
    assert "SCORE 1" in project.repro().output
    assert project.take_ran() == ["train"]
    assert project.status()["steps"][0]["notes"] == []
    project.edit("pipelines/models/lin.py", "return 1", "return 10")
    assert project.dirty() == {
        "train": [
            ("code changed", "module in pipelines/models/lin.py, score in pipelines/models/lin.py")
        ],
        "report": [("after", "train")],
    }
    assert "SCORE 10" in project.repro().output
    (project.root / "pipelines/models/svm.py").write_text("def score():\n    return 3\n")
    assert set(project.dirty()) == {"train", "report"}
