"""The commands that train and use a model: train, evaluate, predict, export, datasets."""

from __future__ import annotations

import csv
import io as _io
import json
import os
from pathlib import Path

import click
import numpy as np

from gradkit.cli._app import cli, handle_errors, refuse_output_is_input
from gradkit.errors import ConfigError, ModelFileError

# Each command imports the gradkit packages it runs on in its own body, so `gradkit --help`
# and every command load only what that command uses: importing all of them here (data, io,
# practice with search, doctor, ensembles, streams) doubled the start-up of every call.


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


# Flags of `train` and the RunConfig fields they set.
_TRAIN_FLAGS = {
    "target": "target", "hidden": "hidden", "activation": "activation", "init": "init",
    "optimizer": "optimizer", "lr": "lr", "schedule": "schedule", "batch_size": "batch_size",
    "epochs": "epochs", "dropout": "dropout", "batch_norm": "batch_norm", "l1": "l1", "l2": "l2",
    "early_stopping": "early_stopping", "normalize": "normalize",
    "pca_components": "pca_components", "val": "val", "test": "test", "seed": "seed",
    "checkpoint_every": "checkpoint_every", "task": "task", "test_data": "test_data",
    "stream": "stream", "shuffle_buffer": "shuffle_buffer",
}


def config_from_flags(config_file, data, flags):
    """The RunConfig of `train` and `doctor`: the --config file (or the defaults), DATA, then
    the flags given. A --target of digits stays text: the loader takes a column of that name
    first, and an index only when no column has that name."""
    from gradkit.practice.run import RunConfig

    config = RunConfig.from_file(config_file) if config_file else RunConfig()
    if data is not None:
        config.data = data
    for flag, field in _TRAIN_FLAGS.items():
        if flags.get(flag) is not None:
            setattr(config, field, flags[flag])
    _test_file_replaces_split(config, flags)
    return config


def _test_file_replaces_split(config, flags):
    """--test-data without --test: the test file replaces the test split, so all of the
    training file trains (a --test fraction given as well is refused by validate)."""
    if flags.get("test_data") is not None and flags.get("test") is None:
        config.test = 0.0


@cli.command()
@click.argument("data", required=False)
@click.option("--target", help="Target column (name or 0-based index) of a CSV/Parquet file; "
              "default: the last column.")
@click.option("--hidden", callback=_hidden, help="Hidden layer sizes, e.g. 512,512.  [default: 256,256]")
@click.option("--activation", help="relu, tanh, sigmoid, leaky_relu, elu, gelu, silu, softplus.  [default: relu]")
@click.option("--init", help="Weight initializer: he_normal, glorot_uniform, lecun_normal, orthogonal, ...  [default: he_normal]")
@click.option("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw; lbfgs, newton (full batch unless --batch-size is given; an epoch is one optimizer call, up to 100 L-BFGS or 20 Newton iterations).  [default: adam]")
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
@click.option("--normalize", help="Input preprocessing: standardize, pca, whiten, random_projection, none.  [default: standardize]")
@click.option("--pca-components", type=int, help="Components kept by --normalize pca/whiten, or the dimension of random_projection.")
@click.option("--val", type=float, help="Validation fraction.  [default: 0.1]")
@click.option("--test", type=float, help="Test fraction (0: none).  [default: 0.2]")
@click.option("--test-data", type=click.Path(dir_okay=False), metavar="FILE",
              help="A separate labelled test file, evaluated once at the end; the whole DATA "
              "then trains (less --val).")
