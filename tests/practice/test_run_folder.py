"""A run folder belongs to one run (issue 17, class 1): a second run into it is refused unless
it resumes the same run or overwrites it explicitly, a resume of a different run says what
differs, a second process is kept out by a lock, and a refused run leaves nothing behind."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradkit.errors import ConfigError, DataError
from gradkit.practice import _run_folder
from gradkit.practice.run import RunConfig, train_run

SMALL = RunConfig(data="iris", hidden=[8], epochs=2, batch_size=32)


def run(config, out, **kw):
    return train_run(config, str(out), verbose=0, **kw)


def test_a_new_run_into_a_used_folder_is_refused_and_leaves_it_alone(tmp_path):
    run(SMALL, tmp_path / "r")
    before = {p: (tmp_path / "r" / p).read_bytes() for p in ("model.safetensors", "config.json")}
    other = dataclasses.replace(SMALL, hidden=[16])
    with pytest.raises(ConfigError, match=r"already holds a run \(model.safetensors, .*"
                                          r"checkpoints/\); pass --resume .* --overwrite"):
        run(other, tmp_path / "r")
    assert {p: (tmp_path / "r" / p).read_bytes() for p in before} == before


def test_overwrite_replaces_the_run_and_keeps_other_files(tmp_path):
    run(SMALL, tmp_path / "r")
    (tmp_path / "r" / "notes.txt").write_text("mine")
    other = dataclasses.replace(SMALL, hidden=[16])
    result = run(other, tmp_path / "r", overwrite=True)
    assert result.model.layers[1].units == 16
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"
    assert '"hidden": [\n      16\n    ]' in (tmp_path / "r" / "config.json").read_text()


@pytest.mark.parametrize("change, says", [
    ({"hidden": [16]}, "hidden [8] -> [16]"),
    ({"optimizer": "sgd"}, "optimizer 'adam' -> 'sgd'"),
    ({"seed": 4}, "seed 0 -> 4"),
    ({"data": "wine"}, "the training data differs"),
])
def test_resume_of_a_different_run_says_what_differs(tmp_path, change, says):
    run(SMALL, tmp_path / "r")
    with pytest.raises(ConfigError) as info:
        run(dataclasses.replace(SMALL, **change), tmp_path / "r", resume=True)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'r'}: cannot resume, this is not the run")
    assert says in message and "\n" not in message


def test_resume_with_more_epochs_continues_the_same_run(tmp_path):
    run(SMALL, tmp_path / "r")
    result = run(dataclasses.replace(SMALL, epochs=3), tmp_path / "r", resume=True)
    assert len(result.history.epoch) == 3
    # A schedule stretched over all epochs makes the epoch count part of the run.
    cosine = dataclasses.replace(SMALL, schedule="cosine")
    run(cosine, tmp_path / "c")
    with pytest.raises(ConfigError, match="epochs 2 -> 3"):
        run(dataclasses.replace(cosine, epochs=3), tmp_path / "c", resume=True)


def test_a_resume_removes_the_temps_of_writes_a_kill_interrupted_and_nothing_else(tmp_path):
    run(SMALL, tmp_path / "r")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = "0123456789ab"
    stale = [tmp_path / "r" / f".history.csv.{dead.pid}.{token}.tmp",
             tmp_path / "r" / "checkpoints" / f".ckpt-9.safetensors.{dead.pid}.{token}.tmp"]
    kept = [tmp_path / "r" / f".model.safetensors.{alive.pid}.{token}.tmp",   # still writing
            tmp_path / "r" / f".history.csv.{token}.tmp",                   # names no writer
            tmp_path / "r" / f"history.csv.{dead.pid}.{token}.tmp",         # not a temp's name
            tmp_path / "r" / ".notes.tmp"]
    try:
        for path in stale + kept:
            path.write_text("partial")
        run(dataclasses.replace(SMALL, epochs=3), tmp_path / "r", resume=True)
        assert [p.name for p in stale if p.exists()] == []
        assert [p.name for p in kept if p.exists()] == [p.name for p in kept]
    finally:
        alive.kill()
        alive.wait()


def test_resume_and_overwrite_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="resume and overwrite exclude each other"):
        run(SMALL, tmp_path / "r", resume=True, overwrite=True)
    assert not (tmp_path / "r").exists()


def test_checkpoints_carry_the_fingerprint(tmp_path):
    from gradkit.train.checkpoint import load_latest

    run(SMALL, tmp_path / "r")
    _, meta = load_latest(tmp_path / "r" / "checkpoints")
    assert meta["tag"]["settings"]["hidden"] == [8] and len(meta["tag"]["data"]) == 64
    assert "epochs" not in meta["tag"]["settings"]


def test_the_lock_keeps_a_second_process_out(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from gradkit.practice._run_folder import FolderLock
            lock = FolderLock({str(out)!r}).acquire()
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(ConfigError, match=rf"run folder is in use by process {holder.pid} "):
            run(SMALL, out)
        assert sorted(os.listdir(out)) == [_run_folder.LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the dead process's lock: the stale file is taken over.
    result = run(SMALL, out)
    assert result.metrics["epochs_run"] == 2
    assert _run_folder.LOCK_NAME not in os.listdir(out)


def test_the_lock_is_released_and_its_file_removed(tmp_path):
    lock = _run_folder.FolderLock(tmp_path).acquire()
    with pytest.raises(ConfigError, match="in use by process"):
        _run_folder.FolderLock(tmp_path).acquire()
    lock.release()
    assert os.listdir(tmp_path) == []
    with _run_folder.FolderLock(tmp_path):
        pass


def test_single_class_data_is_refused_up_front(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("x,label\n" + "".join(f"{i},cat\n" for i in range(30)))
    with pytest.raises(DataError, match=r"every sample has the same class \('cat'\); a "
                                        r"classifier needs at least two"):
        run(dataclasses.replace(SMALL, data=str(path)), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_run_too_large_for_memory_is_refused_before_anything_is_written(tmp_path,
                                                                          monkeypatch):
    huge = dataclasses.replace(SMALL, hidden=[100_000_000])
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "4G")
    with pytest.raises(ConfigError, match=r"^training 4-100000000-3 \(800,000,003 parameters.*"
                                          r"needs about 125.9 GiB, more than the memory budget "
                                          r"of 4.0 GiB \(set by GRADKIT_MEMORY_LIMIT"):
        run(huge, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    # 10,000 classes in 20,000 rows: the epoch's outputs alone are 14,000 x 10,000 floats.
    X = np.random.default_rng(0).normal(size=(20_000, 2)).astype(np.float32)
    np.savez(tmp_path / "many.npz", X=X, y=np.arange(20_000) % 10_000)
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "256M")
    with pytest.raises(ConfigError, match=r"14,000 samples x 10,000 outputs\) needs about"):
        run(dataclasses.replace(SMALL, data=str(tmp_path / "many.npz"), task="classification"),
            tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("content, says", [
    (b'{"epochs": 3, "data": "caf\xe9"}', "not UTF-8 text (byte 26 is b'\\xe9')"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply to be a config"),
])
def test_a_config_file_of_bad_bytes_or_deep_nesting_is_one_error(tmp_path, content, says):
    (tmp_path / "c.json").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        RunConfig.from_file(tmp_path / "c.json")
    assert str(info.value) == f"{tmp_path / 'c.json'}: {says}"
