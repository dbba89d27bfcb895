"""CSV files: sniff the delimiter, read every cell as text with pyarrow, then type each column.

Every cell is read as a string on purpose: pyarrow's own type inference would turn a numeric
column with one stray word into a text column (or "NA" into a silent null), and the user would
never learn which row was wrong. Typing the text ourselves (`_columns.text_column`) keeps the row.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path

from gradkit import _budget
from gradkit.data._columns import ColumnSite, RawColumn, text_column
from gradkit.data._common import locate, require_pyarrow, require_regular_file
from gradkit.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 64 * 1024
_MAX_SAMPLE_BYTES = 64 * 1024 * 1024     # a header line longer than this is refused
_SNIFF_LINES = 20
# Bytes of memory per byte of CSV text while it is read: the text itself, pyarrow's string
# columns (offsets included) and the typed columns made from them.
_MEMORY_PER_BYTE = 3


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    """Fields per line; a line with a field over the csv module's limit (128 KiB) is left out
    of the vote rather than ending it."""
    counts = []
    for line in lines:
        try:
            counts.extend(len(fields) for fields in csv.reader([line], delimiter=delimiter))
        except csv.Error:
            continue
    return counts


def _choose_delimiter(lines: list[str]) -> str:
    """The candidate that splits every sample line into the same number (>= 2) of fields, most
    fields first; a single-column file falls back to ",". Ties go to the earlier candidate."""
    best, best_key = ",", (False, 1)
    for delimiter in DELIMITERS:
        counts = _field_counts(lines, delimiter)
        if not counts or counts[0] < 2:
            continue
        key = (all(count == counts[0] for count in counts), counts[0])
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _read_sample(stream) -> tuple[bytes, bool]:
    """The file's first bytes, enough to hold the whole header line and a few rows (a header
    of thousands of columns can pass 64 KiB); and whether that is the whole file."""
    raw = stream.read(_SAMPLE_BYTES)
    while raw.count(b"\n") <= _SNIFF_LINES and len(raw) < _MAX_SAMPLE_BYTES:
        more = stream.read(len(raw))
        if not more:
            return raw, True
        raw += more
    return raw, len(raw) < _SAMPLE_BYTES


def sniff(path) -> tuple[str, list[str]]:
    """Detect the delimiter (one of , ; TAB |) from the first lines and parse the header.

    Returns (delimiter, column names). Raises DataError for an empty file.
    """
    path = Path(path)
    require_regular_file(path)
    try:
        with _open_binary(path) as stream:
            raw, whole = _read_sample(stream)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{path}: empty file; expected a header line and data rows")
    if not whole and "\n" not in text:
        raise DataError(f"{path}: the header line is longer than "
                        f"{_MAX_SAMPLE_BYTES // (1024 * 1024)} MiB; is this a CSV file?")
    lines = text.splitlines()
    if not whole and len(lines) > 1:
        lines = lines[:-1]  # the sample probably cut the last line in half
    lines = [line for line in lines if line.strip()][:_SNIFF_LINES]
    delimiter = _choose_delimiter(lines)
    try:
        header = [name.strip() for name in next(csv.reader(lines[:1], delimiter=delimiter))]
    except csv.Error as exc:
        raise DataError(f"{path}: cannot read the header line ({exc})") from None
    return delimiter, header


def _check_header(path, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name == "":
            raise DataError(
                f"{path}: column {position} has no name in the header line "
                "(an index column written by pandas? drop it or name it)")
        if name in seen:
            raise DataError(
                f"{path}: column name {name!r} appears twice in the header "
                f"(columns {seen[name]} and {position}); column names must be unique")
        seen[name] = position


def _find_ragged_row(path: Path, delimiter: str, width: int):
    """(0-based data row, file line, field count) of the first row whose width differs."""
    try:
        return _scan_widths(path, delimiter, width)
    except csv.Error:       # e.g. a field over the csv module's limit: no row to name
        return None


def _scan_widths(path: Path, delimiter: str, width: int):
    with _open_binary(path) as stream:
        lines = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(lines, delimiter=delimiter)
        next(reader, None)
        row = 0
        for fields in reader:
            if not fields:
                continue  # pyarrow skips empty lines too
            if len(fields) != width:
                return row, reader.line_num, len(fields)
            row += 1
    return None


def _text_size(path: Path) -> int:
    """Bytes of CSV text in the file, refused over the memory budget before it is parsed.

    A .gz file is decompressed once to count (a gigabyte of zeros compresses to a megabyte),
    stopping as soon as the count passes the budget.
    """
    budget = _budget.limit()
    if path.suffix != ".gz":
        size = path.stat().st_size
    else:
        size = 0
        try:
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    size += len(chunk)
                    if size * _MEMORY_PER_BYTE > budget:
                        break
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: cannot decompress the file ({exc})") from None
    what = f"{path}: reading {'more than ' if path.suffix == '.gz' else ''}{size:,} bytes of CSV"
    _budget.check(size * _MEMORY_PER_BYTE, what)
    return size


# The largest block gradkit lets pyarrow read a line (or quoted field) in: its block size is
# a 32-bit int, and a line this long is no row of a table. A line that needs a larger block
# (pyarrow refuses one spanning more than two blocks) is refused with its number.
MAX_LINE_BYTES = 256 << 20


def _first_long_line(path: Path, limit: int):
    """(line number, 1-based, counting the header; its length so far) of the first line
    longer than `limit` bytes, or None. Reads the file once in chunks, never a whole line."""
    line, length = 1, 0
    with _open_binary(path) as stream:
        while chunk := stream.read(1 << 22):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                if length + end - start > limit:
                    return line, length + end - start
                line, length, start = line + 1, 0, end + 1
            length += len(chunk) - start
            if length > limit:
                return line, length
    return None


def _read_text_columns(pa, pacsv, path, names, delimiter, text_bytes):
    """Every cell as a string. A row longer than pyarrow's 1 MiB block (a 5 MB field) fails
    with "straddling object": the block then grows to hold it, up to the whole text, and a
    line over MAX_LINE_BYTES is refused with its number."""
    block = 1 << 20
    while True:
        try:
            return pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                               block_size=block),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    strings_can_be_null=False),
            )
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block > text_bytes:
                raise
            if block >= MAX_LINE_BYTES:
                found = _first_long_line(path, MAX_LINE_BYTES)
                where = f"line {found[0]} is more than" if found else "a quoted field spans"
                raise DataError(f"{path}: {where} {MAX_LINE_BYTES >> 20} MiB (the longest "
                                "line gradkit reads); is it a CSV table of rows?") from None
            block = min(block * 8, MAX_LINE_BYTES)


def read_error(path, delimiter: str, names: list[str], exc) -> DataError:
    """The DataError for pyarrow's parse error `exc` on `path`: the first ragged row with its
    line, else pyarrow's message with the column it names (also used by `data.stream`)."""
    found = _find_ragged_row(Path(path), delimiter, len(names))
    if found is not None:
        row, line, width = found
        return DataError(
            f"{locate(path, row=row)}, line {line} of the file: expected {len(names)} "
            f"fields like the header, got {width} (delimiter {delimiter!r})")
    message = str(exc).splitlines()[0]
    column = re.search(r"In CSV column #(\d+)", message)
    if column and int(column.group(1)) < len(names):
        where = locate(path, column=names[int(column.group(1))])
        message = message.split(": ", 1)[-1]
    else:
        where = str(path)
    if "UTF8" in message:
        message = "text is not valid UTF-8; save the file as UTF-8"
    return DataError(f"{where}: cannot read as CSV: {message}")


