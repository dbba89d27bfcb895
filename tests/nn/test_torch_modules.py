"""gradkit.nn's PyTorch-style modules: PyTorch's shapes, initialization, names and numbers."""

import collections

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is the anchor these modules are "
                                               "compared with")


def test_linear_has_its_weights_at_construction_with_pytorchs_shapes():
    layer = nn.Linear(784, 10)
    assert layer.weight.shape == (10, 784) and layer.bias.shape == (10,)
    assert layer.weight.dtype == np.float32
    opt = gk.optim.SGD(layer.parameters(), lr=0.1)      # before any forward pass
    assert len(opt.params) == 2
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)


def test_linear_default_initialization_is_pytorchs_uniform():
    gk.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    # U(±b) has variance b²/3
    assert layer.weight.data.var() == pytest.approx(bound ** 2 / 3, rel=0.02)
    assert np.abs(layer.bias.data).max() > 0.9 * bound        # the bias is not zero


def test_linear_refuses_the_wrong_feature_count():
    with pytest.raises(ValueError, match=r"Linear\(in_features=4\) got an input of shape "
                                         r"\(2, 3\); expected its last axis to have 4"):
        nn.Linear(4, 2)(gk.zeros(2, 3))


def _pair():
    torch = torch_or_skip()
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    ours = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    return torch, theirs, ours


def test_a_pytorch_state_dict_loads_as_it_is_and_gives_pytorchs_outputs_and_gradients():
    torch, theirs, ours = _pair()
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)          # "0.weight", "0.bias", "2.weight", ...
    ours.load_state_dict({k: v.numpy() for k, v in sd.items()})
    X = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0, 2])
    loss_t = torch.nn.CrossEntropyLoss()(theirs(torch.from_numpy(X)), torch.from_numpy(y))
    loss_t.backward()
    loss_g = nn.CrossEntropyLoss()(ours(gk.from_numpy(X)), gk.from_numpy(y))
    loss_g.backward()
    assert loss_g.item() == pytest.approx(loss_t.item(), rel=1e-5)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_transposed_weight_is_refused_not_loaded():
    ours = nn.Sequential(nn.Linear(5, 4))
    with pytest.raises(ValueError, match=r"shape mismatch for '0.weight': the model has "
                                         r"\(4, 5\), the state dict has \(5, 4\)"):
        ours.load_state_dict({"0.weight": np.zeros((5, 4)), "0.bias": np.zeros(4)})


