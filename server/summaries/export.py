"""CSV and XLSX of the tables the JSON endpoints answer (``?format=csv|xlsx``).

Every endpoint names its tables (``days``, ``counties``, ``schools``, ``missing``,
``alerts``, ``mismatches``...). Nested figures become dotted columns (``totals.fever_at_check``,
``rates.attendance``) and lists become ``;``-joined text, so a table has the same columns in
JSON, CSV and XLSX. CSV sends one table (``?table=``, else the first) and is streamed row by
row; XLSX holds every table, one sheet each, written with openpyxl's write-only mode.
Every cell of both goes through ``safe_cell`` (text a spreadsheet would run as a formula,
such as a school named ``=HYPERLINK(...)``, is made inert).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

from server.spreadsheet import safe_cell

FORMATS = ("json", "csv", "xlsx")
# Header of a table that happens to be empty (other tables always have rows).
EMPTY_COLUMNS = {
    "missing": ["school_id", "name", "consecutive_school_days", "at_least", "last_report_date", "last_sync_at",
                "last_sync_source", "status"],
    "alerts": ["id", "county_id", "school_id", "school_name", "date", "rule", "value", "threshold", "severity",
               "acknowledged"],
    "mismatches": ["school_id", "school_name", "date", "category", "list_count", "school_count", "direction",
                   "school_reported"],
}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def flatten(row: dict, prefix: str = "") -> dict:
    """``{"totals": {"a": 1}}`` -> ``{"totals.a": 1}``; lists -> ``"x;y"``; None stays None."""
    out: dict = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple | set):
            out[name] = ";".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def table_columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return columns


def _csv_line(values: Iterable) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else safe_cell(v) for v in values])
    return buffer.getvalue()


def csv_response(rows: list[dict], filename: str, table: str = "") -> Response:
    flat = [flatten(row) for row in rows]
    columns = table_columns(flat) or EMPTY_COLUMNS.get(table, [])

    def generate() -> Iterator[str]:
        yield "\ufeff" + _csv_line(columns)  # the BOM lets Excel read Chinese names as UTF-8
        for row in flat:
            yield _csv_line(row.get(name) for name in columns)

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})


def xlsx_bytes(tables: dict[str, list[dict]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, rows in tables.items():
        sheet = book.create_sheet(title=title[:31])
        flat = [flatten(row) for row in rows]
        columns = table_columns(flat) or EMPTY_COLUMNS.get(title, [])
        sheet.append([safe_cell(name) for name in columns])
        for row in flat:
            sheet.append([safe_cell(row.get(name)) for name in columns])
    if not tables:
        book.create_sheet(title="empty")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_response(tables: dict[str, list[dict]], filename: str) -> Response:
    return Response(xlsx_bytes(tables), mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'})


def export(answer: dict, tables: dict[str, list[dict]], *, fmt: str, table: str | None, filename: str):
    """The JSON answer itself, or its tables as CSV/XLSX. Raises ``KeyError`` for an unknown table."""
    if fmt == "csv":
        name = table or next(iter(tables))
        return csv_response(tables[name], f"{filename}-{name}", name)
    if fmt == "xlsx":
        return xlsx_response(tables, filename)
    return answer
