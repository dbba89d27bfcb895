"""PyTorch habits on tensors: PyTorch's meaning, or a clear error (never a different number)."""

import numpy as np
import pytest

import gradkit as gk


def leaf(values):
    return gk.tensor(values, requires_grad=True, dtype=np.float64)


# -- backward through a freed graph, retain_graph, gradient= -----------------------------------
def test_backward_through_a_shared_freed_subgraph_raises_and_changes_nothing():
    x = leaf([1.0, 2.0])
    h = x * x
    l1 = h.sum()
    l2 = (h * 3).sum()
    l1.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*"
                                           r"retain_graph=True"):
        l2.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])        # nothing half-accumulated
    assert not h.is_leaf                                     # still a computed tensor


def test_retain_graph_lets_a_second_backward_accumulate_as_in_pytorch():
    x = leaf([1.0, 2.0])
    h = x * x
    l1, l2 = h.sum(), (h * 3).sum()
    l1.backward(retain_graph=True)
    l2.backward()
    np.testing.assert_array_equal(x.grad, [8.0, 16.0])       # d(x² + 3x²)/dx = 8x
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [8.0 + 4.0, 16.0 + 8.0])


def test_backward_with_gradient_for_a_non_scalar_output():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           r"outputs: backward\(\) got an output of shape \(3,\)"):
        (x * x).backward()
    (x * x).backward(gradient=gk.tensor([1.0, 0.5, -1.0], dtype=np.float64))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, -6.0])   # 2x · v
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        (x * x).sum().backward(create_graph=True)


# -- reductions: dim/keepdim, and calls the two libraries read differently ---------------------
def test_dim_and_keepdim_are_axis_and_keepdims():
    a = np.arange(6.0).reshape(2, 3)
    x = gk.tensor(a)
    np.testing.assert_array_equal(x.sum(dim=1).data, a.sum(axis=1))
    np.testing.assert_array_equal(x.sum(1).data, a.sum(axis=1))
    assert x.mean(dim=0, keepdim=True).shape == (1, 3)
    np.testing.assert_array_equal(gk.sum(x, dim=1).data, a.sum(axis=1))
    np.testing.assert_allclose(x.softmax(dim=0).data.sum(axis=0), [1.0, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_array_equal(x.logsumexp(dim=1, keepdim=True).shape, (2, 1))
    with pytest.raises(TypeError, match=r"sum\(\) got axis=0 and dim=1; pass one of them"):
        x.sum(axis=0, dim=1)
    assert gk.cat([x, x], dim=1).shape == (2, 6) and gk.cat([x, x]).shape == (4, 3)
    assert gk.stack([x, x], dim=2).shape == (2, 3, 2)
    with pytest.raises(TypeError, match=r"softmax\(\) got axis=0 and dim=1"):
        gk.softmax(x, 0, dim=1)


def test_argmax_and_max_with_dim_as_pytorch():
    x = leaf([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])
    np.testing.assert_array_equal(x.argmax(dim=1).data, [1, 0])
    assert x.argmax(1).dtype == np.int64 and x.argmax().item() == 3
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert x.max(dim=1).values is not None and x.min(dim=1, keepdim=True).indices.shape == (2, 1)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(x.max(axis=1).data, [5.0, 7.0])           # NumPy's spelling
    np.testing.assert_array_equal(x.max(gk.tensor([[3.0] * 3] * 2)).data,     # elementwise
                                  [[3, 5, 3], [7, 3, 3]])
    for call in (lambda: x.max(1), lambda: gk.max(x, 1), lambda: x.min(0)):
        with pytest.raises(TypeError, match="is ambiguous: NumPy's .* PyTorch's"):
            call()


def test_var_and_std_follow_the_spelling_and_refuse_the_ambiguous_call():
    a = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x = gk.tensor(a, dtype=np.float64)
    np.testing.assert_allclose(x.var(dim=1).data, a.var(axis=1, ddof=1))       # PyTorch
    np.testing.assert_allclose(x.std(dim=1, correction=0).data, a.std(axis=1))
    np.testing.assert_allclose(x.var(unbiased=False).data, a.var())
    np.testing.assert_allclose(x.var(axis=1).data, a.var(axis=1))              # NumPy
    np.testing.assert_allclose(x.std(ddof=0).data, a.std())
    for call in (lambda: x.var(), lambda: x.std(), lambda: x.var(1), lambda: gk.var(x)):
        with pytest.raises(TypeError, match="needs its axis by name"):
            call()
    with pytest.raises(TypeError, match="mixes NumPy's"):
        x.var(axis=1, correction=1)


def test_transpose_swaps_as_pytorch_or_refuses_the_ambiguous_matrix_case():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = gk.tensor(a)
    np.testing.assert_array_equal(x.transpose(0, 2).data, np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).data, np.transpose(a, (2, 0, 1)))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, np.transpose(a, (2, 0, 1)))
    m = gk.tensor(a[0])
    np.testing.assert_array_equal(m.transpose(1, 0).data, a[0].T)
    with pytest.raises(TypeError, match=r"transpose\(0, 1\) on a matrix is ambiguous"):
        m.transpose(0, 1)


