"""`gradkit predict` and `gradkit evaluate` on data larger than memory.

Prediction writes as it reads: each record batch is encoded with the model's schema, predicted
and appended to the output (Parquet through pyarrow's ParquetWriter, or CSV rows in the format
of the in-memory `gradkit predict`), in the input's row order (files sorted by name, rows in
file order). The output appears atomically, once every row is written.
"""

from __future__ import annotations

import csv
import io
import sys

import numpy as np

from gradkit import _atomic
from gradkit.data import stream
from gradkit.data.stream import is_stream_source
from gradkit.errors import DataError

_PARQUET_SUFFIXES = (".parquet", ".pq")


def wants_stream(data, out) -> bool:
    """Stream when DATA is a folder or glob of tables, or when the output is a Parquet file."""
    return is_stream_source(data) or bool(out) and str(out).lower().endswith(_PARQUET_SUFFIXES)


def refuse_non_finite_outputs(net, X, data, *, first_row=0):
    """Refuse rows whose outputs are NaN or infinite, naming the first (1-based, counting from
    `first_row` rows before X): huge weights or inputs overflow float32, and a NaN output
    would be printed as class 0 or as 'nan' with exit status 0."""
    with np.errstate(all="ignore"):
        outputs = np.asarray(net.predict(X))
    bad = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1)
    if bad.any():
        row = first_row + int(np.argmax(bad)) + 1
        raise DataError(f"{data}, data row {row} (1-based): the model's outputs are NaN or "
                        f"infinite ({int(bad.sum())} of {len(bad)} rows here); its weights or "
                        "these inputs overflow float32, so nothing is predicted")


def refuse_non_finite_logs(logs, data):
    """Refuse an evaluation whose loss or metrics are not finite (NaN is not JSON)."""
    bad = [k for k, v in logs.items() if not np.isfinite(float(v))]
    if bad:
        raise DataError(f"{data}: the model's {', '.join(bad)} on it is NaN or infinite; its "
                        "weights or these inputs overflow float32")


def _checked(net, source, data):
    """The batches of `source` in order, each refused if the model's outputs on it are not
    finite."""
    offset = 0
    for X, _ in source.in_order():
        refuse_non_finite_outputs(net, X, data, first_row=offset)
        offset += len(X)
        yield X


def _columns(net, task, X, proba):
    """{column name: values} of one chunk's predictions (labels, values, probabilities)."""
    if task == "regression":
        values = net.predict(X).astype(np.float64)
        values = values.reshape(len(values), -1)
        if values.shape[1] == 1:
            return {"prediction": values[:, 0]}
        return {f"prediction_{i}": values[:, i] for i in range(values.shape[1])}
    labels = net.predict_classes(X)
    if labels.ndim == 2:                                   # multilabel: "0 1 0"
        labels = np.array([" ".join(map(str, row)) for row in labels], dtype=object)
    columns = {"prediction": np.asarray(labels).astype(str)}
    if proba:
        probs = net.predict_proba(X)
        columns.update({f"p_{c}": probs[:, i] for i, c in enumerate(net.class_names)})
    return columns


def _csv_text(columns, *, header):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(columns)
    if header:
        writer.writerow(names)
    cells = []
    for name in names:
        values = columns[name]
        if name.startswith("p_"):
            cells.append([f"{p:.6f}" for p in values])
        elif values.dtype.kind == "f":
            cells.append([repr(float(v)) for v in values])
        else:
            cells.append(values.tolist())
    writer.writerows(zip(*cells))
    return buf.getvalue()


def stream_predict(net, schema, data, out, *, proba=False) -> int:
    """Predict every row of DATA into `out` (.parquet or .csv; None: CSV on stdout); return
    the number of rows written."""
    source = stream(data, like=schema)
    task = schema["task"]
    chunks = (_columns(net, task, X, proba) for X in _checked(net, source, data))
    if out is None:
        written = 0
        for i, columns in enumerate(chunks):
            sys.stdout.write(_csv_text(columns, header=i == 0))
            written += len(next(iter(columns.values())))
        return written
    if not str(out).lower().endswith(_PARQUET_SUFFIXES):
        with _atomic.atomic_open(out, "w", newline="") as f:
            written = 0
            for i, columns in enumerate(chunks):
                f.write(_csv_text(columns, header=i == 0))
                written += len(next(iter(columns.values())))
        return written
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _atomic.atomic_open(out, "wb") as f:
        writer, written = None, 0
        try:
            for columns in chunks:
                table = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(f, table.schema)
                writer.write_table(table)
                written += table.num_rows
        finally:
            if writer is not None:
                writer.close()
    return written


def stream_evaluate(net, schema, data) -> dict:
    """{"loss": ..., metric: ...} over every row of DATA, read batch by batch."""
    logs = net.evaluate_logs(stream(data, like=schema), None)
    refuse_non_finite_logs(logs, data)
    return logs
