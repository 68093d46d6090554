"""Requests from the county office to a school ("please file", "please check"), answered at
the school (issue 13, item 3).

    POST /api/v1/counties/<id>/requests        send one (JSON: school_id, date, kind, note)
    GET  /api/v1/counties/<id>/requests        the county's requests with age and status;
                                               ?status=open|answered|all
    POST /counties/<id>/requests               the county page's forms (CSRF token), back to the page

Officers who may read the county (as for its missing list) send and list. What is written
and how the status is computed: ``server.requests.service``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint as PageBlueprint
from flask import g, redirect, request
from marshmallow import Schema, fields, validate

from server.api import Blueprint, abort
from server.audit import AuditLog
from server.auth import check_csrf, login_required, require, require_county
from server.couchdb import get_couch
from server.pages.i18n import MESSAGES
from server.requests.service import KINDS, NOTE_MAX, BadRequestToSchool, RequestService
from server.summaries import local_today, summary_service
from server.summaries.service import UnknownArea

REQUEST_MESSAGES: dict[str, tuple[str, str]] = {
    "requests_title": ("给学校的提醒与核实", "Requests to schools"),
    "requests_help": ("学校的设备下次同步时收到；学校填报、更正或说明后自动标为已答复。",
                      "Schools' devices receive them on their next sync; a request is answered once the "
                      "school files, corrects or explains."),
    "ask_to_file": ("提醒填报", "Ask to file"),
    "ask_to_check": ("请学校核实", "Ask the school to check"),
    "request_note": ("留言", "Note"),
    "default_note_file": ("请尽快填报当日的健康日报告；如当日停课或全校外出，请在应用中说明原因。",
                          "Please file the day's health report; if the school was closed or away, explain "
                          "why in the app."),
    "default_note_check": ("卫健部门名单与贵校报告不一致，请核实并更正报告，或在应用中说明。",
                           "The health department's list differs from your report: please check and correct "
                           "it, or explain in the app."),
    "request_kind_file": ("提醒填报", "Asked to file"),
    "request_kind_check": ("请核实", "Asked to check"),
    "request_open": ("待答复", "Open"),
    "request_answered": ("已答复", "Answered"),
    "answer_filed": ("已填报", "Filed"),
    "answer_corrected": ("已更正", "Corrected"),
    "answer_explained": ("已说明", "Explained"),
    "request_age": ("已过", "Age"),
    "answered_after": ("答复用时", "Answered after"),
    "sent_by": ("发送人", "Sent by"),
    "request_sent": ("已发送给学校", "Sent to the school"),
    "no_requests": ("还没有发送过提醒。", "No requests sent yet."),
    "explained_title": ("已说明：不计为未报", "Explained: not counted as missing"),
    "explained_help": ("学校说明了当日未报告的原因。", "The school explained why there is no report for the day."),
    "reason": ("原因", "Reason"),
    "explained_at": ("说明收到时间", "Explanation received"),
    "reason_closed_weather": ("停课：天气、洪涝或灾害", "Closed: weather, flood or disaster"),
    "reason_closed_holiday": ("停课：放假或考试日", "Closed: holiday or exam day"),
    "reason_trip": ("全校外出", "Whole school away on a trip"),
    "reason_other": ("其他", "Other"),
    "schools_explained": ("已说明", "Explained"),
    "explained": ("已说明", "Explained"),
    "mismatch_answer": ("学校答复", "School's answer"),
    "hours_unit": ("小时", " h"),
    "days_unit_short": ("天", " d"),
    "minutes_unit": ("分钟", " min"),
    "send": ("发送", "Send"),
}
MESSAGES.update(REQUEST_MESSAGES)

blp = Blueprint("requests", __name__, url_prefix="/api/v1/counties",
                description="Requests from the county office to schools, and their answers")


class RequestArgs(Schema):
    school_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    date = fields.Date(required=True)
    kind = fields.String(load_default="file", validate=validate.OneOf(KINDS))
    note = fields.String(load_default="", validate=validate.Length(max=NOTE_MAX))
    context = fields.Dict(load_default=dict, metadata={"description": "what prompted it, e.g. the mismatch"})


class ListArgs(Schema):
    status = fields.String(load_default="all", validate=validate.OneOf(["open", "answered", "all"]))


def request_service() -> RequestService:
    return RequestService(summary_service())


def age_text(seconds: int | None, lang: str) -> str:
    """``3小时`` / ``2天`` (``3 h`` / ``2 d``); minutes under an hour."""
    if seconds is None:
        return "—"
    def unit(key: str) -> str:
        return REQUEST_MESSAGES[key][1 if lang == "en" else 0]
    if seconds < 3600:
        return f"{max(1, seconds // 60)}{unit('minutes_unit')}"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}{unit('hours_unit')}"
    return f"{seconds // 86400}{unit('days_unit_short')}"


def _send(county_id: str, args: dict) -> dict:
    require(lambda u: u.is_officer, "only officers send requests to schools")
    require_county(county_id)
    try:
        sent = request_service().send(county_id, school_id=args["school_id"], day=args["date"], kind=args["kind"],
                                      note=args["note"].strip(), by=g.user.name, context=args.get("context"),
                                      today=local_today())
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    except BadRequestToSchool as bad:
        abort(422, message="the request cannot be sent", errors=bad.errors)
    AuditLog(get_couch()).record(who=g.user.name, action="request_send", target=f"request/{sent['id']}",
                                 after={"kind": sent["kind"], "date": sent["date"], "note": sent["note"]},
                                 county_id=county_id, school_id=sent["school_id"])
    return sent


@blp.route("/<county_id>/requests", methods=["POST"])
@login_required
@blp.arguments(RequestArgs)
@blp.alt_response(422, description="the school is not one of the county's, or the body is wrong")
def send_request(args, county_id: str):
    """Send a request to a school: written into the school's database, where its devices get it."""
    return _send(county_id, args), 201


@blp.route("/<county_id>/requests", methods=["GET"])
@login_required
@blp.arguments(ListArgs, location="query")
def list_requests(args, county_id: str):
    """The county's requests, newest first, with age and status (open, or answered: filed,
    corrected or explained, from what the school sent)."""
    require_county(county_id)
    try:
        return request_service().requests_of(county_id, args["status"])
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")


pages_bp = PageBlueprint("request_pages", __name__)


@pages_bp.route("/counties/<county_id>/requests", methods=["GET", "POST"])
@login_required
def send_from_page(county_id: str):
    """The county page's "ask to file" / "ask the school to check" forms; back to the page."""
    from flask import abort as page_abort

    require_county(county_id)
    back = f"/counties/{county_id}"
    if request.method == "GET":
        return redirect(back + "#requests")
    if request.authorization is None:  # a browser form with the session cookie
        check_csrf()
    given = {k: v for k, v in request.form.items() if k in ("school_id", "date", "kind", "note")}
    if RequestArgs().validate(given):
        page_abort(400)
    args = RequestArgs().load(given)
    context = {k: request.form[k] for k in ("category", "list_count", "school_count") if request.form.get(k)}
    args["context"] = context
    sent = _send(county_id, args)
    keep = {k: v for k, v in request.form.items() if k in ("from", "to")}
    return redirect(f"{back}?{urlencode({**keep, 'sent': sent['id']})}#requests", code=303)
