"""incr/graphcache.py: graphs saved without the fields that hold their defaults, read back
the same."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from incr.graphcodec import decode, encode
from incr.model import CodeRef, InputRef, PipelineGraph, StepCode, StepNode, TracedPipeline

names = st.text("abc_.", min_size=1, max_size=4)
texts = st.text(max_size=4)
name_tuples = st.lists(names, max_size=2).map(tuple)
refs = st.builds(
    CodeRef,
    module=texts,
    qualname=texts,
    source_file=texts,
    own_digest=st.none() | texts,
    package=st.none() | texts,
)
codes = st.builds(
    StepCode,
    func=refs,
    deps=st.lists(refs, max_size=2).map(tuple),
    version=st.none() | texts,
    captured=st.lists(refs, max_size=2).map(tuple),
    values=st.lists(st.tuples(names, texts), max_size=2).map(tuple),
)
nodes = st.builds(
    StepNode,
    pipeline=names,
    name=names,
    func_name=names,
    source_file=texts,
    config=st.dictionaries(names, st.none() | st.integers() | texts, max_size=2),
    inputs=st.dictionaries(names, st.builds(InputRef, names, names), max_size=2),
    outputs=name_tuples,
    deps=name_tuples,
    outs=name_tuples,
    enable_cache=st.none() | st.booleans(),
    track_reads=st.booleans(),
    cache_expires=st.none() | st.floats(0, 1e6),
    env=name_tuples,
    metrics=name_tuples,
    after=name_tuples,
)


envs = st.lists(st.tuples(names, st.none() | texts), max_size=2).map(tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(nodes, codes), max_size=3), st.booleans(), envs)
def test_property_a_saved_graph_reads_back_the_same(steps, enable_cache, env) -> None:
    graph = PipelineGraph(
        "p",
        "pipelines/p.py",
        tuple(node for node, _ in steps),
        enable_cache=enable_cache,
        order=tuple(node.name for node, _ in steps),
    )
    code = {node.name: code for node, code in steps}
    traced = TracedPipeline(graph, {}, {}, code, env=env)  # what its .run() saw
    back = decode(json.loads(json.dumps(encode(traced))))
    assert back.graph == graph
    assert back.code == traced.code
    assert back.env == env


def test_fields_that_hold_their_defaults_are_left_out() -> None:
    node = StepNode("p", "s", "s", "pipelines/p.py", {}, {}, ("output",))
    graph = PipelineGraph("p", "pipelines/p.py", (node,))
    traced = TracedPipeline(graph, {}, {}, {"s": StepCode(CodeRef("pipelines.p", "s"))})
    saved = encode(traced)
    assert set(saved["graph"]["steps"][0]) == {
        "pipeline", "name", "func_name", "source_file", "config", "inputs", "outputs"
    }  # fmt: skip
    assert saved["code"] == {"s": {"func": {"module": "pipelines.p", "qualname": "s"}}}
