"""What crosses the boundary with spreadsheets, in one place.

Going out (every CSV and XLSX export): ``safe_cell`` makes text that a spreadsheet would
run as a formula inert. Coming in (CSV uploads): ``decode_csv_text`` refuses bytes that
are not UTF-8 (never replacement characters), ``parse_count`` reads a count strictly.
"""

from __future__ import annotations

import re
from typing import Any

# A spreadsheet starts a formula with these (tab and CR can hide one after whitespace).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_COUNT = re.compile(r"[0-9]{1,10}")
MAX_COUNT = 1_000_000


def safe_cell(value: Any) -> Any:
    """A spreadsheet-safe cell: text starting with ``= + - @``, tab or CR gets a leading
    apostrophe (shown as text, never run). Numbers, and text that is just a number such
    as ``-3``, are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER_TEXT.fullmatch(value):
        return "'" + value
    return value


def decode_csv_text(data: bytes) -> str:
    """The text of an uploaded CSV (a UTF-8 BOM is dropped). Raises ``UnicodeDecodeError``
    for bytes that are not UTF-8."""
    return data.decode("utf-8-sig")


def parse_count(text: str, *, maximum: int = MAX_COUNT) -> int:
    """A count from a CSV cell: ASCII digits only (not ``²`` or ``٣``, which Python's
    ``isdigit``/``int`` accept), at most ``maximum``. Raises ``ValueError`` saying why."""
    if not _COUNT.fullmatch(text):
        raise ValueError(f"must be a whole number 0..{maximum}, got {text[:20]!r}")
    value = int(text)
    if value > maximum:
        raise ValueError(f"must be at most {maximum}, got {value}")
    return value


__all__ = ["FORMULA_START", "MAX_COUNT", "decode_csv_text", "parse_count", "safe_cell"]
