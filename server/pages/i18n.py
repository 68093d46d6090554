"""The dashboard's two languages: Simplified Chinese (default) and English.

A small message table rather than gettext catalogues: the pages have a few dozen labels,
and officers switch with ``?lang=en`` / ``?lang=zh`` (kept in the session).
"""

from __future__ import annotations

from flask import request, session

LANGUAGES = {"zh": "zh-CN", "en": "en"}
DEFAULT = "zh"

MESSAGES: dict[str, tuple[str, str]] = {  # key -> (zh, en)
    "app_title": ("学校健康日报", "School daily health reports"),
    "home": ("首页", "Home"),
    "teacher_app": ("教师应用", "Teacher app"),
    "api": ("接口", "API"),
    "sign_out": ("退出", "Sign out"),
    "sign_in": ("登录", "Sign in"),
    "language": ("English", "中文"),
    "province": ("全省", "Province"),
    "prefectures": ("市州", "Prefectures"),
    "prefecture": ("市州", "Prefecture"),
    "counties": ("县", "Counties"),
    "county": ("县", "County"),
    "schools": ("学校", "Schools"),
    "school": ("学校", "School"),
    "daily_summary": ("日报汇总", "Daily summary"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "show": ("查看", "Show"),
    "export": ("导出", "Export"),
    "date": ("日期", "Date"),
    "expected": ("应报", "Expected"),
    "received": ("已报", "Received"),
    "zero": ("零报告", "Zero reports"),
    "completeness": ("完整率", "Completeness"),
    "on_time_device": ("按时(设备)", "On time (device)"),
    "on_time_server": ("按时(服务器)", "On time (server)"),
    "attendance": ("出勤率", "Attendance"),
    "absence": ("缺勤率", "Absence"),
    "fever": ("发热", "Fever"),
    "fever_rate": ("发热率", "Fever rate"),
    "isolated": ("隔离", "Isolated"),
    "suspected": ("疑似", "Suspected"),
    "confirmed": ("确诊", "Confirmed"),
    "missing": ("未报", "Missing"),
    "missing_schools": ("未报学校", "Missing schools"),
    "no_school": ("休", "no school"),
    "total": ("合计", "Total"),
    "trend": ("与前7天比较", "Against the previous 7 days"),
    "current": ("当日", "Day"),
    "previous": ("前7天", "Previous 7 days"),
    "change": ("变化", "Change"),
    "chart": ("趋势图", "Trend"),
    "days_missing": ("连续未报(上学日)", "School days missing in a row"),
    "last_sync": ("最近同步", "Last sync"),
    "status": ("状态", "Status"),
    "not_reported": ("已同步未报告", "Synced, not reported"),
    "not_synced": ("未同步", "Not synced"),
    "never": ("从未", "never"),
    "alerts": ("预警", "Alerts"),
    "rule": ("规则", "Rule"),
    "value": ("数值", "Value"),
    "threshold": ("阈值", "Threshold"),
    "acknowledged": ("已确认", "Acknowledged"),
    "acknowledge": ("确认", "Acknowledge"),
    "note": ("备注", "Note"),
    "rule_cases": ("疑似/确诊病例", "Suspected/confirmed cases"),
    "rule_fever_rate": ("发热率过高", "High fever rate"),
    "rule_absence_rate": ("缺勤率过高", "High absence rate"),
    "rule_missing": ("连续未报", "Missing for days"),
    "verification": ("双向校核", "Two-way verification"),
    "upload_list": ("上传卫健部门名单 (CSV: school_id,date,suspected,confirmed)",
                    "Upload the health department's list (CSV: school_id,date,suspected,confirmed)"),
    "upload": ("上传", "Upload"),
    "list_count": ("名单", "On the list"),
    "school_count": ("学校上报", "Reported by school"),
    "direction": ("方向", "Direction"),
    "list_only": ("名单有、学校未报", "On the list, not reported by the school"),
    "school_only": ("学校报、名单无", "Reported by the school, not on the list"),
    "no_upload": ("尚未上传名单", "No list uploaded yet"),
    "none": ("无", "None"),
    "reported": ("已报", "Reported"),
    "not_expected": ("无需报", "Not expected"),
    "days_expected": ("应报天数", "Days expected"),
    "staff_attendance": ("教职工出勤率", "Staff attendance"),
}


def current_language() -> str:
    """``?lang=`` (remembered in the session), else the session's, else Chinese."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    return session["lang"] if session.get("lang") in LANGUAGES else DEFAULT


def translate(key: str, lang: str) -> str:
    zh, en = MESSAGES.get(key, (key, key))
    return en if lang == "en" else zh
