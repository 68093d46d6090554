"""The officer's workspace: what the county page and the prefecture/province landing pages
answer first, in local time and Chinese dates (issue 13, items 1 and 4).

The county page answers the morning questions in order: how many schools reported on the
day and how many are still expected before the deadline; who is missing, split into "not
synced since …" (call them) and "synced but filed nothing" (remind them), from the same
answer as Admin → Sync health; what is unusual; the trend. A day whose deadline has not
passed is "in progress": it is marked, and left out of the range total shown on the page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from server.pages.i18n import MESSAGES

WORKSPACE_MESSAGES: dict[str, tuple[str, str]] = {
    "morning_check": ("今日概况", "At a glance"),
    "reported_today": ("已报学校", "Schools reported"),
    "still_expected": ("截止前待报", "Still expected before the deadline"),
    "overdue": ("逾期未报", "Overdue"),
    "deadline": ("截止时间", "Deadline"),
    "in_progress": ("进行中", "in progress"),
    "in_progress_note": ("截止时间未到，数据仍在上报，完整率还会上升；页面上的合计不含这一天。",
                         "The deadline has not passed: reports are still coming in. The total on this page "
                         "leaves this day out."),
    "total_without_today": ("合计(不含进行中的一天)", "Total (without the day in progress)"),
    "not_synced_title": ("未同步：请电话联系", "Not synced: call them"),
    "not_synced_help": ("自截止时间前起没有设备同步过，报告可能还在设备上。",
                        "No device has synced since before the deadline: the report may be waiting on a device."),
    "not_reported_title": ("已同步未报告：请提醒填报", "Synced but filed nothing: remind them"),
    "not_reported_help": ("设备在截止时间后同步过，但没有当天的报告。",
                          "A device synced after the deadline, but there is no report for the day."),
    "synced_since": ("最近同步", "Last synced"),
    "sync_note": ("同步时间与“管理 → 同步状况”一致，统计于", "Sync times as in Admin → Sync health, as of"),
    "unusual": ("异常情况", "What is unusual"),
    "verification_mismatches": ("与卫健部门名单不一致", "Mismatches with the health department"),
    "alerts_count": ("预警", "Alerts"),
    "alerts_high": ("其中病例预警", "of which cases"),
    "worst_first": ("各县完整率(从低到高)", "Counties, worst completeness first"),
    "missing_on_day": ("当日未报", "Missing on the day"),
    "completeness_day": ("当日完整率", "Completeness on the day"),
    "completeness_range": ("期间完整率", "Completeness over the range"),
    "at_a_glance": ("辖区概况", "Your area at a glance"),
    "counties_short": ("个县", "counties"),
    "schools_unit": ("所", ""),
    "days_unit": ("天", " days"),
    "better": ("向好", "better"),
    "worse": ("变差", "worse"),
    "percent_axis": ("完整率 (%)", "Completeness (%)"),
    "rate_axis": ("发热率 / 缺勤率 (%)", "Fever / absence rate (%)"),
    "export_xlsx": ("导出 Excel(全部表格)", "Excel (every table)"),
    "export_csv": ("CSV(每日汇总)", "CSV (per day)"),
    "no_school_day": ("非上学日，无需报告。", "Not a school day: no reports expected."),
    "all_reported": ("全部学校已报告。", "Every school has reported."),
    "call": ("请联系", "call"),
    "local_time_note": ("时间均为本地时间", "All times are local"),
}
MESSAGES.update(WORKSPACE_MESSAGES)

WEEKDAYS_ZH = "一二三四五六日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# +1: a rise is good (completeness); -1: a rise is bad (fever). Change colours follow this.
METRIC_DIRECTION = {"completeness": 1, "on_time_device_rate": 1, "attendance": 1, "staff_attendance": 1,
                    "absence": -1, "absence_illness": -1, "fever": -1, "isolation": -1,
                    "suspected_cases": -1, "confirmed_cases": -1}


def format_date(value: str | date | None, lang: str, *, year: bool = True, weekday: bool = False) -> str:
    """``2026-11-20`` -> ``2026年11月20日`` (``year=False, weekday=True``: ``11月20日 周五``),
    in English ``20 Nov 2026`` / ``Fri 20 Nov``; ``—`` for nothing."""
    if not value:
        return "—"
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if lang == "en":
        text = f"{day.day} {MONTHS_EN[day.month - 1]}" + (f" {day.year}" if year else "")
        return f"{WEEKDAYS_EN[day.weekday()]} {text}" if weekday else text
    text = (f"{day.year}年" if year else "") + f"{day.month}月{day.day}日"
    return f"{text} 周{WEEKDAYS_ZH[day.weekday()]}" if weekday else text


def to_local(stamp: str | None, offset_minutes: int) -> datetime | None:
    """A stored UTC stamp (``2026-12-01T13:14:03.084Z``) as naive local time; None if unreadable."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment.astimezone(UTC) + timedelta(minutes=offset_minutes)).replace(tzinfo=None)


