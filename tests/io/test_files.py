"""Tests of gradkit._atomic (atomic writes) and gradkit._safetensors (a reader that refuses
malicious files)."""

import json
import os
import pathlib
import pickle
import stat
import struct
import zipfile

import numpy as np
import pytest

from gradkit._atomic import (atomic_open, atomic_write, atomic_write_bytes, atomic_write_text,
                             remove_stale_temps)
from gradkit._safetensors import load_tensors, save_tensors
from gradkit.errors import GradkitError, ModelFileError


def raw_file(header, buffer=b"", *, length=None):
    """A safetensors file built by hand; header is a dict (JSON-encoded) or raw bytes."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(head) if length is None else length
    return struct.pack("<Q", n) + head + buffer


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def listing(directory):
    return sorted(os.listdir(directory))


# --------------------------------------------------------------------------- round trip


def test_round_trip_dtypes_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "dense.W": rng.standard_normal((3, 4)).astype(np.float32),
        "dense.b": rng.standard_normal(4),  # float64
        "steps": np.arange(-5, 5, dtype=np.int64).reshape(2, 5),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "mask": np.array([True, False, True]),
        "half": np.array([1.5, -2.0], dtype=np.float16),
        "bytes": np.arange(7, dtype=np.uint8),
    }
    metadata = {"config": json.dumps({"layers": [1, 2]}), "format_version": "1", "ünï": "cödé"}
    path = tmp_path / "model.safetensors"
    save_tensors(path, tensors, metadata)
    loaded, meta = load_tensors(path)
    assert meta == metadata
    assert set(loaded) == set(tensors)
    for name, arr in tensors.items():
        assert loaded[name].dtype == arr.dtype, name
        assert loaded[name].shape == arr.shape, name
        np.testing.assert_array_equal(loaded[name], arr)
    assert listing(tmp_path) == ["model.safetensors"]


def test_loaded_arrays_are_owned_writable_copies(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tensors(str(path), {"w": np.ones((2, 3), dtype=np.float32)}, {})
    loaded, _ = load_tensors(str(path))
    w = loaded["w"]
    assert w.flags.owndata and w.flags.writeable and w.base is None
    assert not isinstance(w, np.memmap)
    w[0, 0] = 7.0
    os.remove(path)  # the array must not depend on the file
    assert w[0, 0] == 7.0 and w[1, 2] == 1.0


def test_save_accepts_non_contiguous_and_big_endian(tmp_path):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    tensors = {"t": base.T, "be": base.astype(">f4")}
    save_tensors(tmp_path / "m.safetensors", tensors)
    loaded, meta = load_tensors(tmp_path / "m.safetensors")
    assert meta == {}
    np.testing.assert_array_equal(loaded["t"], base.T)
    assert loaded["be"].dtype == np.float32 and loaded["be"].dtype.isnative
    np.testing.assert_array_equal(loaded["be"], base)


def test_interoperates_with_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
    ours = tmp_path / "ours.safetensors"
    save_tensors(ours, tensors, {"k": "v"})
    for name, arr in st.load_file(str(ours)).items():
        np.testing.assert_array_equal(arr, tensors[name])
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(tensors, str(theirs), metadata={"k": "v"})
    loaded, meta = load_tensors(theirs)
    assert meta == {"k": "v"}
    for name, arr in tensors.items():
        np.testing.assert_array_equal(loaded[name], arr)


def test_a_header_length_that_looks_like_a_pickle_opcode_still_loads(tmp_path):
    # A 640-byte header is written as b"\x80\x02\0\0\0\0\0\0": the pickle check must not fire.
    head = json.dumps({"x": entry("F32", [2], 0, 8)}).encode()
    head += b" " * (640 - len(head))
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw_file(head, np.array([1, 2], "<f4").tobytes()))
    assert path.read_bytes()[:2] == b"\x80\x02"
    loaded, _ = load_tensors(path)
    np.testing.assert_array_equal(loaded["x"], [1.0, 2.0])


def test_file_with_no_tensors_round_trips(tmp_path):
    save_tensors(tmp_path / "m.safetensors", {}, {"only": "metadata"})
    assert load_tensors(tmp_path / "m.safetensors") == ({}, {"only": "metadata"})


@pytest.mark.parametrize(
    "tensors, metadata, error",
    [
        ({"x": [1.0, 2.0]}, {}, TypeError),
        ({"x": np.zeros(2, np.complex128)}, {}, ValueError),
        ({"x": np.array(["a"])}, {}, ValueError),
        ({"__metadata__": np.zeros(2)}, {}, ValueError),
        ({1: np.zeros(2)}, {}, ValueError),
        ({"x": np.zeros(2)}, {"epochs": 5}, TypeError),
    ],
)
def test_save_rejects_what_safetensors_cannot_hold(tmp_path, tensors, metadata, error):
    path = tmp_path / "m.safetensors"
    with pytest.raises(error):
        save_tensors(path, tensors, metadata)
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_keeps_old_file_when_write_fn_raises(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old content")

    def half_write(f):
        f.write(b"new content, half of it")
        f.flush()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(path, half_write)
    assert path.read_bytes() == b"old content"
    assert listing(tmp_path) == ["model.safetensors"]


def test_atomic_write_creates_nothing_when_write_fn_raises(tmp_path):
    with pytest.raises(KeyError):
        atomic_write(tmp_path / "new.bin", lambda f: (f.write(b"x"), {}["missing"]))
    assert listing(tmp_path) == []


def test_atomic_open_cleans_up_when_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def failing_replace(src, dst):
        raise OSError("simulated rename failure")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert listing(tmp_path) == ["a.txt"]


def test_save_tensors_failure_leaves_old_model(tmp_path):
    path = tmp_path / "model.safetensors"
    save_tensors(path, {"w": np.ones(3, np.float32)}, {"v": "1"})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_tensors(path, {"w": np.zeros(3, np.float32)}, {"v": 2})
    assert path.read_bytes() == before
    assert listing(tmp_path) == ["model.safetensors"]


def test_atomic_helpers_write_and_replace(tmp_path):
    path = tmp_path / "f"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write_text(path, "línea 1\nline 2\r\n")
    assert path.read_bytes() == "línea 1\nline 2\r\n".encode()
    with atomic_open(path, "w") as f:
        f.write("text mode")
    assert path.read_text() == "text mode"
    assert atomic_write(path, lambda f: f.write(b"abc")) == 3
    assert path.read_bytes() == b"abc"
    assert listing(tmp_path) == ["f"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_atomic_write_keeps_permissions_of_replaced_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"new")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_atomic_open_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "f", "ab"):
            pass
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------- malicious files


class MakesMarker:
    """Unpickling this would create the marker file: the proof that a loader ran the file's code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_pickle_payload_is_refused_and_never_run(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(MakesMarker(str(marker)), protocol=protocol)  # written, never loaded
    assert b"touch" in payload
    for name in ("model.pkl", "model.safetensors"):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(ModelFileError, match="is a pickle/PyTorch file, which gradkit never"):
            load_tensors(path)
    assert not marker.exists()


