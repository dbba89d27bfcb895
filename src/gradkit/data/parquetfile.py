"""Parquet files, read with pyarrow >= 14.0.1 (older versions could run code from a file)."""

from __future__ import annotations

from pathlib import Path

from gradkit.data._columns import ColumnSite, RawColumn, arrow_column
from gradkit.data._common import require_pyarrow, require_regular_file
from gradkit.errors import DataError


class ParquetTable:
    """A Parquet file's columns; `column(name)` checks and types one column on demand."""

    header = False  # rows are numbered from the first data row; there is no header line

    def __init__(self, path, names: list[str], table):
        self.path, self.names, self._table = path, names, table
        self.n_rows = table.num_rows

    def column(self, name: str, *, expect: str | None = None) -> RawColumn:
        return arrow_column(self._table.column(name), ColumnSite(self.path, name, header=False),
                            expect=expect)


def read_parquet_table(path) -> ParquetTable:
    """Read a Parquet file into a `ParquetTable`.

    Raises DataError for a file pyarrow cannot read, duplicate column names or no rows.
    """
    pa = require_pyarrow()
    import pyarrow.parquet as pq

    path = Path(path)
    require_regular_file(path)
    try:
        # Plain columns only: no Pandas metadata round-trip, no extension types to rebuild.
        table = pq.read_table(path, use_pandas_metadata=False)
    except (pa.ArrowException, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read as Parquet: {first_line}") from None
    names = [str(name) for name in table.column_names]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise DataError(f"{path}: column name {duplicate!r} appears more than once; "
                        "column names must be unique")
    if not names:
        raise DataError(f"{path}: empty file; expected at least one column")
    if table.num_rows == 0:
        raise DataError(f"{path}: has columns ({', '.join(names)}) but no rows")
    return ParquetTable(path, names, table)
