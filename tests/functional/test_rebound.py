"""A repro after an edit inside a step body runs the saved graphs with the step objects of the
imported modules (``discovery.rebound``), and traces again whenever the saved graphs may not
hold for what was imported."""

from __future__ import annotations

import json

from incr import cachefile

from .conftest import MakeProject, Project

PIPELINE = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Scale(StepConfig):
        factor: int = 1


    @step
    def first() -> int:
        mark("first")
        return 1


    @step
    def second(config: Scale, x: int) -> int:
        mark("second")
        return x * config.factor


    @step
    def third(x: int) -> int:
        mark("third")
        return x + 100


    @pipeline
    def chain(a, b, c):
        c(b(a()))


    instance = chain(a=first(), b=second(Scale(factor=7)), c=third())
    """

# Opens the project as ``incr repro`` does after a status found a dirty step, with the
# graphs it loaded from the graph cache; ``edit`` changes a module in between.
SCRIPT = """\
    import dataclasses, json, pathlib, sys

    from incr.commands import find_project
    from incr.opening import load_graphs, open_pipelines
    from incr.session import Workspace

    project = find_project(pathlib.Path.cwd())
    workspace = Workspace(project)
    saved = load_graphs(project, workspace)
    assert saved is not None, "the graph cache should be valid"
    how = sys.argv[1]
    module = pathlib.Path("pipelines/chain.py")
    if how == "wiring":
        text = module.read_text().replace("@step\\ndef third", '@step(deps=["d.txt"])\\ndef third')
        module.write_text(text)
    elif how == "fewer":  # a saved graph without the last step
        graph = saved.pipelines[0].graph
        fewer = dataclasses.replace(graph, steps=graph.steps[:-1], order=graph.order[:-1])
        saved.pipelines[0] = dataclasses.replace(saved.pipelines[0], graph=fewer)
    _, pipelines = open_pipelines(project, workspace=workspace, saved=saved)
    traced = pipelines[0]
    print(json.dumps({
        "kept": traced.graph is saved.pipelines[0].graph,
        "names": [n.name for n in traced.graph.steps],
        "deps": {n.name: list(n.deps) for n in traced.graph.steps},
        "steps": {name: step.func.__name__ for name, step in traced.steps.items()},
        "factor": traced.configs["second"].factor,
        "run": traced.steps["second"].run_function(traced.configs["second"], {"x": 2}),
    }))
    """


def make(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/chain.py": PIPELINE, "opened.py": SCRIPT})
    (project.root / "d.txt").write_text("d")
    project.repro()
    assert project.take_ran() == ["first", "second", "third"]
    return project


def opened(project: Project, how: str) -> dict:
    result = project.python("opened.py", how)
    assert result.returncode == 0, result.output
    project.take_ran()
    return json.loads(result.stdout)


def value(project: Project, key: str) -> object:
    """The stored output of step ``key`` (a JSON value)."""
    digest = project.lock()[key].outputs["output"].digest
    return json.loads(project.object_bytes(digest))


def test_an_edit_inside_a_body_runs_the_edited_step_with_its_config(
    make_project: MakeProject,
) -> None:
    project = make(make_project)
    project.edit("pipelines/chain.py", "return x * config.factor", "return x * config.factor + 1")
    project.repro()
    assert project.take_ran() == ["second", "third"]
    assert value(project, "chain.third") == 108  # (1 * 7 + 1) + 100
    code = project.lock()["chain.second"].facts.code
    project.edit("pipelines/chain.py", "* config.factor + 1", "* config.factor + 2")
    project.repro()
    assert project.take_ran() == ["second", "third"]
    assert project.lock()["chain.second"].facts.code != code
    assert value(project, "chain.third") == 109


def test_an_edit_inside_a_body_runs_in_a_worker_process(make_project: MakeProject) -> None:
    """``--jobs``: the step objects of the rebound graph are what the workers run."""
    project = make(make_project)
    project.edit("pipelines/chain.py", "return x + 100", "return x + 200")
    project.repro("--jobs", "2")
    assert project.take_ran() == ["third"]
    assert value(project, "chain.third") == 207
    assert project.dirty() == {}


def test_what_incr_reads_to_check_the_saved_graphs_is_not_a_read_of_the_modules(
    make_project: MakeProject,
) -> None:
    """The check runs while the reads of the modules being imported are recorded: its own
    reads (``pyproject.toml``, the module files, the pipelines folder) are not theirs."""
    project = make(make_project)
    before = cachefile.read(project.root / ".pipecache/graph.bin")["key"]
    project.edit("pipelines/chain.py", "return x + 100", "return x + 101")
    project.repro()
    assert project.take_ran() == ["third"]
    after = cachefile.read(project.root / ".pipecache/graph.bin")["key"]
    assert sorted(after["modules"]) == sorted(before["modules"])
    assert after["learned"] == before["learned"] == {}
    assert all(not r.startswith("import:") for e in project.lock().values() for r in e.reads)


def test_the_saved_graphs_stand_for_the_trace_while_nothing_changed(
    make_project: MakeProject,
) -> None:
    found = opened(make(make_project), "nothing")
    assert found["kept"]
    assert found["steps"] == {"first": "first", "second": "second", "third": "third"}
    assert found["factor"] == 7 and found["run"] == 14


def test_a_wiring_edit_after_the_graphs_were_loaded_is_traced(make_project: MakeProject) -> None:
    found = opened(make(make_project), "wiring")
    assert not found["kept"]
    assert found["deps"]["third"] == ["d.txt"]
    assert found["factor"] == 7


def test_calls_that_are_not_the_saved_steps_are_traced(make_project: MakeProject) -> None:
    found = opened(make(make_project), "fewer")
    assert not found["kept"]
    assert found["names"] == ["first", "second", "third"]


# Runs discovery twice in one process, with the saved graphs and without, and compares.
SAME = """\
    import pathlib

    from incr import discovery, graphcache
    from incr.commands import find_project
    from incr.opening import load_graphs
    from incr.session import Workspace

    project = find_project(pathlib.Path.cwd())
    saved = load_graphs(project, Workspace(project))
    assert saved is not None, "the graph cache should be valid"
    known = {t.graph.name: t for t in saved.pipelines}
    orders = graphcache.known_orders(project)
    light = discovery.discover(project, orders, lambda: known)
    full = discovery.discover(project, orders)
    assert [t.graph.name for t in light] == [t.graph.name for t in full]
    for a, b in zip(light, full):
        assert a.graph is known[a.graph.name].graph, "the saved graph is used"
        assert a.graph == b.graph, a.graph.name
        assert a.code == b.code, a.graph.name
        assert a.steps.keys() == b.steps.keys()
        # the same step objects, or equal ones (``with_options`` makes new ones per call)
        for k in a.steps:
            assert type(a.steps[k]) is type(b.steps[k]), k
            assert vars(a.steps[k]) == vars(b.steps[k]), k
        assert a.configs == b.configs, a.graph.name
    print("same", sum(len(t.steps) for t in light))
    """


def _same_as_traced(make_project: MakeProject, files: dict[str, str], steps: int) -> None:
    project = make_project({**files, "same.py": SAME})
    project.repro()
    result = project.python("same.py")
    assert result.returncode == 0, result.output
    assert result.stdout.split() == ["same", str(steps)]


def test_rebound_pipelines_equal_traced_ones_nested_and_named(make_project: MakeProject) -> None:
    from .test_named_calls import GRID
    from .test_nested_pipelines import NESTED

    files = {
        "pipelines/nested.py": NESTED,
        "pipelines/grid.py": GRID,
        "pipelines/chain.py": PIPELINE,
        "data/a.csv": "1\n-2\n3\n",
        "data/b.csv": "10\n20\n",
        "d.txt": "d",
    }
    _same_as_traced(make_project, files, 7 + 6 + 3)


def test_rebound_pipelines_equal_traced_ones_ordered_by_after(make_project: MakeProject) -> None:
    from .conftest import FLOW_FILES
    from .test_zenml_options import ORDERED

    _same_as_traced(make_project, {**FLOW_FILES, "pipelines/report.py": ORDERED}, 5 + 3)


def test_rebound_pipelines_equal_traced_ones_from_factories_and_parameters(
    make_project: MakeProject,
) -> None:
    from .test_factories import FACTORY
    from .test_pipeline_params import CV

    _same_as_traced(make_project, {"pipelines/factory.py": FACTORY, "pipelines/cv.py": CV}, 9)
