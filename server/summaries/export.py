"""CSV and XLSX of the tables the JSON endpoints answer (``?format=csv|xlsx``), for people.

Every endpoint names its tables (``days``, ``counties``, ``schools``, ``missing``,
``alerts``, ``mismatches``...). Nested figures become dotted columns (``totals.fever_at_check``,
``rates.attendance``) and lists become ``;``-joined text, so a table has the same columns in
JSON, CSV and XLSX; what a person reads is then localised (``?lang=zh``, the default, or
``en``; else the page's language from the session): column headers and sheet names from
``COLUMN_LABELS``/``SHEET_LABELS`` (the count fields' labels are the form's own), codes such
as a status or an alert rule by ``VALUE_LABELS``, booleans as 是/否 (yes/no), UTC
timestamps as local time (``LOCAL_UTC_OFFSET_MINUTES``). Rates stay numbers: in XLSX a
percent-formatted number (0.9712 shown as 97.12%), in CSV ``97.12%`` (which spreadsheets
read back as that number). CSV sends one table (``?table=``, else the first) and is
streamed row by row; XLSX holds every table, one sheet each, written with openpyxl's
write-only mode. Every cell of both goes through ``safe_cell`` (text a spreadsheet would
run as a formula, such as a school named ``=HYPERLINK(...)``, is made inert).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, has_request_context, request, session, stream_with_context

from mobile_schema.forms.daily_health import DAILY_HEALTH
from server.spreadsheet import safe_cell

FORMATS = ("json", "csv", "xlsx")
LANGS = ("zh", "en")
# Header of a table that happens to be empty (other tables always have rows).
EMPTY_COLUMNS = {
    "missing": ["school_id", "name", "consecutive_school_days", "at_least", "last_report_date", "last_sync_at",
                "last_sync_source", "status"],
    "alerts": ["id", "county_id", "school_id", "school_name", "date", "rule", "value", "threshold", "severity",
               "acknowledged"],
    "mismatches": ["school_id", "school_name", "date", "category", "list_count", "school_count", "direction",
                   "school_reported"],
    "explained": ["school_id", "name", "reason", "details", "received_at"],
    "requests": ["school_id", "school_name", "date", "kind", "note", "sent_by", "sent_at", "age_seconds", "status",
                 "answer", "answered_at", "answer_after_seconds", "reason", "details"],
}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERCENT_FORMAT = "0.0%"

SHEET_LABELS: dict[str, tuple[str, str]] = {
    "days": ("每日汇总", "Per day"), "total": ("合计", "Total"), "trend": ("趋势", "Trend"),
    "schools": ("学校", "Schools"), "missing": ("未报学校", "Missing schools"), "alerts": ("预警", "Alerts"),
    "mismatches": ("校核不一致", "Verification mismatches"), "counties": ("县", "Counties"),
    "prefectures": ("市州", "Prefectures"), "explained": ("已说明学校", "Explained schools"),
    "requests": ("给学校的提醒", "Requests to schools"),
}
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "date": ("日期", "Date"), "school_day": ("上学日", "School day"),
    "schools_expected": ("应报学校数", "Schools expected"), "reports_received": ("已收报告数", "Reports received"),
    "reports_from_expected": ("应报学校已报数", "Reports from expected schools"),
    "zero_reports": ("零报告数", "Zero reports"), "on_time_device": ("按时上报(设备时间)", "On time (device)"),
    "on_time_server": ("按时送达(服务器时间)", "On time (server)"),
    "schools_missing": ("未报学校数", "Schools missing"),
    "schools_explained": ("已说明学校数", "Schools explained"), "days_explained": ("已说明天数", "Days explained"),
    "explained_school_ids": ("已说明学校编号", "Explained school ids"),
    "completeness": ("完整率", "Completeness"), "on_time_device_rate": ("按时率(设备)", "On-time rate (device)"),
    "on_time_server_rate": ("按时率(服务器)", "On-time rate (server)"),
    "rates.attendance": ("出勤率", "Attendance rate"), "rates.absence": ("缺勤率", "Absence rate"),
    "rates.absence_illness": ("因病缺勤率", "Illness absence rate"), "rates.fever": ("发热率", "Fever rate"),
    "rates.isolation": ("隔离率", "Isolation rate"),
    "rates.staff_attendance": ("教职工出勤率", "Staff attendance rate"),
    "missing_school_ids": ("未报学校编号", "Missing school ids"), "school_days": ("上学天数", "School days"),
    "metric": ("指标", "Metric"), "current": ("当日", "Day"), "previous": ("前7天", "Previous 7 days"),
    "change": ("变化", "Change"), "previous_from": ("比较起始", "Compared from"),
    "previous_to": ("比较截止", "Compared to"),
    "school_id": ("学校编号", "School id"), "name": ("名称", "Name"), "school_name": ("学校", "School"),
    "opened": ("开办日期", "Opened"), "closed": ("停办日期", "Closed"), "days_expected": ("应报天数", "Days expected"),
    "days_missing": ("未报天数", "Days missing"), "county_id": ("县编号", "County id"),
    "prefecture_id": ("市州编号", "Prefecture id"), "counties": ("县数", "Counties"),
    "consecutive_school_days": ("连续未报(上学日)", "School days missing in a row"),
    "at_least": ("至少(更早无记录)", "At least (no earlier record)"),
    "last_report_date": ("最近上报日期", "Last report"),
    "last_sync_at": ("最近同步(本地时间)", "Last sync (local time)"),
    "last_sync_source": ("同步信息来源", "Last sync from"), "status": ("状态", "Status"),
    "id": ("编号", "Id"), "rule": ("规则", "Rule"), "value": ("数值", "Value"), "threshold": ("阈值", "Threshold"),
    "severity": ("级别", "Severity"), "acknowledged": ("已确认", "Acknowledged"),
    "acknowledged.by": ("确认人", "Acknowledged by"),
    "acknowledged.at": ("确认时间(本地时间)", "Acknowledged at (local)"),
    "acknowledged.note": ("确认备注", "Acknowledgement note"),
    "category": ("类别", "Category"), "list_count": ("卫健名单人数", "On the list"),
    "school_count": ("学校上报人数", "Reported by the school"), "direction": ("方向", "Direction"),
    "school_reported": ("学校已报", "School reported"),
    "reason": ("原因", "Reason"), "details": ("说明", "Details"),
    "received_at": ("收到时间(本地时间)", "Received (local)"),
    "kind": ("类型", "Kind"), "note": ("留言", "Note"), "sent_by": ("发送人", "Sent by"),
    "sent_at": ("发送时间(本地时间)", "Sent at (local)"), "age_seconds": ("已过(秒)", "Age (seconds)"),
    "answer": ("答复", "Answer"), "answered_at": ("答复时间(本地时间)", "Answered at (local)"),
    "answer_after_seconds": ("答复用时(秒)", "Answered after (seconds)"),
}
for _name, _meta in DAILY_HEALTH.fields_metadata().items():  # the form's own labels for the summed counts
    COLUMN_LABELS[f"totals.{_name}"] = (_meta["label"]["zh"], _meta["label"]["en"])
    COLUMN_LABELS.setdefault(f"detail.{_name}", (_meta["label"]["zh"], _meta["label"]["en"]))
VALUE_LABELS: dict[str, tuple[str, str]] = {  # codes in status, rule, metric, direction... columns
    "not_synced": ("未同步", "Not synced"), "not_reported": ("已同步未报告", "Synced, not reported"),
    "device_status": ("设备状态", "Device status"), "reported": ("已报", "Reported"), "missing": ("未报", "Missing"),
    "not_expected": ("无需报", "Not expected"), "explained": ("已说明", "Explained"),
    "file": ("提醒填报", "Asked to file"), "check": ("请核实", "Asked to check"), "open": ("待答复", "Open"),
    "answered": ("已答复", "Answered"), "filed": ("已填报", "Filed"), "corrected": ("已更正", "Corrected"),
    "closed_weather": ("停课:天气、洪涝或灾害", "Closed: weather, flood or disaster"),
    "closed_holiday": ("停课:放假或考试日", "Closed: holiday or exam day"),
    "trip": ("全校外出", "Whole school away on a trip"), "other": ("其他", "Other"),
    "cases": ("疑似/确诊病例", "Suspected/confirmed cases"), "fever_rate": ("发热率过高", "High fever rate"),
    "absence_rate": ("缺勤率过高", "High absence rate"), "high": ("高", "High"), "normal": ("一般", "Normal"),
    "list_only": ("名单有、学校未报", "On the list, not reported by the school"),
    "school_only": ("学校报、名单无", "Reported by the school, not on the list"),
    "suspected": ("疑似", "Suspected"), "confirmed": ("确诊", "Confirmed"),
    "completeness": ("完整率", "Completeness"), "on_time_device_rate": ("按时率(设备)", "On-time rate (device)"),
    "attendance": ("出勤率", "Attendance rate"), "absence": ("缺勤率", "Absence rate"),
    "absence_illness": ("因病缺勤率", "Illness absence rate"), "fever": ("发热率", "Fever rate"),
    "isolation": ("隔离率", "Isolation rate"), "staff_attendance": ("教职工出勤率", "Staff attendance rate"),
    "suspected_cases": ("疑似病例数", "Suspected cases"), "confirmed_cases": ("确诊病例数", "Confirmed cases"),
}
CODE_COLUMNS = {"status", "last_sync_source", "rule", "severity", "category", "direction", "metric", "kind",
                "answer", "reason"}
PERCENT_COLUMNS = {"completeness", "on_time_device_rate", "on_time_server_rate"}
YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}


def export_language(asked: str | None = None) -> str:
    """``asked`` (``?lang=``), else the request's ``lang`` or the page language in the session, else Chinese."""
    if asked in LANGS:
        return asked
    if has_request_context():
        for value in (request.args.get("lang"), session.get("lang")):
            if value in LANGS:
                return value
    return "zh"


