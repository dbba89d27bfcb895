"""The graph walk: fan-out, deep chains, freeing, errors, no_grad, dtypes, tensor API."""

import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk


def test_tensor_dtypes_are_torch_tensors():
    assert gk.tensor([1.0, 2]).dtype == np.float32       # Python numbers: the default dtype
    assert gk.tensor(1.5).dtype == np.float32
    # A NumPy array or scalar keeps its dtype (torch.tensor(np.zeros(3)) is float64).
    assert gk.tensor(np.zeros(3)).dtype == np.float64
    assert gk.tensor(np.zeros(3, np.float16)).dtype == np.float16
    assert gk.tensor(np.float64(1.5)).dtype == np.float64
    assert gk.tensor(np.zeros(2, np.int32)).dtype == np.int32
    assert gk.tensor([1, 2]).dtype == np.int64          # whole numbers stay int64, as in PyTorch
    assert gk.tensor([True]).dtype == np.bool_
    assert gk.tensor([1.0], dtype=np.float64).dtype == np.float64
    x = gk.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert (x * 2.0 + 1).dtype == np.float32           # Python scalars never upcast
    assert x.shape == (2, 2) and x.ndim == 2 and x.T.numpy()[0, 1] == 3.0
    assert x.sum().item() == 10.0
    assert not x.detach().requires_grad


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors"):
        gk.tensor([1, 2], requires_grad=True, dtype=np.int64)


def test_fan_out_accumulates_gradients():
    x = gk.tensor(3.0, requires_grad=True, dtype=np.float64)
    y = x * x + x                    # x used three times
    y.backward()
    assert float(x.grad) == 7.0
    z = gk.tensor([1.0, 2.0], requires_grad=True)
    (z + z).sum().backward()         # the same array reaches both inputs of add
    np.testing.assert_array_equal(z.grad, [2.0, 2.0])


def test_gradients_accumulate_across_backward_calls_until_reset():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_ten_thousand_op_chain_has_no_recursion_limit():
    x = gk.tensor(1.0, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert float(x.grad) == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_graph_is_freed_unless_retained():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_non_scalar_backward_needs_explicit_grad():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar outputs: "
                                           r"backward\(\) got an output of shape \(2,\)"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])


def test_backward_on_tensor_without_grad_is_refused():
    with pytest.raises(RuntimeError, match="requires grad"):
        gk.tensor(1.0).backward()


def test_no_grad_as_context_manager_and_decorator():
    x = gk.tensor([1.0], requires_grad=True)
    with gk.no_grad():
        assert not (x * 2).requires_grad

    @gk.no_grad()
    def f(v):
        return v * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad
    assert gk.is_grad_enabled()


def test_comparisons_have_no_gradient_and_indexing_scatters():
    x = gk.tensor([1.0, -2.0, 3.0], requires_grad=True)
    mask = x > 0
    assert mask.dtype == bool and not mask.requires_grad
    x[np.array([0, 0, 2])].sum().backward()          # row 0 gathered twice
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])


def test_numpy_array_on_the_left_defers_to_tensor():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, gk.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_composites_have_values_of_numpy(rng):
    a = rng.normal(size=(4, 5))
    x = gk.tensor(a, dtype=np.float64)
    np.testing.assert_allclose(gk.mean(x, axis=0).data, a.mean(axis=0))
    np.testing.assert_allclose(x.var(axis=1).data, a.var(axis=1))
    np.testing.assert_allclose(x.std(ddof=0).data, a.std())
    np.testing.assert_allclose(x.std(dim=0).data, a.std(axis=0, ddof=1))   # PyTorch: n - 1
    np.testing.assert_allclose(gk.min(x, axis=1).data, a.min(axis=1))
    np.testing.assert_allclose((x - 1).data, a - 1)
    assert gk.gradcheck(lambda v: v.var(axis=0) + gk.sqrt(v * v + 1).mean(),
                        gk.tensor(a, True, np.float64))


def test_import_is_cheap():
    code = ("import sys, time; t = time.perf_counter(); import gradkit; "
            "heavy = {'scipy', 'sklearn', 'matplotlib', 'pyarrow', 'optuna', 'dask', 'torch', "
            "'rich', 'click', 'safetensors'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import gradkit pulled in {out.stdout.strip()}"


def test_python_constants_never_upcast_float32():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    for y in (x - 1.0, 1.0 - x, x / 3.0, 2.0 ** x, x ** 2, -x + 0.5):
        assert y.dtype == np.float32
