"""Steps made by a factory, a closure, a loop or a lambda: the values their functions capture
(closure cells, default arguments, and what those refer to) are part of their fingerprint.

Two steps that capture different values never share a result, a value incr cannot digest makes
the step rerun every time (with a note saying so), an edit of the factory reruns what it made,
and ``--jobs 2`` gives the values and lockfile of a serial run.
"""

from __future__ import annotations

import shutil
from typing import Any

from incr import materializers

from .conftest import MakeProject, Project

FLOW = "pipelines/flow.py"


def values(project: Project) -> dict[str, Any]:
    """Each step's output value, read from the cache through the lockfile."""
    found = {}
    for key, entry in project.lock().items():
        artifact = entry.outputs["output"]
        data = project.object_bytes(artifact.digest)
        found[key.split(".", 1)[1]] = materializers.load(artifact.kind, data)
    return found


def from_scratch(project: Project, where: str = "scratch") -> Project:
    """A copy of ``project`` without its cache and lockfile, brought up to date."""
    copy = Project(project.root.parent / where)
    shutil.copytree(project.root, copy.root, ignore=shutil.ignore_patterns(".pipecache"))
    copy.lockfile.unlink(missing_ok=True)
    (copy.root / "ran.txt").unlink(missing_ok=True)
    copy.repro()
    return copy


def assert_like_scratch(project: Project, where: str) -> None:
    scratch = from_scratch(project, where)
    assert values(project) == values(scratch)
    assert project.lock_bytes() == scratch.lock_bytes()


# ---------------------------------------- closure cells

FACTORY = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    OFFSET = 0.0


    def make_scaler(name, k):
        @step(name=f"scale_{name}")
        def scale() -> float:
            mark(f"scale_{name}")
            return 10.0 * k + OFFSET

        return scale


    def unrelated():
        return 1


    scale_a = make_scaler("a", 2)
    scale_b = make_scaler("b", 3)


    @step
    def total(a: float, b: float) -> float:
        mark("total")
        return a + b


    @pipeline
    def flow():
        total(scale_a(), scale_b())
    """


def test_factory_steps_with_other_closure_values_never_share_a_result(
    make_project: MakeProject,
) -> None:
    project = make_project({FLOW: FACTORY})
    result = project.repro()
    assert "Using cached version" not in result.output
    assert sorted(project.take_ran()) == ["scale_a", "scale_b", "total"]
    assert values(project) == {"scale_a": 20.0, "scale_b": 30.0, "total": 50.0}
    lock = project.lock()
    assert lock["flow.scale_a"].fingerprint != lock["flow.scale_b"].fingerprint
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_changed_factory_argument_reruns_only_the_step_it_made(
    make_project: MakeProject,
) -> None:
    project = make_project({FLOW: FACTORY})
    project.repro()
    project.take_ran()
    project.edit(FLOW, 'make_scaler("b", 3)', 'make_scaler("b", 4)')
    assert project.dirty() == {
        "scale_b": [("code changed", "captured k")],
        "total": [("after", "scale_b")],
    }
    project.repro()
    assert project.take_ran() == ["scale_b", "total"]
    assert values(project) == {"scale_a": 20.0, "scale_b": 40.0, "total": 60.0}
    assert_like_scratch(project, "scratch")


def test_editing_the_factory_body_reruns_the_steps_it_made(make_project: MakeProject) -> None:
    project = make_project({FLOW: FACTORY})
    project.repro()
    project.take_ran()
    project.edit(FLOW, "return 1\n", "return 2\n")  # a function the steps do not use
    assert project.dirty() == {}
    project.edit(FLOW, "return 10.0 * k + OFFSET", "return 100.0 * k + OFFSET")
    dirty = project.dirty()
    assert dirty["scale_a"] == dirty["scale_b"] == [("code changed", "make_scaler in " + FLOW)]
    project.repro()
    assert sorted(project.take_ran()) == ["scale_a", "scale_b", "total"]
    assert values(project) == {"scale_a": 200.0, "scale_b": 300.0, "total": 500.0}
    assert_like_scratch(project, "scratch")


def test_a_module_constant_used_by_the_inner_function_counts(make_project: MakeProject) -> None:
    project = make_project({FLOW: FACTORY})
    project.repro()
    project.take_ran()
    project.edit(FLOW, "OFFSET = 0.0", "OFFSET = 1.0")
    assert set(project.dirty()) == {"scale_a", "scale_b", "total"}
    project.repro()
    assert values(project) == {"scale_a": 21.0, "scale_b": 31.0, "total": 52.0}


HELPER_FACTORY = {
    "pipelines/helpers.py": """\
        def square(v):
            return v * v


        def cube(v):
            return v * v * v
        """,
    FLOW: """\
        from incr import pipeline, step
        from pipelines.helpers import cube, square
        from pipelines.mark import mark


        def apply(fn, value):
            @step(name=f"apply_{fn.__name__}")
            def run() -> float:
                mark(f"apply_{fn.__name__}")
                return float(fn(value))

            return run


        by_square = apply(square, 3)
        by_cube = apply(cube, 3)


        @pipeline
        def flow():
            by_square()
            by_cube()
        """,
}


def test_a_captured_project_function_counts_by_its_code(make_project: MakeProject) -> None:
    project = make_project(HELPER_FACTORY)
    project.repro()
    assert values(project) == {"apply_square": 9.0, "apply_cube": 27.0}
    project.take_ran()
    project.edit("pipelines/helpers.py", "return v * v * v", "return v * v * v + 1")
    assert project.dirty() == {"apply_cube": [("code changed", "cube in pipelines/helpers.py")]}
    project.repro()
    assert project.take_ran() == ["apply_cube"]
    assert values(project) == {"apply_square": 9.0, "apply_cube": 28.0}


# ---------------------------------------- default arguments and lambdas

DEFAULTS = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    STEPS = []
    for k in (2, 3):

        @step(name=f"times_{k}")
        def times(k=k) -> int:
            mark(f"times_{k}")
            return 100 * k

        STEPS.append(times)


    def make(j):
        @step(name=f"kw_{j}")
        def kw(*, j=j) -> int:
            mark(f"kw_{j}")
            return j + 1

        return kw


    kw_5, kw_6 = make(5), make(6)


    @pipeline
    def flow():
        for made in STEPS:
            made()
        kw_5()
        kw_6()
    """


