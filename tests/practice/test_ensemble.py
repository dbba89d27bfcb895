"""Ensembles of networks trained from different seeds (digits)."""

import json
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
