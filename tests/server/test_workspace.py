"""The workspace's pure parts: local dates and times, good/bad change colours, the day in
progress, the area glance order; and the exports a person opens (headers, sheets, formats)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time

import pytest
from openpyxl import load_workbook

from server.pages.workspace import area_glance, change_class, day_in_progress, format_date, format_time, morning_check
from server.summaries.export import PERCENT_FORMAT, column_title, xlsx_bytes
from tests.server.test_summaries import SHAPE, demo  # noqa: F401  (the module's demo server)


def test_dates_and_times_are_local_and_in_chinese_format():
    assert format_date("2026-11-20", "zh") == "2026年11月20日"
    assert format_date("2026-11-20", "zh", year=False, weekday=True) == "11月20日 周五"
    assert format_date("2026-11-20", "en") == "20 Nov 2026"
    assert format_time("2026-12-01T13:14:03.084Z", "zh", 480) == "2026年12月1日 21:14"
    assert format_time("2026-12-01T13:14:03.084Z", "zh", 480, today=date(2026, 12, 1)) == "今天 21:14"
    assert format_time("2026-11-30T17:00:00Z", "zh", 480, today=date(2026, 12, 3)) == "12月1日 01:00"
    assert format_time(None, "zh", 480) == "—"


@pytest.mark.parametrize("metric,change,want", [
    ("completeness", -0.78, "bad"), ("completeness", 0.05, "good"), ("attendance", -0.1, "bad"),
    ("fever", -0.01, "good"), ("fever", 0.01, "bad"), ("absence", 0.02, "bad"), ("absence", -0.02, "good"),
    ("completeness", 0, ""), ("completeness", None, ""),
])
def test_change_colours_mean_good_or_bad_per_metric(metric, change, want):
    assert change_class(metric, change) == want


def test_a_day_before_its_deadline_is_in_progress_and_outstanding_schools_are_still_expected():
    deadline = time(10, 0)
    assert day_in_progress("2026-12-01", datetime(2026, 12, 1, 9, 0), deadline)
    assert not day_in_progress("2026-12-01", datetime(2026, 12, 1, 10, 0), deadline)
    day = {"date": "2026-12-01", "school_day": True, "schools_expected": 10, "reports_from_expected": 1,
           "reports_received": 1, "completeness": 0.1, "schools_missing": 9}
    missing = {"missing": [{"status": "not_synced"}, {"status": "not_reported"}, {"status": "not_synced"}]}
    check = morning_check({"days": [day]}, missing, now_local=datetime(2026, 12, 1, 9, 0), deadline=deadline)
    assert check["in_progress"] and check["outstanding"] == 9 and check["deadline"] == "10:00"
    assert len(check["not_synced"]) == 2 and len(check["not_reported"]) == 1


def test_area_glance_lists_the_worst_county_first():
    day = [{"county_id": "a", "name": "A", "schools_expected": 10, "schools_missing": 1, "completeness": 0.9},
           {"county_id": "b", "name": "B", "schools_expected": 10, "schools_missing": 5, "completeness": 0.5},
           {"county_id": "c", "name": "C", "schools_expected": 0, "schools_missing": 0, "completeness": None}]
    rows = area_glance(day, [], {"b": {"count": 3, "high": 1}}, {"b": 2})
    assert [r["county_id"] for r in rows] == ["b", "a", "c"]
    assert rows[0]["alerts"] == 3 and rows[0]["alerts_high"] == 1
    assert [r["schools_in_warning"] for r in rows] == [2, 0, 0]


def test_xlsx_formats_rates_as_percent_and_booleans_as_yes_no():
    tables = {"days": [{"date": "2026-11-20", "school_day": True, "completeness": 0.9712,
                        "rates": {"fever": 0.0123}, "totals": {"fever_at_check": 3}}],
              "missing": [{"school_id": "s1", "name": "=HYPERLINK(\"x\")", "at_least": False,
                           "last_sync_at": "2026-11-20T01:00:00.000Z", "status": "not_synced"}]}
    book = load_workbook(io.BytesIO(xlsx_bytes(tables, "zh")))
    assert book.sheetnames == ["每日汇总", "未报学校"]
    days = book["每日汇总"]
    header = [c.value for c in days[1]]
    assert header == ["日期", "上学日", "完整率", "发热率", "晨检发热人数"]
    assert days["B2"].value == "是"
    assert days["C2"].value == 0.9712 and days["C2"].number_format == PERCENT_FORMAT
    assert days["D2"].number_format == PERCENT_FORMAT and days["E2"].value == 3
    missing = book["未报学校"]
    row = {h.value: c.value for h, c in zip(missing[1], missing[2], strict=True)}
    assert row["名称"].startswith("'=")  # still neutralised by safe_cell
    assert row["至少(更早无记录)"] == "否" and row["状态"] == "未同步"
    assert row["最近同步(本地时间)"] == "2026-11-20 09:00"
    english = load_workbook(io.BytesIO(xlsx_bytes(tables, "en")))
    assert english.sheetnames == ["Per day", "Missing schools"]
    assert english["Per day"]["B2"].value == "yes" and english["Per day"]["C1"].value == "Completeness"


def test_county_exports_hold_every_table_of_the_page_with_localised_headers(demo):  # noqa: F811
    _manifest, client, _couch = demo
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    answer = client.get("/api/v1/summaries/county/p01c01", query_string=dict(query, format="xlsx"))
    assert answer.status_code == 200
    book = load_workbook(io.BytesIO(answer.data))
    assert book.sheetnames == ["每日汇总", "合计", "趋势", "学校", "未报学校", "已说明学校", "预警", "校核不一致",
                               "给学校的提醒"]
    days = book["每日汇总"]
    header = [c.value for c in days[1]]
    assert "完整率" in header and "晨检发热人数" in header and "totals.fever_at_check" not in header
    col = header.index("完整率")
    rates = [row[col] for row in days.iter_rows(min_row=2) if row[col].value is not None]
    assert rates and all(c.number_format == PERCENT_FORMAT and isinstance(c.value, int | float) for c in rates)
    assert {c.value for c in (row[header.index("上学日")] for row in days.iter_rows(min_row=2))} <= {"是", "否"}
    api_schools = client.get("/api/v1/summaries/county/p01c01/schools", query_string=query).get_json()["schools"]
    assert book["学校"].max_row == len(api_schools) + 1
    english = client.get("/api/v1/summaries/county/p01c01", query_string=dict(query, format="xlsx", lang="en"))
    assert load_workbook(io.BytesIO(english.data)).sheetnames[:2] == ["Per day", "Total"]
    as_csv = client.get("/api/v1/summaries/county/p01c01", query_string=dict(query, format="csv"))
    rows = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:2] == ["日期", "上学日"] and rows[0][rows[0].index("完整率")] == column_title("completeness", "zh")
    assert all(r[rows[0].index("完整率")].endswith("%") for r in rows[1:] if r[rows[0].index("完整率")])
    assert client.get("/api/v1/summaries/county/p01c01", query_string=dict(query, format="csv", lang="fr")
                      ).status_code == 422
