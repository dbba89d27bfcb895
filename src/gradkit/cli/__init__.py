"""The `gradkit` command: thin — it parses, calls the packages, prints.

Exit codes: 0 done, 2 bad input or usage, 3 training diverged, 130 interrupted (Ctrl-C),
1 a bug (with its traceback).
"""

from __future__ import annotations

import copy
import csv
import functools
import io as _io
import json
import os
import select
import sys

import click
import numpy as np

from gradkit.errors import ConfigError, DataError, ModelFileError, TrainingDiverged

# Each command imports the gradkit packages it runs on in its own body, so `gradkit --help`
# and every command load only what that command uses: importing all of them here (data, io,
# practice with search, doctor, ensembles, streams) doubled the start-up of every call.

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
# What a shell reports for a process that SIGPIPE ended (128 + 13), as `cat` or `seq` get
# when the reader of their output goes away (`| head -1`): under `set -o pipefail` a script
# sees output cut short, not 0 (which would claim every row was written).
EXIT_STDOUT_CLOSED = 141


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
            if isinstance(err, BrokenPipeError) and _stdout_reader_gone():
                _quiet_exit_on_closed_stdout()      # `gradkit predict ... | head -1`
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:        # Ctrl-C: one line and the shell's 128 + SIGINT
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def _stdout_reader_gone():
    """Whether stdout is a pipe whose reading end is closed (poll reports POLLERR)."""
    if not hasattr(select, "poll"):
        return True         # no poll (Windows): take the broken pipe to be stdout's
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):          # stdout closed or not a file
        return True


def _quiet_exit_on_closed_stdout():
    """Exit as SIGPIPE would, silently: the Python docs' recipe (signal, "Note on SIGPIPE").

    stdout is pointed at devnull, so the interpreter's last flush of the unwritten rest does
    not raise again at exit; no process-wide SIGPIPE handler is installed.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_STDOUT_CLOSED)


def _show_in_one_line(err, file=None):
    hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
    click.echo(f"error: {err.format_message()}{hint}", file=file, err=file is None)


class _Group(click.Group):
    """click's group, except that a usage error is one line on stderr like any other bad input.

    click prints the usage, a hint and then the error over four lines; the design promises one
    line (`error: ...`) and exit status 2 for every bad input, flags included. Only how the
    error shows changes: click still catches it, and exits with its status.
    """

    def make_context(self, *args, **kwargs):      # parsing the group's own options
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _one_line(err) from None

    def invoke(self, ctx):                         # parsing and running the subcommand
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line(err) from None


def _one_line(err):
    if not isinstance(err, click.exceptions.NoArgsIsHelpError):    # bare `gradkit`: the help
        err.show = functools.partial(_show_in_one_line, err)
    return err


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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    "checkpoint_every": "checkpoint_every", "task": "task", "test_data": "test_data",
    "stream": "stream", "shuffle_buffer": "shuffle_buffer",
}


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
@click.option("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw; lbfgs, newton (full batch unless --batch-size is given).  [default: adam]")
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
@_handle_errors
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
    from gradkit.practice import train_ensemble
    from gradkit.practice.run import RunConfig, train_run

    config = RunConfig.from_file(config_file) if config_file else RunConfig()
    if data is not None:
        config.data = data
    for flag, field in _TRAIN_FLAGS.items():
        if flags.get(flag) is not None:
            setattr(config, field, flags[flag])
    # A --target of digits stays text: the loader takes a column of that name first, and an
    # index only when no column has that name.
    _test_file_replaces_split(config, flags)
    if flags.get("batch_size") is None and not config_file and _full_batch(config.optimizer):
        config.batch_size = None     # all rows: L-BFGS "works very well in full batch" (notes)
    config.validate()
    if out is None:
        out = _default_out(os.path.join("runs", _run_name(config.data)),
                           reuse=resume or overwrite)
    click.echo(f"gradkit train {config.data} -> {out}")
    if ensemble:
        run = train_ensemble(config, ensemble, out=out)
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
@_handle_errors
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
        ds = encode_like(data, schema, require_target=True)
        logs = net.evaluate_logs(ds.X, ds.y)
    click.echo(json.dumps({k: round(float(v), 6) for k, v in logs.items()}, indent=2))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option("--out", type=click.Path(dir_okay=False),
              help="CSV or .parquet file to write (default: CSV on stdout).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@_handle_errors
def predict(model, data, out, proba):
    """Predict DATA with MODEL; one row per sample, class names for classifiers.

    A folder or glob of Parquet/CSV files, or --out FILE.parquet, streams: rows are written as
    they are read, in the input's order (files sorted by name)."""
    from gradkit import _atomic
    from gradkit.data import encode_like
    from gradkit.practice import _stream_predict

    net, schema = _load_with_schema(model)
    if _stream_predict.wants_stream(data, out):
        written = _stream_predict.stream_predict(net, schema, data, out, proba=proba)
        if out:
            click.echo(f"wrote {written} predictions to {out}", err=True)
        return
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
@_handle_errors
def export(model, onnx_path):
    """Export MODEL to ONNX (Dense, activations, Dropout, BatchNorm, Normalization)."""
    from gradkit.io import export_onnx, load

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