@click.option("--seed", type=int, help="Seed for splits, initialization, shuffling, dropout.  [default: 0]")
@click.option("--checkpoint-every", type=int, metavar="STEPS",
              help="Also checkpoint every STEPS steps (always at each epoch end).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="A config.json (e.g. from a run folder); flags given here override it.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder.  [default: runs/<data name>]")
@click.option("--resume", is_flag=True, help="Continue from the run folder's last checkpoint "
              "(refused if the settings or the data differ from the run there).")
@click.option("--overwrite", is_flag=True, help="Replace the run already in the run folder "
              "(without it, a used folder is refused).")
@click.option("--quiet", is_flag=True, help="No progress bar, only the result.")
@click.option("--task", type=click.Choice(["classification", "regression", "multilabel"]),
              help="Override the task inferred from the target (integer targets are classes).")
@click.option("--ensemble", type=click.IntRange(min=1), metavar="N",
              help="Train N networks from seeds seed+1..seed+N and evaluate their average.")
@click.option("--stream/--no-stream", default=None,
              help="Read a CSV/Parquet file in record batches, never whole (a folder or glob "
              "of them always streams).")
@click.option("--shuffle-buffer", type=int, metavar="ROWS",
              help="Rows mixed by a streamed run's shuffle buffer.  [default: 65536]")
@handle_errors
def train(data, config_file, out, resume, overwrite, quiet, ensemble, **flags):
    """Train a network on DATA and write a run folder.

    DATA is a .csv, .parquet, .npz file, a folder of X.npy/y.npy or IDX files, or a built-in
    data set (digits, iris, wine, breast_cancer, diabetes, xor, spirals, moons, circles,
    mnist, fashion-mnist once fetched). Without DATA, gradkit trains on digits. A folder or a
    glob ('data/*.parquet') of Parquet or CSV files is streamed: read in record batches, never
    held in memory (--stream does this for one file).

    The run folder holds model.safetensors, config.json (rerun it with --config to reproduce
    the run), history.csv, metrics.json, learning_curves.png and, for classifiers,
    confusion_matrix.png.
    """
    from gradkit.practice import plots, train_ensemble
    from gradkit.practice._run_folder import RUN_FILES
    from gradkit.practice.run import train_run

    config = config_from_flags(config_file, data, flags)
    if flags.get("batch_size") is None and not config_file and _full_batch(config.optimizer):
        config.batch_size = None     # all rows: L-BFGS "works very well in full batch" (notes)
    config.validate()
    if ensemble and resume:
        raise ConfigError("--resume: an ensemble keeps no checkpoints to continue from; "
                          "pass --overwrite to train it again, or choose another --out")
    if out is None:
        out = _default_out(os.path.join("runs", _run_name(config.data)),
                           reuse=resume or overwrite)
    refuse_output_is_input([os.path.join(out, name) for name in RUN_FILES], "--out",
                           [("DATA", config.data), ("--config", config_file),
                            ("--test-data", config.test_data)])
    click.echo(f"gradkit train {config.data} -> {out}")
    if ensemble:
        run = train_ensemble(config, ensemble, out=out, overwrite=overwrite)
        click.echo(run.summary())
        click.echo(f"members and ensemble.json: {out}")
        return
    result = train_run(config, out, resume=resume, overwrite=overwrite,
                       verbose=0 if quiet else 1)
    m = result.metrics
    for key in ("test_accuracy", "test_binary_accuracy", "test_r2", "test_mae", "test_loss"):
        if key in m:
            click.echo(f"{key.replace('_', ' ')}: {m[key]:.4f}")
    if not m.get("test_samples"):
        click.echo("no test set (--test 0 and no --test-data): nothing evaluated")
    n_classes = len(result.model.class_names or ())
    if m.get("test_samples") and n_classes > plots.MAX_CONFUSION_CLASSES:
        click.echo(f"confusion matrix not plotted: {n_classes:,} classes, more than "
                   f"{plots.MAX_CONFUSION_CLASSES} (a picture of {n_classes:,}² cells)")
    click.echo(f"run folder: {out}")


def _full_batch(optimizer):
    """Whether `optimizer` names a full-batch method (lbfgs, newton); False for unknown names."""
    from gradkit.optim.optimizer import OPTIMIZERS
    from gradkit.optim.optimizer import get as optim_get

    try:
        optim_get(optimizer)
    except (ValueError, TypeError):
        return False          # validate() reports the unknown name
    return bool(OPTIMIZERS.lookup(optimizer).requires_closure)


def _default_out(base, *, reuse):
    """The run folder when --out is not given: `base`, or while that holds another run,
    `base-2`, `base-3`, ... (so `make demo` twice trains twice); --resume and --overwrite
    mean `base` itself."""
    from gradkit.practice._run_folder import used_by

    if reuse or not used_by(base):
        return base
    n = 2
    while used_by(f"{base}-{n}"):
        n += 1
    return f"{base}-{n}"


def _run_name(data):
    base = os.path.basename(os.path.normpath(str(data)))
    if set("*?[") & set(base):          # a glob ('higgs/*.parquet'): named after its folder
        base = os.path.basename(os.path.dirname(os.path.normpath(str(data))))
    return os.path.splitext(base)[0] or "run"


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@handle_errors
def evaluate(model, data):
    """Evaluate MODEL (a .safetensors file) on labelled DATA; print the metrics as JSON."""
    from gradkit.data import encode_like
    from gradkit.practice import _stream_predict
    from gradkit.practice.run import loss_and_metrics
    from gradkit.train import metrics as gmetrics

    net, schema = _load_with_schema(model)

    # A loaded model has no compiled metrics (they are a training choice, not saved), so the
    # loss would be all evaluate reports: add the metrics `gradkit train` reports for the task.
    net.metrics = [gmetrics.get(m) for m in loss_and_metrics(schema["task"])[1]]
    if _stream_predict.wants_stream(data, None):      # a folder or glob: read batch by batch
        logs = _stream_predict.stream_evaluate(net, schema, data)
    else:
        _say_idx_split(data)
        ds = encode_like(data, schema, require_target=True)
        _stream_predict.refuse_non_finite_outputs(net, ds.X, data)
        logs = net.evaluate_logs(ds.X, ds.y)
        _stream_predict.refuse_non_finite_logs(logs, data)
    click.echo(json.dumps({k: round(float(v), 6) for k, v in logs.items()}, indent=2))


def _say_idx_split(data):
    """Name the files of an IDX folder that evaluate or predict reads (on stderr, so that
    predict's CSV on stdout stays clean)."""
    from gradkit.data.idx import SPLITS, held_out_split
    from gradkit.data.loading import file_kind

    path = Path(data)
    if path.is_dir() and file_kind(path) == "idx":
        split = held_out_split(path)
        click.echo(f"{data}: IDX folder, reading its {split} split "
                   f"({', '.join(SPLITS[split])})", err=True)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option("--out", type=click.Path(dir_okay=False),
              help="CSV or .parquet file to write (default: CSV on stdout).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@handle_errors
def predict(model, data, out, proba):
    """Predict DATA with MODEL; one row per sample, class names for classifiers.

    A folder or glob of Parquet/CSV files, or --out FILE.parquet, streams: rows are written as
    they are read, in the input's order (files sorted by name)."""
    from gradkit import _atomic
    from gradkit.data import encode_like
    from gradkit.practice import _stream_predict

    if out:
        refuse_output_is_input([out], "--out", [("MODEL", model), ("DATA", data)])
    net, schema = _load_with_schema(model)
    if _stream_predict.wants_stream(data, out):
        written = _stream_predict.stream_predict(net, schema, data, out, proba=proba)
        if out:
            click.echo(f"wrote {written} predictions to {out}", err=True)
        return
    _say_idx_split(data)
    ds = encode_like(data, schema)
    _stream_predict.refuse_non_finite_outputs(net, ds.X, data)
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
        _atomic.atomic_write_text(out, buf.getvalue())
        click.echo(f"wrote {len(ds)} predictions to {out}", err=True)
    else:
        click.echo(buf.getvalue(), nl=False)


def _load_with_schema(path):
    from gradkit.io import load

    net = load(path)
    extra = net.saved_config.get("extra")
    schema = extra.get("data_schema") if isinstance(extra, dict) else None
    if not isinstance(schema, dict):
        raise ModelFileError(f"{path}: has no data schema (it was not saved by `gradkit train`); "
                             "use gk.load in Python instead")
    problem = _schema_problem(schema) or _schema_disagrees(net, schema, extra)
    if problem:
        raise ModelFileError(f"{path}: the data schema in the file is malformed: {problem}")
    return net, schema


def _schema_disagrees(net, schema, extra):
    """Where a well-formed schema contradicts the model it came with (a hand-edited task or
    class list would otherwise predict with the wrong meaning, or write rows that do not match
    the CSV header), or None."""
    task = schema["task"]
    if extra.get("task", task) != task:
        return f"task {task!r} differs from the file's task {extra.get('task')!r}"
    if (task == "regression") != (schema["class_names"] is None):
        return f"task {task!r} with class_names {schema['class_names']!r}"
    if schema["class_names"] != net.class_names:
        return "class_names differ from the model's"
    if list(schema["feature_shape"]) != list(net.input_shape):
        return (f"feature_shape {schema['feature_shape']} differs from the model's input shape "
                f"{list(net.input_shape)}")
    if len(schema["feature_names"]) != int(np.prod(schema["feature_shape"])):
        return (f"{len(schema['feature_names'])} feature_names for feature_shape "
                f"{schema['feature_shape']}")
    if net.feature_names is not None and schema["feature_names"] != net.feature_names:
        return "feature_names differ from the model's"
    return _columns_disagree(schema)


def _columns_disagree(schema):
    """Where the columns (and their categories) would encode the inputs in another order than
    feature_names names them: the encoder follows `columns`, so reordered columns would feed
    each input another column's values."""
    columns, categories = schema["columns"], schema["categories"]
    if columns is None:
        return None
    encoded = []
    for name in columns:
        encoded += [f"{name}={cat}" for cat in categories[name]] if name in categories \
            else [name]
    if encoded != schema["feature_names"]:
        return (f"columns {columns} encode the features {encoded[:6]}"
                f"{' ...' if len(encoded) > 6 else ''}, not feature_names in their order")
    return None


def _strings(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _schema_problem(schema):
    """What is wrong with a model file's data schema, or None.

    `gk.load` checks the model; the schema is read only here, and a hand-edited one must be
    refused with a message rather than fail with a TypeError deep inside the encoder.
    """
    from gradkit.data.dataset import TASKS

    checks = {
        "task": schema.get("task") in TASKS,
        "feature_names": _strings(schema.get("feature_names")),
        "feature_shape": isinstance(schema.get("feature_shape"), list) and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0
            for n in schema["feature_shape"]),
        "class_names": schema.get("class_names") is None or _strings(schema["class_names"]),
        "categories": isinstance(schema.get("categories"), dict) and all(
            _strings(v) for v in schema["categories"].values()),
        "columns": schema.get("columns") is None or _strings(schema["columns"]),
        "target": schema.get("target") is None or isinstance(schema["target"], str)
        or _strings(schema["target"]),
    }
    bad = [key for key, ok in checks.items() if not ok]
    return f"bad or missing {', '.join(bad)}" if bad else None


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False),
              help="The .onnx file to write.")
@handle_errors
def export(model, onnx_path):
    """Export MODEL to ONNX (Dense, activations, Dropout, BatchNorm, Normalization)."""
    from gradkit.io import export_onnx, load

    refuse_output_is_input([onnx_path], "--onnx", [("MODEL", model)])
    net = load(model)
    try:
        export_onnx(net, onnx_path)
    except (ValueError, ImportError) as err:   # a layer ONNX cannot express; onnx missing
        raise ModelFileError(f"{model}: cannot export to ONNX: {err}") from None
    click.echo(f"wrote {onnx_path}")


@cli.group(invoke_without_command=True)
@click.pass_context
def datasets(ctx):
    """List the built-in data sets, or fetch one (mnist, fashion-mnist)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


@datasets.command("list")
@handle_errors
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
@handle_errors
def fetch(name, cache_dir, base_url):
    """Download NAME once into the cache and verify its SHA-256 checksums."""
    from gradkit.data import fetch as fetch_dataset

    path = fetch_dataset(name, cache_dir=cache_dir, base_url=base_url)
    click.echo(f"{name}: ready in {path}")
