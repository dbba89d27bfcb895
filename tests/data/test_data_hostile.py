"""Hostile and careless data files (issue 17, classes 3 and 4): only regular files are read, a
long header or field reads, a decimal comma is never silently a category, a column named "1"
wins over index 1, and what would not fit in memory is refused before it is allocated."""

import gzip
import io
import os
import struct
import threading
import time
import zipfile

import numpy as np
import pytest

from gradkit.data import load
from gradkit.data.idx import read_idx
from gradkit.errors import DataError


def error_of(fn, *args, **kw):
    with pytest.raises(DataError) as info:
        fn(*args, **kw)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


# --------------------------------------------------------------------------- regular files


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz", "data.parquet", "data.npz",
                                  "X.npy"])
def test_a_fifo_is_refused_at_once(tmp_path, name):
    os.mkfifo(tmp_path / name)
    result = {}
    # Opening a FIFO without a writer blocks forever: run it where a hang cannot stop the suite.
    thread = threading.Thread(target=lambda: result.update(
        message=error_of(load, tmp_path / name)), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "load() blocked on a FIFO"
    assert result["message"] == f"{tmp_path / name}: is a named pipe (FIFO), not a regular " \
        "file; gradkit reads data only from regular files (save the data to a file first)"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_behind_a_data_name_is_refused(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist on this system")
    os.symlink(device, tmp_path / "data.csv")
    start = time.monotonic()
    assert "is a character device, not a regular file" in error_of(load, tmp_path / "data.csv")
    assert time.monotonic() - start < 1


def test_a_symlink_to_a_regular_file_is_fine(tmp_path):
    (tmp_path / "real.csv").write_text("a,b\n1,0\n2,1\n")
    os.symlink(tmp_path / "real.csv", tmp_path / "link.csv")
    assert load(tmp_path / "link.csv").X.shape == (2, 1)


# --------------------------------------------------------------------------- odd CSV text


def test_a_header_longer_than_the_sniffer_sample(tmp_path):
    names = [f"feature_{i:06d}" for i in range(6000)]          # ~90 KB of header
    rows = [",".join(str((i + j) % 3) for j in range(6000)) for i in range(4)]
    (tmp_path / "wide.csv").write_text(",".join(names) + "\n" + "\n".join(rows) + "\n")
    ds = load(tmp_path / "wide.csv")
    assert ds.X.shape == (4, 5999) and ds.feature_names[-1] == "feature_005998"


def test_a_five_megabyte_field(tmp_path):
    (tmp_path / "big.csv").write_text("note,x,label\n" + "n" * 5_000_000 + ",1,0\nshort,2,1\n")
    ds = load(tmp_path / "big.csv")
    assert ds.X.shape == (2, 3) and ds.categories["note"][0] == "n" * 5_000_000


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\n\n", b"   \n"])
def test_a_file_of_only_a_byte_order_mark_is_empty(tmp_path, content):
    (tmp_path / "bom.csv").write_bytes(content)
    assert error_of(load, tmp_path / "bom.csv") == \
        f"{tmp_path / 'bom.csv'}: empty file; expected a header line and data rows"


def test_a_column_named_1_wins_over_index_1(tmp_path):
    (tmp_path / "t.csv").write_text("0,1,2\n9,a,0.5\n8,b,1.5\n7,a,2.5\n")
    assert load(tmp_path / "t.csv", target="1").class_names == ["a", "b"]
    assert load(tmp_path / "t.csv", target=1).class_names == ["a", "b"]
    (tmp_path / "u.csv").write_text("x,y,z\n9,a,0.5\n8,b,1.5\n7,a,2.5\n")
    assert load(tmp_path / "u.csv", target="1").class_names == ["a", "b"]   # index: no name


@pytest.mark.parametrize("text, shown", [
    ("a;b;label\n1,5;2;0\n2,25;3;1\n-0,5;1;0\n", "'1,5'"),              # decimal comma
    ('a,b,label\n"1,234",2,0\n"12,000",3,1\n"999",1,0\n', "'1,234'"),    # thousands
    ("a;b;label\n1 234;2;0\n5 678,5;3;1\n17;1;0\n", "'1 234'"),          # spaced thousands
])
def test_numbers_in_a_locale_format_are_refused_with_a_hint(tmp_path, text, shown):
    (tmp_path / "n.csv").write_text(text)
    message = error_of(load, tmp_path / "n.csv")
    assert message.startswith(f"{tmp_path / 'n.csv'}, column 'a', data row 1")
    assert f"{shown} looks like a number written with a decimal comma or a thousands " \
           "separator" in message and "1,5 -> 1.5" in message


def _column_a(values):
    return "a,b,label\n" + "".join(f'"{v}",{i},{i % 2}\n' for i, v in enumerate(values))


@pytest.mark.parametrize("values, shown, what, hint", [
    ([f"${i}.50" for i in range(12)], "'$0.50'", "a currency sign", "$0.50 -> 0.50"),
    ([f"{i}%" for i in range(12)], "'0%'", "a percent sign", "12% -> 12"),
    ([f"\u2212{i}.5" for i in range(12)], "'\u22120.5'", "a typographic minus", "-> -1.5"),
    ([f"({i}.5)" for i in range(12)], "'(0.5)'", "accounting parentheses", "(1.5) -> -1.5"),
    ([f"{i}kg" for i in range(12)], "'0kg'", "a unit ('kg')", "12kg -> 12"),
    (["$1,234.50", "n/a", *[f"\u20ac{i}" for i in range(10)]], "'$1,234.50'",
     "a currency sign", "strip the sign"),
])
def test_numbers_with_a_symbol_or_unit_are_refused_with_a_hint(tmp_path, values, shown, what,
                                                                 hint):
    (tmp_path / "n.csv").write_text(_column_a(values), encoding="utf-8")
    message = error_of(load, tmp_path / "n.csv")
    assert message.startswith(f"{tmp_path / 'n.csv'}, column 'a', data row 1")
    assert f"{shown} looks like a number written with {what}" in message and hint in message


@pytest.mark.parametrize("values", [
    ["A1", "B2", "C3", "D4", "E5", "F6", "G7", "H8", "I9", "J10", "A1", "B2"],
    ["XL", "S", "M", "L", "XS", "XXL", "M", "L", "S", "XL", "M", "L"],
    ["2WD", "4WD", "2WD", "4WD", "AWD", "2WD", "4WD", "2WD", "4WD", "2WD", "4WD", "2WD"],
    ["320i", "328i", "330i", "335i", "340i", "320i", "328i", "330i", "335i", "340i"],
    [f"{1000 + i}{c}Z" for i, c in enumerate("ABCDEFGHIJKL")],          # postcodes
    ["1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th"],
    ["(a)", "(b)", "(see)", "ok", "(a)", "(b)", "(see)", "ok", "(a)", "(b)"],
])
def test_codes_that_hold_digits_stay_categories(tmp_path, values):
    (tmp_path / "c.csv").write_text(_column_a(values))
    assert load(tmp_path / "c.csv").categories["a"] == sorted(set(values))


def test_a_target_in_decimal_comma_is_not_read_as_classes(tmp_path):
    (tmp_path / "t.csv").write_text("a;price\n1;1,5\n2;2,25\n3;3,75\n")
    assert "column 'price'" in error_of(load, tmp_path / "t.csv")


def test_text_that_only_contains_commas_is_still_text(tmp_path):
    (tmp_path / "t.csv").write_text('city,x,label\n"Paris, FR",1,0\n"Rome, IT",2,1\n')
    assert load(tmp_path / "t.csv").categories["city"] == ["Paris, FR", "Rome, IT"]


# --------------------------------------------------------------------------- resources


@pytest.fixture
def budget(monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "64M")


def test_a_csv_gz_bomb_is_refused_while_counting(tmp_path, budget):
    with gzip.open(tmp_path / "bomb.csv.gz", "wb", compresslevel=9) as f:
        f.write(b"a,b\n")
        for _ in range(40):
            f.write(b"1,2\n" * 250_000)                         # 40 MB of text
    assert os.path.getsize(tmp_path / "bomb.csv.gz") < 200_000
    message = error_of(load, tmp_path / "bomb.csv.gz")
    assert "bomb.csv.gz: reading more than" in message
    assert "more than the memory budget of 64.0 MiB (set by GRADKIT_MEMORY_LIMIT" in message


def test_a_npz_bomb_is_refused_before_decompressing(tmp_path, budget):
    np.savez_compressed(tmp_path / "bomb.npz", X=np.zeros((5000, 5000), np.float32),
                        y=np.zeros(5000, np.int64))
    assert os.path.getsize(tmp_path / "bomb.npz") < 200_000
    assert "reading the arrays (X (5000, 5000) float32, y (5000,) int64) needs about " \
           "190.8 MiB" in error_of(load, tmp_path / "bomb.npz")


def npy_header(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_array_headers_that_claim_a_trillion_elements(tmp_path):
    header = npy_header((1_000_000, 1_000_000))
    (tmp_path / "big_X.npy").write_bytes(header + bytes(64))
    assert "its header claims shape (1000000, 1000000) of float32, 4,000,000,000,000 bytes, " \
           "but the file holds 64 bytes" in error_of(load, tmp_path / "big_X.npy")
    with zipfile.ZipFile(tmp_path / "big.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("X.npy", header + bytes(64))
    assert "but the archive records 64 bytes for it" in error_of(load, tmp_path / "big.npz")


def test_an_idx_gz_whose_header_claims_too_much(tmp_path, budget):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 100_000, 28, 28)
    (tmp_path / "images.gz").write_bytes(gzip.compress(header + bytes(1000)))
    assert "the header's 100000x28x28 uint8 values needs about 373.8 MiB" in \
        error_of(read_idx, tmp_path / "images.gz")


def test_an_idx_label_of_2_31_minus_1(tmp_path):
    images = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 4, 2, 2) + bytes(16)
    labels = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 4) + struct.pack(">4i", 0, 1, 2,
                                                                         2**31 - 1)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    start = time.monotonic()
    message = error_of(load, tmp_path)
    assert "the largest label 2,147,483,647 means 2,147,483,648 classes" in message
    assert time.monotonic() - start < 2
