"""Every path that builds a network counts it against the memory budget first: a random
projection's width and the doctor's trials, as train counts its own."""

import dataclasses

import pytest

import gradkit as gk
from gradkit.errors import ConfigError
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