@cli.command("search")
@click.argument("data")
@click.option("--trials", type=click.IntRange(min=1), required=True,
              help="Trials the search should hold; run again with the same --out and a larger "
              "number to add more (finished trials are kept, interrupted ones run again).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Trials at once, on local processes.  [default: 1, in this process]")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run the trials on a Dask cluster instead; its workers need gradkit "
              "installed and --out on a file system they share.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "coarse-to-fine"]), default="tpe",
              show_default=True, help="How trials pick values: TPE, uniform random, or random "
              "then random within ranges narrowed around the best trials.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False),
              help='JSON file updating the space, e.g. {"lr": {"low": 1e-4, "high": 1e-2, '
              '"log": true}, "activation": {"choices": ["relu", "tanh"]}, "dropout": null}.  '
              "[default: width, depth, activation, lr, l2, dropout, batch_size]")
@click.option("--metric", help="Validation metric to optimize.  "
              "[default: val_accuracy; val_loss for regression]")
@click.option("--target", help="Target column of a CSV/Parquet file; default: the last column.")
@click.option("--epochs", type=click.IntRange(min=1),
              help="Train every trial this many epochs.  [default: at most 100, ended by "
              "early stopping (patience 10) and scored at the best epoch]")
@click.option("--optimizer", help="Optimizer of every trial.  [default: adam]")
@click.option("--val", type=float, help="Validation fraction (scores the trials).  [default: 0.1]")
@click.option("--test", type=float, help="Test fraction (0: none).  [default: 0.2]")
@click.option("--test-data", type=click.Path(dir_okay=False), metavar="FILE",
              help="A separate labelled test file: trials train on all of DATA (less --val); "
              "only the final model is evaluated on it, once.")
@click.option("--finalists", type=click.IntRange(min=0), default=5, show_default=True,
              help="Best trials cross-validated at the end to choose the final model "
              "(0: none).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds of that cross-validation.")
@click.option("--widen/--no-widen", default=True, show_default=True,
              help="Widen a range when the best trials sit on its edge.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, of every trial's training, and of the sampler.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Search folder; the same one resumes.  [default: runs/search-<data name>]")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Rows of the ranked table.")