def format_time(stamp: str | None, lang: str, offset_minutes: int, today: date | None = None) -> str:
    """A UTC stamp in local time: ``11月20日 11:00`` (with the year when not ``today``'s),
    ``今天 11:00`` / ``today 11:00`` on ``today``; ``—`` for nothing."""
    local = to_local(stamp, offset_minutes)
    if local is None:
        return str(stamp) if stamp else "—"
    clock = local.strftime("%H:%M")
    if today is not None and local.date() == today:
        return f"{'today' if lang == 'en' else '今天'} {clock}"
    return f"{format_date(local.date(), lang, year=today is None or local.year != today.year)} {clock}"


def change_class(metric: str, change: float | None) -> str:
    """``good`` or ``bad`` for a change of ``metric`` (by ``METRIC_DIRECTION``), else ``""``."""
    if not change or metric not in METRIC_DIRECTION:
        return ""
    return "good" if change * METRIC_DIRECTION[metric] > 0 else "bad"


def day_in_progress(day: str, now_local: datetime, deadline: time) -> bool:
    """Whether ``day``'s deadline is still ahead (local time)."""
    return now_local < datetime.combine(date.fromisoformat(day), deadline)


def morning_check(summary: dict, missing: dict, *, now_local: datetime, deadline: time) -> dict:
    """The first panel of the county page, for the last day of the range."""
    day = summary["days"][-1]
    in_progress = day_in_progress(day["date"], now_local, deadline)
    rows = missing["missing"]
    return {"date": day["date"], "school_day": day["school_day"] and day["schools_expected"] > 0,
            "expected": day["schools_expected"], "reported": day["reports_from_expected"],
            "received": day["reports_received"], "completeness": day["completeness"],
            "outstanding": day["schools_missing"], "in_progress": in_progress,
            "deadline": deadline.strftime("%H:%M"),
            "not_synced": [r for r in rows if r["status"] == "not_synced"],
            "not_reported": [r for r in rows if r["status"] == "not_reported"]}


def area_glance(day_rows: list[dict], range_rows: list[dict], alerts_by_county: dict[str, dict],
                warnings_by_county: dict[str, int] | None = None) -> list[dict]:
    """One row per county of a prefecture or the province, worst completeness on the day first
    (counties without a school day last): completeness on the day and over the range, schools
    missing on the day, alerts (and how many are case alerts), schools in early warning."""
    over_range = {row["county_id"]: row for row in range_rows}
    out = []
    for row in day_rows:
        alerts = alerts_by_county.get(row["county_id"], {})
        out.append({"county_id": row["county_id"], "name": row["name"], "prefecture_id": row.get("prefecture_id"),
                    "expected": row["schools_expected"], "missing": row["schools_missing"],
                    "completeness": row["completeness"],
                    "completeness_range": over_range.get(row["county_id"], {}).get("completeness"),
                    "alerts": alerts.get("count", 0), "alerts_high": alerts.get("high", 0),
                    "schools_in_warning": (warnings_by_county or {}).get(row["county_id"], 0)})
    out.sort(key=lambda r: (r["completeness"] is None, r["completeness"] if r["completeness"] is not None else 0,
                            -r["missing"], r["county_id"]))
    return out
