"""Rosenblatt's perceptron (004_b03d6a67b28a555f.txt): learns AND and OR, cannot learn XOR."""

import numpy as np
import pytest

import gradkit as gk

AB = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
AND, OR, XOR = [0, 0, 0, 1], [0, 1, 1, 1], [0, 1, 1, 0]


@pytest.mark.parametrize("target", [AND, OR], ids=["AND", "OR"])
def test_perceptron_learns_linearly_separable_gates(target):
    p = gk.nn.Perceptron(2)
    assert p.fit(AB, target) is True and p.converged_
    np.testing.assert_array_equal(p.predict(AB), target)
    assert p.errors_[-1] == 0 and len(p.errors_) < 10


def test_perceptron_and_learns_the_rule_by_hand():
    # Zero start, θ(0) = 1, lr = 1; the updates of the first epoch, sample by sample:
    # (0,0): y=1, t=0 -> w=(0,0), b=-1;  (0,1): y=0 ok;  (1,0): y=0 ok;
    # (1,1): y=0, t=1 -> w=(1,1), b=0
    p = gk.nn.Perceptron(2, max_epochs=1)
    assert p.fit(AB, AND) is False
    np.testing.assert_array_equal(p.w, [1.0, 1.0])
    assert p.b == 0.0 and p.errors_ == [2]


def test_perceptron_fails_on_xor_and_says_so():
    p = gk.nn.Perceptron(2, lr=0.5, max_epochs=200)
    assert p.fit(AB, XOR) is False and not p.converged_
    assert len(p.errors_) == 200 and min(p.errors_) >= 1     # never a mistake-free epoch
    assert np.sum(p.predict(AB) != XOR) >= 1                  # no line separates XOR


def test_perceptron_validates_its_settings_and_data():
    with pytest.raises(ValueError, match="n_inputs must be a positive integer, got n_inputs=0"):
        gk.nn.Perceptron(0)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        gk.nn.Perceptron(2, lr=0)
    with pytest.raises(ValueError, match=r"X must have shape \(samples, 2\), got \(4, 3\)"):
        gk.nn.Perceptron(2).fit(np.zeros((4, 3)), AND)
    with pytest.raises(ValueError, match="t must hold one 0/1 label per row"):
        gk.nn.Perceptron(2).fit(AB, [0, 1, 2, 1])
