"""Training checkpoints: weights, optimizer state, random-generator states and the cursor.

One safetensors file per checkpoint (`ckpt-<step>.safetensors`), written atomically; the
newest `keep` are kept. Resuming takes the newest one that loads; a corrupt one is skipped
with a warning, so a crash during a write costs at most the steps since the previous one.
"""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np

from gradkit import _safetensors
from gradkit.errors import ModelFileError
from gradkit.train.callbacks import Callback

_NAME = re.compile(r"^ckpt-(\d{9})\.safetensors$")
FORMAT = 1


def _generators(model):
    """The random generators of the model's layers, in a stable order."""
    return [(i, m.rng) for i, m in enumerate(model.modules())
            if isinstance(getattr(m, "rng", None), np.random.Generator)]


def save(directory, *, model, rng, epoch, batch, step, perm, history, accum, keep=2,
         callbacks=(), tag=None, stopped=False):
    """Write checkpoint number `step` into `directory` and prune older ones.

    `callbacks`: the fit's callbacks; the state of each that has one (`get_state`) is saved.
    `tag`: JSON that identifies the run (see `practice.run`), compared on resume.
    `stopped`: a callback asked training to stop at this epoch end.
    """
    os.makedirs(directory, exist_ok=True)
    tensors = {f"param:{k}": np.array(v, order="C") for k, v in model.state_dict().items()}
    for k, v in model.optimizer.state_dict().items():
        tensors[f"optim:{k}"] = np.array(v, order="C")
    tensors["perm"] = np.ascontiguousarray(perm, dtype=np.int64)
    for k, v in accum.arrays.items():
        tensors[f"accum:{k}"] = np.array(v, order="C")
    meta = {
        "format": FORMAT, "epoch": epoch, "batch": batch, "step": step,
        "rng": rng.bit_generator.state,
        "layer_rngs": {str(i): g.bit_generator.state for i, g in _generators(model)},
        "history": history.to_dict(), "accum": accum.scalars,
        "tag": tag, "stopped": bool(stopped),
        "callbacks": _callback_states(callbacks, tensors),
    }
    path = os.path.join(directory, f"ckpt-{step:09d}.safetensors")
    _safetensors.save_tensors(path, tensors, {"gradkit_checkpoint": json.dumps(meta)})
    for old in list_checkpoints(directory)[:-keep]:
        try:
            os.remove(old)
        except FileNotFoundError:
            pass
    return path


def _callback_key(i, callback):
    return f"{i}:{type(callback).__name__}"


def _stateful(callbacks):
    """(key, callback) of the callbacks that hold state, numbered among themselves so that a
    progress bar added or left out does not shift the others."""
    found = [cb for cb in callbacks if type(cb).get_state is not _no_state()]
    return [(_callback_key(i, cb), cb) for i, cb in enumerate(found)]


def _no_state():
    return Callback.get_state


def _callback_states(callbacks, tensors):
    """JSON of each stateful callback's state; its arrays go into `tensors` as
    `callback:<key>:<name>`."""
    states = {}
    for key, cb in _stateful(callbacks):
        state = cb.get_state()
        if state is None:
            continue
        plain = {}
        for name, value in state.items():
            if isinstance(value, np.ndarray):
                tensors[f"callback:{key}:{name}"] = np.array(value, order="C")
            else:
                plain[name] = value
        states[key] = plain
    return states


