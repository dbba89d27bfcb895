"""Checkpoints and resume: what a checkpoint holds, atomic writes, fallback past a corrupt file,
and bit-identical weights after resuming (in process, and after SIGKILL at random moments)."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradkit as gk
from gradkit.train import checkpoint

# 100 rows, 20 held out: 80 training rows in batches of 16 -> 5 steps per epoch, 20 in all.
# checkpoint_every=3 writes mid-epoch checkpoints after steps 3, 6, 9, 12 and 18 (step 15 ends
# an epoch) and one at every epoch end (steps 5, 10, 15, 20).
FIT = dict(batch_size=16, epochs=4, seed=3, verbose=0, validation_split=0.2)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)


@pytest.fixture
def reference(data, make_mlp):
    """An uninterrupted run: (weights, history)."""
    model = make_mlp(dropout=0.3)
    history = model.fit(*data, **FIT)
    return model.get_weights(), history


def interrupted_run(make_mlp, data, directory, steps, helpers):
    with pytest.raises(helpers.Interrupt):
        make_mlp(dropout=0.3).fit(*data, **FIT, checkpoint_dir=directory, checkpoint_every=3,
                                  callbacks=[helpers.InterruptAfter(steps)])
    return checkpoint.list_checkpoints(directory)


def test_a_checkpoint_holds_weights_optimizer_generators_and_cursor(data, make_mlp, tmp_path):
    model = make_mlp(dropout=0.3)
    model.fit(*data, **FIT, checkpoint_dir=tmp_path, checkpoint_every=3)
    # The newest two are kept; names sort by step.
    assert [os.path.basename(p) for p in checkpoint.list_checkpoints(tmp_path)] == [
        "ckpt-000000018.safetensors", "ckpt-000000020.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000000018.safetensors",
                                            "ckpt-000000020.safetensors"]   # no temp files
    tensors, meta = checkpoint.load_latest(tmp_path)
    assert (meta["epoch"], meta["batch"], meta["step"]) == (4, 0, 20)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(tensors[f"param:{name}"], value)
    optim = model.optimizer.state_dict()
    assert {f"optim:{k}" for k in optim} <= set(tensors) and int(tensors["optim:iterations"]) == 20
    for name, value in optim.items():
        np.testing.assert_array_equal(tensors[f"optim:{name}"], value)
    assert meta["history"]["history"]["val_loss"] == model.history["val_loss"]
    assert meta["rng"]["bit_generator"] == "PCG64"
    # A mid-epoch checkpoint also has the epoch's order of rows and where it had got to.
    tensors, meta = checkpoint.load_latest(checkpoint.list_checkpoints(tmp_path)[0])
    assert (meta["epoch"], meta["batch"], meta["step"]) == (3, 3, 18)
    assert sorted(tensors["perm"].tolist()) == list(range(80))
    assert tensors["accum:outputs"].shape == (80, 3)


@pytest.mark.parametrize("steps, newest", [(7, (1, 1, 6)), (11, (2, 0, 10)), (19, (3, 3, 18))])
def test_resume_is_bit_identical(data, make_mlp, reference, tmp_path, helpers, steps, newest):
    files = interrupted_run(make_mlp, data, tmp_path, steps, helpers)
    _, meta = checkpoint.load_latest(files[-1])
    assert (meta["epoch"], meta["batch"], meta["step"]) == newest
    model = make_mlp(dropout=0.3)
    history = model.fit(*data, **FIT, checkpoint_dir=tmp_path, checkpoint_every=3,
                        resume_from=tmp_path)
    weights, expected = reference
    assert helpers.weights_equal(model.get_weights(), weights)
    assert history.history == expected.history and history.epoch == expected.epoch
    assert history.batch_loss == expected.batch_loss


def test_a_resumed_epoch_s_batch_logs_count_the_rows_seen_before(data, make_mlp, tmp_path,
                                                                  helpers):
    class BatchLogs(gk.callbacks.Callback):
        logs = []

        def on_train_batch_end(self, batch, logs=None):
            BatchLogs.logs.append(dict(logs))

    metrics = ("accuracy", "f1")
    make_mlp(dropout=0.3, metrics=metrics).fit(*data, **FIT, callbacks=[BatchLogs()])
    expected, BatchLogs.logs = BatchLogs.logs, []
    with pytest.raises(helpers.Interrupt):      # stops after step 8: the checkpoint of step 6
        make_mlp(dropout=0.3, metrics=metrics).fit(
            *data, **FIT, checkpoint_dir=tmp_path, checkpoint_every=3,
            callbacks=[helpers.InterruptAfter(8)])
    make_mlp(dropout=0.3, metrics=metrics).fit(*data, **FIT, resume_from=tmp_path,
                                               callbacks=[BatchLogs()])
    assert BatchLogs.logs == expected[6:]


def test_resume_from_an_older_checkpoint_file(data, make_mlp, reference, tmp_path, helpers):
    older, newer = interrupted_run(make_mlp, data, tmp_path, 7, helpers)      # steps 5 and 6
    model = make_mlp(dropout=0.3)
    model.fit(*data, **FIT, resume_from=older)
    assert helpers.weights_equal(model.get_weights(), reference[0])


def test_resume_of_a_finished_run_changes_nothing(data, make_mlp, reference, tmp_path, helpers):
    make_mlp(dropout=0.3).fit(*data, **FIT, checkpoint_dir=tmp_path)
    model = make_mlp(dropout=0.3)
    history = model.fit(*data, **FIT, resume_from=tmp_path)
    assert helpers.weights_equal(model.get_weights(), reference[0])
    assert history.history == reference[1].history


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous(data, make_mlp, reference,
                                                                tmp_path, helpers):
    older, newer = interrupted_run(make_mlp, data, tmp_path, 14, helpers)     # steps 12 and 10
    with open(newer, "r+b") as f:
        f.seek(8)
        f.write(b"not json")
    model = make_mlp(dropout=0.3)
    with pytest.warns(RuntimeWarning, match="ckpt-000000012.*cannot be read.*falling back"):
        model.fit(*data, **FIT, resume_from=tmp_path)
    assert helpers.weights_equal(model.get_weights(), reference[0])
    # Truncated (a torn write on a file system without atomic rename) counts as corrupt too.
    with open(older, "r+b") as f:
        f.truncate(100)
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        with pytest.raises(gk.ModelFileError, match="no readable checkpoint"):
            checkpoint.load_latest(tmp_path)


def test_csv_log_after_a_resume_covers_the_whole_run(data, make_mlp, reference, tmp_path, helpers):
    interrupted_run(make_mlp, data, tmp_path, 14, helpers)                    # newest: step 12
    path = tmp_path / "history.csv"
    make_mlp(dropout=0.3).fit(*data, **FIT, resume_from=tmp_path,
                              callbacks=[gk.callbacks.CSVLogger(path)])
    lines = path.read_text().splitlines()
    expected = reference[1]
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss"     # Keras's layout
    assert [float(line.split(",")[4]) for line in lines[1:]] == expected["val_loss"]
    assert [int(line.split(",")[0]) for line in lines[1:]] == [0, 1, 2, 3]


def test_custom_metrics_returning_numpy_scalars_go_into_checkpoints(data, make_mlp, tmp_path):
    def mean_logit(y_true, y_pred):
        return np.float32(y_pred.mean())

    model = make_mlp(metrics=["accuracy", mean_logit])
    history = model.fit(*data, **FIT, checkpoint_dir=tmp_path)
    assert all(type(v) is float for v in history["val_mean_logit"] + history["mean_logit"])
    _, meta = checkpoint.load_latest(tmp_path)
    assert meta["history"]["history"]["mean_logit"] == history["mean_logit"]


def test_nothing_to_resume_from(data, make_mlp, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        make_mlp().fit(*data, **FIT, resume_from=tmp_path)


def test_resume_with_other_data_is_refused(data, make_mlp, tmp_path, helpers):
    interrupted_run(make_mlp, data, tmp_path, 7, helpers)                     # newest: mid-epoch
    X, y = data
    with pytest.raises(ValueError, match="80 training rows, this fit has 72"):
        make_mlp(dropout=0.3).fit(X[:90], y[:90], **FIT, resume_from=tmp_path)


def test_a_failed_write_leaves_the_previous_checkpoints(data, make_mlp, tmp_path, monkeypatch,
                                                        helpers):
    files = interrupted_run(make_mlp, data, tmp_path, 7, helpers)
    before = {p: open(p, "rb").read() for p in files}

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        make_mlp(dropout=0.3).fit(*data, **FIT, checkpoint_dir=tmp_path, checkpoint_every=1,
                                  resume_from=tmp_path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in files)
    assert {p: open(p, "rb").read() for p in files} == before


# -- SIGKILL at random moments ------------------------------------------------------------------

TRAIN_SCRIPT = textwrap.dedent("""\
    import sys

    import numpy as np

    import gradkit as gk
    from gradkit.train import checkpoint

    ckpt_dir, out, stateful = sys.argv[1], sys.argv[2], sys.argv[3] == "stateful"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 8)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64) + (X[:, 3] > 1.0)
    model = gk.Sequential([gk.layers.Dense(32, activation="relu"), gk.layers.Dropout(0.2),
                           gk.layers.Dense(3)])
    model.compile(gk.optim.Adam(1e-2), "cross_entropy", ["accuracy"])
    resume = ckpt_dir if checkpoint.list_checkpoints(ckpt_dir) else None
    # Every callback that holds state across epochs, at settings where each acts within the
    # run: the plateau halves the rate, early stopping ends the run before epoch 10, the
    # ensemble keeps a snapshot per cycle, the checkpoint callback tracks its best.
    callbacks = [gk.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=0.5),
                 gk.callbacks.EarlyStopping("val_loss", patience=1, min_delta=0.02),
                 gk.callbacks.SnapshotEnsemble(3, lr_max=1e-2),
                 gk.callbacks.ModelCheckpoint(ckpt_dir + "-best.safetensors",
                                              save_best_only=True)] if stateful else []
    print("ready", resume is not None, flush=True)
    # 192 training rows in batches of 16: 12 steps per epoch, a checkpoint every 2 steps, so
    # most of the time goes into checkpoint writes and many kills land in one.
    model.fit(X, y, batch_size=16, epochs=10, seed=0, verbose=0, validation_split=0.2,
              checkpoint_dir=ckpt_dir, checkpoint_every=2, resume_from=resume,
              callbacks=callbacks)
    weights = [w.ravel() for w in model.get_weights()]
    if stateful:
        weights += [w.ravel() for s in callbacks[2].snapshots for w in s]
        weights += [np.asarray(model.history.epoch, np.float32),
                    np.asarray(model.history.history["lr"], np.float32)]
    np.save(out, np.concatenate(weights))
    print("done", flush=True)
