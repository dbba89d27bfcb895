"""Ensembles of networks trained from different seeds (digits)."""

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gradkit as gk
from gradkit.practice.ensemble import Ensemble, train_ensemble
from gradkit.practice.run import RunConfig

SMALL = RunConfig(hidden=[32], epochs=4, seed=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble")
    return train_ensemble(SMALL, 5, out=str(out)), out


@pytest.fixture(scope="module")
def test_split():
    ds = gk.data.load("digits")
    return gk.data.train_val_test_split(ds, val=SMALL.val, test=SMALL.test, seed=SMALL.seed)[2]


def test_ensemble_scores_at_least_its_average_member(run):
    result, _ = run
    members = [m["accuracy"] for m in result.member_test_metrics]
    assert len(set(members)) > 1                      # different seeds, different networks
    assert result.test_metrics["accuracy"] >= np.mean(members)
    assert result.test_metrics["loss"] <= np.mean([m["loss"] for m in result.member_test_metrics])
    assert result.seeds == [1, 2, 3, 4, 5]
    assert "ensemble of 5: test accuracy" in result.summary()


def test_probabilities_are_the_mean_of_the_members(run, test_split):
    ens = run[0].ensemble
    probs = ens.predict_proba(test_split.X)
    members = np.mean([m.predict_proba(test_split.X) for m in ens.models], axis=0)
    np.testing.assert_allclose(probs, members, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    labels = ens.predict_classes(test_split.X)
    assert set(labels) <= set(ens.class_names)
    accuracy = np.mean(labels == np.asarray(ens.class_names, dtype=object)[test_split.y])
    assert accuracy == pytest.approx(run[0].test_metrics["accuracy"])


def test_weighted_ensemble_of_one_is_that_model(run, test_split):
    models = run[0].ensemble.models
    only_first = Ensemble(models, weights=[1, 0, 0, 0, 0])
    np.testing.assert_allclose(only_first.predict_proba(test_split.X),
                               models[0].predict_proba(test_split.X), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    with pytest.raises(ValueError, match="weights"):
        Ensemble(models, weights=[1, 1])


def test_saved_members_load_back(run, test_split):
    result, out = run
    report = json.loads((out / "ensemble.json").read_text())
    assert report["members"] == [f"member_{i}.safetensors" for i in range(5)]
    assert report["test"]["accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    loaded = Ensemble.load([out / name for name in report["members"]])
    np.testing.assert_allclose(loaded.predict_proba(test_split.X),
                               result.ensemble.predict_proba(test_split.X), rtol=1e-6)


def test_an_executor_gives_the_same_members(run):
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = train_ensemble(SMALL, 2, executor=pool)
    for a, b in zip(parallel.ensemble.models, run[0].ensemble.models[:2]):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------- an ensemble's folder and data are checked


TINY = RunConfig(data="iris", hidden=[4], epochs=1, seed=0)


def test_an_ensemble_and_a_run_never_share_a_folder(tmp_path):
    from gradkit.errors import ConfigError
    from gradkit.practice.run import train_run

    train_run(TINY, str(tmp_path / "run"), verbose=0)
    with pytest.raises(ConfigError, match="already holds a run"):
        train_ensemble(TINY, 2, out=str(tmp_path / "run"))
    train_ensemble(TINY, 2, out=str(tmp_path / "ens"))
    with pytest.raises(ConfigError, match=r"\(ensemble.json, member_0.safetensors, "
                       r"member_1.safetensors\); pass --overwrite to replace it"):
        train_run(TINY, str(tmp_path / "ens"), verbose=0)
    with pytest.raises(ConfigError, match="already holds a run"):
        train_ensemble(TINY, 2, out=str(tmp_path / "ens"))
    train_ensemble(TINY, 1, out=str(tmp_path / "ens"), overwrite=True)
    assert sorted(os.listdir(tmp_path / "ens")) == ["ensemble.json", "member_0.safetensors"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_ensemble_refuses_what_a_run_refuses_and_leaves_nothing(tmp_path, monkeypatch,
                                                                    stream):
    from gradkit.errors import ConfigError, DataError

    one = tmp_path / "one.csv"
    one.write_text("x,y\n" + "".join(f"{i},yes\n" for i in range(40)))
    single = dataclasses.replace(TINY, data=str(one), stream=stream)
    with pytest.raises(DataError, match="every sample has the same class"):
        train_ensemble(single, 2, out=str(tmp_path / "a"))
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    huge = dataclasses.replace(TINY, hidden=[100_000_000], stream=stream,
                               data="iris" if not stream else str(_two_classes(tmp_path)))
    with pytest.raises(ConfigError, match="more than the memory budget"):
        train_ensemble(huge, 2, out=str(tmp_path / "b"))
    assert sorted(os.listdir(tmp_path)) == ["one.csv"] + (["two.csv"] if stream else [])


def _two_classes(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    return path


def test_cli_ensemble_resume_is_refused_before_anything_is_trained(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gradkit.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "iris", "--ensemble", "2", "--resume",
                                      "--out", "e", "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --resume: an ensemble keeps no checkpoints")
    assert not (tmp_path / "e").exists()
