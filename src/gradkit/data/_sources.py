"""The files of a streamed data set, their reading units, and record batches as small tables.

A unit is what one epoch's order shuffles: a Parquet row group or a whole CSV file (pyarrow's
CSV reader has no random access inside a file). Units are read with pyarrow.dataset fragments
(`split_by_row_group`, `Fragment.to_batches`), so the decoding runs in Arrow's C++ threads
without the GIL. Every record batch becomes a `BatchTable`: the same `column(name, expect=)`
interface as CsvTable/ParquetTable, so the in-memory loaders' checks and encoders apply to it
unchanged, with row numbers counted from the start of its file.
"""

from __future__ import annotations

import glob
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradkit.data._columns import ColumnSite, RawColumn, arrow_column, text_column
from gradkit.data._common import require_pyarrow
from gradkit.data.csvfile import _check_header, read_error, sniff
from gradkit.errors import DataError

_GLOB_CHARS = set("*?[")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")


def is_stream_source(source) -> bool:
    """Whether `source` names a glob or a folder of Parquet/CSV files (what always streams)."""
    text = str(source)
    if _GLOB_CHARS & set(text):
        return True
    path = Path(text)
    return path.is_dir() and any(_kind_of(p) for p in path.iterdir())


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    return None


def resolve_files(source) -> tuple[Path, list[Path], str]:
    """(root, files sorted by name, "parquet" or "csv") for a folder, a glob or one file.

    The root is what row identities are relative to, so moving the whole data set elsewhere
    keeps every row's split.
    """
    text = str(source)
    if _GLOB_CHARS & set(text):
        files = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if os.path.isfile(p)]
        if not files:
            raise DataError(f"{text}: no files match this pattern")
        root = Path(os.path.commonpath([str(p.parent) for p in files]))
    elif Path(text).is_dir():
        root = Path(text)
        files = sorted(p for p in root.iterdir() if p.is_file() and _kind_of(p))
        if not files:
            raise DataError(f"{text}: the folder holds no .parquet or .csv files")
    elif Path(text).is_file():
        root, files = Path(text).parent, [Path(text)]
    else:
        raise DataError(f"{text}: no such file or folder")
    kinds = {_kind_of(p) for p in files}
    if None in kinds:
        odd = next(p for p in files if _kind_of(p) is None)
        raise DataError(f"{odd}: not a .parquet or .csv file; a streamed data set is made of "
                        "Parquet or CSV files only")
    if len(kinds) > 1:
        raise DataError(f"{text}: mixes Parquet and CSV files; use one format per data set")
    return root, files, kinds.pop()


@dataclass(frozen=True)
class Unit:
    """A reading unit: file index, row group (None: the whole CSV file), its first row."""

    file: int
    row_group: int | None
    first_row: int


class BatchTable:
    """One record batch of a file as a table for `tabular.encode_table`; `first_row` is its
    offset in the file, so a bad value is reported at its row of the file."""

    def __init__(self, path, batch, first_row: int, *, csv: bool):
        self.path, self._batch, self.first_row = path, batch, first_row
        self.names = list(batch.schema.names)
        self.n_rows = batch.num_rows
        self.header = csv

    def column(self, name: str, *, expect: str | None = None) -> RawColumn:
        pa = require_pyarrow()
        site = ColumnSite(self.path, name, header=self.header, first_row=self.first_row)
        arr = self._batch.column(name)
        if self.header:
            return text_column(pa.compute.utf8_trim_whitespace(arr), site, expect=expect)
        return arrow_column(arr, site, expect=expect)


def file_key(root: Path, path: Path) -> int:
    """A stable 32-bit number for a file: the CRC-32 of its path relative to the root."""
    return zlib.crc32(path.relative_to(root).as_posix().encode("utf-8"))


