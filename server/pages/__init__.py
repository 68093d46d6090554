"""Server-rendered pages for officers: province → prefecture → county → school, in Chinese or English.

The pages call the same services as the JSON API, so a page and ``/api/v1/...`` show the
same numbers; exports link to the API with ``?format=csv|xlsx``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, redirect, render_template, request

from server.alerts import alert_service
from server.auth import login_required, require, require_county
from server.early_warning import early_warning_service
from server.pages.i18n import LANGUAGES, current_language, translate
from server.pages.workspace import area_glance, change_class, day_in_progress, format_date, format_time, morning_check
from server.summaries import local_today, summary_service
from server.summaries.registry import PROVINCE
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import COUNT_FIELDS, UnknownArea, total_of
from server.verification.service import VerificationService

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.app_context_processor
def inject_language():
    try:
        lang = current_language()
    except RuntimeError:  # outside a request
        lang = "zh"
    other = "en" if lang == "zh" else "zh"
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", other)])
    return {"lang": LANGUAGES[lang], "lang_code": lang, "t": lambda key: translate(key, lang),
            "lang_switch_url": f"{request.path}?{query}"}


def _offset_minutes() -> int:
    return current_app.config["SETTINGS"].utc_offset_minutes


def _now_local() -> datetime:
    return (datetime.now(UTC) + timedelta(minutes=_offset_minutes())).replace(tzinfo=None)


@bp.app_template_filter("ldate")
def local_date_filter(value, weekday: bool = False, year: bool = True) -> str:
    """``{{ day.date|ldate }}``: a date in the page's language (``2026年11月20日``)."""
    return format_date(value, _lang(), weekday=weekday, year=year)


@bp.app_template_filter("ltime")
def local_time_filter(value) -> str:
    """``{{ stamp|ltime }}``: a stored UTC time as local time (``今天 09:12``, ``11月20日 11:00``)."""
    return format_time(value, _lang(), _offset_minutes(), today=_now_local().date())


def _lang() -> str:
    try:
        return current_language()
    except RuntimeError:
        return "zh"


def _range():
    schema = DateRangeArgs()
    given = {k: v for k, v in request.args.items() if k in ("from", "to")}
    if schema.validate(given):
        abort(400)
    args = schema.load(given)
    return DateRangeArgs.resolve(args, local_today())


def chart_data(days: list[dict]) -> str:
    """Series for the trend chart (percentages; null where there is nothing to divide by), with
    each date's label in the page's language."""
    def pct(value):
        return round(value * 100, 2) if value is not None else None

    lang = _lang()
    return json.dumps({"dates": [d["date"] for d in days],
                       "labels": [format_date(d["date"], lang, year=False) for d in days],
                       "completeness": [pct(d["completeness"]) for d in days],
                       "fever": [pct(d["rates"]["fever"]) for d in days],
                       "absence": [pct(d["rates"]["absence"]) for d in days]})


@bp.route("/")
@login_required
def index():
    user = g.user
    if not user.is_officer and user.schools:
        return redirect("/app/")
    snap = summary_service().snapshot()
    counties = sorted(({"_id": f"county:{cid}", **doc} for cid, doc in snap.counties.items()
                       if user.can_read_county(cid, doc.get("prefecture_id"))), key=lambda doc: doc["_id"])
    prefectures = sorted((pid, doc.get("name") or pid) for pid, doc in snap.prefectures.items()
                         if user.can_read_prefecture(pid))
    return render_template("index.html", counties=counties, prefectures=prefectures, province=user.is_province)


def _page_helpers(summary: dict) -> dict:
    """What every summary page's template uses: the change colours, the day in progress and
    the total shown (without that day, saying so)."""
    settings = current_app.config["SETTINGS"]
    deadline = datetime.strptime(settings.report_deadline_local, "%H:%M").time()
    now = _now_local()
    open_days = [d["date"] for d in summary["days"] if day_in_progress(d["date"], now, deadline)]
    shown_total, total_label = summary["total"], "total"
    if open_days and len(open_days) < len(summary["days"]):
        shown_total = total_of([d for d in summary["days"] if d["date"] not in open_days])
        total_label = "total_without_today"
    return {"change_class": change_class, "open_days": open_days, "deadline": deadline.strftime("%H:%M"),
            "shown_total": shown_total, "total_label": total_label}