def test_torch_style_zip_archive_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as z:  # what torch.save writes: a zip holding data.pkl
        z.writestr("archive/data.pkl", pickle.dumps(MakesMarker(str(marker)), protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(ModelFileError, match="is a pickle/PyTorch file") as info:
        load_tensors(path)
    assert "zip" in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def _valid_two_tensors():
    a, b = np.arange(4, dtype="<f4"), np.arange(2, dtype="<i8")
    header = {"a": entry("F32", [4], 0, 16), "b": entry("I64", [2], 16, 32),
              "__metadata__": {"k": "v"}}
    return header, a.tobytes() + b.tobytes()


def _truncated_data():
    return raw_file(*_valid_two_tensors())[:-5]


def _truncated_header():
    full = raw_file(*_valid_two_tensors())
    return full[: 8 + 20]


MALICIOUS = {
    "empty": (b"", "file is empty"),
    "shorter_than_8": (b"\x10\x00\x00", "shorter than the 8-byte"),
    "truncated_in_data": (_truncated_data(), r"tensor 'b'.*out of range.*truncated"),
    "truncated_in_header": (_truncated_header(),
                            "header length .* larger than the rest of the file"),
    "header_claims_10GB": (raw_file(b"{}", length=10 * 10**9), "exceeds the limit"),
    "header_claims_2**64-1": (b"\xff" * 8 + b"{}", "exceeds the limit"),
    "not_json": (raw_file(b"{this is not json"), "header is not valid JSON"),
    "json_not_object": (raw_file(b"[1, 2, 3]"), "header is not a JSON object"),
    "not_utf8": (raw_file(b'{"\xff\xfe": 1}'), "header is not valid UTF-8"),
    "json_nan": (raw_file(b'{"__metadata__": {"a": NaN}}'), r"\(NaN is not JSON\)$"),
    "deeply_nested": (raw_file(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
                      "not valid JSON"),
    "duplicate_key": (raw_file(b'{"a": {}, "a": {}}'), "header has the key 'a' more than once$"),
    "bad_dtype": (raw_file({"a": entry("PYOBJ", [1], 0, 8)}, bytes(8)), "unknown dtype 'PYOBJ'"),
    "bf16_unsupported": (raw_file({"a": entry("BF16", [1], 0, 2)}, bytes(2)), "unknown dtype"),
    "shape_negative": (raw_file({"a": entry("F32", [-1], 0, 4)}, bytes(4)),
                       "shape must be a list of non-negative integers"),
    "shape_float": (raw_file({"a": entry("F32", [1.0], 0, 4)}, bytes(4)), "shape must be a list"),
    "shape_bool": (raw_file({"a": entry("F32", [True], 0, 4)}, bytes(4)), "shape must be a list"),
    "shape_not_list": (raw_file({"a": entry("F32", 4, 0, 16)}, bytes(16)), "shape must be a list"),
    "offsets_reversed": (raw_file({"a": entry("F32", [1], 4, 0)}, bytes(4)),
                         "data_offsets must be two integers 0 <= begin <= end"),
    "offsets_three": (raw_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}},
                               bytes(4)), "data_offsets must be two integers"),
    "offsets_negative": (raw_file({"a": entry("F32", [1], -4, 0)}, bytes(4)), "data_offsets must"),
    "byte_count_mismatch": (raw_file({"a": entry("F32", [3], 0, 8)}, bytes(8)),
                            "span 8 bytes, but F32 \\[3\\] needs 12"),
    "huge_shape_small_file": (raw_file({"a": entry("F64", [2**40, 2**20], 0, 8)}, bytes(8)),
                              "needs 9223372036854775808"),
    "too_many_dims": (raw_file({"a": entry("U8", [1] * 100, 0, 1)}, b"\x00"), "cannot be allocated"),
    "out_of_range": (raw_file({"a": entry("F32", [4], 0, 16)}, bytes(8)), "out of range"),
    "out_of_range_far": (raw_file({"a": entry("U8", [8], 2**62, 2**62 + 8)}, bytes(8)),
                         "out of range"),
    "overlap": (raw_file({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, bytes(12)),
                r"tensors 'a' and 'b' overlap"),
    "same_bytes_twice": (raw_file({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 0, 8)},
                                  bytes(8)), "overlap"),
    "gap": (raw_file({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, bytes(12)),
            "gap of unused bytes \\[4, 8\\)"),
    "gap_at_start": (raw_file({"a": entry("F32", [1], 4, 8)}, bytes(8)), "gap of unused bytes"),
    "trailing_garbage": (raw_file(*_valid_two_tensors()) + b"#!/bin/sh rm -rf",
                         "16 trailing bytes"),
    "metadata_not_object": (raw_file({"__metadata__": ["a"]}), "__metadata__ must be an object"),
    "metadata_non_str_value": (raw_file({"__metadata__": {"epochs": 5}}),
                               "must map str -> str, got 'epochs': int"),
    "entry_not_object": (raw_file({"a": [0, 4]}, bytes(4)), "entry must be an object"),
    "entry_missing_key": (raw_file({"a": {"dtype": "F32", "shape": [1]}}, bytes(4)),
                          "missing \\['data_offsets'\\]"),
    "entry_extra_key": (raw_file({"a": {**entry("F32", [1], 0, 4), "loader": "x"}}, bytes(4)),
                        "unexpected \\['loader'\\]"),
    "bool_bytes_not_0_1": (raw_file({"a": entry("BOOL", [2], 0, 2)}, b"\x01\x07"),
                           "BOOL data holds bytes other than 0 and 1"),
    "npy_file": (b"\x93NUMPY\x01\x00v\x00{'descr': '|O'}", "is a NumPy .npy file"),
    "tiny_pickle": (pickle.dumps(None, protocol=2), "is a pickle/PyTorch file"),
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_file_is_refused(tmp_path, name):
    content, message = MALICIOUS[name]
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as info:
        load_tensors(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert isinstance(info.value, GradkitError) and isinstance(info.value, ValueError)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="nope.safetensors: file not found"):
        load_tensors(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_tensors(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_non_regular_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    # Hold a writer end, so that opening the pipe for reading does not block.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(ModelFileError, match="not a regular file"):
            load_tensors(fifo)
    finally:
        os.close(fd)


def test_max_header_bytes_is_enforced(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tensors(path, {"w": np.zeros(3, np.float32)}, {"note": "x" * 1000})
    load_tensors(path, max_header_bytes=4096)
    with pytest.raises(ModelFileError, match="exceeds the limit of 100 bytes"):
        load_tensors(path, max_header_bytes=100)
    with pytest.raises(ValueError, match="max_header_bytes"):
        load_tensors(path, max_header_bytes=0)


def test_valid_file_in_the_corpus_loads(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw_file(*_valid_two_tensors()))
    tensors, metadata = load_tensors(path)
    assert metadata == {"k": "v"}
    assert list(tensors) == ["a", "b"]
    np.testing.assert_array_equal(tensors["a"], np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(tensors["b"], np.arange(2, dtype=np.int64))


def test_zero_size_tensors_may_share_an_offset(tmp_path):
    header = {"e1": entry("F32", [0], 0, 0), "e2": entry("I64", [0, 5], 0, 0),
              "a": entry("U8", [2], 0, 2)}
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw_file(header, b"\x01\x02"))
    tensors, _ = load_tensors(path)
    assert tensors["e2"].shape == (0, 5) and tensors["a"].tolist() == [1, 2]


def test_atomic_open_refuses_a_target_that_is_no_regular_file(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="is a FIFO, not a regular file"):
        atomic_write_text(fifo, "x")
    with pytest.raises(FileExistsError, match="is a directory, not a regular file"):
        atomic_write_text(tmp_path, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_temp_names_its_writer_so_only_a_dead_writers_temp_is_removed(tmp_path):
    with atomic_open(tmp_path / "f.bin") as f:
        (name,) = [p.name for p in tmp_path.iterdir()]
        assert name.startswith(f".f.bin.{os.getpid()}.") and name.endswith(".tmp")
        assert remove_stale_temps(tmp_path) == []           # this process is writing it
        f.write(b"x")
    assert (tmp_path / "f.bin").read_bytes() == b"x"
    (tmp_path / ".f.bin.999999999.0123456789ab.tmp").write_bytes(b"")
    assert remove_stale_temps(tmp_path) == [".f.bin.999999999.0123456789ab.tmp"]
    assert remove_stale_temps(tmp_path / "missing") == []
