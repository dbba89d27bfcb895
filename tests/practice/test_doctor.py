"""`doctor` (the notes' 7-step recipe) and the learning-rate range test, on real data (digits)."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import gradkit as gk
from gradkit.practice.lr_finder import lr_range_test, suggest
from gradkit.practice.run import RunConfig, train_run

PNG = b"\x89PNG\r\n\x1a\n"
# Small budgets for the runs whose later steps the tests do not read.
QUICK = dict(coarse_trials=1, coarse_epochs=1, fine_trials=1, fine_epochs=1, curve_epochs=1,
             lr_steps=30, max_passes=0, check_folds=0)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 1024, path


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("doctor")
    return gk.practice.doctor(RunConfig(), out=str(out)), out


def test_initial_loss_is_log_10(digits_report):
    report, _ = digits_report
    step = report.step(1)
    assert step.ok, step.verdict
    assert step.numbers["expected"] == pytest.approx(math.log(10))
    assert step.numbers["initial loss"] == pytest.approx(math.log(10), rel=0.05)


def test_the_small_sample_is_overfitted(digits_report):
    step = digits_report[0].step(2)
    assert step.ok, step.verdict
    assert step.numbers["training accuracy"] == "100.00%"
    assert step.numbers["steps used"] <= 500
    assert "reached 100% training accuracy on 160 samples" in step.verdict


def test_suggested_learning_rate_is_near_adams_1e_3(digits_report):
    step = digits_report[0].step(3)
    assert step.ok, step.verdict
    assert 1e-4 <= step.numbers["suggested"] <= 1e-2
    assert step.numbers["lowest loss at"] > step.numbers["suggested"]


def test_search_learning_curves_and_verdict(digits_report):
    report, _ = digits_report
    assert report.ok, report.problems
    coarse, fine = report.step(4), report.step(5)
    assert coarse.table.count("\n") == 2 + 6 - 1          # header, rule, 6 trials
    assert fine.table.count("\n") == 2 + 3 - 1
    # the fine search starts from the best coarse setting, so it cannot end worse
    assert float(fine.numbers["best validation accuracy"].rstrip("%")) >= \
        float(coarse.numbers["best validation accuracy"].rstrip("%"))
    assert report.step(6).numbers["epochs"] == 15
    assert "low bias and low variance" in report.step(7).verdict


def test_report_files(digits_report):
    report, out = digits_report
    md = (out / "doctor.md").read_text()
    for n in range(1, 8):
        assert f"## Step {n}:" in md
    for png in ("layer_stats.png", "overfit.png", "lr_finder.png", "search.png",
                "learning_curves.png"):
        assert f"![{png}]({png})" in md
        assert_png(out / png)
    saved = json.loads((out / "recommended.json").read_text())
    assert saved == {"run": report.recommended.to_dict()}


def test_recommended_config_reaches_97_percent(digits_report, tmp_path):
    report, out = digits_report
    config = RunConfig.from_file(out / "recommended.json")
    if "it is recommended" in report.step(8).verdict:
        assert config.lr == report.step(5).numbers["best learning rate"]
        assert config.epochs == 15
    else:                                # the baseline won: the configuration as it was given
        assert config == RunConfig()
    result = train_run(config, str(tmp_path / "run"), verbose=0)
    assert result.metrics["test_accuracy"] >= 0.97, result.metrics


def test_a_too_high_learning_rate_is_named():
    report = gk.practice.doctor(RunConfig(lr=10.0), **QUICK)
    step = report.step(2)
    assert not step.ok
    assert "the loss exploded" in step.verdict
    assert "the learning rate 10 is too high" in step.verdict
    # the probes went down until one worked, and that one is named
    assert "lower learning rate (0.01) it reached 100% training accuracy" in step.verdict
    assert report.step(1).ok                      # the learning rate does not change the start


def test_all_zero_initialization_is_named():
    report = gk.practice.doctor(RunConfig(init="zeros"), **QUICK)
    first, second = report.step(1), report.step(2)
    assert not first.ok and not second.ok
    assert first.numbers["initial loss"] == pytest.approx(math.log(10), rel=1e-4)
    assert "layer 1 (all 0), layer 2 (all 0) has the same value" in first.verdict
    assert "random initialization" in first.verdict
    assert "the initialization is the problem: with random initialization (he_normal)" \
        in second.verdict
    assert report.recommended.init == "he_normal"


def test_doctor_on_a_model_and_arrays(tmp_path):
    ds = gk.data.load("iris")
    model = gk.Sequential([gk.layers.Normalization(), gk.layers.Dense(16, activation="relu"),
                           gk.layers.Dense(3)])
    model.layers[0].adapt(ds.X)
    model.compile(gk.optim.Adam(1e-2), "cross_entropy", ["accuracy"])
    report = gk.practice.doctor(model, ds.X, ds.y, out=str(tmp_path), small_sample=40,
                                overfit_steps=100, **QUICK)
    assert report.step(1).numbers["expected"] == pytest.approx(math.log(3))
    rec = report.recommended
    assert (rec.hidden, rec.activation, rec.data, rec.optimizer) == ([16], "relu", "arrays",
                                                                     "adam")
    assert "set `data` to the file" in (tmp_path / "doctor.md").read_text()


def test_cli_doctor(tmp_path):
    from gradkit.cli import cli

    out = tmp_path / "doc"
    result = CliRunner().invoke(cli, ["doctor", "iris", "--hidden", "16", "--out", str(out),
                                      "--trials", "2", "--trial-epochs", "1", "--fine-trials",
                                      "1", "--fine-epochs", "1", "--epochs", "2",
                                      "--lr-steps", "30", "--small-sample", "40",
                                      "--overfit-steps", "100"], prog_name="gradkit")
    assert result.exit_code == 0, result.output
    assert "step 7 (bias or variance?)" in result.output
    config = RunConfig.from_file(out / "recommended.json")
    assert (config.data, config.hidden) == ("iris", [16])
    assert "step 0 (the default recipe, as a baseline)" in result.output
    assert "step 8 (the advice against the default recipe)" in result.output
    bad = CliRunner().invoke(cli, ["doctor", "iris", "--lr", "-1"], prog_name="gradkit")
    assert bad.exit_code == 2


def test_step_4_tries_the_notes_weight_decay_grid_and_step_5_trains_longer(digits_report):
    report, _ = digits_report
    l2s = [float(row.split("|")[3]) for row in report.step(4).table.splitlines()[2:]]
    assert sorted(set(l2s)) == [0.0, 1e-5, 1e-4] and len(l2s) == 6
    assert "10 epochs each" in report.step(5).checked


def test_never_worse_than_the_baseline(tmp_path):
    # A one-epoch doctor cannot beat the configuration trained for its 30 epochs: it says so
    # and recommends that configuration as it is.
    given = RunConfig(data="iris", hidden=[16], lr=0.01, epochs=30)
    report = gk.practice.doctor(given, out=str(tmp_path), **{**QUICK, "check_folds": 3})
    base, verdict = report.step(0), report.step(8)
    assert base.numbers["epochs run"] == 30
    assert "your configuration is recommended as it is" in verdict.verdict
    assert report.recommended == given
    margin = verdict.numbers["3-fold margin (105 samples)"]
    noise = verdict.numbers["3-fold noise (1 s.e.)"]
    assert margin.startswith("-") and float(noise.rstrip("%")) > 0
    assert "in the 3-fold cross-validation" in verdict.verdict
    assert RunConfig.from_file(tmp_path / "recommended.json") == given


def _noisy_table(path, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    rows = ["x" + ",x".join(map(str, range(10))) + ",label"]
    rows += [",".join(f"{v:.5f}" for v in x) + f",{c}" for x, c in zip(X, y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_high_variance_goes_back_to_step_5_and_the_advice_follows_the_diagnosis(tmp_path):
    # 300 noisy samples and a wide network: it learns the training data by heart.
    train = _noisy_table(tmp_path / "train.csv", 300, 0)
    test = _noisy_table(tmp_path / "test.csv", 200, 1)
    given = RunConfig(data=str(train), target="label", hidden=[128], epochs=20, val=0.3,
                      test=0.0, test_data=str(test))
    report = gk.practice.doctor(given, coarse_trials=2, coarse_epochs=1, fine_trials=1,
                                fine_epochs=10, curve_epochs=20, lr_steps=30, max_passes=1,
                                check_folds=0, out=str(tmp_path / "doc"))
    assert "high variance" in report.step(7).verdict
    back = [s for s in report.steps if s.title.startswith("Back to step 5, pass 2")]
    assert len(back) == 1 and "remedies for high variance" in back[0].title
    rows = back[0].table.splitlines()[3:]
    names = [r.split("|")[1].strip().split(" (")[0] for r in rows]
    assert set(names) - {"early stopping"} == {"a 10x stronger L2", "dropout 0.2",
                                               "a smaller network"}
    rec, verdict = report.recommended, report.step(8)
    # A remedy helped (the data are seeded), and the recommended config carries it.
    assert " helped: validation accuracy" in back[0].verdict
    assert "it is recommended" in verdict.verdict
    remedy = back[0].verdict.split(" helped")[0]
    carried = {"a 10x stronger L2": rec.l2 > report.step(5).numbers["best L2"],
               "dropout 0.2": rec.dropout == 0.2, "a smaller network": rec.hidden == [64],
               "early stopping": rec.early_stopping > 0}
    assert carried[remedy.split(" (")[0]], (remedy, rec)
    # The test file is evaluated once, at the end, and what it says is what the recommended
    # config scores when `gradkit train` runs it (same seed, same steps).
    said = verdict.numbers["test accuracy (the test file, once)"]
    run = train_run(rec, str(tmp_path / "run"), verbose=0)
    assert float(said.rstrip("%")) == pytest.approx(100 * run.metrics["test_accuracy"], abs=1e-6)
    assert run.metrics["test_samples"] == 200 and run.metrics["train_samples"] == 210


# -- the learning-rate range test ------------------------------------------------------------

def test_suggest_finds_the_steepest_drop():
    # A loss that falls fastest (per factor of rate) at 1e-3, is lowest at 1e-2, then blows up.
    lrs = np.logspace(-6, 0, 121)
    x = np.log10(lrs)
    losses = 2.3 - 2.0 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -2, 50 * (x + 2) ** 2, 0)
    lr, steepest, lr_at_min, _ = suggest(lrs, losses)
    assert lr == steepest == pytest.approx(1e-3, rel=0.15)
    assert lr_at_min == pytest.approx(10 ** -2.2, rel=0.4)
    assert suggest(lrs, losses, rule="min/10")[0] == pytest.approx(lr_at_min / 10)
    with pytest.raises(ValueError, match="rule"):
        suggest(lrs, losses, rule="valley")


def test_lr_range_test_leaves_the_model_as_it_was(tmp_path):
    ds = gk.data.load("digits")
    model = gk.Sequential([gk.layers.Normalization(), gk.layers.Dense(32, activation="relu"),
                           gk.layers.Dense(10)])
    model.layers[0].adapt(ds.X)
    model.build((64,), seed=0)
    model.compile(gk.optim.Adam(1e-3), "cross_entropy")
    before = model.get_weights()
    result = lr_range_test(model, ds.X, ds.y, steps=60)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.optimizer.lr == 1e-3 and model.optimizer.iterations == 0
    # the rates grow geometrically from 1e-6 to 1 (or until the loss blew up)
    assert result.lrs[0] == pytest.approx(1e-6) and len(result.lrs) <= 60
    assert np.allclose(result.lrs[1:] / result.lrs[:-1], (1e6) ** (1 / 59))
    assert result.descended and 1e-4 < result.suggestion < result.lr_at_min
    result.plot(tmp_path / "lr.png")
    assert_png(tmp_path / "lr.png")


def test_the_cross_check_catches_a_margin_that_the_validation_split_flatters():
    from types import SimpleNamespace

    from gradkit.practice._doctor_recipe import decide

    # On the validation split the doctor's model wins by 2 of 20; the cross-validated
    # differences (paired, per sample) say it loses: the cross-check decides.
    setup = SimpleNamespace(task="classification", score_name="accuracy",
                            error_is_fraction=True, val_X=np.zeros((20, 1)),
                            val_y=np.zeros(20, dtype=int),
                            format_score=lambda v: f"{v:.2%}")

    class Fixed:
        def __init__(self, right):
            self.right = right

        def predict(self, X):
            out = np.zeros((len(X), 2))
            out[:self.right, 0] = 1.0
            out[self.right:, 1] = 1.0
            return out

    tuned = {"diverged": False, "score": 0.9, "val_loss": 0.3, "model": Fixed(18)}
    base = {"diverged": False, "score": 0.8, "val_loss": 0.4, "model": Fixed(16)}
    step, wins = decide(setup, tuned, base)
    assert wins and step.numbers["validation margin"] == "+10.00%"
    check = np.array([-1.0] * 30 + [1.0] * 10 + [0.0] * 60)
    step, wins = decide(setup, tuned, base, check, 3)
    assert not wins and "your configuration is recommended as it is" in step.verdict
    assert step.numbers["3-fold margin (100 samples)"] == "-20.00%"
    noise = np.std(check, ddof=1) / 10
    assert step.numbers["3-fold noise (1 s.e.)"] == f"{noise:.2%}"
    # A margin within one standard error is a tie, and a tie keeps the configuration.
    tie = np.array([1.0] * 12 + [-1.0] * 10 + [0.0] * 78)
    step, wins = decide(setup, tuned, base, tie, 3)
    assert not wins and "by no more than the noise (+2.00%" in step.verdict
    clear = np.array([1.0] * 20 + [-1.0] * 2 + [0.0] * 78)
    assert decide(setup, tuned, base, clear, 3)[1]


def test_splits_too_small_are_refused_before_the_folder_is_made(tmp_path):
    from gradkit.cli import cli

    (tmp_path / "three.csv").write_text("a,b,y\n0.1,0.2,1\n0.3,0.2,0\n0.5,0.5,1\n")
    out = tmp_path / "doc"
    result = CliRunner().invoke(cli, ["doctor", str(tmp_path / "three.csv"), "--out", str(out)],
                                prog_name="gradkit")
    assert result.exit_code == 2, result.output
    error = result.output.splitlines()[-1]
    assert "three.csv: 3 rows split into 1 for training, 1 for validation and 1 for test; " \
           "the doctor needs at least 3 training rows" in error
    assert not out.exists()
    with pytest.raises(gk.errors.ConfigError, match="check_folds must be 0 or an integer >= 2"):
        gk.practice.doctor(RunConfig(data="iris"), check_folds=1)
