"""Summaries as JSON (and CSV/XLSX with ``?format=``): county, prefecture, province, school,
and a county's missing schools.

    GET /api/v1/summaries/county/<id>            per day, total, trend
    GET /api/v1/summaries/county/<id>/schools    per school over the range (drill-down)
    GET /api/v1/summaries/school/<id>            one school per day
    GET /api/v1/summaries/prefecture/<id>        per day, total, trend, per county
    GET /api/v1/summaries/province               per day, total, trend, per prefecture and county
    GET /api/v1/counties/<id>/missing?date=      missing schools, days in a row, last sync
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app

from server.api import Blueprint, abort
from server.auth import login_required, require, require_county
from server.couchdb import get_couch
from server.summaries.export import export
from server.summaries.registry import PROVINCE, RegistryIndex
from server.summaries.schemas import DateRangeArgs, DayArgs
from server.summaries.service import SummaryService, UnknownArea

blp = Blueprint("summaries", __name__, url_prefix="/api/v1", description="Summaries, roll-ups and missing schools")


def local_today():
    offset = current_app.config["SETTINGS"].utc_offset_minutes
    return (datetime.now(UTC) + timedelta(minutes=offset)).date()


def summary_service() -> SummaryService:
    """The request's service, sharing the app's registry snapshot."""
    index = current_app.extensions.get("registry_index")
    if index is None:
        index = current_app.extensions.setdefault("registry_index", RegistryIndex(get_couch()))
    settings = current_app.config["SETTINGS"]
    return SummaryService(get_couch(), index, utc_offset_minutes=settings.utc_offset_minutes,
                          deadline_local=settings.report_deadline_local)


def trend_rows(trend: dict) -> list[dict]:
    return [{"metric": name, "date": trend["date"], "current": value, "previous": trend["previous"][name],
             "change": trend["change"][name], "previous_from": trend["previous_from"],
             "previous_to": trend["previous_to"]} for name, value in trend["current"].items()]


def county_page_tables(service: SummaryService, county_id: str, start, end) -> dict[str, list[dict]]:
    """The county page's other tables, for its exports."""
    from server.alerts import alert_service  # late: the alerts package imports this one
    from server.requests import request_service  # late: the requests package imports this one
    from server.verification.service import VerificationService

    missing = service.missing(county_id, end)
    return {"schools": service.county_schools(county_id, start, end)["schools"],
            "missing": missing["missing"],
            "explained": missing["explained"],
            "alerts": [{k: v for k, v in alert.items() if k != "detail"}
                       for alert in alert_service().alerts(county_id, end)["alerts"]],
            "mismatches": VerificationService(service).report(county_id).get("mismatches") or [],
            "requests": [{k: r[k] for k in REQUEST_COLUMNS} | {"reason": (r["explanation"] or {}).get("reason"),
                                                              "details": (r["explanation"] or {}).get("details")}
                         for r in request_service().requests_of(county_id)["requests"]]}


#: The requests sheet's columns (the API's answer has more: ``context``, the ids).
REQUEST_COLUMNS = ("school_id", "school_name", "date", "kind", "note", "sent_by", "sent_at", "age_seconds",
                   "status", "answer", "answered_at", "answer_after_seconds")


def send_answer(answer: dict, tables: dict, args: dict, filename: str):
    try:
        return export(answer, tables, fmt=args["format"], table=args.get("table"), filename=filename,
                      lang=args.get("lang"))
    except KeyError:
        abort(422, message=f"no table {args.get('table')!r}; tables: {', '.join(tables)}")


@blp.route("/summaries/county/<county_id>")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def county_summary(args, county_id: str):
    """Per day: schools expected, reports received, zero reports, completeness, on-time, totals,
    rates, missing schools; the total over the range; the last day against the 7 before it.

    As CSV/XLSX, the county page's tables too (one sheet each in XLSX): ``schools`` over the
    range, and on the last day ``missing``, ``alerts`` and the verification ``mismatches``."""
    require_county(county_id)
    start, end = DateRangeArgs.resolve(args, local_today())
    service = summary_service()
    try:
        answer = service.county_daily(county_id, start, end)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    tables = {"days": answer["days"], "total": [answer["total"]], "trend": trend_rows(answer["trend"])}
    if args["format"] != "json":
        tables.update(county_page_tables(service, county_id, start, end))
    return send_answer(answer, tables, args, f"county-{county_id}-{start}-{end}")


@blp.route("/summaries/county/<county_id>/schools")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def county_schools(args, county_id: str):
    """Per school of the county over the range: days expected, reported and missing, totals, rates."""
    require_county(county_id)
    start, end = DateRangeArgs.resolve(args, local_today())
    try:
        answer = summary_service().county_schools(county_id, start, end)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    return send_answer(answer, {"schools": answer["schools"]}, args, f"county-{county_id}-schools-{start}-{end}")


@blp.route("/summaries/school/<school_id>")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def school_summary(args, school_id: str):
    """One school per day: reported, missing or not expected, and what it reported."""
    service = summary_service()
    try:
        school = service.school(school_id)
    except UnknownArea:
        require(lambda u: u.is_province, "you may not see that school")
        abort(404, message=f"no school {school_id!r} in the registry")
    require_county(school.county_id)
    start, end = DateRangeArgs.resolve(args, local_today())
    answer = service.school_daily(school_id, start, end)
    return send_answer(answer, {"days": answer["days"]}, args, f"school-{school_id}-{start}-{end}")


@blp.route("/summaries/prefecture/<prefecture_id>")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def prefecture_summary(args, prefecture_id: str):
    """The prefecture's counties summed: per day, total, trend, and one row per county."""
    require(lambda u: u.can_read_prefecture(prefecture_id), f"you may not see prefecture {prefecture_id}")
    start, end = DateRangeArgs.resolve(args, local_today())
    try:
        answer = summary_service().area_daily("prefecture", prefecture_id, start, end)
    except UnknownArea:
        abort(404, message=f"no prefecture {prefecture_id!r} in the registry")
    tables = {"days": answer["days"], "counties": answer["counties"], "total": [answer["total"]],
              "trend": trend_rows(answer["trend"])}
    return send_answer(answer, tables, args, f"prefecture-{prefecture_id}-{start}-{end}")


@blp.route("/summaries/province")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def province_summary(args):
    """Every county summed: per day, total, trend, one row per prefecture and per county."""
    require(lambda u: u.is_province, "only province officers see the province")
    start, end = DateRangeArgs.resolve(args, local_today())
    answer = summary_service().area_daily(PROVINCE, "", start, end)
    tables = {"days": answer["days"], "prefectures": answer["prefectures"], "counties": answer["counties"],
              "total": [answer["total"]], "trend": trend_rows(answer["trend"])}
    return send_answer(answer, tables, args, f"province-{start}-{end}")


@blp.route("/counties/<county_id>/missing")
@login_required
@blp.arguments(DayArgs, location="query")
def county_missing(args, county_id: str):
    """Schools expected on ``date`` without a report: days in a row, last sync, not reported vs not synced."""
    require_county(county_id)
    day = args.get("date") or local_today()
    try:
        answer = summary_service().missing(county_id, day)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    return send_answer(answer, {"missing": answer["missing"]}, args, f"county-{county_id}-missing-{day}")
