"""fit, evaluate and predict on a gradkit.data.Stream: the same numbers as on arrays where the
batches are the same, resume mid-epoch bit-identical, and what a stream refuses."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import DataError
from gradkit.train import checkpoint

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from gradkit.data import load_parquet, stream  # noqa: E402


@pytest.fixture
def files(tmp_path):
    """A folder of three Parquet files of 3-class data (row groups of 40 rows); the same rows
    in one file beside it, all.pq."""
    rng = np.random.default_rng(0)
    (tmp_path / "parts").mkdir()
    tables = []
    for i, n in enumerate((150, 170, 130)):
        X = rng.normal(size=(n, 4))
        y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
        table = pa.table({**{f"x{j}": X[:, j] for j in range(4)}, "y": y})
        pq.write_table(table, tmp_path / "parts" / f"part{i}.parquet", row_group_size=40)
        tables.append(table)
    pq.write_table(pa.concat_tables(tables), tmp_path / "all.pq")
    return tmp_path / "parts"


def test_unshuffled_stream_fit_equals_the_array_fit_bit_for_bit(files, make_mlp):
    ds = load_parquet(files.parent / "all.pq", target="y")
    s = stream(str(files / "part*.parquet"), target="y", batch_rows=33, shuffle_buffer=0)
    options = dict(batch_size=16, epochs=3, seed=1, verbose=0, shuffle=False)
    on_arrays, on_stream = make_mlp(dropout=0.2), make_mlp(dropout=0.2)
    h1 = on_arrays.fit(ds.X, ds.y, **options)
    h2 = on_stream.fit(s, None, **options)
    for w1, w2 in zip(on_arrays.get_weights(), on_stream.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(h1.batch_loss, h2.batch_loss)
    np.testing.assert_allclose(h1.history["accuracy"], h2.history["accuracy"], rtol=1e-12)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)


def test_evaluate_and_predict_on_a_stream_match_the_arrays(files, make_mlp):
    ds = load_parquet(files.parent / "all.pq", target="y")
    s = stream(files, target="y", batch_rows=50)
    model = make_mlp(metrics=("accuracy", "top_k_accuracy"))
    model.fit(ds.X, ds.y, batch_size=32, epochs=2, seed=0, verbose=0)
    expected = model.evaluate(ds.X, ds.y, return_dict=True)
    got = model.evaluate(s, None, batch_size=64, return_dict=True)
    assert got.keys() == expected.keys()
    assert got["accuracy"] == pytest.approx(expected["accuracy"], rel=1e-12)
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    np.testing.assert_allclose(model.predict(s), model.predict(ds.X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict_classes(s), model.predict_classes(ds.X))


def test_stream_evaluate_and_batch_logs_match_the_arrays_with_a_penalty(files):
    # The penalty is in evaluate's loss on a stream as on arrays (and Keras); a batch's logs
    # hold the running metrics in both.
    ds = load_parquet(files.parent / "all.pq", target="y")
    s = stream(str(files / "part*.parquet"), target="y", batch_rows=33, shuffle_buffer=0)
    seen = {}
    for data, y in ((ds.X, ds.y), (s, None)):
        model = gk.Sequential([gk.layers.Dense(8, activation="relu",
                                               kernel_regularizer=gk.regularizers.l2(0.1)),
                               gk.layers.Dense(3, activation="softmax")])
        model.compile(gk.optim.SGD(lr=0.1), "sparse_categorical_crossentropy", ["accuracy"])
        logs = seen.setdefault(y is None, [])

        class BatchLogs(gk.callbacks.Callback):
            def on_train_batch_end(self, batch, batch_logs=None):
                logs.append(dict(batch_logs))

        model.fit(data, y, batch_size=50, epochs=1, seed=1, shuffle=False, verbose=0,
                  callbacks=[BatchLogs()])
        logs.append(model.evaluate(data, y, return_dict=True))
    for on_stream, on_arrays in zip(seen[True], seen[False], strict=True):
        assert on_stream.keys() == on_arrays.keys()
        for key in on_arrays:
            assert on_stream[key] == pytest.approx(on_arrays[key], rel=1e-6)
    with gk.no_grad():
        penalty = float(model.penalty().data)
    assert penalty > 0.01
    loss_alone = gk.losses.value(model.loss, gk.tensor(model.predict(ds.X)), ds.y)
    assert seen[False][-1]["loss"] == pytest.approx(float(loss_alone.data) + penalty, rel=1e-5)


def test_regression_r2_and_mse_add_up_over_batches(files):
    ds = load_parquet(files.parent / "all.pq", target="x3")
    s = stream(files, target="x3", batch_rows=40)
    assert s.task == "regression"
    model = gk.Sequential([gk.layers.Dense(8, activation="tanh"), gk.layers.Dense(1)])
    model.compile("adam", "mse", ["mse", "mae", "r2"])
    model.fit(ds.X, ds.y, batch_size=32, epochs=2, seed=0, verbose=0)
    expected = model.evaluate(ds.X, ds.y, return_dict=True)
    got = model.evaluate(s, None, batch_size=70, return_dict=True)
    for key in ("mse", "mae", "r2"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6)


def test_normalization_adapted_on_a_stream_matches_the_arrays(files):
    ds = load_parquet(files.parent / "all.pq", target="y")
    s = stream(files, target="y", batch_rows=37)
    for mode in ("standardize", "whiten"):
        on_arrays = gk.layers.Normalization(mode=mode).adapt(ds.X)
        on_stream = gk.layers.Normalization(mode=mode).adapt(s)
        for name in on_arrays._buffers:
            np.testing.assert_allclose(getattr(on_stream, name), getattr(on_arrays, name),
                                       rtol=2e-6, atol=2e-6, err_msg=f"{mode} {name}")


@pytest.mark.parametrize("steps", [4, 17, 30])
def test_resume_mid_epoch_is_bit_identical(files, make_mlp, tmp_path, steps, helpers):
    def fit(**options):
        s = stream(files, target="y", batch_rows=30, shuffle_buffer=70, seed=4)
        train, val, _ = s.split(val=0.1, test=0.1)
        model = make_mlp(dropout=0.3)
        history = model.fit(train, None, batch_size=16, epochs=3, seed=2, verbose=0,
                            validation_data=val, **options)
        return model, history

    reference, ref_history = fit()
    directory = tmp_path / "ckpt"
    with pytest.raises(helpers.Interrupt):
        fit(checkpoint_dir=directory, checkpoint_every=3,
            callbacks=[helpers.InterruptAfter(steps)])
    assert checkpoint.list_checkpoints(directory)
    resumed, history = fit(checkpoint_dir=directory, checkpoint_every=3,
                           resume_from=directory)
    for w1, w2 in zip(reference.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    assert history.history == ref_history.history


@pytest.mark.parametrize("steps", [75, 90])
def test_resume_with_callbacks_that_hold_state_is_bit_identical(files, make_mlp, tmp_path,
                                                                steps, helpers):
    def fit(**options):
        s = stream(files, target="y", batch_rows=30, shuffle_buffer=70, seed=4)
        train, val, _ = s.split(val=0.3, test=0.1)
        model = make_mlp(dropout=0.3)
        model.compile(optimizer=gk.optim.Adam(lr=0.05), loss="cross_entropy",
                      metrics=["accuracy"])
        stateful = [gk.callbacks.EarlyStopping("val_loss", patience=2, restore_best=True),
                    gk.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1)]
        extra = options.pop("callbacks", [])
        history = model.fit(train, None, batch_size=16, epochs=12, seed=2, verbose=0,
                            validation_data=val, callbacks=stateful + extra, **options)
        return model, history

    reference, ref_history = fit()
    assert len(ref_history.epoch) < 12              # early stopping ended it
    directory = tmp_path / "ckpt"
    with pytest.raises(helpers.Interrupt):
        fit(checkpoint_dir=directory, checkpoint_every=5,
            callbacks=[helpers.InterruptAfter(steps)])
    resumed, history = fit(checkpoint_dir=directory, checkpoint_every=5,
                           resume_from=directory)
    assert history.history == ref_history.history
    for w1, w2 in zip(reference.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)


def test_resume_with_another_stream_is_refused(files, make_mlp, tmp_path):
    s = stream(files, target="y", seed=1)
    make_mlp().fit(s, None, epochs=1, verbose=0, checkpoint_dir=tmp_path / "c")
    other = stream(files, target="y", seed=2)
    with pytest.raises(ValueError, match="written for another data stream"):
        make_mlp().fit(other, None, epochs=2, verbose=0, resume_from=tmp_path / "c")
    ds = load_parquet(files.parent / "all.pq", target="y")
    make_mlp().fit(ds.X, ds.y, epochs=1, verbose=0, checkpoint_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="written by a fit on arrays"):
        make_mlp().fit(s, None, epochs=2, verbose=0, resume_from=tmp_path / "a")


def test_what_a_stream_refuses(files, make_mlp):
    s = stream(files, target="y")
    with pytest.raises(DataError, match="a Stream carries its targets: pass y=None"):
        make_mlp().fit(s, np.zeros(3), verbose=0)
    with pytest.raises(DataError, match="split the stream instead"):
        make_mlp().fit(s, None, validation_split=0.2, verbose=0)
    with pytest.raises(DataError, match="metric 'f1' has no streamed form"):
        make_mlp(metrics=("f1",)).fit(s, None, verbose=0)
    with pytest.raises(DataError, match="takes full-batch steps, which need the whole data"):
        make_mlp(optimizer="lbfgs").fit(s, None, verbose=0)


def test_an_estimator_learns_from_a_stream_with_partial_fit(files):
    from gradkit.sklearn import MLPClassifier

    ds = load_parquet(files.parent / "all.pq", target="y")
    train, _, test = stream(files, target="y", batch_rows=50, seed=0).split(val=0.0, test=0.3)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    classes = np.arange(train.n_classes)
    for epoch in range(15):
        for X, y in train.batches(32, epoch=epoch):
            clf.partial_fit(X, y, classes=classes)
    X_test = np.concatenate([X for X, _ in test.batches(100, shuffle=False)])
    y_test = np.concatenate([y for _, y in test.batches(100, shuffle=False)])
    majority = np.bincount(ds.y).max() / len(ds.y)
    assert clf.score(X_test, y_test) > majority + 0.2


def test_a_random_projection_adapted_on_a_stream_matches_the_arrays(files):
    ds = load_parquet(files.parent / "all.pq", target="y")
    s = stream(files, target="y", batch_rows=37)
    on_arrays = gk.layers.Normalization(mode="random_projection", n_components=3,
                                        seed=5).adapt(ds.X)
    on_stream = gk.layers.Normalization(mode="random_projection", n_components=3,
                                        seed=5).adapt(s)
    np.testing.assert_array_equal(on_stream.components, on_arrays.components)
    np.testing.assert_allclose(on_stream.mean, on_arrays.mean, rtol=2e-6, atol=2e-6)