def restore_callbacks(callbacks, tensors, meta):
    """Give each stateful callback the state saved under its key (after its on_train_begin)."""
    saved = meta.get("callbacks") or {}
    for key, cb in _stateful(callbacks):
        if key not in saved:
            continue
        state = dict(saved[key])
        prefix = f"callback:{key}:"
        state.update({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        try:      # each callback reads its own state; a damaged one must not be a traceback
            cb.set_state(state)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            text = " ".join(str(err).split())[:200]
            raise ModelFileError(f"the checkpoint's state of callback {key} does not fit it "
                                 f"({type(err).__name__}: {text})") from None


def list_checkpoints(directory):
    """Checkpoint files in `directory`, oldest first."""
    if not os.path.isdir(directory):
        return []
    names = sorted(n for n in os.listdir(directory) if _NAME.match(n))
    return [os.path.join(directory, n) for n in names]


def load_latest(path):
    """(tensors, meta) of the newest checkpoint that loads, from a directory or one file.

    Raises FileNotFoundError when there is none at all.
    """
    candidates = list_checkpoints(path) if os.path.isdir(path) else [path]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint to resume from in {path}")
    errors = []
    for file in reversed(candidates):
        try:
            tensors, metadata = _safetensors.load_tensors(file)
            meta = json.loads(metadata["gradkit_checkpoint"])
            problem = meta_problem(meta, tensors)
            if problem:
                raise ModelFileError(f"{file}: {problem}")
        except (ModelFileError, KeyError, ValueError, RecursionError) as err:
            errors.append(str(err))
            warnings.warn(f"checkpoint {file} cannot be read ({err}); "
                          "falling back to the previous one", RuntimeWarning, stacklevel=3)
            continue
        return tensors, meta
    raise ModelFileError(f"no readable checkpoint in {path}: " + "; ".join(errors))


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _generator_state_problem(state):
    try:      # the generator's own setter checks every field; a scratch one takes the test
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def _numbers(values):
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def meta_problem(meta, tensors):
    """What makes a checkpoint's metadata and cursor unusable, or None: every field is checked
    before anything is restored, so a damaged or edited checkpoint is skipped (or refused)
    like a torn one instead of failing halfway through a resume."""
    if not isinstance(meta, dict):
        return "the checkpoint metadata is not a JSON object"
    if meta.get("format") != FORMAT:
        return f"checkpoint format {meta.get('format')!r}"
    for key in ("epoch", "batch", "step"):
        if not _count(meta.get(key)):
            return f"{key} must be an integer >= 0, got {meta.get(key)!r}"
    rngs = meta.get("layer_rngs")
    if not isinstance(rngs, dict):
        return "layer_rngs must be a JSON object"
    for name, state in [("rng", meta.get("rng")), *rngs.items()]:
        problem = _generator_state_problem(state)
        if problem:
            return f"generator state {name!r} is not valid ({problem})"
    history = meta.get("history")
    if not (isinstance(history, dict) and _numbers(history.get("epoch", []))
            and _numbers(history.get("batch_loss", []))
            and isinstance(history.get("history", {}), dict)
            and all(_numbers(v) for v in history.get("history", {}).values())):
        return "history must hold lists of numbers"
    accum = meta.get("accum")
    if not (isinstance(accum, dict) and _numbers([accum.get("loss_sum", 0.0)])
            and _count(accum.get("count", 0))):
        return "accum must hold loss_sum (a number) and count (an integer >= 0)"
    callbacks = meta.get("callbacks", {})
    if not (isinstance(callbacks, dict) and all(isinstance(v, dict) for v in callbacks.values())):
        return "callbacks must map names to JSON objects"
    perm = tensors.get("perm")
    if perm is None or perm.ndim != 1 or perm.dtype.kind not in "iu":
        return "perm must be a 1-D integer array"
    if meta["batch"] and not np.array_equal(np.sort(perm), np.arange(len(perm))):
        return "perm is not an order of the training rows"
    return None


def restore(model, rng, tensors, meta):
    """Put weights, optimizer state and generator states back; return the saved cursor.

    Arrays of the wrong shape for this model (a checkpoint of another network) are refused
    with ModelFileError before the model changes.
    """
    params = {k[6:]: v for k, v in tensors.items() if k.startswith("param:")}
    optim_state = {k[6:]: v for k, v in tensors.items() if k.startswith("optim:")}
    expected = model.state_dict()
    if set(params) != set(expected) or any(np.shape(params[k]) != expected[k].shape
                                           for k in expected):
        raise ModelFileError("the checkpoint's weights do not fit this model (another "
                             "network?); resume with the model that wrote it")
    try:
        model.optimizer.load_state_dict(optim_state)
    except ValueError as err:
        text = " ".join(str(err).split())[:200]      # one line, however the array prints
        raise ModelFileError(f"the checkpoint's optimizer state does not fit: {text}") from None
    model.load_state_dict(params)
    rng.bit_generator.state = meta["rng"]
    for i, g in _generators(model):
        if str(i) in meta["layer_rngs"]:
            g.bit_generator.state = meta["layer_rngs"][str(i)]
    arrays = {k[6:]: v for k, v in tensors.items() if k.startswith("accum:")}
    return meta["epoch"], meta["batch"], meta["step"], tensors["perm"], arrays
