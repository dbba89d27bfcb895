"""CSV loading: typing, delimiters, targets, and one exact message per kind of bad input."""

import gzip

import numpy as np
import pytest

from gradkit.data import Dataset, DataError, load, load_csv

ROW = "(1-based, header not counted)"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def error_of(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- typing and encoding -----------------------------------------------------------------------

def test_numeric_columns_and_integer_labels(tmp_path):
    path = write(tmp_path, "d.csv", "x1,x2,label\n0.5,1,0\n1.5,2,1\n2.5,3,1\n")
    ds = load(path)
    assert isinstance(ds, Dataset)
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.X, [[0.5, 1], [1.5, 2], [2.5, 3]])
    assert ds.y.tolist() == [0, 1, 1]
    assert ds.class_names == ["0", "1"]
    assert ds.task == "classification"
    assert ds.feature_names == ["x1", "x2"]
    assert ds.columns == ["x1", "x2"] and ds.target == "label"
    assert ds.source == str(path)


def test_integer_labels_sort_numerically_not_as_text(tmp_path):
    path = write(tmp_path, "d.csv", "x,label\n1,10\n2,2\n3,2\n4,-1\n")
    ds = load(path)
    assert ds.class_names == ["-1", "2", "10"]
    assert ds.y.tolist() == [2, 1, 1, 0]


def test_float_target_means_regression(tmp_path):
    path = write(tmp_path, "d.csv", "x,price\n1,2.5\n2,3.0\n3,4.25\n")
    ds = load(path)
    assert ds.task == "regression" and ds.class_names is None
    assert ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [2.5, 3.0, 4.25])


def test_string_labels_and_one_hot_categories(tmp_path):
    path = write(tmp_path, "pets.csv",
                 "age;color;size;label\n1.5;red;3;cat\n2;blue;4;dog\n3;red;5;cat\n4;green;6;bird\n")
    ds = load(path)
    assert ds.feature_names == ["age", "color=blue", "color=green", "color=red", "size"]
    assert ds.categories == {"color": ["blue", "green", "red"]}
    np.testing.assert_array_equal(ds.X, [[1.5, 0, 0, 1, 3], [2, 1, 0, 0, 4],
                                         [3, 0, 0, 1, 5], [4, 0, 1, 0, 6]])
    assert ds.class_names == ["bird", "cat", "dog"]
    assert ds.y.tolist() == [1, 2, 1, 0]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed_even_with_quoted_other_delimiters(tmp_path, delimiter):
    d = delimiter
    text = (f"name{d}value{d}label\n\"x, y; z|\"{d}1{d}a\n\"w\tq\"{d}2{d}b\n"
            f"\"x, y; z|\"{d}3{d}a\n")
    ds = load(write(tmp_path, "d.csv", text))
    assert ds.categories == {"name": ["w\tq", "x, y; z|"]}
    assert ds.feature_names == ["name=w\tq", "name=x, y; z|", "value"]
    assert ds.y.tolist() == [0, 1, 0]


def test_whitespace_bom_and_gzip(tmp_path):
    text = "a , b ,label\n 1 , 2 , yes\n3,4,no \n"
    ds = load(write(tmp_path, "bom.csv", text, encoding="utf-8-sig"))
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])
    assert ds.class_names == ["no", "yes"]
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    np.testing.assert_array_equal(load(path).X, ds.X)


def test_blank_lines_are_skipped(tmp_path):
    ds = load(write(tmp_path, "d.csv", "a,label\n1,x\n\n2,y\n\n"))
    assert len(ds) == 2


# --- target selection -------------------------------------------------------------------------

@pytest.mark.parametrize("target, name", [(None, "c"), ("a", "a"), (0, "a"), (-2, "b"),
                                          ("1", "b")])
def test_target_by_name_or_index(tmp_path, target, name):
    path = write(tmp_path, "d.csv", "a,b,c\n1,2,3\n4,5,6\n")
    ds = load(path, target=target)
    assert ds.target == name
    assert ds.columns == [c for c in "abc" if c != name]