@click.option("--quiet", is_flag=True, help="No line per trial, only the table.")
@_handle_errors
def search_cmd(data, trials, workers, scheduler, sampler, space_file, metric, target, epochs,
               optimizer, val, test, test_data, finalists, folds, widen, seed, out, top, quiet):
    """Search hyper-parameters for DATA: TRIALS training runs, ranked on the validation split.

    Writes to --out: study.journal (the study; rerun the same command to resume it),
    trials/NNNN (one run folder per trial), search.png (the score against each parameter),
    and at the end: the --finalists best trials cross-validated (cv/), the final model
    (final/: the winner retrained on training + validation data, or the ensemble of its fold
    models, whichever measures better on the validation split), evaluated once on the test
    set, report.md, and best.json (the winner's config: `gradkit train --config best.json`).
    """
    from gradkit.practice.search import search as run_search

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (local processes) or --scheduler (Dask), not both")
    space = None
    if space_file:
        try:
            with open(space_file, encoding="utf-8") as f:
                space = json.load(f)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{space_file}: not valid JSON ({err.msg} at line {err.lineno})") \
                from None
    base = {k: v for k, v in {"target": target, "epochs": epochs, "optimizer": optimizer,
                              "val": val, "test": test}.items() if v is not None}
    if test_data is not None and test is None:
        base["test"] = 0.0            # the test file replaces the test split
    out = out or os.path.join("runs", "search-" + _run_name(data))
    where = f"Dask scheduler {scheduler}" if scheduler else \
        f"{workers} local processes" if workers and workers > 1 else "this process"
    click.echo(f"gradkit search {data}: {trials} trials, {sampler} sampler, on {where} -> {out}")
    try:
        result = run_search(data, trials=trials, storage_dir=out, space=space, sampler=sampler,
                            workers=workers, scheduler=scheduler, base=base, metric=metric,
                            seed=seed, verbose=0 if quiet else 1, test_data=test_data,
                            finalists=finalists, folds=folds, widen=widen)
    except KeyboardInterrupt:
        click.echo(f"interrupted; run the same command again to resume the search in {out}",
                   err=True)
        sys.exit(130)
    result.print_table(top=top)
    if result.best is None:
        reasons = [r.get("reason") or "" for r in result.rows]
        click.echo(f"error: none of the {len(result.rows)} trials completed; see the reasons "
                   "above", err=True)
        sys.exit(EXIT_DIVERGED if all(r.startswith("TrainingDiverged") for r in reasons) else 1)
    best = result.best
    click.echo(f"best: trial {best['number']}, {result.metric} {best['value']:.4f} "
               f"({result.n_run} trials run now, {len(result.rows)} in the study)")
    for w in result.widened:
        click.echo(f"widened {w['name']} at its {w['side']} edge after {w['after_trials']} "
                   f"trials: {w['old'][0]:g}-{w['old'][1]:g} -> {w['new'][0]:g}-{w['new'][1]:g}")
    final = result.final
    if final is not None and final["chosen"] is not None:
        c = final["chosen"]
        how = "the ensemble of its fold models" if final["final"] == "ensemble" else \
            "retrained on training + validation data"
        click.echo(f"cross-validated: trial {c['number']}, {result.metric} {c['cv_mean']:.4f} "
                   f"± {c['cv_half_width']:.4f} (95%); final model: {how} (validation: "
                   f"ensemble {final['ensemble_val']:.4f}, single {final['single_val']:.4f})")
        tests = [f"{k} {v:.4f}" for k, v in final["test"].items()
                 if k.startswith("test_") and k != "test_samples"]
        click.echo(f"final model in {os.path.join(out, 'final')}: "
                   + (", ".join(tests) if tests else "no test set"))
        click.echo(f"wrote {os.path.join(out, 'report.md')}, "
                   f"{os.path.join(out, 'best.json')} and {os.path.join(out, 'search.png')}")
    else:
        click.echo(f"wrote {os.path.join(out, 'best.json')} and "
                   f"{os.path.join(out, 'search.png')}")
        click.echo(f"train it longer: gradkit train --config {os.path.join(out, 'best.json')} "
                   "--epochs 30")


@cli.command("doctor")
@click.argument("data", required=False)
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True,
              help="Epochs of step 6's final run and of the recommended config.")
@click.option("--trials", type=click.IntRange(min=1), default=6, show_default=True,
              help="Settings tried in step 4's coarse search.")
@click.option("--trial-epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs of each coarse trial (the notes: 1-5).")
@click.option("--fine-trials", type=click.IntRange(min=1), default=3, show_default=True,
              help="Settings tried in step 5's finer search (the best coarse one included).")
@click.option("--fine-epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Epochs of each fine trial (the notes: 10-20).")
@click.option("--passes", type=click.IntRange(min=0), default=2, show_default=True,
              help="Times step 7 may send the doctor back to step 5 with a remedy.")