def test_default_arguments_are_captured_values(make_project: MakeProject) -> None:
    project = make_project({FLOW: DEFAULTS})
    result = project.repro()
    assert "Using cached version" not in result.output
    assert values(project) == {"times_2": 200, "times_3": 300, "kw_5": 6, "kw_6": 7}
    project.take_ran()
    project.edit(FLOW, "for k in (2, 3):", "for k in (2, 4):")
    project.repro()  # the loop that made both steps changed
    assert project.take_ran() == ["times_2", "times_4"]
    assert values(project) == {"times_2": 200, "times_4": 400, "kw_5": 6, "kw_6": 7}
    assert_like_scratch(project, "scratch")


LAMBDAS = """\
    from incr import pipeline, step

    SQUARES = [step(name=f"square_{n}")(lambda n=n: n * n) for n in range(3)]
    LATE = [step(name=f"late_{n}")(lambda: n * 10) for n in range(2)]  # all see the last n
    FACTOR = 3
    TRIPLE = step(name="triple")(lambda: 7 * FACTOR)


    @pipeline
    def flow():
        for made in [*SQUARES, *LATE, TRIPLE]:
            made()
    """


def test_lambdas_made_in_a_loop_keep_their_own_values(make_project: MakeProject) -> None:
    project = make_project({FLOW: LAMBDAS})
    project.repro()
    expected = {"square_0": 0, "square_1": 1, "square_2": 4, "late_0": 10, "late_1": 10}
    assert values(project) == {**expected, "triple": 21}
    assert project.dirty() == {}
    project.edit(FLOW, "FACTOR = 3", "FACTOR = 4")  # a module constant a lambda reads
    assert set(project.dirty()) == {"triple"}
    project.repro()
    assert values(project) == {**expected, "triple": 28}
    assert_like_scratch(project, "scratch")


# ---------------------------------------- values: arrays, configs, undigestable objects

