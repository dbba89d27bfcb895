"""Every path that builds a network counts it against the memory budget first: a random
projection's width and the doctor's trials, as train counts its own; a confusion matrix of
too many classes to read is not drawn."""

import dataclasses

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import ConfigError
from gradkit.practice import plots
from gradkit.practice.run import RunConfig, train_run

SMALL = RunConfig(data="iris", hidden=[8], epochs=1, batch_size=32)


def test_a_random_projection_counts_its_projected_width(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "4G")
    wide = dataclasses.replace(SMALL, normalize="random_projection",
                               pca_components=100_000_000)
    with pytest.raises(ConfigError, match=r"^training 4-100000000-8-3 .*memory budget"):
        train_run(wide, str(tmp_path / "r"), verbose=0)
    assert not (tmp_path / "r").exists()


def test_doctor_refuses_a_network_over_the_budget_before_any_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "4G")
    with pytest.raises(ConfigError, match=r"^training 4-100000000-3 .*memory budget"):
        gk.practice.doctor(dataclasses.replace(SMALL, hidden=[100_000_000]),
                           out=str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def test_a_confusion_matrix_of_many_classes_is_not_drawn(tmp_path):
    assert plots.confusion_matrix(np.eye(101, dtype=np.int64), None, tmp_path / "c.png") is False
    assert not (tmp_path / "c.png").exists()
    assert plots.confusion_matrix(np.eye(3, dtype=np.int64), None, tmp_path / "c.png") is True
    assert (tmp_path / "c.png").exists()
