"""The pipeline graph for callers that query it: ``to_networkx`` (networkx is imported only
here, and only when called), and the names of ``dag`` (checks, order, targets) and
``discovery`` (import and trace) re-exported under the name callers and tests know."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incr.dag import ancestors as ancestors
from incr.dag import check as check
from incr.dag import check_shared_outs as check_shared_outs
from incr.dag import descendants as descendants
from incr.dag import order as order
from incr.dag import resolve_targets as resolve_targets
from incr.dag import select as select
from incr.discovery import discover as discover
from incr.discovery import import_module as import_module
from incr.discovery import trace as trace
from incr.model import PipelineGraph
from incr.project import module_name as module_name

if TYPE_CHECKING:
    import networkx as nx


def to_networkx(graph: PipelineGraph) -> nx.DiGraph:
    """The pipeline as a ``networkx.DiGraph``; each node carries its StepNode as ``step``."""
    import networkx as nx

    g = nx.DiGraph(name=graph.name)
    for index, node in enumerate(graph.steps):
        g.add_node(node.name, step=node, index=index)
    g.add_edges_from(graph.edges())
    return g