def column_title(name: str, lang: str) -> str:
    """The header a person reads for a (flattened) column; the column's own name if unknown."""
    zh, en = COLUMN_LABELS.get(name, (name, name))
    return en if lang == "en" else zh


def sheet_title(name: str, lang: str) -> str:
    zh, en = SHEET_LABELS.get(name, (name, name))
    return (en if lang == "en" else zh)[:31]


def is_percent(column: str, row: dict) -> bool:
    """Rates (fractions of 1): by column, or by the row's metric or rule where one column holds both."""
    if column in PERCENT_COLUMNS or column.startswith("rates."):
        return True
    if column in ("current", "previous", "change") and "metric" in row:
        return not str(row["metric"]).endswith("_cases")
    if column in ("value", "threshold") and "rule" in row:
        return str(row["rule"]).endswith("_rate")
    return False


def _offset() -> timedelta:
    try:
        return timedelta(minutes=current_app.config["SETTINGS"].utc_offset_minutes)
    except (RuntimeError, KeyError):  # outside the app: Beijing time
        return timedelta(minutes=480)


def _local_time(value: str) -> str | None:
    """``2026-12-01T13:14:03.084Z`` -> ``2026-12-01 21:14`` (local); None if it is not such a stamp."""
    if not (isinstance(value, str) and len(value) > 10 and value[10:11] == "T"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment.astimezone(UTC) + _offset()).strftime("%Y-%m-%d %H:%M")


