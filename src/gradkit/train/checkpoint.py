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

_NAME = re.compile(r"^ckpt-(\d{9})\.safetensors$")
FORMAT = 1


def _generators(model):
    """The random generators of the model's layers, in a stable order."""
    return [(i, m.rng) for i, m in enumerate(model.modules())
            if isinstance(getattr(m, "rng", None), np.random.Generator)]


def save(directory, *, model, rng, epoch, batch, step, perm, history, accum, keep=2):
    """Write checkpoint number `step` into `directory` and prune older ones."""
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
    }
    path = os.path.join(directory, f"ckpt-{step:09d}.safetensors")
    _safetensors.save_tensors(path, tensors, {"gradkit_checkpoint": json.dumps(meta)})
    for old in list_checkpoints(directory)[:-keep]:
        try:
            os.remove(old)
        except FileNotFoundError:
            pass
    return path


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
            if meta.get("format") != FORMAT:
                raise ModelFileError(f"{file}: checkpoint format {meta.get('format')!r}")
        except (ModelFileError, KeyError, ValueError) as err:
            errors.append(str(err))
            warnings.warn(f"checkpoint {file} cannot be read ({err}); "
                          "falling back to the previous one", RuntimeWarning, stacklevel=3)
            continue
        return tensors, meta
    raise ModelFileError(f"no readable checkpoint in {path}: " + "; ".join(errors))


def restore(model, rng, tensors, meta):
    """Put weights, optimizer state and generator states back; return the saved cursor."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("param:")})
    model.optimizer.load_state_dict({k[6:]: v for k, v in tensors.items()
                                     if k.startswith("optim:")})
    rng.bit_generator.state = meta["rng"]
    for i, g in _generators(model):
        if str(i) in meta["layer_rngs"]:
            g.bit_generator.state = meta["layer_rngs"][str(i)]
    arrays = {k[6:]: v for k, v in tensors.items() if k.startswith("accum:")}
    return meta["epoch"], meta["batch"], meta["step"], tensors["perm"], arrays