def row_uniforms(seed: int, key: int, first_row: int, n: int) -> np.ndarray:
    """A uniform number in [0, 1) for each of rows first_row .. first_row + n - 1 of a file,
    a pure function of (seed, file key, row): splitmix64 of the three mixed together."""
    rows = np.arange(first_row, first_row + n, dtype=np.uint64)
    x = rows * np.uint64(0x9E3779B97F4A7C15)
    x ^= np.uint64((int(key) << 32) ^ (int(seed) & 0xFFFFFFFF) ^ 0x5851F42D4C957F2D)
    x += np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class Files:
    """The files of a data set opened as a pyarrow dataset; lists units and reads them."""

    def __init__(self, source):
        pa = require_pyarrow()
        import pyarrow.dataset as pads

        self.source = str(source)
        self.root, self.paths, self.kind = resolve_files(source)
        self.keys = [file_key(self.root, p) for p in self.paths]
        if self.kind == "csv":
            self.names, fmt = self._csv_format(pa, pads)
        else:
            fmt = "parquet"
        try:
            dataset = pads.dataset([str(p) for p in self.paths], format=fmt)
            fragments = list(dataset.get_fragments())
        except (pa.ArrowException, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{self.source}: cannot open as {self.kind}: {first}") from None
        by_path = {os.path.normpath(f.path): f for f in fragments}
        self.fragments = [by_path[os.path.normpath(str(p))] for p in self.paths]
        if self.kind == "parquet":
            self.names = self._parquet_names()
        self.units, self.row_groups = self._units()
        self.fingerprint = [[p.relative_to(self.root).as_posix(), os.path.getsize(p)]
                            for p in self.paths]

    def _csv_format(self, pa, pads):
        import pyarrow.csv as pacsv

        delimiter, names = sniff(self.paths[0])
        _check_header(self.paths[0], names)
        for path in self.paths[1:]:
            other_delimiter, other = sniff(path)
            if other != names or other_delimiter != delimiter:
                raise DataError(f"{path}: header {other[:8]} (delimiter {other_delimiter!r}) "
                                f"differs from {self.paths[0]}'s {names[:8]} "
                                f"(delimiter {delimiter!r}); every file needs the same columns")
        self.delimiter = delimiter
        return names, pads.CsvFileFormat(
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False))

    def _parquet_names(self) -> list[str]:
        names = None
        for path, fragment in zip(self.paths, self.fragments):
            these = [str(n) for n in fragment.physical_schema.names]
            if len(set(these)) != len(these):
                duplicate = next(n for n in these if these.count(n) > 1)
                raise DataError(f"{path}: column name {duplicate!r} appears more than once; "
                                "column names must be unique")
            if names is None:
                names = these
            elif sorted(these) != sorted(names):
                raise DataError(f"{path}: columns {these[:8]} differ from {self.paths[0]}'s "
                                f"{names[:8]}; every file needs the same columns")
        if not names:
            raise DataError(f"{self.paths[0]}: empty file; expected at least one column")
        return names

    def _units(self):
        units, row_groups = [], []
        for index, fragment in enumerate(self.fragments):
            if self.kind == "csv":
                units.append(Unit(index, None, 0))
                row_groups.append(None)
                continue
            first = 0
            pieces = fragment.split_by_row_group()
            for group, piece in enumerate(pieces):
                units.append(Unit(index, group, first))
                row_groups.append(piece)
                first += piece.row_groups[0].num_rows
        return units, row_groups

    def physical_type(self, name: str):
        """The Arrow type of column `name` in the first Parquet file (None for CSV)."""
        if self.kind == "csv":
            return None
        return self.fragments[0].physical_schema.field(name).type

    def read(self, unit_index: int, *, columns=None, batch_rows: int, skip: int = 0):
        """Yield BatchTables of one unit in file order, starting `skip` rows into the unit."""
        pa = require_pyarrow()
        unit = self.units[unit_index]
        path = self.paths[unit.file]
        piece = self.row_groups[unit_index] if self.kind == "parquet" else \
            self.fragments[unit.file]
        row = 0
        try:
            for batch in piece.to_batches(columns=columns, batch_size=batch_rows):
                n = batch.num_rows
                if row + n > skip and n:
                    start = max(skip - row, 0)
                    yield BatchTable(path, batch.slice(start), unit.first_row + row + start,
                                     csv=self.kind == "csv")
                row += n
        except pa.ArrowInvalid as exc:
            if self.kind == "csv":
                raise read_error(path, self.delimiter, self.names, exc) from None
            raise DataError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") \
                from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read the file ({exc})") from None
