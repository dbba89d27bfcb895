"""Reverse-mode differentiation: topological order, then the chain rule node by node.

The notes' algorithm: order the graph so every node comes after its inputs, set the output's
gradient to 1, and visit the nodes in reverse, adding each node's contribution to each input's
gradient. A value used twice (fan-out) receives the sum of both contributions.
"""

from __future__ import annotations

import functools

import numpy as np

from gradkit.autograd.tensor import Node, Tensor


def topological_order(root, *, leaves=True):
    """Tensors of the graph ending in `root`, inputs before outputs (iterative DFS).

    A tensor is marked when it is expanded, not when it is pushed: marking on push would let a
    value shared by two branches be emitted before one of its consumers (wrong fan-out sums).
    With `leaves=False` only computed tensors are listed (what `backward` walks).
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        t, finished = stack.pop()
        if finished:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is None:
            continue
        if node.parents is None:
            raise RuntimeError(_FREED_MESSAGE.format(name=node.prim.name))
        for _, x in node.parents:
            if id(x) not in visited and (leaves or x._node is not None):
                stack.append((x, False))
    return order


_FREED_MESSAGE = (
    "Trying to backward through the graph a second time: the values that {name!r} saved for "
    "its gradient were freed by an earlier backward() through it. Specify retain_graph=True "
    "in the first backward() if you need to backward through the graph a second time "
    "(or compute the outputs once and backward their sum).")


def backward(root, grad=None, *, retain_graph=False):
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf of the graph that requires it.

    Interior tensors are visited in reverse topological order with their gradients summed in
    a dict (fan-out); a leaf's contribution goes straight into its `.grad` as it is computed,
    so the sort never walks the leaves (the parameters, half the graph of a small network).
    A node freed by an earlier backward is found by the sort, before any `.grad` changes.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() needs a tensor that requires grad: none of its inputs "
                           "had requires_grad=True, or it was computed under no_grad()")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs: backward() got an "
                f"output of shape {root.shape}; pass gradient= of that shape (or call "
                f"backward() on a single value, e.g. loss.sum().backward())")
        grad = _one(root.shape, root.dtype)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"grad must have the output's shape {root.shape}, got {grad.shape}")
    if root._node is None:
        _accumulate_leaf(root, grad)
        return

    grads = {id(root): grad}
    for t in reversed(topological_order(root, leaves=False)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        node = t._node
        prim, args, kwargs, saved, out = node.prim, node.args, node.kwargs, node.saved, t.data
        into = prim.vjps_into
        for i, x in node.parents:
            leaf = x._node is None
            if leaf and into is not None and into[i] is not None and x.grad is None:
                buf = x.grad_buffer
                if buf is not None:            # first gradient, computed into its buffer
                    into[i](buf, g, out, saved, *args, **kwargs)
                    x.grad = buf
                    continue
            if prim.variadic:
                gi = prim.vjps(i, g, out, saved, *args, **kwargs)
            else:
                rule = prim.vjps[i]
                if rule is None:
                    raise RuntimeError(f"failed to compute gradient for input {i} of "
                                       f"{prim.name!r}: it is not differentiable")
                gi = rule(g, out, saved, *args, **kwargs)
            if leaf:
                _accumulate_leaf(x, gi)
                continue
            key = id(x)
            prev = grads.get(key)
            # Fan-out: sum, never in place, because a VJP may hand the same array to two inputs.
            grads[key] = gi if prev is None else prev + gi
        if not retain_graph:
            t._node = _FREED.get(prim) or _freed(prim)


# A freed tensor keeps a node without inputs or saved values (one per primitive, shared), so a
# second backward through it is refused instead of treating the tensor as a leaf (PyTorch's
# rule), and the arrays the first backward needed are released as before.
_FREED = {}


def _freed(prim):
    node = _FREED[prim] = Node(prim, None, None, None, None, None)
    return node


@functools.lru_cache(maxsize=32)
def _one(shape, dtype):
    """A read-only array of ones: the seed gradient of a single-value output (VJPs never
    write into their upstream gradient)."""
    one = np.ones(shape, dtype)
    one.flags.writeable = False
    return one


def _accumulate_leaf(t, g):
    if g.shape != t.data.shape:
        g = np.broadcast_to(g, t.data.shape)
    if t.grad is None:
        buf = t.grad_buffer                     # see Tensor.grad_buffer
        if buf is not None and buf.shape == g.shape:
            np.copyto(buf, g)
            t.grad = buf
        else:
            t.grad = np.array(g, dtype=t.data.dtype)
    else:
        # In place: the grad may be the tensor's grad_buffer (an optimizer's flat buffer).
        t.grad += g
