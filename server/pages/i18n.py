"""The dashboard's two languages: Simplified Chinese (default) and English.

A small message table rather than gettext catalogues: the pages have a few dozen labels,
and officers switch with ``?lang=en`` / ``?lang=zh`` (kept in the session).
"""

from __future__ import annotations

import datetime as dt

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
    "rule_early_illness": ("早期预警:因病缺勤", "Early warning: illness absences"),
    "rule_early_fever": ("早期预警:发热", "Early warning: fever"),
    "rule_early_respiratory": ("早期预警:呼吸道症状", "Early warning: respiratory symptoms"),
    "early_warning": ("早期预警", "Early warning"),
    "early_warning_schools": ("早期预警学校数", "Schools in early warning"),
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
    # the review queue and alert pages (server/reviews/pages.py, server/alerts/pages.py)
    "reviews": ("审核队列", "Review queue"),
    "review": ("审核", "Review"),
    "review_open": ("待处理", "Open"),
    "review_resolved": ("已处理", "Decided"),
    "review_all": ("全部", "All"),
    "kind": ("类型", "Kind"),
    "age": ("已等待", "Waiting"),
    "reason_hard_conflict": ("多台设备修改冲突", "Conflicting edits on devices"),
    "reason_invalid_merge": ("合并结果未通过校验", "The merged report fails validation"),
    "relayed_by": ("由 {name} 代为上传", "relayed by {name}"),
    "reason_history": ("违反修改规则(如删除已提交报告)", "A forbidden change (e.g. a submitted report deleted)"),
    "reason_roster": ("填报人不在教师名单上", "Author not on the school's roster"),
    "no_reviews": ("没有需要处理的审核", "Nothing to review"),
    "field": ("字段", "Field"),
    "version": ("版本", "Version"),
    "author": ("填报人", "Author"),
    "device": ("设备", "Device"),
    "edited_at": ("修改时间", "Edited at"),
    "kept_now": ("目前保留", "Kept for now"),
    "differs": ("不一致", "differs"),
    "issues": ("问题", "Issues"),
    "previous_version": ("原版本", "Previous version"),
    "refused_change": ("被拦下的修改", "The change held back"),
    "document": ("文档", "Document"),
    "decide": ("处理", "Decide"),
    "keep_version": ("保留此版本", "Keep this version"),
    "merge_fields": ("逐字段选择", "Choose per field"),
    "enter_value": ("输入新值", "Enter a value"),
    "save_decision": ("保存决定", "Save the decision"),
    "close_no_change": ("不修改,关闭", "Close without a change"),
    "decision": ("处理结果", "Decision"),
    "decided_by": ("处理人", "Decided by"),
    "decided_at": ("处理时间", "Decided at"),
    "values_written": ("写回的值", "Values written"),
    "no_change": ("未修改", "No change"),
    "decision_saved": ("已保存,已写回学校的报告。", "Saved and written back to the school's report."),
    "only_county_decides": ("只有本县的官员可以处理本县的审核。", "Only the county's own officers decide its reviews."),
    "back_to_list": ("返回列表", "Back to the list"),
    "choose_county": ("请选择县:", "Choose a county:"),
    "choose_value": ("请为每个不一致的字段选择或输入一个值。", "Choose or enter a value for every field that differs."),
    "bad_value": ("无效的值", "Not a valid value"),
    "decision_refused": ("无法保存:", "Could not save:"),
    "note_required": ("请填写备注。", "Write a note."),
    "ack_saved": ("已确认。", "Acknowledged."),
    "ack_by": ("确认人", "Acknowledged by"),
    "ack_at": ("确认时间", "Acknowledged at"),
    "ack_gone": ("该预警已不存在(数据已更新),无法确认。", "This alert is no longer raised (the data changed)."),
    "acknowledge_button": ("确认", "Acknowledge"),
    "open_alerts": ("未确认", "Not acknowledged"),
    "minutes": ("分钟", "min"),
    "hours": ("小时", "h"),
    "days": ("天", "days"),
    # error pages and upload results (issue 13, item 6)
    "error_400": ("请求无法处理", "The request cannot be used"),
    "error_400_text": ("请求中的内容有误。请返回上一页检查后重试。",
                       "Something in the request is wrong: go back, check it and try again."),
    "error_401": ("请先登录", "Sign in first"),
    "error_401_text": ("这个页面需要登录后才能查看。", "This page is for signed-in users."),
    "error_403": ("没有权限查看此页面", "You may not open this page"),
    "error_403_text": ("您的账号没有查看这一页的权限。如果您认为应该有,请联系本县或上级管理员。",
                       "Your account may not see this page. If you think it should, ask your administrator."),
    "error_404": ("找不到该页面", "Page not found"),
    "error_404_text": ("链接可能已过期,或地址有误。", "The link may be out of date, or the address is wrong."),
    "error_405": ("不能这样打开此页面", "This page cannot be opened this way"),
    "error_405_text": ("请从页面上的按钮或链接进入。", "Use the buttons and links on the pages to get here."),
    "error_413": ("文件太大", "The file is too large"),
    "error_413_text": ("最大 {limit} MB。请拆分后分别上传。", "At most {limit} MB: split it and upload the parts."),
    "error_429": ("尝试次数过多", "Too many attempts"),
    "error_429_text": ("请稍等几分钟再试。", "Wait a few minutes and try again."),
    "error_500": ("服务器出错了", "Something went wrong on the server"),
    "error_500_text": ("这不是您的操作问题。请稍后再试;如果一直出现,请告诉管理员出错的时间。",
                       "It is not something you did. Try again later; if it goes on, tell your administrator when."),
    "error_503": ("服务暂时不可用", "The service is unavailable for now"),
    "error_503_text": ("数据库暂时无法连接,请稍后再试。", "The database cannot be reached: try again shortly."),
    "error_other": ("出错了", "Something went wrong"),
    "error_other_text": ("请求没有完成。", "The request was not completed."),
    "error_code": ("错误代码", "Error code"),
    "back_to_landing": ("返回我的首页", "Back to my start page"),
    "sign_in_other": ("换一个账号登录", "Sign in as someone else"),
    "back_to_county": ("返回本县页面", "Back to the county page"),
    "upload_result": ("上传结果", "Upload result"),
    "upload_saved": ("名单已保存,比对结果如下。", "The list was stored; this is how it compares."),
    "upload_refused": ("名单有错误,未保存任何内容。请修改后重新上传。",
                       "The list has errors; nothing was stored. Fix them and upload it again."),
    "matched": ("一致", "Matched"),
    "mismatches": ("不一致", "Mismatches"),
    "list_rows": ("名单行数", "Rows on the list"),
    "line": ("行", "Line"),
    "problem": ("问题", "Problem"),
    "upload_again": ("重新上传", "Upload again"),
    "choose_file": ("请选择要上传的 CSV 文件", "Choose the CSV file to upload"),
    "not_utf8": ("文件不是 UTF-8 文本(请另存为“CSV UTF-8”);未保存任何内容",
                 "The file is not UTF-8 text (save it as CSV UTF-8); nothing was stored"),
    "latest_upload": ("最近一次上传", "Latest upload"),
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


def format_local_time(iso: str | None, offset_minutes: int, lang: str) -> str:
    """A stored UTC time (``2026-12-01T13:14:03.084Z``) as local time: ``2026年12月1日 21:14``
    in Chinese, ``2026-12-01 21:14`` in English; "" for none, the text itself if unparsable."""
    if not iso:
        return ""
    try:
        at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    local = at.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    if lang == "en":
        return local.strftime("%Y-%m-%d %H:%M")
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def format_age(iso: str | None, now: dt.datetime, lang: str) -> str:
    """How long ago ``iso`` was, in the largest whole unit (minutes, hours, days)."""
    if not iso:
        return ""
    try:
        at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    minutes = max(0, int((now - at).total_seconds() // 60))
    if minutes < 60:
        number, unit = minutes, "minutes"
    elif minutes < 48 * 60:
        number, unit = minutes // 60, "hours"
    else:
        number, unit = minutes // (24 * 60), "days"
    return f"{number} {translate(unit, lang)}" if lang == "en" else f"{number}{translate(unit, lang)}"