def test_one_sgd_step_matches_pytorch():
    torch, theirs, ours = _pair()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    X = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32)
    y = np.arange(8) % 3
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    opt_g = gk.optim.SGD(ours.parameters(), lr=0.1)
    for _ in range(3):
        torch.nn.CrossEntropyLoss()(theirs(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt_t.step()
        opt_t.zero_grad()
        nn.CrossEntropyLoss()(ours(gk.from_numpy(X)), gk.from_numpy(y)).backward()
        opt_g.step()
        opt_g.zero_grad()
    for (name, p), q in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(p, q.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_pytorch(reduction):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 3)) * 3
    labels = np.array([0, 2, 1, 1, 2])
    probs = rng.dirichlet(np.ones(3), size=5)
    t01 = (rng.random((5, 3)) > 0.5).astype(np.float64)
    target = rng.normal(size=(5, 3))
    T = torch.from_numpy
    G = lambda a: gk.tensor(a, dtype=a.dtype)          # noqa: E731
    cases = [
        (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, labels),
        (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, probs),
        (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, t01),
        (nn.MSELoss, torch.nn.MSELoss, target),
        (nn.L1Loss, torch.nn.L1Loss, target),
    ]
    for ours, theirs, t in cases:
        want = theirs(reduction=reduction)(T(z), T(t)).numpy()
        got = ours(reduction=reduction)(G(z), G(t))
        np.testing.assert_allclose(got.data, want, rtol=1e-10, err_msg=ours.__name__)
    w = rng.random(3)
    want = torch.nn.BCEWithLogitsLoss(weight=T(w), reduction=reduction)(T(z), T(t01)).numpy()
    got = nn.BCEWithLogitsLoss(weight=w, reduction=reduction)(G(z), G(t01))
    np.testing.assert_allclose(got.data, want, rtol=1e-10)


def test_losses_refuse_what_pytorch_would_broadcast_or_what_gradkit_does_not_support():
    with pytest.raises(ValueError, match=r"MSELoss: target shape \(4,\) differs from input "
                                         r"shape \(4, 1\)"):
        nn.MSELoss()(gk.zeros(4, 1), gk.zeros(4))
    with pytest.raises(ValueError, match=r"target labels range 0..3; expected 0..2"):
        nn.CrossEntropyLoss()(gk.zeros(2, 3), gk.tensor([0, 3]))
    with pytest.raises(TypeError, match="class-index targets must be integers"):
        nn.CrossEntropyLoss()(gk.zeros(2, 3), gk.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss\(label_smoothing=...\) is not "
                                         "supported"):
        nn.CrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(ValueError, match="ignore_index"):
        nn.CrossEntropyLoss(ignore_index=0)
    with pytest.raises(ValueError, match="pos_weight"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(3))


def test_activation_modules_match_pytorch():
    torch = torch_or_skip()
    a = np.linspace(-4, 4, 24).reshape(4, 6)
    T, G = torch.from_numpy(a), gk.tensor(a, dtype=np.float64)
    pairs = [(nn.ReLU(), torch.nn.ReLU()), (nn.Sigmoid(), torch.nn.Sigmoid()),
             (nn.Tanh(), torch.nn.Tanh()), (nn.GELU(), torch.nn.GELU()),
             (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.LeakyReLU(), torch.nn.LeakyReLU()),
             (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
             (nn.Softmax(dim=0), torch.nn.Softmax(dim=0)),
             (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)), (nn.Flatten(0), torch.nn.Flatten(0))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(G).data, theirs(T).numpy(), rtol=1e-12, atol=1e-15,
                                   err_msg=repr(ours))
    assert nn.Flatten()(gk.zeros(2, 3, 4)).shape == (2, 12)


def test_dropout_is_active_in_training_mode_only():
    gk.manual_seed(0)
    drop = nn.Dropout(p=0.25)
    x = gk.ones(400, 100)
    out = drop(x).data
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert (out == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert drop.eval()(x) is x
    assert nn.Dropout(p=1.0)(x).data.max() == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_sequential_container_habits():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(model) == 3 and isinstance(model[0], nn.Linear) and len(model[:2]) == 2
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 4 * 3 + 3 + 3 * 2 + 2
    named = nn.Sequential(collections.OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    assert model.eval() is model and not model[0].training and model.train()[0].training
    assert model.to("cpu") is model
    assert "(0): Linear(in_features=4, out_features=3, bias=True)" in repr(model)
    with pytest.raises(TypeError, match="Sequential takes modules"):
        nn.Sequential(nn.ReLU(), "relu")


def test_keras_style_layers_stay_in_gk_layers():
    assert gk.layers.Flatten is not nn.Flatten and gk.layers.Dropout is not nn.Dropout
    assert gk.nn.Dense is gk.layers.Dense


@pytest.mark.parametrize("settings", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
                                      {"momentum": 0.5, "weight_decay": 0.01}])
def test_sgd_made_pytorch_style_steps_as_pytorchs(settings):
    torch, theirs, ours = _pair()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    X = np.random.default_rng(3).normal(size=(8, 5)).astype(np.float32)
    y = np.arange(8) % 3
    # No lr: PyTorch's SGD(params) default (1e-3), where Keras's SGD() has 0.01.
    opt_t = torch.optim.SGD(theirs.parameters(), **settings)
    opt_g = gk.optim.SGD(ours.parameters(), **settings)
    assert opt_g.lr == opt_t.defaults["lr"] == 1e-3
    assert gk.optim.SGD().lr == 0.01
    start = {k: v.copy() for k, v in ours.state_dict().items()}
    for _ in range(4):
        opt_t.zero_grad()
        torch.nn.CrossEntropyLoss()(theirs(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt_t.step()
        opt_g.zero_grad()
        nn.CrossEntropyLoss()(ours(gk.from_numpy(X)), gk.from_numpy(y)).backward()
        opt_g.step()
    # The steps taken (about 1e-4), not the weights: float32 rounding of the weights (an ulp
    # is 6e-8 at 0.5) is all that may differ.
    for (name, p), q in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(p - start[name], q.numpy() - start[name], rtol=2e-3,
                                   atol=3e-7, err_msg=name)


def test_functional_uses_pytorchs_meanings():
    torch = torch_or_skip()
    TF = torch.nn.functional
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 4)), rng.normal(size=4)
    G = lambda a: gk.tensor(a, dtype=np.float64)          # noqa: E731
    T = torch.from_numpy
    F = nn.functional
    # A square weight is where a transposed reading would go unnoticed.
    np.testing.assert_allclose(F.linear(G(x), G(w), G(b)).data, TF.linear(T(x), T(w), T(b)).numpy())
    np.testing.assert_allclose(F.leaky_relu(G(x)).data, TF.leaky_relu(T(x)).numpy())
    t = (rng.random((3, 4)) > 0.5).astype(np.float64)
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(
            F.binary_cross_entropy_with_logits(G(x), G(t), reduction=reduction).data,
            TF.binary_cross_entropy_with_logits(T(x), T(t), reduction=reduction).numpy())
        np.testing.assert_allclose(F.mse_loss(G(x), G(t), reduction=reduction).data,
                                   TF.mse_loss(T(x), T(t), reduction=reduction).numpy())
    with pytest.raises(ValueError, match=r"weight \(5, 3\) expects 3: PyTorch's weight is "
                                         r"\(out_features, in_features\)"):
        F.linear(gk.zeros(2, 5), gk.zeros(5, 3))


def test_init_functions_use_pytorchs_fans_and_gains():
    torch = torch_or_skip()
    gk.manual_seed(0)
    w = nn.Linear(300, 200).weight                    # (out, in): fan_in 300, fan_out 200
    checks = [
        (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"),
         lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu")),
        (lambda t: nn.init.kaiming_uniform_(t, a=5 ** 0.5),
         lambda t: torch.nn.init.kaiming_uniform_(t, a=5 ** 0.5)),
        (lambda t: nn.init.xavier_uniform_(t, gain=nn.init.calculate_gain("tanh")),
         lambda t: torch.nn.init.xavier_uniform_(t, gain=torch.nn.init.calculate_gain("tanh"))),
        (nn.init.xavier_normal_, torch.nn.init.xavier_normal_),
        (lambda t: nn.init.kaiming_normal_(t, mode="fan_out"),
         lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out")),
    ]
    for ours, theirs in checks:
        assert ours(w) is w
        t = torch.empty(200, 300)
        theirs(t)
        assert w.data.std() == pytest.approx(float(t.std()), rel=0.03)
    nn.init.zeros_(w)
    assert not w.data.any()
    nn.init.constant_(w, 0.5)
    assert (w.data == 0.5).all()
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Linear(3, 2).bias)


def test_module_list_identity_and_children():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            self.skip = nn.Identity(54, unused="ignored")

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.skip(x)

    net = Net()
    assert list(net.state_dict()) == [f"blocks.{i}.{p}" for i in range(3)
                                      for p in ("weight", "bias")]
    assert [name for name, _ in net.named_children()] == ["blocks", "skip"]
    assert len(list(net.blocks.children())) == 3 and len(net.blocks) == 3
    assert net(gk.ones(2, 4)).shape == (2, 4)


@pytest.mark.parametrize("shape", [(8, 5), (6, 5, 4)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm1d_matches_pytorch_in_training_and_evaluation(shape, momentum):
    torch = torch_or_skip()
    torch.manual_seed(0)
    theirs, ours = torch.nn.BatchNorm1d(5, momentum=momentum), nn.BatchNorm1d(5, momentum=momentum)
    with torch.no_grad():
        theirs.weight.uniform_()
        theirs.bias.uniform_()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    for _ in range(3):
        X = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
        xt, xg = torch.tensor(X, requires_grad=True), gk.tensor(X, requires_grad=True)
        yt, yg = theirs(xt), ours(xg)
        (yt ** 3).sum().backward()
        (yg ** 3).sum().backward()
        np.testing.assert_allclose(yg.data, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-3,
                                   atol=1e-3)
        theirs.zero_grad()
        ours.zero_grad()
    # The running variance is the unbiased one, weighted by momentum as PyTorch weighs it.
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-5,
                                   err_msg=name)
    theirs.eval()
    ours.eval()
    X = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(ours(gk.tensor(X)).data, theirs(torch.tensor(X)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm1d_state_dict_names_follow_pytorchs_options():
    assert list(nn.BatchNorm1d(3).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, bias=False).state_dict()) == [
        "weight", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]


def test_batchnorm1d_gradients_match_central_differences():
    rng = np.random.default_rng(1)
    layer = nn.BatchNorm1d(3, dtype=np.float64)
    layer.weight.data[...] = rng.uniform(0.5, 2, 3)
    layer.bias.data[...] = rng.normal(size=3)

    def f(x, weight, bias):          # gradcheck hands over float64 copies of the parameters
        layer.weight, layer.bias = weight, bias
        return layer(x) ** 2

    for shape in [(5, 3), (4, 3, 2)]:
        x = gk.tensor(rng.normal(size=shape), requires_grad=True)
        assert gk.gradcheck(f, x, layer.weight, layer.bias)


def test_batchnorm1d_refuses_what_pytorch_refuses():
    with pytest.raises(ValueError, match=r"expects an input of shape \(N, 4\) or \(N, 4, L\), "
                                         r"got \(2, 3\)"):
        nn.BatchNorm1d(4)(gk.zeros(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(gk.zeros(1, 3))
    layer = nn.BatchNorm1d(3).eval()
    assert layer(gk.zeros(1, 3)).shape == (1, 3)         # one sample is fine in evaluation
    with pytest.raises(ValueError, match="momentum must be a number in"):
        nn.BatchNorm1d(3, momentum=1.5)


def test_a_keras_style_layer_inside_a_pytorch_module_takes_the_modules_mode():
    # Keras's rule: a layer called without training= inherits the enclosing call's mode; in a
    # PyTorch-style module that mode is the module's train() / eval().
    net = nn.Sequential(nn.Linear(4, 50), gk.layers.Dropout(0.5))
    x = gk.ones(8, 4)
    net.eval()
    assert np.array_equal(net(x).numpy(), net(x).numpy())
    net.train()
    out = net(x).numpy()
    assert np.mean(out == 0) > 0.3
    # Alone, outside any module call, the layer infers (Keras's default).
    assert gk.layers.Dropout(0.5)(x) is x


@pytest.mark.parametrize("shape, settings", [((6, 4), {}), ((6, 4), {"num_parameters": 4}),
                                             ((5, 4, 3), {"num_parameters": 4, "init": 0.1}),
                                             ((7,), {"init": -0.5})])
def test_prelu_matches_pytorch_values_gradients_and_an_sgd_step(shape, settings):
    torch = torch_or_skip()
    theirs, ours = torch.nn.PReLU(**settings), nn.PReLU(**settings)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())
    assert repr(ours) == repr(theirs)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.5)
    opt_g = gk.optim.SGD(ours.parameters(), lr=0.5)
    rng = np.random.default_rng(0)
    for _ in range(3):
        X = rng.normal(size=shape).astype(np.float32)
        xt, xg = torch.tensor(X, requires_grad=True), gk.tensor(X, requires_grad=True)
        yt, yg = theirs(xt), ours(xg)
        np.testing.assert_allclose(yg.data, yt.detach().numpy(), rtol=1e-6)
        opt_t.zero_grad()
        opt_g.zero_grad()
        (yt ** 2).sum().backward()
        (yg ** 2).sum().backward()
        np.testing.assert_allclose(xg.grad, xt.grad.numpy(), rtol=1e-5)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5)
        opt_t.step()
        opt_g.step()
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-5)


def test_prelu_gradients_match_central_differences_and_refusals():
    rng = np.random.default_rng(2)
    layer = nn.PReLU(3, dtype=np.float64)
    layer.weight.data[...] = [0.1, -0.3, 1.5]

    def f(x, weight):
        layer.weight = weight
        return layer(x) ** 2

    x = rng.uniform(0.2, 1.0, size=(4, 3, 2)) * rng.choice([-1.0, 1.0], size=(4, 3, 2))
    assert gk.gradcheck(f, gk.tensor(x, requires_grad=True), layer.weight)
    with pytest.raises(ValueError, match=r"PReLU\(num_parameters=3\) got an input of shape "
                                         r"\(2, 4\); expected 3 channels on axis 1"):
        nn.PReLU(3)(gk.zeros(2, 4))
    assert nn.PReLU is not gk.layers.PReLU and gk.keras.layers.PReLU is gk.layers.PReLU


@pytest.mark.parametrize("set_to_none", [True, False])
def test_freezing_zero_grad_and_param_groups_step_as_pytorchs(set_to_none):
    # Three steps, then the first layer frozen and the rate changed through param_groups:
    # with set_to_none=True (PyTorch's default) the frozen layer gets no gradient and stays
    # where it is, momentum or not; with False its gradient is a zero tensor and momentum
    # carries it on, in both libraries.
    torch, theirs, ours = _pair()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    opt_g = gk.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    X = np.random.default_rng(3).normal(size=(8, 5)).astype(np.float32)
    y = np.arange(8) % 3
    for step in range(7):
        if step == 3:
            theirs[0].requires_grad_(False)
            assert ours[0].requires_grad_(False) is ours[0]
            for group_t, group_g in zip(opt_t.param_groups, opt_g.param_groups):
                group_t["lr"] = group_g["lr"] * 0.5
                group_g["lr"] = group_g["lr"] * 0.5
        opt_t.zero_grad(set_to_none=set_to_none)
        opt_g.zero_grad(set_to_none=set_to_none)
        torch.nn.CrossEntropyLoss()(theirs(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        nn.CrossEntropyLoss()(ours(gk.from_numpy(X)), gk.from_numpy(y)).backward()
        opt_t.step()
        opt_g.step()
        for (name, p), q in zip(ours.state_dict().items(), theirs.state_dict().values()):
            np.testing.assert_allclose(p, q.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} after step {step + 1}")
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.05)
    assert (ours[0].weight.grad is None) == (theirs[0].weight.grad is None) == set_to_none


def test_param_groups_refuse_what_they_cannot_honor():
    opt = gk.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1, momentum=0.9)
    group = opt.param_groups[0]
    assert len(opt.param_groups) == 1 and set(group) == {"params", "lr"}
    assert group["params"] == opt.params
    with pytest.raises(KeyError, match=r"param_groups\[0\]\['momentum'\]: gradkit's SGD "
                                       r"changes only 'lr'"):
        group["momentum"] = 0.5
    with pytest.raises(KeyError, match="changes only 'lr'"):
        group["weight_decay"]
    with pytest.raises(ValueError, match="parameter groups .* are not supported"):
        gk.optim.SGD([{"params": nn.Linear(3, 2).parameters(), "lr": 0.1}], lr=0.01)


def test_module_apply_visits_children_first_as_pytorch():
    torch, theirs, ours = _pair()
    seen_t, seen_g = [], []
    assert theirs.apply(lambda m: seen_t.append(type(m).__name__)) is theirs
    assert ours.apply(lambda m: seen_g.append(type(m).__name__)) is ours
    assert seen_g == seen_t == ["Linear", "ReLU", "Linear", "Sequential"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    ours.apply(init_weights)
    assert not ours[0].weight.data.any() and ours[0].bias.data.any()
    with pytest.raises(TypeError, match="set_to_none must be True or False"):
        ours.zero_grad(set_to_none="yes")
