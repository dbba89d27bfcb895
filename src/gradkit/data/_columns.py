"""One column of a table, checked and typed: numbers (int or float) or text (categories, labels).

CSV cells arrive as text and are typed here, so every stray value can be reported with its row;
Parquet columns arrive typed and are only checked. pyarrow is imported inside the functions.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from gradkit.data._common import locate, require_pyarrow, short
from gradkit.errors import DataError

# What pyarrow's string -> float64 cast accepts (as observed with pyarrow 26): optional sign,
# digits with an optional point and exponent, or nan / inf / infinity in any case.
NUMBER_PATTERN = (r"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?"
                  r"|\.[0-9]+(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))$")

# Numbers as spreadsheets in many locales write them: a decimal comma ("1,5", "-0,25") or
# separators between groups of thousands ("1,234", "12 345.5", "1'000"). Python and pyarrow
# read neither, so such a column would silently become categories.
LOCALE_NUMBER_PATTERN = (r"^[+-]?(?:[0-9]+,[0-9]+"
                         r"|[0-9]{1,3}(?:[,' \x{00a0}\x{202f}][0-9]{3})+(?:[.,][0-9]+)?)$")

# A number dressed for reading: a currency sign ("$0.50", "12 €"), a percent or per-mille sign
# ("12%"), a typographic minus ("\u22121.5", as word processors write it), accounting parentheses
# for a negative ("(1.5)"), or a trailing unit ("12kg", "3.5 GHz"). The number inside may itself
# carry thousands separators ("$1,234.50"). None of these is read as a number, so such a column
# would silently become one category per distinct value.
_BARE = r"(?:[0-9]+(?:[,' \x{00a0}\x{202f}][0-9]{3})*(?:[.,][0-9]+)?|[.,][0-9]+)"
_SIGN = r"[+\-\x{2212}\x{2013}]?"
_MONEY = rf"{_SIGN}\p{{Sc}}?\s?{_SIGN}{_BARE}\s?(?:\p{{Sc}}|%|\x{{2030}})?"
SYMBOL_NUMBER_PATTERN = rf"^(?:{_MONEY}|\({_MONEY}\))$"
UNIT_NUMBER_PATTERN = rf"^{_SIGN}{_BARE}\s?[\p{{L}}\x{{00b0}}][\p{{L}}\x{{00b0}}/0-9]{{0,7}}$"

# How many distinct values a decorated column needs before it is refused. A symbol says "number"
# by itself, so a few values suffice; a trailing unit is also how codes are written ("2WD",
# "4WD", "3G", "320i"), so a unit column must share one unit across ten distinct values or more.
MIN_DISTINCT_SYMBOL, MIN_DISTINCT_UNIT = 3, 10

# Spellings of "missing" that spreadsheets and pandas write into numeric columns.
MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "none", "nil", "?", "-", "#n/a"}


@dataclass
class RawColumn:
    """A checked column: kind "int" (int64 values), "float" (finite float64) or "text" (str)."""

    name: str
    kind: str
    values: np.ndarray


class ColumnSite:
    """Where a column lives (file, column name, whether rows follow a header), for messages.
    `first_row` is the file row of the column's first value (a streamed record batch's offset)."""

    def __init__(self, path, name: str, *, header: bool, first_row: int = 0):
        self.path, self.name, self.header, self.first_row = path, name, header, first_row

    def at(self, row: int) -> str:
        return locate(self.path, column=self.name, row=self.first_row + row, header=self.header)

    def fail(self, row: int, problem: str):
        raise DataError(f"{self.at(row)}: {problem}")


def _describe_bad_number(text: str) -> str:
    if text == "":
        return "missing value (empty field); fill it in or drop the row"
    if text.strip().lower() in MISSING_TOKENS:
        return f"missing value {short(text)}; fill it in or drop the row"
    return f"expected a number, got {short(text)}"


def _checked_floats(values: np.ndarray, raw, site: ColumnSite) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        row = int(bad[0])
        shown = raw[row].as_py() if raw is not None else values[row]
        site.fail(row, f"value {short(shown)} is NaN or infinite; clean the data or drop that row")
    return values


def _first_unparsable(arr) -> int:
    """Index of the first cell pyarrow cannot cast to float64 (slow path, errors only)."""
    pa = require_pyarrow()
    for row, cell in enumerate(arr.to_pylist()):
        try:
            pa.compute.cast(pa.array([cell], pa.string()), pa.float64())
        except pa.ArrowInvalid:
            return row
    return 0


def text_column(arr, site: ColumnSite, *, expect: str | None = None) -> RawColumn:
    """Type a column of (whitespace-trimmed) strings.

    A column is numeric when at least half of its non-empty cells are numbers; then every cell
    must be one, and the first that is not is reported with its row. Otherwise it is text and
    every cell must be non-empty.

    Args:
        arr: a pyarrow string array without nulls.
        site: the column's location, for messages.
        expect: None to infer, "number" or "text" to force (as the training data had it).
    """
    pa = require_pyarrow()
    pc = pa.compute
    if expect != "text":
        try:
            return RawColumn(site.name, "int", pc.cast(arr, pa.int64()).to_numpy())
        except pa.ArrowInvalid:
            pass
        try:
            floats = pc.cast(arr, pa.float64()).to_numpy()
            return RawColumn(site.name, "float", _checked_floats(floats, arr, site))
        except pa.ArrowInvalid:
            pass
        is_number = pc.match_substring_regex(arr, NUMBER_PATTERN).to_numpy(zero_copy_only=False)
        n_filled = len(arr) - int(pc.sum(pc.equal(arr, "")).as_py() or 0)
        if expect == "number" or 2 * int(is_number.sum()) >= max(n_filled, 1):
            bad = np.flatnonzero(~is_number)
            row = int(bad[0]) if len(bad) else _first_unparsable(arr)
            problem = _describe_bad_number(arr[row].as_py())
            if expect is None:
                problem += " (the other values of this column are numbers)"
            site.fail(row, problem)
        if expect is None:
            _refuse_locale_numbers(pc, arr, is_number, n_filled, site)
            _refuse_decorated_numbers(pa, arr, is_number, n_filled, site)
    text = _text_array(pc, arr)
    empty = np.flatnonzero(text == "")
    if len(empty):
        site.fail(int(empty[0]), "missing value (empty field); fill it in or drop the row")
    return RawColumn(site.name, "text", text)


def _text_array(pc, arr) -> np.ndarray:
    """The column's values as a NumPy array: fixed-width unicode (fast to sort and compare)
    unless one long field would size every cell by itself (a 5 MB field in a column of 300
    rows asks 6 GB of `<U5000000`); then an object array of the same strings."""
    values = arr.to_numpy(zero_copy_only=False)
    if not len(arr):
        return values.astype(str)
    lengths = pc.utf8_length(arr)
    longest = int(pc.max(lengths).as_py() or 0)
    total = int(pc.sum(lengths).as_py() or 0)
    if len(arr) * longest > 4 * total + (1 << 20):
        return values.astype(object)
    return values.astype(str)


def _refuse_locale_numbers(pc, arr, is_number, n_filled, site) -> None:
    """Refuse a column of numbers written with a decimal comma or thousands separators (most
    of its cells numbers either way), which would otherwise be one-hot encoded as text."""
    is_local = pc.match_substring_regex(arr, LOCALE_NUMBER_PATTERN).to_numpy(
        zero_copy_only=False)
    if not is_local.any() or 2 * int((is_local | is_number).sum()) < max(n_filled, 1):
        return
    row = int(np.flatnonzero(is_local)[0])
    site.fail(row, f"{short(arr[row].as_py())} looks like a number written with a decimal "
                   "comma or a thousands separator, which gradkit does not read as a number "
                   "(nor silently as a category): write numbers with '.' for the decimal point "
                   "and no separators (1,5 -> 1.5; 1,234 -> 1234)")


def _refuse_decorated_numbers(pa, arr, is_number, n_filled, site) -> None:
    """Refuse a column of numbers carrying a currency sign, percent sign, typographic minus,
    accounting parentheses or a trailing unit, which would otherwise be one-hot encoded as text.

    Refused only when (nearly) every filled value is a number once the decoration is stripped
    (missing-value spellings aside) and the decorated values are many and distinct enough that
    the column cannot be a handful of codes."""
    pc = pa.compute

    def matches(pattern):
        return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False) & ~is_number

    symbol, unit = matches(SYMBOL_NUMBER_PATTERN), matches(UNIT_NUMBER_PATTERN)
    if not (symbol.any() or unit.any()):
        return
    values = arr.to_numpy(zero_copy_only=False)
    missing = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(sorted(MISSING_TOKENS - {""})))
    missing = missing.to_numpy(zero_copy_only=False)
    n_numbers = int((is_number | symbol | unit | missing).sum())
    if 10 * n_numbers < 9 * max(n_filled, 1):
        return
    if len(set(values[symbol])) >= MIN_DISTINCT_SYMBOL:
        row = int(np.flatnonzero(symbol)[0])
    else:
        units = {_unit_of(v) for v in values[unit]}
        if len(units) != 1 or len(set(values[unit])) < MIN_DISTINCT_UNIT:
            return
        row = int(np.flatnonzero(unit)[0])
    text = str(values[row])
    what, hint = _decoration_of(text)
    site.fail(row, f"{short(text)} looks like a number written with {what}, which gradkit does "
                   f"not read as a number (nor silently as a category): {hint}")


def _unit_of(text: str) -> str:
    """The trailing unit of a value matched by UNIT_NUMBER_PATTERN ("3.5 GHz" -> "GHz")."""
    start = next(i for i, ch in enumerate(text) if ch.isalpha() or ch == "\u00b0")
    return text[start:]


def _decoration_of(text: str) -> tuple[str, str]:
    """What dresses the number in `text`, and how to write it instead, for the message."""
    if text.startswith("(") and text.endswith(")"):
        return "accounting parentheses for a negative", "write negatives with '-' ((1.5) -> -1.5)"
    if "%" in text or "\u2030" in text:
        return "a percent sign", "strip the sign first (12% -> 12, or 0.12 as a fraction)"
    if any(unicodedata.category(ch) == "Sc" for ch in text):
        return "a currency sign", "strip the sign first ($0.50 -> 0.50)"
    if "\u2212" in text or "\u2013" in text:
        return ("a typographic minus (U+2212 or U+2013)",
                "write the minus as an ASCII '-' (\u22121.5 -> -1.5)")
    unit = _unit_of(text)
    return (f"a unit ({short(unit)})",
            f"strip the unit first and name it in the column instead (12{unit} -> 12)")


def arrow_column(arr, site: ColumnSite, *, expect: str | None = None) -> RawColumn:
    """Check and type a typed pyarrow column (from Parquet).

    Integers and booleans become "int", floats and decimals "float", strings and dictionaries of
    strings "text". Nulls, NaN and infinity are refused with their row; other types are refused.
    """
    pa = require_pyarrow()
    pc, types = pa.compute, pa.types
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        nulls = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        site.fail(int(nulls[0]), "missing value (null); fill it in or drop the row")
    if types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    kind = arr.type
    is_string_view = getattr(types, "is_string_view", lambda _: False)  # pyarrow >= 16
    is_text = types.is_string(kind) or types.is_large_string(kind) or is_string_view(kind)
    if is_text:
        return text_column(pc.utf8_trim_whitespace(arr.cast(pa.string())), site,
                           expect=expect or "text")
    numeric = types.is_integer(kind) or types.is_floating(kind) or types.is_boolean(kind) \
        or types.is_decimal(kind)
    if not numeric:
        raise DataError(
            f"{locate(site.path, column=site.name)}: unsupported column type {kind}; "
            "expected numbers, booleans or strings")
    if types.is_boolean(kind):
        # A boolean is 0 or 1 wherever it is read: as text it would be "true"/"false", and a
        # target read as numbers once (the classes 0, 1) and as text later would not match.
        arr = arr.cast(pa.int64())
    if expect == "text":
        return text_column(arr.cast(pa.string()), site, expect="text")
    if types.is_integer(arr.type):
        try:
            return RawColumn(site.name, "int", arr.cast(pa.int64()).to_numpy())
        except pa.ArrowInvalid as exc:
            raise DataError(f"{locate(site.path, column=site.name)}: integers too large "
                            f"for int64 ({exc})") from None
    floats = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return RawColumn(site.name, "float", _checked_floats(floats, None, site))
