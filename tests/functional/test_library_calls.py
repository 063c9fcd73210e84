"""What the CLI does, as library calls: ``incr.status``, ``incr.show``, ``incr.commit``,
``incr.commands.dag`` and ``incr.to_networkx`` return values, and agree with the commands.

The calls run in this process on projects brought up to date by ``incr repro``: the graphs come
from the graph cache, so no pipeline module is imported here (edits stay inside step bodies)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import networkx as nx
import pytest

import incr
from incr import commands, dag, gate
from incr.errors import IncrError
from incr.model import Reason

from .conftest import FLOW_ORDER, Project


@pytest.fixture(autouse=True)
def _no_pipeline_imported_here() -> Iterator[None]:
    yield
    assert "pipelines.flow" not in sys.modules


EDIT = ("return add_shift(values)", "return add_shift(list(values))")


def test_status_gives_each_step_in_run_order_with_its_reasons(flow: Project) -> None:
    assert [(v.node.name, v.dirty) for v in incr.status(root=flow.root)] == [
        (name, False) for name in FLOW_ORDER
    ]

    flow.edit("pipelines/flow.py", *EDIT)
    verdicts = incr.status(root=flow.root)

    reasons = {v.node.name: [(r.kind, r.detail) for r in v.reasons] for v in verdicts}
    assert reasons == flow.reasons()
    assert reasons["shift"] == [(Reason.CODE, "shift in pipelines/flow.py")]
    assert [v.node.name for v in incr.status(["flow.shift"], root=flow.root)] == [
        "load",
        "double",
        "shift",
    ]
    assert gate.stale_steps(incr.status(root=flow.root, check=True)) == ["flow.shift", "flow.total"]
    assert flow.take_ran() == []


def test_show_gives_the_verdict_the_lock_entry_and_the_diffs(flow: Project) -> None:
    flow.edit("pipelines/flow.py", *EDIT)

    shown = incr.show("shift", root=flow.root)

    assert shown.verdict.node.key == "flow.shift" and shown.verdict.dirty
    assert shown.locked is not None and shown.locked.key == "flow.shift"
    assert [part for part, _, _ in shown.diffs] == ["pipelines/flow.py:shift"]
    cli = json.loads(flow.incr("show", "shift", "--json").stdout)
    assert cli["fingerprint"] == shown.verdict.fingerprint
    assert len(cli["diffs"]) == len(shown.diffs)
    with pytest.raises(IncrError, match="is a pipeline"):
        incr.show("flow", root=flow.root)


def test_commit_records_the_new_fingerprint_without_running(flow: Project) -> None:
    flow.edit("pipelines/flow.py", *EDIT)
    seen: list[commands.Commit] = []

    done = incr.commit(["shift", "load"], root=flow.root, each=seen.append)

    assert done == seen
    assert [(c.key, c.committed) for c in done] == [("flow.shift", True), ("flow.load", False)]
    assert [r.kind for r in done[0].reasons] == [Reason.CODE]
    assert flow.dirty() == {}
    flow.repro()
    assert flow.take_ran() == []


def test_commit_refuses_a_step_that_waits_and_keeps_what_came_before(flow: Project) -> None:
    flow.edit("pipelines/flow.py", *EDIT)
    flow.edit("pipelines/flow.py", "return sum(left) + sum(right)", "return sum(left + right)")

    with pytest.raises(IncrError, match="waits on shift"):
        incr.commit(["load", "total"], root=flow.root)
    assert set(flow.dirty()) == {"shift", "total"}


def test_dag_gives_the_graphs_with_their_run_order(flow: Project) -> None:
    (graph,) = commands.dag(root=flow.root)

    assert graph.name == "flow"
    assert list(graph.order) == FLOW_ORDER == [n.name for n in dag.order(graph)]
    assert commands.dag(["flow"], root=flow.root) == [graph]
    with pytest.raises(IncrError, match="is a step, not a pipeline"):
        commands.dag(["double"], root=flow.root)

    g = incr.to_networkx(graph)

    assert isinstance(g, nx.DiGraph)
    assert list(nx.lexicographical_topological_sort(g, key=FLOW_ORDER.index)) == FLOW_ORDER
    assert set(g.edges()) == set(graph.edges())
    assert g.nodes["double"]["step"] == graph.step("double")


def test_to_networkx_traces_a_pipeline_instance(flow: Project) -> None:
    script = (
        "import incr\n"
        "from pipelines.flow import flow\n"
        "g = incr.to_networkx(flow())\n"
        "print(sorted(g.edges()))\n"
    )
    result = flow.python("-c", script)

    assert result.returncode == 0, result.output
    assert result.stdout.strip() == str(sorted(commands.dag(root=flow.root)[0].edges()))
    assert flow.take_ran() == []


@pytest.mark.parametrize("command", [["status"], ["repro"], ["status", "total"]])
def test_the_no_op_path_imports_no_networkx(flow: Project, command: list[str]) -> None:
    script = (
        "import sys\n"
        "from incr.cli import cli\n"
        f"cli({command!r}, standalone_mode=False)\n"
        "print('networkx' in sys.modules)\n"
    )
    result = flow.python("-c", script)

    assert result.returncode == 0, result.output
    assert result.stdout.splitlines()[-1] == "False"