# -- conversions and shapes --------------------------------------------------------------------
def test_conversions_and_shape_methods():
    x = leaf([[1.5, -2.0, 3.0], [0.0, 4.0, 5.25]])
    assert x.float().dtype == np.float32 and x.double() is x
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    assert x.long().tolist() == [[1, -2, 3], [0, 4, 5]]                       # truncation
    assert x.type(gk.float).dtype == np.float32 and x.type(gk.long).dtype == np.int64
    assert x.tolist() == [[1.5, -2.0, 3.0], [0.0, 4.0, 5.25]]
    assert x[1, 2].item() == 5.25 and isinstance(x.numpy(), np.ndarray)
    assert not x.detach().requires_grad
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.size == 6 and x.numel() == 6 and x.dim() == 2 and x.shape == (2, 3)
    assert x.view(3, 2).shape == (3, 2) and x.unsqueeze(0).shape == (1, 2, 3)
    assert x.unsqueeze(-1).shape == (2, 3, 1) and x.unsqueeze(0).squeeze().shape == (2, 3)
    assert x.flatten().shape == (6,) and gk.flatten(x.unsqueeze(0), 1).shape == (1, 6)
    assert x.to("cpu") is x and x.cpu() is x and x.to(gk.float32).dtype == np.float32
    with pytest.raises(ValueError, match="CPU only, got device='cuda'"):
        x.to("cuda")
    (x.float() * 2).sum().backward()                          # float() stays differentiable
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
    w = gk.nn.Linear(2, 2).weight
    assert type(w.long()) is gk.Tensor and not w.long().requires_grad      # not a Parameter
    classes = ["a", "b", "c"]
    assert classes[gk.tensor([0.1, 0.7, 0.2]).argmax(0)] == "b"               # __index__


def test_in_place_zero_is_refused_on_a_tensor_that_requires_grad():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place operation"):
        w.zero_()
    with gk.no_grad():
        assert w.zero_() is w
    np.testing.assert_array_equal(w.data, [0.0, 0.0])


# -- factories and the global generator ------------------------------------------------------
def test_tensor_infers_integers_and_booleans_as_pytorch():
    assert gk.tensor([1, 2, 3]).dtype == np.int64
    assert gk.tensor([1.0, 2]).dtype == np.float32
    assert gk.tensor(3).item() == 3 and isinstance(gk.tensor(3).item(), int)
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        gk.tensor([1, 2], requires_grad=True)


def test_manual_seed_makes_draws_and_modules_reproducible():
    gk.manual_seed(3)
    a, b = gk.randn(4, 5), gk.rand(3)
    w = gk.nn.Linear(5, 2).weight.data.copy()
    gk.manual_seed(3)
    np.testing.assert_array_equal(gk.randn(4, 5).data, a.data)
    np.testing.assert_array_equal(gk.rand(3).data, b.data)
    np.testing.assert_array_equal(gk.nn.Linear(5, 2).weight.data, w)
    assert a.dtype == np.float32 and a.shape == (4, 5)
    assert ((b.data >= 0) & (b.data < 1)).all()
    gk.manual_seed(0)
    big = gk.randn(200_000).data
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01


