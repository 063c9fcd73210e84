"""The run order a checked graph keeps (``PipelineGraph.order``): ``incr.dag`` reads order,
ancestors and descendants off it, and agrees with ``incr.graph`` on every shape, which agrees
with networkx on any graph; learned edges that contradict it make ``incr.graph`` order the
graph again."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incr import cachefile, dag
from incr import graph as graphs
from incr.errors import GraphError
from incr.model import Facts, InputRef, LockEntry, PipelineGraph, StepNode

from .test_graph_shapes import SETTINGS, pipelines


def _checked(graph: PipelineGraph) -> PipelineGraph | None:
    with contextlib.suppress(GraphError):
        return graphs.check(graph)
    return None


@SETTINGS
@given(pipelines(), st.data())
def test_the_kept_order_answers_like_networkx(graph: PipelineGraph, data: st.DataObject) -> None:
    checked = _checked(graph)
    if checked is None:
        assert not dag.has_order(graph)
        return
    names = [n.name for n in graph.steps]
    wanted = data.draw(st.sets(st.sampled_from(names), min_size=1))
    one = data.draw(st.sampled_from(names))

    assert dag.has_order(checked) and checked == graph
    assert dag.order(checked) == graphs.order(graph)
    assert list(checked.order) == [n.name for n in graphs.order(graph)]
    assert dag.ancestors(checked, wanted) == graphs.ancestors(graph, wanted)
    assert dag.descendants(checked, one) == graphs.descendants(graph, one)


@SETTINGS
@given(pipelines(), st.data())
def test_order_ancestors_and_descendants_answer_as_networkx(
    graph: PipelineGraph, data: st.DataObject
) -> None:
    """The run order is networkx's lexicographical topological sort keyed by body order;
    ancestors and descendants are networkx's, on any graph (cycles included)."""
    import networkx as nx

    g = graphs.to_networkx(graph)
    names = [n.name for n in graph.steps]
    wanted = data.draw(st.sets(st.sampled_from(names), min_size=1))
    one = data.draw(st.sampled_from(names))
    assert graphs.descendants(graph, one) == nx.descendants(g, one)
    assert graphs.ancestors(graph, wanted) == wanted.union(*(nx.ancestors(g, n) for n in wanted))
    index = {n.name: i for i, n in enumerate(graph.steps)}
    try:
        expected = list(nx.lexicographical_topological_sort(g, index.get))
    except nx.NetworkXUnfeasible:
        with pytest.raises(GraphError, match="has a cycle"):
            graphs.order(graph)
        return
    assert [n.name for n in graphs.order(graph)] == expected


def node(name: str, *inputs: str) -> StepNode:
    refs = {f"in_{s}": InputRef(s, "output") for s in inputs}
    return StepNode("p", name, name, "pipelines/p.py", {}, refs, ("output",), (), ())


def test_a_graph_never_checked_has_no_order() -> None:
    graph = PipelineGraph("p", "pipelines/p.py", (node("a"), node("b", "a")))

    with pytest.raises(ValueError, match="no run order"):
        dag.order(graph)
    assert [n.name for n in dag.order(graphs.check(graph))] == ["a", "b"]


def test_a_learned_edge_against_the_order_orders_the_graph_again() -> None:
    graph = graphs.check(PipelineGraph("p", "pipelines/p.py", (node("use"), node("write"))))
    entry = LockEntry("p.use", "fp", Facts({}, {}, {}, {}), {}, {"data/notes.txt": "d"})

    learned, _ = graphs.with_learned(graph, {"p.use": entry}, {"p.write": ("data/notes.txt",)})

    assert graph.order == ("use", "write")
    assert learned.order == ("write", "use")
    assert dag.ancestors(learned, {"use"}) == {"use", "write"}
    assert dag.descendants(learned, "write") == {"use"}


def test_a_learned_edge_along_the_order_keeps_it() -> None:
    graph = graphs.check(PipelineGraph("p", "pipelines/p.py", (node("write"), node("use"))))
    entry = LockEntry("p.use", "fp", Facts({}, {}, {}, {}), {}, {"data/notes.txt": "d"})

    learned, _ = graphs.with_learned(graph, {"p.use": entry}, {"p.write": ("data/notes.txt",)})

    assert learned.learned == (("write", "use"),)
    assert learned.order is graph.order


def test_the_order_module_imports_no_networkx() -> None:
    code = "import sys, incr.dag, incr.graph; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@SETTINGS
@given(pipelines())
def test_an_order_known_by_shape_is_the_one_networkx_gives(graph: PipelineGraph) -> None:
    """A graph takes a known order only when it has that order's shape: then the order is the
    one networkx gives it. The same steps wired otherwise (here: not at all, so in body
    order) have another shape, and their order is not taken."""
    bare = PipelineGraph(
        graph.name,
        graph.source_file,
        tuple(replace(n, inputs={}, deps=(), outs=(), after=()) for n in graph.steps),
    )
    known = {dag.shape(bare): graphs.check(bare).order}
    checked = _checked(graph)
    if checked is None:  # a cycle or clashing outs: refused whatever is known
        with pytest.raises(GraphError):
            graphs.check(graph, known)
        return
    assert graphs.check(graph, known).order == checked.order
    assert graphs.check(graph, {dag.shape(graph): checked.order}).order == checked.order


def test_the_shape_is_the_step_names_in_body_order_and_the_edges() -> None:
    ab = PipelineGraph("p", "pipelines/p.py", (node("a"), node("b", "a")))
    assert dag.shape(ab) == dag.shape(PipelineGraph("q", "pipelines/q.py", ab.steps))
    assert dag.shape(ab) != dag.shape(PipelineGraph("p", "pipelines/p.py", (node("a"), node("b"))))
    ba = PipelineGraph("p", "pipelines/p.py", (node("b", "a"), node("a")))
    assert dag.shape(ab) != dag.shape(ba)


def test_known_orders_come_only_from_a_graph_cache_this_incr_wrote(tmp_path: Path) -> None:
    from incr import graphcache
    from incr.project import Project
    from incr.version import __version__

    graph = graphs.check(PipelineGraph("p", "pipelines/p.py", (node("a"), node("b", "a"))))
    saved = {
        "key": {"format": graphcache.FORMAT, "incr": __version__},
        "pipelines": [{"graph": {"order": list(graph.order)}}],
        "shapes": [dag.shape(graph)],
    }
    cases = [
        (cachefile.dumps(saved), {dag.shape(graph): ("a", "b")}),
        (cachefile.dumps({**saved, "key": {"format": graphcache.FORMAT, "incr": "0.0.1"}}), {}),
        (cachefile.dumps({**saved, "pipelines": [{}]}), {}),
        (cachefile.dumps([1, 2]), {}),
        (json.dumps(saved).encode(), {}),  # an older incr's JSON
        (cachefile.MAGIC + b"{not marshal", {}),
    ]
    for i, (data, wanted) in enumerate(cases):
        project = Project(tmp_path / str(i))  # each its own graph.bin, read afresh
        project.cache.mkdir(parents=True)
        (project.cache / "graph.bin").write_bytes(data)
        assert graphcache.known_orders(project) == wanted