def test_several_binary_targets_are_multilabel(tmp_path):
    path = write(tmp_path, "d.csv", "x,t1,t2\n0.5,1,0\n1.5,0,0\n2.5,1,1\n")
    ds = load(path, target=["t1", "t2"])
    assert ds.task == "multilabel" and ds.class_names == ["t1", "t2"]
    assert ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [[1, 0], [0, 0], [1, 1]])


def test_several_real_targets_are_regression(tmp_path):
    path = write(tmp_path, "d.csv", "x,t1,t2\n0.5,1.5,0\n1.5,0,2\n")
    ds = load(path, target=["t1", "t2"])
    assert ds.task == "regression" and ds.y.shape == (2, 2)


def test_task_override(tmp_path):
    path = write(tmp_path, "d.csv", "x,y\n1,3\n2,5\n")
    ds = load(path, task="regression")
    assert ds.task == "regression" and ds.y.tolist() == [3.0, 5.0]
    whole = write(tmp_path, "w.csv", "x,y\n1,3.0\n2,5.0\n")
    assert load(whole, task="classification").class_names == ["3", "5"]


def test_missing_target_column(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,3\n")
    assert error_of(path, target="nope") == \
        f"{path}: no target column 'nope'; columns are: a, b, label"


def test_target_index_out_of_range(tmp_path):
    path = write(tmp_path, "d.csv", "a,b\n1,2\n")
    assert error_of(path, target=5) == (
        f"{path}: target column index 5 is out of range; the file has 2 columns "
        "(valid: 0 to 1, or negative)")


def test_fractional_labels_cannot_be_classes(tmp_path):
    path = write(tmp_path, "d.csv", "x,y\n1,3\n2,5.5\n")
    assert error_of(path, task="classification") == (
        f"{path}, column 'y', data row 2 {ROW}: value 5.5 is not a class label (it has a "
        "fraction); use task='regression'")


def test_only_a_target_column(tmp_path):
    path = write(tmp_path, "d.csv", "label\n1\n2\n")
    assert error_of(path) == f"{path}: no feature columns left besides the target (label)"


# --- bad input: one line naming file, column, row ----------------------------------------------

def test_empty_file(tmp_path):
    path = write(tmp_path, "e.csv", "")
    assert error_of(path) == f"{path}: empty file; expected a header line and data rows"
    blank = write(tmp_path, "b.csv", "\n  \n")
    assert error_of(blank) == f"{blank}: empty file; expected a header line and data rows"


def test_header_without_rows(tmp_path):
    path = write(tmp_path, "h.csv", "a,b\n")
    assert error_of(path) == f"{path}: has a header (a, b) but no data rows"


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_infinity_are_refused(tmp_path, cell):
    path = write(tmp_path, "n.csv", f"a,b,label\n1,2,x\n3,{cell},y\n")
    assert error_of(path) == (f"{path}, column 'b', data row 2 {ROW}: value {cell!r} is NaN or "
                              "infinite; clean the data or drop that row")


def test_nan_in_regression_target(tmp_path):
    path = write(tmp_path, "n.csv", "a,price\n1,2.5\n3,nan\n")
    assert error_of(path).startswith(f"{path}, column 'price', data row 2 {ROW}: value 'nan'")


def test_stray_string_in_numeric_column(tmp_path):
    path = write(tmp_path, "s.csv", "a,b,label\n1,2,x\n3,abc,y\n5,6,x\n")
    assert error_of(path) == (f"{path}, column 'b', data row 2 {ROW}: expected a number, got "
                              "'abc' (the other values of this column are numbers)")


def test_missing_values_in_numeric_column(tmp_path):
    empty = write(tmp_path, "e.csv", "a,b,label\n1,2,x\n3,,y\n5,6,x\n")
    assert error_of(empty) == (f"{empty}, column 'b', data row 2 {ROW}: missing value (empty "
                               "field); fill it in or drop the row (the other values of this "
                               "column are numbers)")
    na = write(tmp_path, "na.csv", "a,b,label\n1,2,x\n3,4,y\n5,NA,x\n")
    assert error_of(na) == (f"{na}, column 'b', data row 3 {ROW}: missing value 'NA'; fill it in "
                            "or drop the row (the other values of this column are numbers)")


def test_missing_value_in_text_column(tmp_path):
    path = write(tmp_path, "t.csv", "a,color,label\n1,red,x\n2,,y\n")
    assert error_of(path) == (f"{path}, column 'color', data row 2 {ROW}: missing value (empty "
                              "field); fill it in or drop the row")


def test_value_too_large_for_float32(tmp_path):
    path = write(tmp_path, "big.csv", "a,label\n1,x\n1e39,y\n")
    assert error_of(path) == (f"{path}, column 'a', data row 2 {ROW}: value 1e+39 is too large "
                              "for float32 (largest is about 3.4e38)")


def test_ragged_row(tmp_path):
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n")
    assert error_of(path) == (f"{path}, data row 2 {ROW}, line 3 of the file: expected 3 fields "
                              "like the header, got 2 (delimiter ',')")


def test_ragged_row_counts_data_rows_not_blank_lines(tmp_path):
    path = write(tmp_path, "r.csv", "a,b\n1,2\n\n3,4,5\n")
    assert error_of(path) == (f"{path}, data row 2 {ROW}, line 4 of the file: expected 2 fields "
                              "like the header, got 3 (delimiter ',')")


def test_row_numbers_stay_exact_in_large_files(tmp_path):
    # Several MiB, so pyarrow reads it in several blocks on several threads.
    rows = [f"{i},{i % 3}" for i in range(300_000)]
    rows[234_566] = "5,oops"
    path = write(tmp_path, "big.csv", "a,label\n" + "\n".join(rows) + "\n")
    assert error_of(path) == (f"{path}, column 'label', data row 234567 {ROW}: expected a "
                              "number, got 'oops' (the other values of this column are numbers)")
    rows[234_566] = "5,1,9"
    ragged = write(tmp_path, "ragged.csv", "a,label\n" + "\n".join(rows) + "\n")
    assert error_of(ragged).startswith(f"{ragged}, data row 234567 {ROW}, line 234568 of the "
                                       "file: expected 2 fields like the header, got 3")


def test_duplicate_and_unnamed_columns(tmp_path):
    dup = write(tmp_path, "dup.csv", "a,b,a\n1,2,3\n")
    assert error_of(dup) == (f"{dup}: column name 'a' appears twice in the header (columns 1 "
                             "and 3); column names must be unique")
    unnamed = write(tmp_path, "idx.csv", ",a,b\n0,1,2\n")
    assert error_of(unnamed) == (f"{unnamed}: column 1 has no name in the header line (an index "
                                 "column written by pandas? drop it or name it)")


def test_text_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    assert error_of(path) == (f"{path}, column 'b': cannot read as CSV: text is not valid UTF-8; "
                              "save the file as UTF-8")


def test_too_many_categories(tmp_path):
    path = write(tmp_path, "ids.csv", "id,label\nu1,0\nu2,1\nu3,0\n")
    assert error_of(path, max_categories=2) == (
        f"{path}, column 'id': 3 distinct text values (more than max_categories=2); is it an ID "
        "or free-text column? drop it")


def test_old_pyarrow_is_refused(tmp_path, monkeypatch):
    import pyarrow

    path = write(tmp_path, "d.csv", "a,b\n1,2\n")
    monkeypatch.setattr(pyarrow, "__version__", "14.0.0")
    message = error_of(path)
    assert "pyarrow 14.0.0 is installed" in message and "CVE-2023-47248" in message
    monkeypatch.setattr(pyarrow, "__version__", "14.0.1")
    assert len(load_csv(path)) == 1


def test_options_that_do_not_apply_are_refused(tmp_path):
    path = write(tmp_path, "d.csv", "a,b\n1,2\n")
    assert error_of(path, seed=0) == f"{path}: seed=0 does not apply to csv data"
    assert error_of(path, split="test") == f"{path}: split='test' does not apply to csv data"
