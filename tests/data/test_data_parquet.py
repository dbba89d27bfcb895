"""Parquet loading: typed columns, nulls, NaN, unsupported types, unreadable files."""

import datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gradkit.data import DataError, load, load_parquet


def write(tmp_path, table, name="d.parquet"):
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def error_of(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load(path, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_typed_columns(tmp_path):
    table = pa.table({
        "f": pa.array([0.5, 1.5, 2.5], pa.float32()),
        "i": pa.array([1, 2, 3], pa.int16()),
        "flag": [True, False, True],
        "color": pa.array(["red", "blue", "red"]).dictionary_encode(),
        "label": ["b", "a", "b"],
    })
    ds = load_parquet(write(tmp_path, table))
    assert ds.feature_names == ["f", "i", "flag", "color=blue", "color=red"]
    np.testing.assert_array_equal(ds.X, [[0.5, 1, 1, 0, 1], [1.5, 2, 0, 1, 0], [2.5, 3, 1, 0, 1]])
    assert ds.class_names == ["a", "b"] and ds.y.tolist() == [1, 0, 1]


def test_integer_and_float_targets(tmp_path):
    ints = load(write(tmp_path, pa.table({"x": [1.0, 2.0], "y": [4, 2]}), "i.parquet"))
    assert ints.task == "classification" and ints.class_names == ["2", "4"]
    floats = load(write(tmp_path, pa.table({"x": [1.0, 2.0], "y": [0.5, 2.0]}), "f.parquet"))
    assert floats.task == "regression" and floats.y.tolist() == [0.5, 2.0]


def test_null_is_reported_with_its_row(tmp_path):
    path = write(tmp_path, pa.table({"x": [1.0, None, 3.0], "y": [0, 1, 0]}))
    assert error_of(path) == (f"{path}, column 'x', data row 2 (1-based): missing value (null); "
                              "fill it in or drop the row")


def test_nan_is_reported_with_its_row(tmp_path):
    path = write(tmp_path, pa.table({"x": [1.0, 2.0, float("inf")], "y": [0, 1, 0]}))
    assert error_of(path) == (f"{path}, column 'x', data row 3 (1-based): value inf is NaN or "
                              "infinite; clean the data or drop that row")


def test_unsupported_column_type(tmp_path):
    when = [datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 2)]
    path = write(tmp_path, pa.table({"when": when, "y": [0, 1]}))
    assert error_of(path) == (f"{path}, column 'when': unsupported column type timestamp[us]; "
                              "expected numbers, booleans or strings")


def test_no_rows(tmp_path):
    path = write(tmp_path, pa.table({"x": pa.array([], pa.float64()),
                                     "y": pa.array([], pa.int64())}))
    assert error_of(path) == f"{path}: has columns (x, y) but no rows"


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    assert error_of(path).startswith(f"{path}: cannot read as Parquet: ")


def test_target_column_missing(tmp_path):
    path = write(tmp_path, pa.table({"x": [1.0], "y": [0]}))
    assert error_of(path, target="label") == f"{path}: no target column 'label'; columns are: x, y"


def test_old_pyarrow_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path, pa.table({"x": [1.0], "y": [0]}))
    monkeypatch.setattr(pa, "__version__", "13.0.0")
    assert error_of(path).startswith("pyarrow 13.0.0 is installed, but gradkit needs pyarrow "
                                     ">= 14.0.1: older versions can run code hidden in a "
                                     "Parquet or Arrow file (CVE-2023-47248)")