def test_factories_have_pytorchs_shapes_and_dtypes():
    assert gk.zeros(2, 3).shape == gk.zeros((2, 3)).shape == (2, 3)
    assert gk.zeros(2).dtype == np.float32 and gk.ones(2, dtype=gk.long).dtype == np.int64
    assert gk.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert gk.arange(4).tolist() == [0, 1, 2, 3] and gk.arange(4).dtype == np.int64
    assert gk.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert gk.arange(1, 2, 0.25).dtype == np.float32
    assert gk.zeros_like(gk.ones(2, 2)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert gk.zeros(3, requires_grad=True).requires_grad
    r = gk.randint(0, 10, (50,))
    assert r.dtype == np.int64 and 0 <= r.data.min() and r.data.max() < 10
    a = np.arange(3.0)
    t = gk.from_numpy(a)
    a[0] = 9.0
    assert t.dtype == np.float64 and t.tolist() == [9.0, 1.0, 2.0]             # shared memory
    assert gk.float is np.float32 and gk.double is np.float64 and gk.long is np.int64
    with pytest.raises(ValueError, match="sizes must be non-negative integers"):
        gk.zeros(2.5)


def test_manual_update_under_no_grad_changes_the_parameters_in_place():
    # "Learning PyTorch with Examples": w -= learning_rate * w.grad inside no_grad.
    gk.manual_seed(0)
    x = gk.tensor(np.linspace(-1, 1, 50), dtype=np.float64)
    y = 3.0 * x - 0.5
    a, b = gk.zeros(1, dtype=np.float64, requires_grad=True), gk.zeros(1, dtype=np.float64,
                                                                       requires_grad=True)
    params = [a, b]
    for _ in range(300):
        loss = ((a * x + b - y) ** 2).mean()
        loss.backward()
        with gk.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
    assert params[0] is a and a.requires_grad
    assert a.item() == pytest.approx(3.0, abs=1e-3) and b.item() == pytest.approx(-0.5, abs=1e-3)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place"):
        a -= 1.0
    h = a * 2.0
    h += 1.0                                        # a computed tensor: a new node, same values
    h.sum().backward()
    assert a.grad.tolist() == [2.0]
    c = gk.tensor([1.0, 2.0])
    alias = c
    c *= 3.0
    assert alias.tolist() == [3.0, 6.0]             # in place, as in PyTorch


def test_pytorch_autograd_tutorial_as_written():
    # pytorch.org/tutorials/beginner/basics/autogradqs_tutorial, only the import changed.
    torch = gk
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    assert out.grad_fn is not None and inp.grad_fn is None
    out.backward(torch.ones_like(out), retain_graph=True)
    first = inp.grad.copy()
    out.backward(torch.ones_like(out), retain_graph=True)
    np.testing.assert_array_equal(first, 2 + 2 * np.eye(4, 5))      # the tutorial's numbers
    np.testing.assert_array_equal(inp.grad, 2 * first)              # accumulated
    x, y = torch.ones(5), torch.zeros(3)
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    sig = 1 / (1 + np.exp(-(x.data @ w.data + b.data)))
    np.testing.assert_allclose(b.grad, sig / 3, rtol=1e-5)          # d mean(BCE)/dz = σ(z)/3
    np.testing.assert_allclose(w.grad, np.outer(np.ones(5), sig / 3), rtol=1e-5)
    with torch.no_grad():
        assert not (torch.matmul(x, w) + b).requires_grad


def test_pytorch_tensors_tutorial_habits():
    torch = gk
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    assert tensor.tolist()[0] == [1.0, 0.0, 1.0, 1.0] and tensor.device == "cpu"
    assert torch.cat([tensor, tensor, tensor], dim=1).shape == (4, 12)
    assert tensor.mul(tensor).sum().item() == 12.0 == (tensor @ tensor.T)[0, 0].item() + 9.0
    n = tensor.numpy()
    tensor.add_(5)
    assert n[0, 1] == 5.0                                           # shared memory
    assert torch.rand_like(tensor).shape == (4, 4)
    assert torch.rand(2, 3, device="cpu").shape == (2, 3)
    with pytest.raises(ValueError, match="CPU only"):
        torch.zeros(2, device="cuda")
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="item assignment"):
        w[0] = 3.0
    with pytest.raises(RuntimeError, match="in-place operation"):
        w.add_(1.0)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        torch.zeros(2, 2, 2).t()
