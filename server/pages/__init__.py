"""Server-rendered pages for officers: province → prefecture → county → school, in Chinese or English.

The pages call the same services as the JSON API, so a page and ``/api/v1/...`` show the
same numbers; exports link to the API with ``?format=csv|xlsx``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, abort, g, redirect, render_template, request

from server.alerts import alert_service
from server.auth import login_required, require, require_county
from server.pages.i18n import LANGUAGES, current_language, translate
from server.summaries import local_today, summary_service
from server.summaries.registry import PROVINCE
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import COUNT_FIELDS, UnknownArea
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


def _range():
    schema = DateRangeArgs()
    given = {k: v for k, v in request.args.items() if k in ("from", "to")}
    if schema.validate(given):
        abort(400)
    args = schema.load(given)
    return DateRangeArgs.resolve(args, local_today())


def chart_data(days: list[dict]) -> str:
    """Series for the trend chart (percentages; null where there is nothing to divide by)."""
    def pct(value):
        return round(value * 100, 2) if value is not None else None

    return json.dumps({"dates": [d["date"] for d in days],
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


@bp.route("/province")
@login_required
def province_page():
    require(lambda u: u.is_province, "only province officers see the province")
    start, end = _range()
    summary = summary_service().area_daily(PROVINCE, "", start, end)
    return render_template("area.html", summary=summary, chart_json=chart_data(summary["days"]),
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
    return render_template("county.html", county={"name": summary["name"]}, summary=summary,
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
    return render_template("school.html", summary=summary,
                           api=f"/api/v1/summaries/school/{school_id}?from={start}&to={end}")
