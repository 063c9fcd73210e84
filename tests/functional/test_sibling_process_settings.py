"""What a pipeline module no step imports (discovery imports it) does at its top level to the
whole process counts for the steps: a library's process-wide setting (``incr.processwide``)
and a class made by ``type(name, (Base,), ns)`` deriving from a registering class
(``incr.subclasses``)."""

from __future__ import annotations

from .conftest import MakeProject, Project

DISPLAY = """\
    import numpy as np

    PRECISION = 2
    np.set_printoptions(precision=PRECISION)
    LABEL = "display"
    """

SHOW = """\
    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def show() -> str:
        mark("show")
        return str(np.array([1 / 3, 2 / 3]))


    @step
    def keep(text: str) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(text)


    @pipeline
    def flow():
        keep(show())
    """

PRECISION = """\
    import decimal

    decimal.getcontext().prec = 4
    """

DIVIDED = """\
    from decimal import Decimal

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def count() -> str:
        mark("count")
        return str(Decimal(1) / Decimal(3))


    @step
    def keep(n: str) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(n)


    @pipeline
    def flow():
        keep(count())
    """


def _project(make_project: MakeProject, files: dict[str, str], first: str) -> Project:
    project = make_project(files)
    project.repro()
    assert project.take_ran() == [first]
    return project


def test_a_print_option_a_sibling_sets_reruns_the_steps(make_project: MakeProject) -> None:
    """Before, ``precision=5`` there left ``show`` clean with ``[0.33 0.67]``."""
    files = {"pipelines/display.py": DISPLAY, "pipelines/m_flow.py": SHOW}
    project = _project(make_project, files, "show")
    assert project.read("shown.txt") == "[0.33 0.67]"
    project.edit("pipelines/display.py", "PRECISION = 2", "PRECISION = 5")
    assert project.dirty()["show"] == [("code changed", "PRECISION in pipelines/display.py")]
    project.repro()
    assert project.take_ran() == ["show"]
    assert project.read("shown.txt") == "[0.33333 0.66667]"
    project.edit("pipelines/display.py", "precision=PRECISION", "precision=PRECISION - 3")
    reasons = dict(project.dirty()["show"])
    assert "<process-wide settings> in pipelines/display.py" in reasons["code changed"]
    project.repro()
    assert project.take_ran() == ["show"]
    assert project.read("shown.txt") == "[0.33 0.67]"


def test_other_statements_of_the_sibling_rerun_nothing(make_project: MakeProject) -> None:
    files = {"pipelines/display.py": DISPLAY, "pipelines/m_flow.py": SHOW}
    project = _project(make_project, files, "show")
    project.edit("pipelines/display.py", 'LABEL = "display"', 'LABEL = "shown"\nprint(LABEL)')
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    project.write({"pipelines/z_other.py": "import numpy as np\n\nTABLE = np.arange(3)\n"})
    project.repro()
    assert project.take_ran() == []


def test_a_decimal_context_a_sibling_sets_reruns_the_steps(make_project: MakeProject) -> None:
    """``decimal.getcontext().prec = 4`` in a sibling: a standard library setting counts for
    steps that import no package. (Warning filters and logging set-up count for none: what
    steps print or log, see test_top_level_code.py.)"""
    files = {"pipelines/a_prec.py": PRECISION, "pipelines/m_flow.py": DIVIDED}
    project = _project(make_project, files, "count")
    assert project.read("shown.txt") == "0.3333"
    project.edit("pipelines/a_prec.py", "prec = 4", "prec = 6")
    assert "count" in project.dirty()
    project.repro()
    assert project.take_ran() == ["count"]
    assert project.read("shown.txt") == "0.333333"


BASE = """\
    class Scaler:
        registry = {}
        k = 1

        def __init_subclass__(cls, **kw):
            super().__init_subclass__(**kw)
            Scaler.registry[cls.__name__] = cls

        def apply(self, x):
            return x * self.k
    """

VARIANTS = """\
    from pipelines.base import Scaler

    SPECS = {"Double": 2, "Triple": 3}
    for _name, _k in SPECS.items():
        type(_name, (Scaler,), {"k": _k})
    Half = type("Half", (Scaler,), {"k": 0.5})
    NOTE = "variants"
    """

APPLY = """\
    from incr import pipeline, step
    from pipelines.base import Scaler
    from pipelines.mark import mark


    @step
    def run() -> str:
        mark("run")
        return ",".join(f"{n}={c().apply(10)}" for n, c in sorted(Scaler.registry.items()))


    @step
    def keep(text: str) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(text)


    @pipeline
    def flow():
        keep(run())
    """


def test_classes_a_sibling_makes_with_type_count_as_subclasses(
    make_project: MakeProject,
) -> None:
    """Before, an edit of a value of ``SPECS`` left ``run`` clean with ``Triple=30``."""
    files = {"pipelines/base.py": BASE, "pipelines/variants.py": VARIANTS}
    project = _project(make_project, {**files, "pipelines/m_flow.py": APPLY}, "run")
    assert project.read("shown.txt") == "Double=20,Half=5.0,Triple=30"
    project.edit("pipelines/variants.py", '"Triple": 3}', '"Triple": 30}')
    assert "run" in project.dirty()
    project.repro()
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == "Double=20,Half=5.0,Triple=300"
    project.edit("pipelines/variants.py", '"k": 0.5', '"k": 0.25')
    project.repro()
    assert project.take_ran() == ["run"]
    assert project.read("shown.txt") == "Double=20,Half=2.5,Triple=300"
    project.edit("pipelines/variants.py", 'NOTE = "variants"', 'NOTE = "other"')
    assert project.dirty() == {}
