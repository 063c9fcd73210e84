"""incr/registries.py through CodeIndex: a table filled by decorators counts with everything
registered in it, wherever the registrations are; values incr cannot trace give a note."""

from __future__ import annotations

import textwrap

import pytest

from incr.codeast import ModuleSource
from incr.codeindex import CodeIndex
from incr.fingerprint import PROJECT_MODULES, CodeClosure

REGISTRY = """
    MODELS = {}


    def register(name):
        def deco(fn):
            MODELS[name] = fn
            return fn

        return deco


    def get(name):
        return MODELS[name]
    """
MODELS = """
    from pipelines.registry import register


    @register("lin")
    def lin(x):
        return 2 * x


    @register("sq")
    def sq(x):
        return x * x


    def unregistered(x):
        return x
    """
FLOW = """
    from pipelines.registry import MODELS


    def step(name, x):
        return MODELS[name](x)
    """
BASE = {"pipelines.registry": REGISTRY, "pipelines.models": MODELS, "pipelines.flow": FLOW}


class Lister:
    """The project's module names, counting how often they are asked for."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls = 0

    def __call__(self) -> list[str]:
        self.calls += 1
        return self.names


def index(modules: dict[str, str], lister: Lister | None = None) -> CodeIndex:
    sources = {"pipelines": ""} | modules
    loaded = {}
    for name, text in sources.items():
        package = name == "pipelines"
        path = name.replace(".", "/") + ("/__init__.py" if package else ".py")
        loaded[name] = ModuleSource(name, path, textwrap.dedent(text), package)
    return CodeIndex(loaded.get, project=lister or Lister(sorted(sources)))


def closure(modules: dict[str, str], name: str = "step") -> CodeClosure:
    return index(modules).closure("pipelines.flow", name)


def parts(modules: dict[str, str], name: str = "step") -> dict[str, str]:
    return closure(modules, name).parts


def edited(modules: dict[str, str], module: str, old: str, new: str) -> dict[str, str]:
    text = textwrap.dedent(modules[module])
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {module}"
    return {**modules, module: text.replace(old, new)}


def changed(modules: dict[str, str], module: str, old: str, new: str) -> set[str]:
    before, after = parts(modules), parts(edited(modules, module, old, new))
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


# --------------------------------------------------------------------------- decorators


def test_definitions_registered_by_a_decorator_in_another_module_count() -> None:
    assert set(parts(BASE)) == {
        "pipelines/flow.py:step",
        "pipelines/registry.py:MODELS",
        "pipelines/registry.py:MODELS.<order>",  # the order they fill it in
        "pipelines/registry.py:register",
        "pipelines/models.py:lin",
        "pipelines/models.py:sq",
    }


def test_editing_a_registered_definition_changes_the_closure() -> None:
    assert changed(BASE, "pipelines.models", "2 * x", "3 * x") == {"pipelines/models.py:lin"}


def test_cosmetic_and_unrelated_edits_keep_the_closure() -> None:
    assert changed(BASE, "pipelines.models", "return x\n", "return x + 1\n") == set()
    assert changed(BASE, "pipelines.models", "def lin(x):", "def lin(x):  # linear") == set()


def test_a_step_reaching_the_table_through_a_function_counts_the_registrations() -> None:
    flow = "from pipelines.registry import get\n\n\ndef step(name, x):\n    return get(name)(x)\n"
    assert "pipelines/models.py:lin" in parts({**BASE, "pipelines.flow": flow})


def test_another_table_s_registrations_do_not_count() -> None:
    other = """
        OTHER = []


        def plugin(fn):
            OTHER.append(fn)
            return fn


        @plugin
        def tool():
            return 1
        """
    modules = {**BASE, "pipelines.other": other}
    assert not any("other.py" in p for p in parts(modules))
    assert changed(modules, "pipelines.other", "return 1", "return 2") == set()


def test_a_class_decorator_and_a_decorated_class_count() -> None:
    registry = """
        MODELS = {}


        class register:
            def __init__(self, name):
                self.name = name

            def __call__(self, cls):
                MODELS[self.name] = cls()
                return cls
        """
    models = """
        from pipelines.registry import register


        @register("lin")
        class Lin:
            def __call__(self, x):
                return 2 * x
        """
    modules = {**BASE, "pipelines.registry": registry, "pipelines.models": models}
    assert {"pipelines/registry.py:register", "pipelines/models.py:Lin"} <= set(parts(modules))
    assert closure(modules).dynamic == ()


def test_a_method_of_a_registry_instance_as_decorator() -> None:
    registry = """
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


        MODELS = Registry()
        """
    models = """
        from pipelines import registry


        @registry.MODELS.register("lin")
        def lin(x):
            return 2 * x
        """
    modules = {**BASE, "pipelines.registry": registry, "pipelines.models": models}
    assert "pipelines/models.py:lin" in parts(modules)
    assert changed(modules, "pipelines.models", "2 * x", "3 * x") == {"pipelines/models.py:lin"}


def test_a_class_holding_the_table_with_a_classmethod_decorator() -> None:
    registry = """
        class Registry:
            items = {}

            @classmethod
            def register(cls, name):
                def deco(fn):
                    cls.items[name] = fn
                    return fn

                return deco
        """
    models = """
        from pipelines.registry import Registry


        @Registry.register("lin")
        def lin(x):
            return 2 * x
        """
    flow = """
        from pipelines.registry import Registry


        def step(name, x):
            return Registry.items[name](x)
        """
    modules = {"pipelines.registry": registry, "pipelines.models": models, "pipelines.flow": flow}
    assert "pipelines/models.py:lin" in parts(modules)


def test_a_decorator_taking_the_table_as_an_argument() -> None:
    registry = """
        MODELS = {}


        def register_in(table, name):
            def deco(fn):
                table[name] = fn
                return fn

            return deco
        """
    models = """
        from pipelines.registry import MODELS, register_in


        @register_in(MODELS, "lin")
        def lin(x):
            return 2 * x
        """
    modules = {**BASE, "pipelines.registry": registry, "pipelines.models": models}
    assert "pipelines/models.py:lin" in parts(modules)


def test_a_decorator_that_calls_the_registrar_counts_too() -> None:
    models = """
        from pipelines.registry import register


        def model(name):
            return register("model-" + name)


        @model("lin")
        def lin(x):
            return 2 * x
        """
    modules = {**BASE, "pipelines.models": models}
    assert {"pipelines/models.py:model", "pipelines/models.py:lin"} <= set(parts(modules))


# --------------------------------------------------------------------------- plain calls


def test_a_registrar_applied_as_a_plain_call() -> None:
    models = """
        from pipelines.registry import register


        def lin(x):
            return 2 * x


        def sq(x):
            return x * x


        register("lin")(lin)
        sq = register("sq")(sq)
        """
    modules = {**BASE, "pipelines.models": models}
    found = parts(modules)
    assert {"pipelines/models.py:register()", "pipelines/models.py:sq"} <= set(found)
    assert "pipelines/models.py:lin" in found
    assert changed(modules, "pipelines.models", "2 * x", "3 * x") == {"pipelines/models.py:lin"}
    assert "pipelines/models.py:register()" in changed(
        modules, "pipelines.models", 'register("lin")', 'register("linear")'
    )


def test_assignments_and_method_calls_in_another_module_count() -> None:
    models = """
        from pipelines.registry import MODELS


        def lin(x):
            return 2 * x


        def sq(x):
            return x * x


        MODELS["lin"] = lin
        MODELS.update({"sq": sq})
        """
    modules = {**BASE, "pipelines.models": models}
    assert {"pipelines/models.py:lin", "pipelines/models.py:sq"} <= set(parts(modules))


def test_a_table_filled_at_run_time_by_a_function_follows_what_it_stores() -> None:
    registry = """
        MODELS = {}


        def setup():
            MODELS.setdefault("lin", lin)


        def lin(x):
            return 2 * x
        """
    modules = {**BASE, "pipelines.registry": registry}
    result = closure(modules)
    assert {"pipelines/registry.py:setup", "pipelines/registry.py:lin"} <= set(result.parts)
    assert result.dynamic == ()


# --------------------------------------------------------------------------- notes


def test_a_table_filled_from_entry_points_gives_a_note() -> None:
    registry = """
        from importlib.metadata import entry_points

        MODELS = {}


        def load_plugins():
            for ep in entry_points(group="models"):
                MODELS[ep.name] = ep.load()
        """
    modules = {**BASE, "pipelines.registry": registry}
    assert closure(modules).dynamic == ("MODELS filled in pipelines/registry.py:load_plugins",)


def test_a_module_level_loop_over_entry_points_gives_a_note() -> None:
    registry = """
        from importlib.metadata import entry_points

        MODELS = {}
        for ep in entry_points(group="models"):
            MODELS[ep.name] = ep.load()
        """
    modules = {**BASE, "pipelines.registry": registry}
    assert closure(modules).dynamic == ("MODELS filled at pipelines/registry.py:5",)


def test_registrations_of_traceable_values_give_no_note() -> None:
    assert closure(BASE).dynamic == ()


# --------------------------------------------------------------------------- cost


def test_no_table_no_scan() -> None:
    helpers = "SCALE = 3\n\n\ndef helper(x):\n    return x * SCALE\n"
    flow = "from pipelines.helpers import helper\n\n\ndef step(x):\n    return helper(x)\n"
    lister = Lister(["pipelines", "pipelines.flow", "pipelines.helpers"])
    result = index({"pipelines.helpers": helpers, "pipelines.flow": flow}, lister).closure(
        "pipelines.flow", "step"
    )
    assert lister.calls == 0
    assert PROJECT_MODULES not in result.modules


def test_a_scan_makes_the_closure_depend_on_every_project_module() -> None:
    modules = {**BASE, "pipelines.unrelated": "X = 1\n"}
    lister = Lister(sorted(["pipelines", *modules]))
    code = index(modules, lister)
    result = code.closure("pipelines.flow", "step")
    assert lister.calls == 1
    assert {PROJECT_MODULES, "pipelines.unrelated", "pipelines.models"} <= result.modules
    code.closure("pipelines.flow", "step")
    assert lister.calls == 1  # scanned once per index


def test_standard_library_values_are_not_tables() -> None:
    flow = """
        import logging
        from pathlib import Path

        DATA = Path("data")
        LOG = logging.getLogger(__name__)


        def step():
            LOG.info("x")
            return DATA
        """
    lister = Lister(["pipelines", "pipelines.flow"])
    index({"pipelines.flow": flow}, lister).closure("pipelines.flow", "step")
    assert lister.calls == 0


def test_a_module_that_does_not_parse_registers_nothing() -> None:
    modules = {**BASE, "pipelines.broken": "def oops(:\n    MODELS = 1\n"}
    result = closure(modules)
    assert "pipelines/models.py:lin" in result.parts
    assert "pipelines.broken" in result.modules  # fixing it recomputes the closure


SINGLEDISPATCH = {
    "pipelines.core": """
        import functools


        @functools.singledispatch
        def featurize(x):
            return x
        """,
    "pipelines.ext": """
        from pipelines.core import featurize


        @featurize.register(list)
        def _(x):
            return [v * 10 for v in x]
        """,
    "pipelines.flow": """
        from pipelines.core import featurize


        def step(x):
            return featurize(x)
        """,
}


def test_an_implementation_registered_in_a_singledispatch_function_counts():
    before = parts(SINGLEDISPATCH)
    assert "pipelines/ext.py:_" in before
    text = textwrap.dedent(SINGLEDISPATCH["pipelines.ext"]).replace("v * 10", "v * 100")
    after = parts({**SINGLEDISPATCH, "pipelines.ext": text})
    assert after["pipelines/ext.py:_"] != before["pipelines/ext.py:_"]


SUBCLASSED = {
    "pipelines.base": """
        class Model:
            registry = {}

            def __init_subclass__(cls, name=None, **kw):
                super().__init_subclass__(**kw)
                Model.registry[name] = cls


        class Loss:
            @classmethod
            def create(cls, name):
                return {c.__name__: c for c in cls.__subclasses__()}[name]()


        class RegMeta(type):
            def __new__(mcs, name, bases, ns):
                made = super().__new__(mcs, name, bases, ns)
                BLOCKS[name] = made
                return made


        BLOCKS = {}
        """,
    "pipelines.models": """
        from pipelines.base import Loss, Model, RegMeta


        class Linear(Model, name="lin"):
            def predict(self, x):
                return 2 * x


        class MSE(Loss):
            def __call__(self, x):
                return x * x


        class Scale(metaclass=RegMeta):
            k = 2
        """,
    "pipelines.flow": """
        from pipelines.base import BLOCKS, Loss, Model


        def registered(x):
            return Model.registry["lin"]().predict(x)


        def listed(x):
            return Loss.create("MSE")(x)


        def made(x):
            return BLOCKS["Scale"].k * x
        """,
}


@pytest.mark.parametrize(
    ("step", "old", "new", "part"),
    [
        ("registered", "2 * x", "3 * x", "pipelines/models.py:Linear"),
        ("listed", "x * x", "x + x", "pipelines/models.py:MSE"),
        ("made", "k = 2", "k = 3", "pipelines/models.py:Scale"),
    ],
    ids=["init-subclass", "subclasses", "metaclass"],
)
def test_a_class_registered_by_being_defined_counts(step, old, new, part) -> None:
    before = parts(SUBCLASSED, step)
    assert part in before
    text = textwrap.dedent(SUBCLASSED["pipelines.models"]).replace(old, new)
    after = parts({**SUBCLASSED, "pipelines.models": text}, step)
    assert after[part] != before[part]
