"""How ``graph.bin`` holds a traced pipeline: its graph and its steps' code refs as plain
dicts and lists (``cachefile`` writes them), each dataclass with the fields that hold their
default left out. ``decode(encode(traced))`` gives back an equal pipeline without its
functions (a saved graph never runs a step)."""

from __future__ import annotations

from dataclasses import MISSING as MISSING_FIELD
from dataclasses import fields
from typing import Any

from incr.model import CodeRef, InputRef, PipelineGraph, StepCode, StepNode, TracedPipeline


def encode(traced: TracedPipeline) -> dict[str, Any]:
    return {
        "graph": {
            **{f.name: getattr(traced.graph, f.name) for f in fields(traced.graph)},
            "steps": [_encode_node(n) for n in traced.graph.steps],
        },
        "code": {name: _encode_code(c) for name, c in traced.code.items()},
        **({"values": traced.values} if traced.values else {}),
        **({"env": [list(pair) for pair in traced.env]} if traced.env else {}),
    }


def _encode_code(code: StepCode) -> dict[str, Any]:
    encoded = _fields(code)
    encoded["func"] = _fields(code.func)
    for name in _CODE_REFS:
        if name in encoded:
            encoded[name] = [_fields(d) for d in encoded[name]]
    if "values" in encoded:
        encoded["values"] = [list(pair) for pair in code.values]
    return encoded


#: Per dataclass: (field name, its default or MISSING) for each field.
_DEFAULTS: dict[type, list[tuple[str, Any]]] = {}


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep, leaving out those that hold their default: a
    10,000-step graph.bin is read by every command, and most fields of most steps hold their
    defaults. (``asdict`` copies every value, recursively: a tenth of a 10,000-step trace.)"""
    kind = type(value)
    known = _DEFAULTS.get(kind)
    if known is None:
        known = _DEFAULTS[kind] = [(f.name, _default(f)) for f in fields(value)]
    found = {}
    for name, default in known:
        field_value = getattr(value, name)
        if default is MISSING_FIELD or field_value != default:
            found[name] = field_value
    return found


def _default(field: Any) -> Any:
    if field.default is not MISSING_FIELD:
        return field.default
    if field.default_factory is not MISSING_FIELD:
        return field.default_factory()
    return MISSING_FIELD


def _encode_node(node: StepNode) -> dict[str, Any]:
    encoded = _fields(node)
    encoded["inputs"] = {p: _fields(ref) for p, ref in node.inputs.items()}
    return encoded


#: ``StepNode`` fields the cache holds as lists, written only when not empty (``_fields``).
_NODE_TUPLES = ("deps", "outs", "env", "metrics", "after")
#: ``StepCode`` fields that hold code refs, written only when not empty.
_CODE_REFS = ("deps", "captured")


def decode(item: dict[str, Any]) -> TracedPipeline:
    graph = item["graph"]
    steps = tuple(_decode_node(node) for node in graph["steps"])
    code = {name: _decode_code(c) for name, c in item["code"].items()}
    pipeline = PipelineGraph(
        name=graph["name"],
        source_file=graph["source_file"],
        steps=steps,
        enable_cache=graph["enable_cache"],
        run_cache=graph.get("run_cache"),
        order=tuple(graph["order"]),
    )
    values = {str(part): str(digest) for part, digest in item.get("values", {}).items()}
    env = tuple((str(n), None if v is None else str(v)) for n, v in item.get("env", ()))
    return TracedPipeline(pipeline, {}, {}, code, values, env)


def _decode_node(node: dict[str, Any]) -> StepNode:
    """A step as ``_encode_node`` wrote it; fields it left out take their defaults."""
    fields = {**node, "outputs": tuple(node["outputs"])}
    # an input's two fields, always written: by position (a fifth of a node's decoding)
    fields["inputs"] = {
        p: InputRef(ref["step"], ref["output"]) for p, ref in node["inputs"].items()
    }
    for name in _NODE_TUPLES:  # a loop, not a generator: most nodes have none of them
        if name in node:
            fields[name] = tuple(node[name])
    return StepNode(**fields)


def _decode_code(c: dict[str, Any]) -> StepCode:
    """A step's code refs as ``_encode_code`` wrote them (most steps have only ``func``)."""
    fields: dict[str, Any] = {"func": CodeRef(**c["func"])}
    for name in _CODE_REFS:
        if name in c:
            fields[name] = tuple(CodeRef(**d) for d in c[name])
    if "version" in c:
        fields["version"] = c["version"]
    if "values" in c:
        fields["values"] = tuple((str(name), str(digest)) for name, digest in c["values"])
    return StepCode(**fields)