class CsvTable:
    """A CSV file read as text columns; `column(name)` types one column on demand."""

    header = True

    def __init__(self, path, names: list[str], table):
        self.path, self.names, self._table = path, names, table
        self.n_rows = table.num_rows

    def column(self, name: str, *, expect: str | None = None) -> RawColumn:
        pa = require_pyarrow()
        text = pa.compute.utf8_trim_whitespace(self._table.column(name).combine_chunks())
        return text_column(text, ColumnSite(self.path, name, header=True), expect=expect)


def read_csv_table(path) -> CsvTable:
    """Read a CSV file (optionally .gz) with a header line into a `CsvTable` of text columns.

    Raises DataError (one line, naming the file and row) for an empty file, a header without
    data rows, duplicate column names, ragged rows or text that is not UTF-8.
    """
    pa = require_pyarrow()
    import pyarrow.csv as pacsv

    path = Path(path)
    delimiter, names = sniff(path)
    _check_header(path, names)
    text_bytes = _text_size(path)
    # No invalid_row_handler callback: pyarrow may free a Python callback on one of its own
    # threads while the interpreter shuts down, which aborted ~5% of processes at exit. A parse
    # error instead triggers our own scan for a row of the wrong width.
    try:
        table = _read_text_columns(pa, pacsv, path, names, delimiter, text_bytes)
    except pa.ArrowInvalid as exc:
        raise read_error(path, delimiter, names, exc) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    if table.num_rows == 0:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise DataError(f"{path}: has a header ({shown}) but no data rows")
    return CsvTable(path, names, table)
