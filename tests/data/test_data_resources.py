"""Tables whose encoding would need far more memory than the file's size: refused against the
memory budget before the allocation, or encoded without the blow-up; a line too long to be
a row, refused with its number."""

import gzip

import numpy as np
import pytest

from gradkit.data import csvfile, load_csv
from gradkit.errors import DataError


def test_one_hot_width_is_checked_against_the_budget(tmp_path, monkeypatch):
    # 20 text columns x 500 values x 2,000 rows: 160 MB of features from a file of 300 KB.
    rng = np.random.default_rng(0)
    cols = [rng.integers(0, 500, 2000) for _ in range(20)]
    lines = [",".join(f"c{i}" for i in range(20)) + ",y"]
    lines += [",".join(f"v{c[r]}" for c in cols) + f",{r % 2}" for r in range(2000)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "64M")
    with pytest.raises(DataError, match=r"wide.csv: the features \(2,000 rows x \d{1,3}(,\d{3})* "
                                        r"columns, 20 text columns one-hot encoded\).*budget"):
        load_csv(path)
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    ds = load_csv(path)
    assert ds.X.shape[0] == 2000 and ds.X.sum() == 2000 * 20


def test_one_long_text_field_does_not_size_every_cell(tmp_path):
    # As fixed-width unicode, 300 cells of the longest field's width: 300 x 2 MB x 4 bytes.
    path = tmp_path / "long.csv"
    rows = ["a,y", "x" * 2_000_000 + ",0"] + [f"v{i % 3},{i % 2}" for i in range(299)]
    path.write_text("\n".join(rows) + "\n")
    ds = load_csv(path)
    assert ds.X.shape == (300, 4)
    assert ds.categories["a"][-1] == "x" * 2_000_000
    assert ds.X[0].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_a_line_longer_than_the_limit_is_refused_with_its_number(tmp_path, monkeypatch):
    # The real limit is 256 MiB (pyarrow's block size is a 32-bit int); 2 MiB stands for it.
    monkeypatch.setattr(csvfile, "MAX_LINE_BYTES", 2 << 20)
    path = tmp_path / "long.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"a,y\n1,0\n2,1\n" + b"x" * (5 << 20) + b",0\n4,1\n")
    with pytest.raises(DataError, match=r"long.csv.gz: line 4 is more than 2 MiB"):
        load_csv(path)
