"""ONNX export of a Sequential: Dense, activations, Dropout, BatchNorm, Normalization, Flatten.

The graph computes exactly what `model.predict` computes (inference mode: dropout is the
identity, batch norm uses its running statistics), with a dynamic batch axis.
"""

from __future__ import annotations

import numpy as np

from gradkit import _atomic

OPSET = 17
_SIMPLE = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus"}


class _Graph:
    """Collects nodes and initializers, naming intermediate values uniquely."""

    def __init__(self, helper, numpy_helper):
        self.h, self.nh = helper, numpy_helper
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, array, name):
        name = f"{name}_{len(self.inits)}"
        self.inits.append(self.nh.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(self.h.make_node(op_type, inputs, [out], **attrs))
        return out


def _activation(g, x, name, kwargs):
    # gradkit looks activation names up case-insensitively ("ReLU" works), so must this.
    name = name.lower() if isinstance(name, str) else name
    if name in (None, "identity", "linear"):
        return x
    if name in _SIMPLE:
        return g.op(_SIMPLE[name], [x])
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=float(kwargs.get("alpha", 0.2)))
    if name == "elu":
        return g.op("Elu", [x], alpha=float(kwargs.get("alpha", 1.0)))
    if name == "softmax":
        return g.op("Softmax", [x], axis=int(kwargs.get("axis", -1)))
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=int(kwargs.get("axis", -1)))
    if name in ("silu", "swish"):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu" and kwargs.get("approximate", "none") in ("none", False):
        # x Φ(x) = ½x(1 + erf(x/√2)), gradkit's default (exact) GELU.
        erf = g.op("Erf", [g.op("Mul", [x, g.const(np.array(np.sqrt(0.5)), "c")])])
        half = g.op("Mul", [x, g.const(np.array(0.5), "half")])
        return g.op("Mul", [half, g.op("Add", [erf, g.const(np.array(1.0), "one")])])
    if name == "gelu":
        # ½x(1 + tanh(√(2/π)(x + 0.044715x³))), gradkit's approximate="tanh".
        cube = g.op("Mul", [x, g.op("Mul", [x, x])])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.const(np.array(0.044715), "c")])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.const(np.array(np.sqrt(2 / np.pi)), "c")])])
        half = g.op("Mul", [x, g.const(np.array(0.5), "half")])
        return g.op("Mul", [half, g.op("Add", [t, g.const(np.array(1.0), "one")])])
    if name == "step":
        return g.op("Cast", [g.op("GreaterOrEqual", [x, g.const(np.array(0.0), "zero")])],
                    to=1)
    if name == "rbf":
        gamma = -float(kwargs.get("gamma", 1.0))
        return g.op("Exp", [g.op("Mul", [g.op("Mul", [x, x]), g.const(np.array(gamma), "c")])])
    raise ValueError(f"activation {name!r} has no ONNX export")


def _layer(g, layer, x):
    kind = type(layer).__name__
    if kind in ("Dropout", "GaussianNoise", "RandomShift", "RandomFlip"):
        return x                                     # inference: identity
    if kind == "Flatten":
        return g.op("Flatten", [x], axis=1)
    if kind in ("Dense", "DropConnect"):
        # DropConnect is a Dense layer whose weights are masked in training only.
        if len(layer.input_shape) == 1:
            inputs = [x, g.const(layer.W.data, "W")]
            if layer.b is not None:
                inputs.append(g.const(layer.b.data, "b"))
            y = g.op("Gemm", inputs)
        else:                       # Gemm is 2-D only; Dense acts on the last axis
            y = g.op("MatMul", [x, g.const(layer.W.data, "W")])
            if layer.b is not None:
                y = g.op("Add", [y, g.const(layer.b.data, "b")])
        return _activation(g, y, layer.activation_name, layer.activation_kwargs)
    if kind == "Activation":
        return _activation(g, x, layer.activation_name, layer.kwargs)
    if kind == "PReLU":
        return g.op("PRelu", [x, g.const(layer.alpha.data, "slope")])
    if kind == "BatchNorm":
        # gradkit's inference formula, (x - mean) * (gamma / sqrt(var + eps)) + beta, folded
        # the way it folds it: the same float32 rounding, and it normalizes the last axis for
        # inputs of any rank, where ONNX BatchNormalization would normalize axis 1.
        var = np.asarray(layer.running_var, np.float32)
        scale = (np.float32(1.0) / np.sqrt(var + np.float32(layer.eps))) * layer.gamma.data
        centred = g.op("Sub", [x, g.const(layer.running_mean, "mean")])
        return g.op("Add", [g.op("Mul", [centred, g.const(scale, "scale")]),
                            g.const(layer.beta.data, "beta")])
    if kind == "Normalization":
        centred = g.op("Sub", [x, g.const(layer.mean, "mean")])
        if layer.mode == "standardize":
            return g.op("Mul", [centred, g.const(1.0 / np.asarray(layer.std, np.float64), "inv")])
        matrix = layer.components / np.asarray(layer.std, np.float64)[:, None]
        if layer.mode == "whiten":
            matrix = matrix / np.sqrt(np.asarray(layer.explained_variance, np.float64)
                                      + layer.eps)
        return g.op("MatMul", [centred, g.const(matrix, "projection")])
    raise ValueError(f"layer {kind} has no ONNX export (supported: Dense, DropConnect, "
                     "Activation, PReLU, Dropout, GaussianNoise, RandomShift, RandomFlip, "
                     "BatchNorm, Normalization, Flatten)")


def to_onnx(model):
    """The ONNX ModelProto of a built Sequential (input "input", output "output")."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'gradkit[onnx]'") \
            from None

    if not model.built:
        raise ValueError("export needs a built (trained or loaded) model")
    g = _Graph(helper, numpy_helper)
    x = "input"
    for layer in model.layers:
        x = _layer(g, layer, x)
    g.nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(
        g.nodes, "gradkit",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["batch", *model.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                       ["batch", *model.output_shape])],
        g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="gradkit")
    proto.ir_version = min(proto.ir_version, 9)      # readable by older onnxruntime builds
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model, path):
    """Write the model as an ONNX file, atomically."""
    _atomic.atomic_write_bytes(path, to_onnx(model).SerializeToString())