def _glance(level: str, area_id: str, summary: dict, end) -> list[dict]:
    """Per county: the last day's completeness and missing schools, and its alerts."""
    service = summary_service()
    on_day = service.area_daily(level, area_id, end, end)["counties"]
    alerts = {}
    for row in on_day:
        found = alert_service().alerts(row["county_id"], end)["alerts"]
        alerts[row["county_id"]] = {"count": len(found), "high": sum(1 for a in found if a["severity"] == "high")}
    try:
        in_warning = early_warning_service().warnings(level, area_id, end, end)["counties"]
    except UnknownArea:  # an area with no county yet has no early warnings either
        in_warning = []
    return area_glance(on_day, summary["counties"], alerts,
                       {row["county_id"]: row["schools_in_warning"] for row in in_warning})


@bp.route("/province")
@login_required
def province_page():
    require(lambda u: u.is_province, "only province officers see the province")
    start, end = _range()
    summary = summary_service().area_daily(PROVINCE, "", start, end)
    return render_template("area.html", summary=summary, chart_json=chart_data(summary["days"]),
                           glance=_glance(PROVINCE, "", summary, end), **_page_helpers(summary),
                           api=f"/api/v1/summaries/province?from={start}&to={end}")


@bp.route("/prefectures/<prefecture_id>")
@login_required
def prefecture_page(prefecture_id: str):
    require(lambda u: u.can_read_prefecture(prefecture_id), f"you may not see prefecture {prefecture_id}")
    start, end = _range()
    try:
        summary = summary_service().area_daily("prefecture", prefecture_id, start, end)
    except UnknownArea:
        abort(404)
    return render_template("area.html", summary=summary, chart_json=chart_data(summary["days"]),
                           glance=_glance("prefecture", prefecture_id, summary, end), **_page_helpers(summary),
                           api=f"/api/v1/summaries/prefecture/{prefecture_id}?from={start}&to={end}")


@bp.route("/counties/<county_id>")
@login_required
def county_page(county_id: str):
    require_county(county_id)
    start, end = _range()
    service = summary_service()
    try:
        summary = service.county_daily(county_id, start, end)
    except UnknownArea:
        abort(404)
    schools = service.county_schools(county_id, start, end)
    missing = service.missing(county_id, end)
    alerts = alert_service().alerts(county_id, end)
    verification = VerificationService(service).report(county_id)
    helpers = _page_helpers(summary)
    check = morning_check(summary, missing, now_local=_now_local(),
                          deadline=datetime.strptime(helpers["deadline"], "%H:%M").time())
    prefecture = service.snapshot().name_of("prefecture", summary.get("prefecture_id") or "")
    from server.requests import age_text, request_service  # requests to schools (server/requests)

    requests = request_service().requests_of(county_id)
    return render_template("county.html", county={"name": summary["name"]}, summary=summary, check=check,
                           prefecture_name=prefecture, **helpers, requests=requests,
                           age_text=lambda seconds: age_text(seconds, _lang()),
                           schools=schools["schools"], missing=missing, alerts=alerts, verification=verification,
                           count_fields=COUNT_FIELDS, chart_json=chart_data(summary["days"]),
                           api=f"/api/v1/summaries/county/{county_id}?from={start}&to={end}")


@bp.route("/schools/<school_id>")
@login_required
def school_page(school_id: str):
    service = summary_service()
    try:
        school = service.school(school_id)
    except UnknownArea:
        require(lambda u: u.is_province)
        abort(404)
    require_county(school.county_id)
    start, end = _range()
    summary = service.school_daily(school_id, start, end)
    return render_template("school.html", summary=summary, relayed_by=_relayed_by(school_id, start, end),
                           api=f"/api/v1/summaries/school/{school_id}?from={start}&to={end}")


def _relayed_by(school_id: str, start, end) -> dict[str, str]:
    """``date -> who carried it`` for the school's daily reports another device relayed (docs/relay.md)."""
    from server.audit import AuditLog
    from server.couchdb import get_couch
    from server.relay.service import relays_of
    from sync.provision import school_db_name

    prefix = "report:daily_health:"
    found = relays_of(AuditLog(get_couch()), school_db_name(school_id), f"{prefix}{start}", f"{prefix}{end}")
    return {doc_id.removeprefix(prefix): str((entry.get("after") or {}).get("carrier_name") or entry.get("who"))
            for doc_id, entry in found.items()}