ARRAYS = """\
    import numpy as np
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Weights(StepConfig):
        scale: float = 1.0


    def summing(name, array, weights):
        @step(name=name)
        def total() -> float:
            mark(name)
            return float(array.sum()) * weights.scale

        return total


    small = summing("small", np.arange(3), Weights())
    large = summing("large", np.arange(4), Weights(scale=2.0))


    @pipeline
    def flow():
        small()
        large()
    """


def test_captured_arrays_and_configs_count_by_value(make_project: MakeProject) -> None:
    project = make_project({FLOW: ARRAYS})
    project.repro()
    assert values(project) == {"small": 3.0, "large": 12.0}
    project.take_ran()
    project.edit(FLOW, "np.arange(4)", "np.arange(4, dtype=np.int32)")  # other bytes, same sum
    assert project.dirty() == {"large": [("code changed", "captured array")]}
    project.edit(FLOW, "Weights(scale=2.0)", "Weights(scale=3.0)")
    project.repro()
    assert project.take_ran() == ["large"]
    assert values(project) == {"small": 3.0, "large": 18.0}
    assert_like_scratch(project, "scratch")


UNDIGESTABLE = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    class Booster:
        def predict(self, x):
            return x + 1


    def scorer(model):
        @step
        def score() -> int:
            mark("score")
            return model.predict(1)

        return score


    @step
    def plain() -> int:
        mark("plain")
        return 1


    score = scorer(Booster())


    @pipeline
    def flow():
        score()
        plain()
    """


def test_an_undigestable_capture_makes_the_step_rerun_with_a_note(
    make_project: MakeProject,
) -> None:
    project = make_project({FLOW: UNDIGESTABLE})
    project.repro()
    assert project.take_ran() == ["score", "plain"]
    (step,) = [s for s in project.status()["steps"] if s["step"] == "score"]
    assert [r["kind"] for r in step["reasons"]] == ["cache disabled"]
    note = (
        "score captures model (a Booster), which incr cannot digest: the step always reruns; "
        "pass it as a step input or a config"
    )
    assert step["notes"] == [note]
    assert "note: " + note in project.incr("status").stdout
    project.repro()
    assert project.take_ran() == ["score"]
    assert values(project) == {"score": 2, "plain": 1}


# ---------------------------------------- parallel runs


def test_jobs_give_the_values_and_lockfile_of_a_serial_run(make_project: MakeProject) -> None:
    files = {FLOW: FACTORY, "pipelines/more.py": LAMBDAS.replace("def flow", "def lambdas")}
    project = make_project(files)
    parallel = project.incr("repro", "--jobs", "2")
    assert parallel.returncode == 0, parallel.output
    assert "Using cached version" not in parallel.output
    serial = from_scratch(project)
    assert values(project) == values(serial)
    assert values(project)["scale_b"] == 30.0
    assert project.lock_bytes() == serial.lock_bytes()


IMPORT_MARK = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:  # counts imports of the module
        _fh.write("flow\\n")
    """


def test_a_no_op_status_knows_the_captures_without_importing(make_project: MakeProject) -> None:
    project = make_project(
        {
            FLOW: IMPORT_MARK + FACTORY,
            "pipelines/more.py": UNDIGESTABLE.replace("def flow", "def more"),
        }
    )
    project.repro()
    (project.root / "imported.txt").unlink()
    steps = {s["step"]: s for s in project.status()["steps"]}
    assert not (project.root / "imported.txt").exists()
    assert not steps["scale_a"]["dirty"] and not steps["scale_b"]["dirty"]
    assert steps["score"]["dirty"] and steps["score"]["notes"]
    project.edit(FLOW, 'make_scaler("b", 3)', 'make_scaler("b", 4)')
    assert project.dirty()["scale_b"] == [("code changed", "captured k")]


def test_a_factory_making_two_steps_of_one_name_says_how_to_name_them(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {
            "pipelines/made.py": """\
                from incr import pipeline, step


                def make_scaler(k):
                    @step
                    def scale() -> int:
                        return k

                    return scale


                @pipeline
                def made():
                    make_scaler(2)()
                    make_scaler(3)()
                """
        }
    )
    result = project.incr("repro")
    assert result.returncode == 2
    assert "two different steps are named 'scale', both made at pipelines/made.py:" in result.stderr
    assert "@step(name=...) in the factory" in result.stderr