@click.option("--check-folds", type=click.IntRange(min=0), default=3, show_default=True,
              help="Folds of step 8's cross-validation of the advice against your "
              "configuration (0: the validation split alone decides).")
@click.option("--small-sample", type=click.IntRange(min=2), default=160, show_default=True,
              help="Samples step 2 tries to overfit.")
@click.option("--overfit-steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Step 2's budget of training steps.")
@click.option("--lr-steps", type=click.IntRange(min=3), default=100, show_default=True,
              help="Steps of step 3's learning-rate sweep.")
@click.option("--sample-rows", type=click.IntRange(min=2), default=100_000, show_default=True,
              help="Training rows examined of a streamed data set (a folder or glob): a "
              "uniform sample of its training split, validation rows in proportion.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Report folder.  [default: runs/doctor-<data name>]")
@click.option("--quiet", is_flag=True, help="No line per step, only where the report is.")
@_handle_errors
def doctor_cmd(data, epochs, trials, trial_epochs, fine_trials, fine_epochs, passes,
               check_folds, small_sample, overfit_steps, lr_steps, sample_rows, out, quiet,
               config_file=None, **flags):
    """Run the lecture notes' 7-step recipe on DATA with the model the flags describe.

    0 your configuration as a baseline, 1 initial loss, 2 overfit a small sample,
    3 learning-rate range test, 4 coarse and 5 fine random search over learning rate and L2,
    6 learning curves, 7 bias or variance (and back to 5 with its remedy, --passes times at
    most), 8 the advice against the baseline: recommended only if it beats it. Takes the
    model flags of `gradkit train`. Writes to --out: doctor.md (each step: what was checked,
    the numbers, the verdict, the plots), its PNGs, and recommended.json (train it with
    `gradkit train --config recommended.json`).
    """
    from gradkit.practice.doctor import doctor
    from gradkit.practice.run import RunConfig

    config = RunConfig.from_file(config_file) if config_file else RunConfig()
    if data is not None:
        config.data = data
    for flag, field in _TRAIN_FLAGS.items():
        if flags.get(flag) is not None:
            setattr(config, field, flags[flag])
    _test_file_replaces_split(config, flags)
    config.validate()
    out = out or os.path.join("runs", "doctor-" + _run_name(config.data))
    click.echo(f"gradkit doctor {config.data} -> {out}")
    report = doctor(config, out=out, small_sample=small_sample, overfit_steps=overfit_steps,
                    lr_steps=lr_steps, coarse_trials=trials, coarse_epochs=trial_epochs,
                    fine_trials=fine_trials, fine_epochs=fine_epochs, curve_epochs=epochs,
                    max_passes=passes, check_folds=check_folds, seed=config.seed,
                    echo=None if quiet else click.echo, sample_rows=sample_rows)
    problems = len(report.problems)
    click.echo(f"{len(report.steps) - problems} of {len(report.steps)} steps fine, {problems} "
               "with a problem "
               f"({report.seconds:.1f} s); report: {os.path.join(out, 'doctor.md')}")
    if report.recommended is not None:
        path = os.path.join(out, "recommended.json")
        click.echo(f"recommended config: {path} (gradkit train --config {path})")


# The model flags of `train`, shared so the two commands cannot drift apart.
_DOCTOR_FLAGS = ("target", "hidden", "activation", "init", "optimizer", "lr", "batch_size",
                 "dropout", "batch_norm", "l1", "l2", "normalize", "pca_components", "val",
                 "test", "test_data", "seed", "config_file", "stream", "shuffle_buffer")
doctor_cmd.params[1:1] = [copy.copy(p) for p in train.params if p.name in _DOCTOR_FLAGS]


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="gradkit")
    except SystemExit as stop:
        if stop.code != EXIT_INTERRUPTED:
            raise
        # Ctrl-C: the line is printed, the run folder's lock released and every file written
        # atomically already; the interpreter's own shutdown (joining thread pools, freeing
        # the data) took 1.3-1.6 s on a loaded machine, past the promised second.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)




__all__ = ["cli", "main"]
