"""The `gradkit` command: thin — it parses, calls the packages, prints.

Exit codes: 0 done, 2 bad input or usage, 3 training diverged, 1 a bug (with its traceback).
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click
import numpy as np

from gradkit.errors import ConfigError, DataError, ModelFileError, TrainingDiverged

EXIT_BAD_INPUT, EXIT_DIVERGED = 2, 3


def _handle_errors(fn):
    """Turn the boundary's errors into one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DataError, ConfigError, ModelFileError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_DIVERGED)
        except OSError as err:           # unreadable or unwritable paths are the user's input too
            click.echo(f"error: {err.filename or ''}: {err.strerror or err}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def _hidden(ctx, param, value):
    if value is None:
        return None
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers like 512,512, got {value!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise click.BadParameter(f"expected positive sizes like 512,512, got {value!r}")
    return sizes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradkit")
def cli():
    """gradkit: train feed-forward neural networks on your own data."""


# Flags of `train` and the RunConfig fields they set.
_TRAIN_FLAGS = {
    "target": "target", "hidden": "hidden", "activation": "activation", "init": "init",
    "optimizer": "optimizer", "lr": "lr", "schedule": "schedule", "batch_size": "batch_size",
    "epochs": "epochs", "dropout": "dropout", "batch_norm": "batch_norm", "l1": "l1", "l2": "l2",
    "early_stopping": "early_stopping", "normalize": "normalize",
    "pca_components": "pca_components", "val": "val", "test": "test", "seed": "seed",
    "checkpoint_every": "checkpoint_every",
}


@cli.command()
@click.argument("data", required=False)
@click.option("--target", help="Target column (name or 0-based index) of a CSV/Parquet file; "
              "default: the last column.")
@click.option("--hidden", callback=_hidden, help="Hidden layer sizes, e.g. 512,512.  [default: 256,256]")
@click.option("--activation", help="relu, tanh, sigmoid, leaky_relu, elu, gelu, silu, softplus.  [default: relu]")
@click.option("--init", help="Weight initializer: he_normal, glorot_uniform, lecun_normal, orthogonal, ...  [default: he_normal]")
@click.option("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw.  [default: adam]")
@click.option("--lr", type=float, help="Learning rate.  [default: 1e-3]")
@click.option("--schedule", help="constant, cosine, step, exponential, inverse_time, linear, inverse_sqrt.  [default: constant]")
@click.option("--batch-size", type=int, help="Mini-batch size.  [default: 32]")
@click.option("--epochs", type=int, help="Passes over the training split.  [default: 30]")
@click.option("--dropout", type=float, help="Dropout rate after each hidden layer.  [default: 0]")
@click.option("--batch-norm/--no-batch-norm", default=None, help="Batch normalization before each activation.")
@click.option("--l1", type=float, help="L1 penalty on the weights.  [default: 0]")
@click.option("--l2", type=float, help="L2 penalty on the weights.  [default: 0]")
@click.option("--early-stopping", type=int, metavar="PATIENCE",
              help="Stop when validation loss has not improved for PATIENCE epochs (0: off).")
@click.option("--normalize", help="Input preprocessing: standardize, pca, whiten, none.  [default: standardize]")
@click.option("--pca-components", type=int, help="Components kept by --normalize pca/whiten.")
@click.option("--val", type=float, help="Validation fraction.  [default: 0.1]")
@click.option("--test", type=float, help="Test fraction.  [default: 0.2]")
@click.option("--seed", type=int, help="Seed for splits, initialization, shuffling, dropout.  [default: 0]")
@click.option("--checkpoint-every", type=int, metavar="STEPS",
              help="Also checkpoint every STEPS steps (always at each epoch end).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="A config.json (e.g. from a run folder); flags given here override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder.  [default: runs/<data name>]")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar, only the result.")
@_handle_errors
def train(data, config_file, out, resume, quiet, **flags):
    """Train a network on DATA and write a run folder.

    DATA is a .csv, .parquet, .npz file, a folder of X.npy/y.npy or IDX files, or a built-in
    data set (digits, iris, wine, breast_cancer, diabetes, xor, spirals, moons, circles,
    mnist, fashion-mnist once fetched). Without DATA, gradkit trains on digits.

    The run folder holds model.safetensors, config.json (rerun it with --config to reproduce
    the run), history.csv, metrics.json, learning_curves.png and, for classifiers,
    confusion_matrix.png.
    """
    from gradkit.practice.run import RunConfig, train_run

    config = RunConfig.from_file(config_file) if config_file else RunConfig()
    if data is not None:
        config.data = data
    for flag, field in _TRAIN_FLAGS.items():
        if flags.get(flag) is not None:
            setattr(config, field, flags[flag])
    if config.target is not None and isinstance(config.target, str) and config.target.isdigit():
        config.target = int(config.target)
    config.validate()
    out = out or os.path.join("runs", _run_name(config.data))
    click.echo(f"gradkit train {config.data} -> {out}")
    result = train_run(config, out, resume=resume, verbose=0 if quiet else 1)
    m = result.metrics
    for key in ("test_accuracy", "test_binary_accuracy", "test_r2", "test_mae", "test_loss"):
        if key in m:
            click.echo(f"{key.replace('_', ' ')}: {m[key]:.4f}")
    click.echo(f"run folder: {out}")


def _run_name(data):
    base = os.path.basename(os.path.normpath(str(data)))
    return os.path.splitext(base)[0] or "run"


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@_handle_errors
def evaluate(model, data):
    """Evaluate MODEL (a .safetensors file) on labelled DATA; print the metrics as JSON."""
    net, schema = _load_with_schema(model)
    from gradkit.data import encode_like

    ds = encode_like(data, schema, require_target=True)
    logs = net.evaluate(ds.X, ds.y)
    click.echo(json.dumps({k: round(float(v), 6) for k, v in logs.items()}, indent=2))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option("--out", type=click.Path(dir_okay=False), help="CSV file to write (default: stdout).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@_handle_errors
def predict(model, data, out, proba):
    """Predict DATA with MODEL; one row per sample, class names for classifiers."""
    import csv
    import io as _io

    from gradkit import _files
    from gradkit.data import encode_like

    net, schema = _load_with_schema(model)
    ds = encode_like(data, schema)
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    task = schema.get("task")
    if task == "regression":
        values = net.predict(ds.X)
        values = values.reshape(len(values), -1)
        names = ["prediction"] if values.shape[1] == 1 else \
            [f"prediction_{i}" for i in range(values.shape[1])]
        writer.writerow(names)
        writer.writerows([[repr(float(v)) for v in row] for row in values])
    else:
        labels = net.predict_classes(ds.X)
        header = ["prediction"]
        probs = net.predict_proba(ds.X) if proba else None
        if probs is not None:
            header += [f"p_{c}" for c in net.class_names]
        writer.writerow(header)
        for i, label in enumerate(labels):
            row = [label if np.ndim(label) == 0 else " ".join(map(str, label))]
            if probs is not None:
                row += [f"{p:.6f}" for p in probs[i]]
            writer.writerow(row)
    if out:
        _files.atomic_write_text(out, buf.getvalue())
        click.echo(f"wrote {len(ds)} predictions to {out}", err=True)
    else:
        click.echo(buf.getvalue(), nl=False)


def _load_with_schema(path):
    from gradkit.io import load

    net = load(path)
    schema = net.saved_config.get("extra", {}).get("data_schema")
    if not isinstance(schema, dict):
        raise ModelFileError(f"{path}: has no data schema (it was not saved by `gradkit train`); "
                             "use gk.load in Python instead")
    return net, schema


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False),
              help="The .onnx file to write.")
@_handle_errors
def export(model, onnx_path):
    """Export MODEL to ONNX (Dense, activations, Dropout, BatchNorm, Normalization)."""
    from gradkit.io import export_onnx, load

    export_onnx(load(model), onnx_path)
    click.echo(f"wrote {onnx_path}")


@cli.group(invoke_without_command=True)
@click.pass_context
def datasets(ctx):
    """List the built-in data sets, or fetch one (mnist, fashion-mnist)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


@datasets.command("list")
@_handle_errors
def list_cmd():
    """Built-in data sets and whether each is available offline."""
    from gradkit.data import list_datasets

    for info in list_datasets():
        mark = "yes" if info.available else "no (gradkit datasets fetch " + info.name + ")"
        click.echo(f"{info.name:<15} {info.description}  [available: {mark}]")


@datasets.command()
@click.argument("name")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where to keep the files.")
@click.option("--base-url", help="Mirror to download from.")
@_handle_errors
def fetch(name, cache_dir, base_url):
    """Download NAME once into the cache and verify its SHA-256 checksums."""
    from gradkit.data import fetch as fetch_dataset

    path = fetch_dataset(name, cache_dir=cache_dir, base_url=base_url)
    click.echo(f"{name}: ready in {path}")


def main(argv=None):
    cli.main(args=argv, prog_name="gradkit")




__all__ = ["cli", "main"]
