"""What a primitive is, how one is applied, and the single place broadcasting is undone.

A primitive is a forward function on arrays and one vector-Jacobian product per input,
registered together in `PRIMITIVES`. Because the table is data, the test suite walks it and
gradient-checks every entry.

Signatures:
    forward(*arrays, **kwargs) -> out                     (saves=False)
    forward(*arrays, **kwargs) -> (out, saved)            (saves=True)
    vjp(g, out, saved, *arrays, **kwargs) -> dL/d(input)  (one per input, None = not differentiable)
A variadic primitive (concatenate, stack) has one vjp taking the input's position first:
    vjp(i, g, out, saved, *arrays, **kwargs).
"""

from __future__ import annotations

import numpy as np

from gradkit.autograd.tensor import Node, Tensor, _state

PRIMITIVES: dict[str, "Primitive"] = {}


class Primitive:
    """A differentiable operation: forward and its vector-Jacobian products."""

    __slots__ = ("name", "forward", "vjps", "saves", "variadic", "vjps_into", "__dict__")

    def __init__(self, name, forward, vjps, *, saves=False, variadic=False, vjps_into=None):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.saves = saves
        self.variadic = variadic
        # Optional, for speed: vjp_into(out, g, ans, saved, *args) writes the gradient of an
        # input into `out` (a parameter's slot in an optimizer's flat gradient buffer) instead
        # of returning a new array that backward would then copy there.
        self.vjps_into = vjps_into

    def __call__(self, *inputs, **kwargs):
        return apply(self, inputs, kwargs)

    def __repr__(self):
        return f"<primitive {self.name}>"


def defprimitive(name, forward, *vjps, saves=False, vjps_into=None):
    """Register `forward` with one VJP per input under `name`; return the primitive."""
    prim = Primitive(name, forward, vjps, saves=saves, vjps_into=vjps_into)
    PRIMITIVES[name] = prim
    return prim


def defvariadic(name, forward, vjp, *, saves=False):
    """Register a primitive over any number of inputs, with one VJP taking the position."""
    prim = Primitive(name, forward, vjp, saves=saves, variadic=True)
    PRIMITIVES[name] = prim
    return prim


def apply(prim, inputs, kwargs):
    """Run `prim` on tensors or constants; record a graph node when a gradient is needed.

    This is the hot path of every operation, so it stays short: one pass over the inputs.
    """
    args = []
    parents = None
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            args.append(x.data)
            if x.requires_grad:
                if parents is None:
                    parents = [(i, x)]
                else:
                    parents.append((i, x))
        else:
            args.append(x)
    out = prim.forward(*args, **kwargs)
    if prim.saves:
        out, saved = out
    else:
        saved = None
    t = Tensor.__new__(Tensor)
    t.data = out if type(out) is np.ndarray else np.asarray(out)
    t.grad = None
    t.name = None
    t.grad_buffer = None
    if parents is not None and _state.enabled:
        t.requires_grad = True
        t._node = Node(prim, inputs, args, kwargs, saved, parents)
    else:
        t.requires_grad = False
        t._node = None
    return t


def unbroadcast(g, shape):
    """Sum `g` over the axes that broadcasting added or stretched, to get back `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


def shape_of(x):
    """The shape of an array or a Python scalar constant."""
    return np.shape(x)
