"""Every callback that holds state across epochs puts it into the checkpoint (get_state /
set_state), so a run interrupted and resumed ends exactly as an uninterrupted one: the same
weights, the same epochs run, the same learning rates, the same snapshots."""

import numpy as np
import pytest

import gradkit as gk
from gradkit.train import checkpoint

FIT = dict(batch_size=16, epochs=10, seed=0, verbose=0, validation_split=0.2,
           checkpoint_every=2)


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 8)).astype(np.float32)
    return X, (X[:, :3].sum(axis=1) > 0).astype(np.int64) + (X[:, 3] > 1.0)


# Settings at which each callback acts within the ten epochs (a rate halved, a stop at epoch
# 7, two snapshots, a best model saved several times).
CALLBACKS = {
    "ReduceLROnPlateau": lambda d: gk.callbacks.ReduceLROnPlateau("loss", factor=0.5,
                                                                  patience=1, min_delta=0.05),
    "EarlyStopping": lambda d: gk.callbacks.EarlyStopping("val_loss", patience=1,
                                                          min_delta=0.02),
    "SnapshotEnsemble": lambda d: gk.callbacks.SnapshotEnsemble(3, lr_max=1e-2),
    "ModelCheckpoint": lambda d: gk.callbacks.ModelCheckpoint(d / "best-{epoch}.safetensors",
                                                              save_best_only=True),
}


def train(directory, name, *, stop=None, resume=False):
    X, y = data()
    model = gk.Sequential([gk.layers.Dense(16, activation="relu"), gk.layers.Dropout(0.2),
                           gk.layers.Dense(3)])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy", ["accuracy"])
    callback = CALLBACKS[name](directory)
    extra = [stop] if stop else []          # a callback that crashes the run
    model.fit(X, y, **FIT, checkpoint_dir=directory / "ckpt", callbacks=[callback, *extra],
              resume_from=directory / "ckpt" if resume else None)
    return model, callback


def outcome(model, callback):
    state = callback.get_state()
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    return (np.concatenate([w.ravel() for w in model.get_weights()]), model.history.epoch,
            model.history.history, {k: v for k, v in state.items() if k not in arrays},
            {k: v.tobytes() for k, v in arrays.items()})


@pytest.mark.parametrize("name", list(CALLBACKS))
@pytest.mark.parametrize("stop", [13, 49, 76])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, name, stop, helpers):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    expected = outcome(*train(tmp_path / "a", name))
    with pytest.raises(helpers.Interrupt):
        train(tmp_path / "b", name, stop=helpers.InterruptAfter(stop))
    got = outcome(*train(tmp_path / "b", name, resume=True))
    assert np.array_equal(got[0], expected[0])
    assert got[1:3] == expected[1:3]
    state, expected_state = dict(got[3]), dict(expected[3])
    if name == "ModelCheckpoint":   # the paths differ by folder only
        state["saved"] = [p.replace("/b/", "/a/") for p in state["saved"]]
    assert state == expected_state and got[4] == expected[4]


def test_each_callback_acts_in_the_run(tmp_path):
    """The settings above make every callback change the run, so the test above can fail."""
    model, plateau = train(tmp_path, "ReduceLROnPlateau")
    assert plateau.reduced_lr is not None and plateau.reduced_lr < 1e-2
    model, stopping = train(tmp_path, "EarlyStopping")
    assert stopping.stopped_epoch > 0 and len(model.history.epoch) < 10
    model, snapshots = train(tmp_path, "SnapshotEnsemble")
    assert len(snapshots.snapshots) == 3
    model, best = train(tmp_path, "ModelCheckpoint")
    assert len(best.saved) >= 3


def test_a_stop_at_the_last_checkpoint_is_kept_on_resume(tmp_path):
    """Resuming a run that early stopping ended trains no further epoch."""
    model, _ = train(tmp_path, "EarlyStopping")
    _, meta = checkpoint.load_latest(tmp_path / "ckpt")
    assert meta["stopped"] is True
    again, _ = train(tmp_path, "EarlyStopping", resume=True)
    assert again.history.epoch == model.history.epoch
    assert all(np.array_equal(a, b) for a, b in zip(again.get_weights(), model.get_weights()))


def test_the_base_callback_has_no_state():
    callback = gk.callbacks.Callback()
    assert callback.get_state() is None
    assert callback.set_state({}) is None


# A field of each callback's state, and a value of the wrong kind for it, as an edited or
# damaged checkpoint would hold.
WRONG = {
    "ReduceLROnPlateau": ("cooling", "2"),
    "EarlyStopping": ("best", {"value": 0.5}),
    "SnapshotEnsemble": ("n_snapshots", -1),
    "ModelCheckpoint": ("saved", [3]),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_state_field_of_the_wrong_kind_is_refused_naming_it(tmp_path, name, helpers):
    with pytest.raises(helpers.Interrupt):
        train(tmp_path, name, stop=helpers.InterruptAfter(49))
    path = checkpoint.list_checkpoints(tmp_path / "ckpt")[-1]
    tensors, meta = checkpoint.load_latest(path)
    (key, state), = meta["callbacks"].items()
    field, value = WRONG[name]
    state[field] = value
    with pytest.raises(gk.errors.ModelFileError, match=f"callback {key}.*'{field}'"):
        checkpoint.restore_callbacks([CALLBACKS[name](tmp_path)], tensors, meta)
