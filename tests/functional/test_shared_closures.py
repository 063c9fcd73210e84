"""Two steps whose code reaches the same definitions never share a result.

A registry a helper fills makes every step that calls the helper reach the others through it,
and the functions one factory makes count by that factory: the step's own function still tells
them apart, from the first run on.
"""

from __future__ import annotations

from .conftest import MakeProject
from .test_factories import assert_like_scratch, values

REGISTRY = """\
    from incr import pipeline, step
    from pipelines.mark import mark

    SEEN = {}


    def make(name, value):
        SEEN[name] = value
        return value


    @step
    def one() -> int:
        mark("one")
        return make("one", 1)


    @step
    def two() -> int:
        mark("two")
        return make("two", 2)


    @pipeline
    def reg():
        one()
        two()
    """


def test_steps_that_fill_one_registry_keep_their_own_results(make_project: MakeProject) -> None:
    project = make_project({"pipelines/flow.py": REGISTRY})
    project.repro()
    assert sorted(project.take_ran()) == ["one", "two"]
    assert values(project) == {"one": 1, "two": 2}
    assert_like_scratch(project, "scratch")


FACTORY = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    def make(k):
        @step(name=f"first_{k}")
        def first() -> int:
            mark(f"first_{k}")
            return k

        @step(name=f"second_{k}")
        def second() -> int:
            mark(f"second_{k}")
            return 10 * k

        return first, second


    first_1, second_1 = make(1)


    @pipeline
    def fac():
        first_1()
        second_1()
    """


def test_two_functions_of_one_factory_keep_their_own_results(make_project: MakeProject) -> None:
    project = make_project({"pipelines/flow.py": FACTORY})
    project.repro()
    assert sorted(project.take_ran()) == ["first_1", "second_1"]
    assert values(project) == {"first_1": 1, "second_1": 10}
    project.repro()
    assert project.take_ran() == []
