"""A validating safetensors reader and writer (the format of model files and checkpoints).

The format is simple enough to read and write here directly, which lets `load_tensors` check
every byte of a file before any array exists; tests/io/test_safetensors_interop.py proves the
files are interchangeable with the reference `safetensors` library (a test dependency only).

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header length
``N``, ``N`` bytes of UTF-8 JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]},
"__metadata__": {str: str}}``, then the byte buffer, which the tensors must cover exactly.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import types
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from gradkit._atomic import atomic_write
from gradkit.errors import ModelFileError

__all__ = ["save_tensors", "load_tensors", "DTYPES", "MAX_HEADER_BYTES"]

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's limit too

# safetensors dtype name -> little-endian NumPy dtype (the set the safetensors NumPy binding knows).
DTYPES: Mapping[str, np.dtype] = types.MappingProxyType({
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
})
_DTYPE_NAMES = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}

_METADATA_KEY = "__metadata__"
_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_PICKLE_PREFIXES = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP_PREFIX = b"PK\x03\x04"
_NPY_PREFIX = b"\x93NUMPY"


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` and string ``metadata`` to ``path`` as a safetensors file, atomically.

    Tensors are laid out in name order; the header is padded with spaces to a multiple of 8 bytes
    so every tensor starts aligned, as the reference implementation does.

    Args:
        path: the file to write.
        tensors: name -> array of one of the dtypes in ``DTYPES``.
        metadata: str -> str (default: none).
    """
    arrays = _check_tensors_to_save(tensors)
    header: dict[str, Any] = {}
    meta = _check_metadata_to_save(metadata)
    if meta:
        header[_METADATA_KEY] = meta
    offset = 0
    for name, (dtype_name, arr) in arrays.items():
        header[name] = {
            "dtype": dtype_name,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    header_bytes = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    def write(f: IO[bytes]) -> None:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for _, arr in arrays.values():
            # reshape(-1) of a contiguous array is a view, so large tensors are not copied again.
            f.write(arr.reshape(-1).view(np.uint8))

    atomic_write(path, write)


def _check_tensors_to_save(tensors: Mapping[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    if not isinstance(tensors, Mapping):
        raise TypeError(
            f"tensors must be a dict of name -> numpy array, got {type(tensors).__name__}"
        )
    for name in tensors:
        if not isinstance(name, str) or name == _METADATA_KEY:
            raise ValueError(
                f"tensor names must be strings other than {_METADATA_KEY!r}, got {name!r}"
            )
    arrays = {}
    for name in sorted(tensors):
        arr = tensors[name]
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"tensor {name!r} must be a numpy array, got {type(arr).__name__}")
        dtype_name = _DTYPE_NAMES.get((arr.dtype.kind, arr.dtype.itemsize))
        if dtype_name is None:
            raise ValueError(
                f"tensor {name!r} has dtype {arr.dtype}, which safetensors cannot store; "
                f"expected one of {', '.join(str(d) for d in DTYPES.values())}"
            )
        # Little-endian, and a plain ndarray (a subclass such as np.matrix would not flatten).
        data = np.asarray(arr).astype(DTYPES[dtype_name], copy=False)
        if not data.flags.c_contiguous:
            data = data.copy(order="C")  # not np.ascontiguousarray: it turns 0-d arrays into 1-d
        arrays[name] = (dtype_name, data)
    return arrays


def _check_metadata_to_save(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict of str -> str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"metadata must map str -> str, got {key!r}: {type(value).__name__} "
                "(serialize other values, e.g. with json.dumps)"
            )
    return dict(metadata)


# --------------------------------------------------------------------------- safetensors: read


def load_tensors(
    path: str | os.PathLike, *, max_header_bytes: int = MAX_HEADER_BYTES
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file into owned NumPy arrays, refusing anything malformed.

    Nothing in the file is ever executed: the whole header is validated (dtypes, shapes, offsets
    within the file, no overlap, buffer covered exactly, metadata str -> str) before any tensor
    byte is read, and pickles / PyTorch zip files are named as such.

    Args:
        path: the file to read.
        max_header_bytes: largest JSON header accepted (default 100 MiB).

    Returns:
        ``(tensors, metadata)``: name -> array (native byte order, in header order), str -> str.

    Raises:
        ModelFileError: the message names the file and what is wrong with it.
    """
    if not isinstance(max_header_bytes, int) or max_header_bytes < 2:
        raise ValueError(f"max_header_bytes must be an integer >= 2, got {max_header_bytes!r}")
    name = os.fspath(path)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below, after fstat decides it is a file
    except FileNotFoundError:
        raise ModelFileError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"{name}: is a directory, not a safetensors file") from None
    except OSError as e:
        raise ModelFileError(f"{name}: cannot be opened ({e.strerror or e})") from None
    with f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(f"{name}: is not a regular file")
        try:
            return _read(f, name, st.st_size, max_header_bytes)
        except OSError as e:
            raise ModelFileError(f"{name}: read failed ({e.strerror or e})") from None


def _read(f: IO[bytes], name: str, size: int, max_header: int) -> tuple[dict, dict]:
    def refuse(problem: str) -> ModelFileError:
        return ModelFileError(f"{name}: {problem}")

    prefix = f.read(9)
    if size == 0 or not prefix:
        raise refuse("file is empty, not a safetensors file")
    n = int.from_bytes(prefix[:8], "little") if len(prefix) >= 8 else None
    plausible = n is not None and len(prefix) == 9 and prefix[8:9] == b"{" and n <= size - 8
    # Checked after the plausibility test: a 640-byte safetensors header begins with b"\x80\x02".
    if not plausible and (prefix.startswith(_PICKLE_PREFIXES) or prefix.startswith(_ZIP_PREFIX)):
        kind = "zip archive" if prefix.startswith(_ZIP_PREFIX) else "pickle protocol"
        raise refuse(
            f"is a pickle/PyTorch file, which gradkit never loads (found a {kind} signature); "
            "only .safetensors files are accepted"
        )
    if prefix.startswith(_NPY_PREFIX):
        raise refuse("is a NumPy .npy file, not a safetensors file")
    if n is None:
        raise refuse(f"file is {size} bytes, shorter than the 8-byte safetensors header length")
    if n > max_header:
        raise refuse(f"header length {n} bytes exceeds the limit of {max_header} bytes")
    if n > size - 8:
        raise refuse(
            f"header length {n} bytes is larger than the rest of the file ({size - 8} bytes)"
        )
    f.seek(8)
    raw = f.read(n)
    if len(raw) != n:
        raise refuse("file was truncated while reading the header")
    header = _parse_header(raw, refuse)
    metadata = _check_metadata(header.pop(_METADATA_KEY, None), refuse)
    buffer_len = size - 8 - n
    entries = [_check_entry(t, info, buffer_len, refuse) for t, info in header.items()]
    _check_coverage(entries, buffer_len, refuse)
    # Each tensor is read straight into its own array: owned memory, no second copy of the file.
    tensors = {}
    for t, dtype, shape, begin, end in entries:
        try:
            arr = np.empty(shape, dtype=dtype)
        except (ValueError, MemoryError) as e:
            raise refuse(f"tensor {t!r}: shape {shape} cannot be allocated ({e})") from None
        f.seek(8 + n + begin)
        if f.readinto(arr.reshape(-1).view(np.uint8)) != end - begin:
            raise refuse(f"file was truncated while reading tensor {t!r}")
        if dtype.kind == "b" and arr.view(np.uint8).max(initial=0) > 1:
            raise refuse(f"tensor {t!r}: BOOL data holds bytes other than 0 and 1")
        tensors[t] = arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))
    return tensors, metadata


def _parse_header(raw: bytes, refuse: Callable[[str], ModelFileError]) -> dict:
    # The reference implementation also requires the header to open with "{".
    if not raw.startswith(b"{"):
        raise refuse("header is not a JSON object (it does not start with '{')")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse(f"header is not valid UTF-8 ({e.reason} at byte {8 + e.start})") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            dup = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
            raise refuse(f"header has the key {dup!r} more than once")
        return obj

    def no_constant(token: str) -> None:
        raise refuse(f"header is not valid JSON ({token} is not JSON)")

    try:
        header = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except ModelFileError:
        raise  # from the hooks above, already worded
    except RecursionError:
        raise refuse("header is not valid JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError, and ints too long to convert
        raise refuse(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise refuse(f"header is not a JSON object, got {type(header).__name__}")
    return header


def _check_metadata(meta: Any, refuse: Callable[[str], ModelFileError]) -> dict[str, str]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise refuse(f"{_METADATA_KEY} must be an object of str -> str, got {type(meta).__name__}")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise refuse(
                f"{_METADATA_KEY} must map str -> str, got {key!r}: {type(value).__name__}"
            )
    return meta


def _check_entry(
    t: str, info: Any, buffer_len: int, refuse: Callable[[str], ModelFileError]
) -> tuple[str, np.dtype, tuple[int, ...], int, int]:
    if not isinstance(info, dict):
        raise refuse(f"tensor {t!r}: entry must be an object, got {type(info).__name__}")
    if set(info) != _TENSOR_KEYS:
        missing, extra = sorted(_TENSOR_KEYS - set(info)), sorted(set(info) - _TENSOR_KEYS)
        raise refuse(f"tensor {t!r}: entry must have keys {sorted(_TENSOR_KEYS)}, "
                     f"missing {missing}, unexpected {extra}")
    dtype = DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
    if dtype is None:
        raise refuse(f"tensor {t!r}: unknown dtype {info['dtype']!r}, expected one of "
                     f"{', '.join(DTYPES)}")
    shape = info["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and 0 <= d <= sys.maxsize for d in shape):
        raise refuse(f"tensor {t!r}: shape must be a list of non-negative integers, got {shape!r}")
    offsets = info["data_offsets"]
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_int, offsets))
            or not 0 <= offsets[0] <= offsets[1]):
        raise refuse(f"tensor {t!r}: data_offsets must be two integers 0 <= begin <= end, "
                     f"got {offsets!r}")
    begin, end = offsets
    expected = math.prod(shape) * dtype.itemsize
    if end - begin != expected:
        raise refuse(f"tensor {t!r}: data_offsets {offsets} span {end - begin} bytes, but "
                     f"{info['dtype']} {shape} needs {expected}")
    if end > buffer_len:
        raise refuse(f"tensor {t!r}: data_offsets {offsets} are out of range of the "
                     f"{buffer_len}-byte data buffer (file truncated?)")
    return t, dtype, tuple(shape), begin, end


def _check_coverage(
    entries: list, buffer_len: int, refuse: Callable[[str], ModelFileError]
) -> None:
    # The spec requires the tensors to tile the buffer exactly: no overlap, no gap, no trailing
    # bytes (the reference implementation refuses all three too).
    cursor, previous = 0, None
    for t, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin < cursor:
            raise refuse(f"tensors {previous[0]!r} and {t!r} overlap (bytes "
                         f"[{previous[3]}, {previous[4]}) and [{begin}, {end}))")
        if begin > cursor:
            raise refuse(f"data buffer has a gap of unused bytes [{cursor}, {begin}) before "
                         f"tensor {t!r}")
        cursor, previous = end, (t, None, None, begin, end)
    if cursor != buffer_len:
        raise refuse(f"data buffer has {buffer_len - cursor} trailing bytes after the last tensor "
                     f"(the tensors cover {cursor} of {buffer_len} bytes)")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)  # JSON true/false parse as bool
