"""Round trips: train on a file, then encode a predict file with the training schema."""

import json

import numpy as np
import pytest

from gradkit.data import DataError, encode_like, load

ROW = "(1-based, header not counted)"
TRAIN = ("age,color,size,label\n1.5,red,3,cat\n2,blue,4,dog\n3,red,5,cat\n4,green,6,bird\n")


@pytest.fixture
def train(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(TRAIN)
    return load(path)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(source, like, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        encode_like(source, like, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_predict_file_without_target_in_another_order(tmp_path, train):
    path = write(tmp_path, "new.csv", "size;color;age\n7;green;5\n8;red;6\n")
    new = train.encode_like(path)
    assert new.y is None
    assert new.feature_names == train.feature_names
    np.testing.assert_array_equal(new.X, [[5, 0, 1, 0, 7], [6, 0, 0, 1, 8]])
    assert new.class_names == ["bird", "cat", "dog"]
    assert new.categories == train.categories


def test_labels_keep_the_training_indices(tmp_path, train):
    # Only "dog" and "bird" here: a fresh load would number them 0 and 1; the schema keeps 2, 0.
    path = write(tmp_path, "eval.csv", "label,age,color,size\ndog,1,blue,1\nbird,2,red,2\n")
    new = encode_like(path, train, require_target=True)
    assert new.y.tolist() == [2, 0]
    assert load(path, target="label").y.tolist() == [1, 0]


def test_schema_survives_json(tmp_path, train):
    schema = json.loads(json.dumps(train.schema()))
    path = write(tmp_path, "new.csv", "age,color,size,label\n9,blue,1,cat\n")
    new = encode_like(path, schema)
    np.testing.assert_array_equal(new.X, [[9, 1, 0, 0, 1]])
    assert new.y.tolist() == [1]


def test_csv_schema_also_reads_parquet(tmp_path, train):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "new.parquet"
    pq.write_table(pa.table({"age": [1.0], "color": ["green"], "size": [2]}), path)
    np.testing.assert_array_equal(train.encode_like(path).X, [[1, 0, 1, 0, 2]])


def test_unseen_class_label(tmp_path, train):
    path = write(tmp_path, "eval.csv", "age,color,size,label\n1,red,3,cat\n2,red,3,fish\n")
    assert error_of(path, train) == (
        f"{path}, column 'label', data row 2 {ROW}: class 'fish' was not seen in training "
        "(known: bird, cat, dog)")


def test_unseen_category(tmp_path, train):
    path = write(tmp_path, "new.csv", "age,color,size\n1,red,3\n2,red,3\n3,purple,3\n")
    assert error_of(path, train) == (
        f"{path}, column 'color', data row 3 {ROW}: category 'purple' was not seen in training "
        "(known: blue, green, red)")


def test_columns_differ(tmp_path, train):
    path = write(tmp_path, "new.csv", "age,colour,size,weight\n1,red,3,4\n")
    assert error_of(path, train) == (
        f"{path}: columns differ from the training data: missing 'color'; unexpected 'colour', "
        "'weight' (expected: age, color, size)")


def test_text_in_a_numeric_training_column(tmp_path, train):
    path = write(tmp_path, "new.csv", "age,color,size\nold,red,3\n")
    assert error_of(path, train) == (
        f"{path}, column 'age', data row 1 {ROW}: expected a number, got 'old'")


def test_target_required_for_evaluation(tmp_path, train):
    path = write(tmp_path, "new.csv", "age,color,size\n1,red,3\n")
    assert error_of(path, train, require_target=True) == (
        f"{path}: target column 'label' is missing; it is needed to compare predictions with "
        "the truth")


def test_table_schema_needs_a_table(tmp_path, train):
    path = tmp_path / "x.npz"
    np.savez(path, X=np.zeros((2, 5)))
    assert error_of(path, train) == (
        f"{path}: the training data was a table (CSV or Parquet); expected a .csv or .parquet "
        "file with the same columns")


def test_bad_schema_dict(tmp_path):
    assert error_of(tmp_path / "x.csv", {"task": "regression"}).startswith(
        "like must be a Dataset or the dict from Dataset.schema(); missing keys: feature_names")


def test_array_round_trip(tmp_path):
    np.savez(tmp_path / "train.npz", X=np.arange(12.0).reshape(6, 2),
             y=np.array([3, 5, 7, 3, 5, 7]))
    train = load(tmp_path / "train.npz")
    assert train.class_names == ["3", "5", "7"]
    np.savez(tmp_path / "eval.npz", X=np.ones((2, 2)), y=np.array([7, 5]))
    new = train.encode_like(tmp_path / "eval.npz")
    assert new.y.tolist() == [2, 1] and new.class_names == ["3", "5", "7"]
    np.savez(tmp_path / "bad.npz", X=np.ones((2, 2)), y=np.array([7, 4]))
    assert error_of(tmp_path / "bad.npz", train) == (
        f"{tmp_path / 'bad.npz'}: row 2 (1-based): class '4' was not seen in training "
        "(known: 3, 5, 7)")
    np.savez(tmp_path / "wide.npz", X=np.ones((2, 3)))
    assert error_of(tmp_path / "wide.npz", train) == (
        f"{tmp_path / 'wide.npz'}: samples have shape (3,), but the training data had (2,)")
