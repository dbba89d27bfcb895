"""PyTorch's Quickstart program (pytorch_quickstart.py, beside this file) runs on gradkit with
only its import lines changed, and learns: the test reads what the program prints."""

import re
import runpy
import sys
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parent / "pytorch_quickstart.py"

pytestmark = pytest.mark.timeout(300)


def test_quickstart_program_trains_as_written(monkeypatch, capsys):
    # 30 epochs of the tutorial's SGD(lr=1e-3) on 1437 digits: 690 steps, about a seventh of
    # the tutorial's 5 Fashion-MNIST epochs. PyTorch itself reaches 42% here (docs/habits.md).
    monkeypatch.setattr(sys, "argv", [str(PROGRAM), "--epochs", "30"])
    runpy.run_path(str(PROGRAM), run_name="__main__")
    out = capsys.readouterr().out
    assert "Shape of X [N, C, H, W]: (64, 1, 8, 8)" in out
    assert "Shape of y: (64,) int64" in out
    assert "Using cpu device" in out
    assert "(0): Linear(in_features=64, out_features=512, bias=True)" in out
    results = [(float(a) / 100, float(loss)) for a, loss in
               re.findall(r"Accuracy: ([\d.]+)%, Avg loss: ([\d.]+)", out)]
    assert len(results) == 30
    accuracy = [a for a, _ in results]
    losses = [loss for _, loss in results]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert accuracy[-1] >= 0.35 > accuracy[0]
    assert re.search(r'Predicted: "\d", Actual: "2"', out)
    assert out.rstrip().endswith('"') and "Done!" in out
