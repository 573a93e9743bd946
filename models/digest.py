"""Hashes: plain file sha256, and a canonical sha256 of an ONNX graph.

tflite2onnx writes initializers and value_info in an order that changes from run to run
(the nodes and weights do not), so a converted file's bytes are not a stable identity.
``canonicalize`` sorts those lists by name; ``graph_sha256`` hashes what the model
computes (nodes in order, sorted initializers, inputs, outputs, opsets) and nothing else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonicalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Sort the order-free lists of a graph so that equal models serialize equally."""
    graph = model.graph
    inits = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = sorted(graph.value_info, key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(infos)
    return model


def graph_sha256(model: onnx.ModelProto) -> str:
    h = hashlib.sha256()
    for opset in sorted(model.opset_import, key=lambda o: o.domain):
        h.update(f"opset:{opset.domain}:{opset.version};".encode())
    graph = model.graph
    for part, items in (
        ("in", graph.input),
        ("out", graph.output),
        ("node", graph.node),
        ("init", sorted(graph.initializer, key=lambda t: t.name)),
    ):
        for item in items:
            blob = item.SerializeToString(deterministic=True)
            h.update(f"{part}:{len(blob)}:".encode())
            h.update(blob)
    return h.hexdigest()


def onnx_file_graph_sha256(path: Path) -> str:
    return graph_sha256(onnx.load(str(path)))