def readable(column: str, value: Any, lang: str) -> Any:
    """The cell a person reads (before ``safe_cell``): yes/no, local time, labelled codes."""
    if isinstance(value, bool):
        return YES_NO[lang][0 if value else 1]
    if isinstance(value, str):
        if column in CODE_COLUMNS and value in VALUE_LABELS:
            zh, en = VALUE_LABELS[value]
            return en if lang == "en" else zh
        if column.endswith("_at") or column.endswith(".at"):
            return _local_time(value) or value
    return value


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


def _csv_cell(column: str, value: Any, row: dict, lang: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and is_percent(column, row):
        return f"{round(value * 100, 2):g}%"
    return safe_cell(readable(column, value, lang))


def _csv_line(values: Iterable) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(list(values))
    return buffer.getvalue()


def csv_response(rows: list[dict], filename: str, table: str = "", lang: str | None = None) -> Response:
    lang = export_language(lang)
    flat = [flatten(row) for row in rows]
    columns = table_columns(flat) or EMPTY_COLUMNS.get(table, [])

    def generate() -> Iterator[str]:
        # the BOM lets Excel read Chinese as UTF-8
        yield "\ufeff" + _csv_line(safe_cell(column_title(name, lang)) for name in columns)
        for row in flat:
            yield _csv_line(_csv_cell(name, row.get(name), row, lang) for name in columns)

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})


def xlsx_bytes(tables: dict[str, list[dict]], lang: str = "zh") -> bytes:
    """One sheet per table (named in ``lang``), a bold frozen header row, rates percent-formatted."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, rows in tables.items():
        sheet = book.create_sheet(title=sheet_title(name, lang))
        flat = [flatten(row) for row in rows]
        columns = table_columns(flat) or EMPTY_COLUMNS.get(name, [])
        sheet.freeze_panes = "A2"
        for index, column in enumerate(columns):
            sheet.column_dimensions[_letter(index)].width = max(10, min(40, 2 * len(column_title(column, lang)) + 2))
        header = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=safe_cell(column_title(column, lang)))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in flat:
            cells = []
            for column in columns:
                value = row.get(column)
                if isinstance(value, int | float) and not isinstance(value, bool) and is_percent(column, row):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = PERCENT_FORMAT
                    cells.append(cell)
                else:
                    cells.append(safe_cell(readable(column, value, lang)))
            sheet.append(cells)
    if not tables:
        book.create_sheet(title="empty")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def xlsx_response(tables: dict[str, list[dict]], filename: str, lang: str | None = None) -> Response:
    return Response(xlsx_bytes(tables, export_language(lang)), mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'})


def export(answer: dict, tables: dict[str, list[dict]], *, fmt: str, table: str | None, filename: str,
           lang: str | None = None):
    """The JSON answer itself, or its tables as CSV/XLSX in ``lang`` (see ``export_language``).
    Raises ``KeyError`` for an unknown table."""
    if fmt == "csv":
        name = table or next(iter(tables))
        return csv_response(tables[name], f"{filename}-{name}", name, lang)
    if fmt == "xlsx":
        return xlsx_response(tables, filename, lang)
    return answer