""")


def newest_step(directory):
    files = checkpoint.list_checkpoints(directory)
    return int(os.path.basename(files[-1])[len("ckpt-"):-len(".safetensors")]) if files else 0


@pytest.mark.parametrize("callbacks", ["plain", "stateful"])
def test_sigkill_at_random_points_then_resume_is_bit_identical(tmp_path, callbacks):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    start = time.monotonic()
    procs = []

    def launch(ckpt_dir, out):
        # Unbuffered: readline then reads no further than the line, and communicate() (which
        # reads the pipe itself) gets the rest, "done" included.
        proc = subprocess.Popen([sys.executable, str(script), str(ckpt_dir), str(out),
                                 callbacks],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                env=env, cwd=tmp_path)
        procs.append(proc)
        ready = proc.stdout.readline().decode().split()
        assert ready[:1] == ["ready"], finish(proc)[1]
        return proc, ready[1] == "True"

    def finish(proc):
        out, err = proc.communicate(timeout=60)
        return out.decode(), err.decode()

    try:
        # The uninterrupted run (checkpoints too: writing them must not change the result).
        proc, resumed = launch(tmp_path / "ref_ckpt", tmp_path / "ref.npy")
        out, err = finish(proc)
        assert proc.returncode == 0 and not resumed, err
        expected = np.load(tmp_path / "ref.npy", allow_pickle=False)
        total_steps = newest_step(tmp_path / "ref_ckpt")
        assert total_steps == 120 if callbacks == "plain" else 36 <= total_steps < 120

        rnd = random.Random(20240607)
        ckpt_dir, result = tmp_path / "ckpt", tmp_path / "final.npy"
        kills, resumes, errors = 0, 0, []
        while True:
            proc, resumed = launch(ckpt_dir, result)
            resumes += resumed
            # The same draws every round, so the plan does not depend on timing. Most kills come
            # a random moment (0-10 ms) after a random number of further checkpoints: with one
            # every two steps most of the time goes into writes, and many kills land in one. A
            # quarter come at once, while fit starts or loads the checkpoint.
            at_once, ahead, extra = rnd.random() < 0.25, rnd.randint(2, 30), rnd.uniform(0, 0.01)
            if kills < 8 and time.monotonic() - start < 20:
                target = min(newest_step(ckpt_dir) + ahead, total_steps - 1)
                while (not at_once and proc.poll() is None and newest_step(ckpt_dir) < target
                       and time.monotonic() - start < 25):
                    time.sleep(0.001)
                time.sleep(extra)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    _, err = finish(proc)
                    assert proc.returncode == -signal.SIGKILL
                    errors.append(err)
                    kills += 1
                    continue
            out, err = finish(proc)
            errors.append(err)
            assert proc.returncode == 0, err
            assert out.split() == ["done"]
            break

        assert kills >= 1 and resumes >= 1, (kills, resumes)
        # Writes are atomic: no resume ever met a half-written checkpoint.
        assert not [e for e in errors if "cannot be read" in e or "Traceback" in e], errors
        got = np.load(result, allow_pickle=False)
        assert got.shape == expected.shape and np.array_equal(got, expected), \
            (got.shape, expected.shape, kills, resumes)
        assert time.monotonic() - start < 30
    finally:
        for proc in procs:                # a failed assertion leaves no process behind
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
