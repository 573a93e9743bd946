"""face-api's AgeGenderNet (TF.js weights) → an ONNX graph, built here with numpy and onnx.

The npm package ships the network as a TF.js weights manifest (name, shape, dtype and uint8
quantisation of every tensor) and one binary file; the architecture is face-api's TinyXception
feature extractor with two main blocks, an average pool and a fully connected age regressor:

    RGB 112×112 ─► (x − channel mean) / 255
      ─► conv 3×3 /2 ─► ReLU ─► reduction block 0 (input not activated) ─► reduction block 1
      ─► main block 0 ─► main block 1 ─► exit reduction block ─► separable conv ─► ReLU
      ─► average pool 7×7 ─► fully connected ─► age (years)

    separable conv = depthwise 3×3 (no bias) ─► pointwise 1×1 + bias
    reduction block: [ReLU] ─► sep conv ─► ReLU ─► sep conv ─► max pool 3×3 /2  +  conv 1×1 /2 (expansion)
    main block:      (ReLU ─► sep conv) × 3  +  input

TensorFlow's 'same' padding puts the odd pixel at the end; the graph pads explicitly the same
way. Only the age head is built (the gender head is not used). Weights are dequantised as TF.js
does (``q × scale + min``, stored as float32); nothing here is random, so the graph — and its
canonical sha256, checked against the manifest — is the same on every run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from humiao.models.errors import ModelError

INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)  # face-api's TinyXception normalisation
OPSET = 13
MAIN_BLOCKS = 2


def read_weights(manifest_json: bytes, weights_bin: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js weights manifest, dequantised to float32, by name."""
    try:
        groups = json.loads(manifest_json)
        specs = [w for group in groups for w in group["weights"]] if isinstance(groups, list) else []
    except (ValueError, KeyError, TypeError) as err:
        raise ModelError(f"not a TF.js weights manifest: {err}") from err
    if not specs:
        raise ModelError("not a TF.js weights manifest: no weight groups")
    sizes = [math.prod(int(d) for d in s["shape"]) * (1 if s.get("quantization") else 4) for s in specs]
    if sum(sizes) != len(weights_bin):
        raise ModelError(f"the weights file has {len(weights_bin)} bytes, the manifest describes {sum(sizes)}")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        shape = [int(d) for d in spec["shape"]]
        count = math.prod(shape)
        quant = spec.get("quantization")
        if quant:
            if quant.get("dtype") != "uint8":
                raise ModelError(f"{spec['name']}: quantisation {quant.get('dtype')} is not supported")
            raw = np.frombuffer(weights_bin, dtype=np.uint8, count=count, offset=offset)
            offset += count
            values = (raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
        elif spec["dtype"] == "float32":
            values = np.frombuffer(weights_bin, dtype="<f4", count=count, offset=offset).astype(np.float32)
            offset += 4 * count
        else:
            raise ModelError(f"{spec['name']}: dtype {spec['dtype']} is not supported")
        out[spec["name"]] = values.reshape(shape)
    return out


class _Graph:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self._name(hint)
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def w(self, name: str) -> np.ndarray:
        try:
            return self.weights[name]
        except KeyError:
            raise ModelError(f"the weights manifest has no tensor {name!r}") from None

    @staticmethod
    def _same_pads(kernel: int, stride: int, size: int) -> list[int]:
        """TensorFlow 'same' padding for a square input of ``size``: [top, left, bottom, right]."""
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return [total // 2, total // 2, total - total // 2, total - total // 2]

    def conv(self, x: str, prefix: str, stride: int, size: int) -> str:
        """TF conv2d 'same' + bias; filters [kh, kw, in, out] → ONNX [out, in, kh, kw]."""
        f = self.w(f"{prefix}/filters")
        k = f.shape[0]
        weight = self.const(f"{prefix}/filters", f.transpose(3, 2, 0, 1))
        bias = self.const(f"{prefix}/bias", self.w(f"{prefix}/bias"))
        pads = self._same_pads(k, stride, size)
        return self.op("Conv", [x, weight, bias], prefix.replace("/", "."), strides=[stride, stride], pads=pads)

    def separable(self, x: str, prefix: str, size: int) -> str:
        """TF separableConv2d 'same', stride 1, + bias: depthwise (group = channels) then pointwise."""
        dw = self.w(f"{prefix}/depthwise_filter")  # [3, 3, C, 1]
        pw = self.w(f"{prefix}/pointwise_filter")  # [1, 1, C, out]
        channels = dw.shape[2]
        d = self.const(f"{prefix}/depthwise_filter", dw.transpose(2, 3, 0, 1))
        p = self.const(f"{prefix}/pointwise_filter", pw.transpose(3, 2, 0, 1))
        b = self.const(f"{prefix}/bias", self.w(f"{prefix}/bias"))
        hint = prefix.replace("/", ".")
        y = self.op("Conv", [x, d], hint + ".dw", group=channels, pads=self._same_pads(dw.shape[0], 1, size))
        return self.op("Conv", [y, p, b], hint + ".pw")

    def relu(self, x: str) -> str:
        return self.op("Relu", [x], "relu")

    def reduction(self, x: str, prefix: str, size: int, activate_input: bool = True) -> str:
        out = self.relu(x) if activate_input else x
        out = self.separable(out, f"{prefix}/separable_conv0", size)
        out = self.separable(self.relu(out), f"{prefix}/separable_conv1", size)
        out = self.op(
            "MaxPool", [out], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=self._same_pads(3, 2, size)
        )
        return self.op("Add", [out, self.conv(x, f"{prefix}/expansion_conv", 2, size)], "add")

    def main_block(self, x: str, prefix: str, size: int) -> str:
        out = x
        for i in range(3):
            out = self.separable(self.relu(out), f"{prefix}/separable_conv{i}", size)
        return self.op("Add", [out, x], "add")


def build(manifest_json: bytes, weights_bin: bytes) -> onnx.ModelProto:
    """The ONNX graph: input ``image`` [N, 3, 112, 112] RGB 0..255, output ``age`` [N] in years."""
    g = _Graph(read_weights(manifest_json, weights_bin))
    mean = g.const("mean_rgb", np.array(MEAN_RGB, dtype=np.float32).reshape(1, 3, 1, 1))
    scale = g.const("inv_255", np.array(1.0 / 255.0, dtype=np.float32))
    x = g.op("Mul", [g.op("Sub", ["image", mean], "centre"), scale], "scale")
    size = INPUT_SIZE
    x = g.relu(g.conv(x, "entry_flow/conv_in", 2, size))
    size //= 2
    x = g.reduction(x, "entry_flow/reduction_block_0", size, activate_input=False)
    size //= 2
    x = g.reduction(x, "entry_flow/reduction_block_1", size)
    size //= 2
    for i in range(MAIN_BLOCKS):
        x = g.main_block(x, f"middle_flow/main_block_{i}", size)
    x = g.reduction(x, "exit_flow/reduction_block", size)
    size //= 2
    x = g.relu(g.separable(x, "exit_flow/separable_conv", size))
    x = g.op("AveragePool", [x], "avgpool", kernel_shape=[size, size], strides=[2, 2])
    x = g.op("Flatten", [x], "flatten", axis=1)
    fc_w = g.const("fc/age/weights", g.w("fc/age/weights"))  # [512, 1]
    fc_b = g.const("fc/age/bias", g.w("fc/age/bias"))
    x = g.op("Gemm", [x, fc_w, fc_b], "fc.age")
    g.inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
    g.nodes.append(helper.make_node("Reshape", [x, "flat"], ["age"], name="age"))
    graph = helper.make_graph(
        g.nodes,
        "faceapi_agegender",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("age", TensorProto.FLOAT, ["N"])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="humiao")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
