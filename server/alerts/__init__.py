"""Alerts of a county's day and their acknowledgement by an officer.

    GET  /api/v1/alerts?county=<id>&date=<day>    alerts (with their acks); ?format=csv|xlsx
    GET  /api/v1/alerts/<alert id>/ack            the acknowledgement, or null
    POST /api/v1/alerts/<alert id>/ack {"note"}   acknowledge (kept in ops as alert_ack:<id>)
"""

from __future__ import annotations

from flask import g
from marshmallow import Schema, fields, validate

from server.alerts.service import AlertId, AlertService, BadAlertId
from server.api import Blueprint, abort
from server.audit import AuditLog
from server.auth import login_required, require_county
from server.couchdb import get_couch
from server.summaries import local_today, send_answer, summary_service
from server.summaries.schemas import DayArgs
from server.summaries.service import UnknownArea

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Alerts and acknowledgements")


class AlertsArgs(DayArgs):
    county = fields.String(required=True)


class AckArgs(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


def alert_service() -> AlertService:
    return AlertService(summary_service())


def acknowledge_alert(service: AlertService, alert: AlertId, *, by: str, note: str) -> dict:
    """Acknowledge through the service and leave an ``audit:`` record (action ``alert_ack``).
    Raises ``UnknownArea`` when the alert is not raised now, and the CouchDB client's errors."""
    saved = service.acknowledge(alert, by=by, note=note)
    AuditLog(get_couch()).record(who=by, action="alert_ack", target=f"alert/{alert}", after={"note": note},
                                 county_id=service.county_of_alert(alert), school_id=alert.school_id)
    return saved


@blp.route("")
@login_required
@blp.arguments(AlertsArgs, location="query")
def list_alerts(args):
    """Alerts of a county on a day (default today): cases, fever rate, absence rate, missing school."""
    require_county(args["county"])
    day = args.get("date") or local_today()
    try:
        answer = alert_service().alerts(args["county"], day)
    except UnknownArea:
        abort(404, message=f"no county {args['county']!r} in the registry")
    return send_answer(answer, {"alerts": answer["alerts"]}, args, f"alerts-{args['county']}-{day}")


def _alert_and_county(service: AlertService, alert_id: str) -> AlertId:
    try:
        alert = AlertId.parse(alert_id)
        county_id = service.county_of_alert(alert)
    except (BadAlertId, UnknownArea):
        abort(404, message=f"no alert {alert_id!r}")
    require_county(county_id)
    return alert


@blp.route("/<alert_id>/ack", methods=["GET"])
@login_required
def get_ack(alert_id: str):
    """The acknowledgement of an alert (``acknowledged`` is null until someone acknowledges it)."""
    service = alert_service()
    alert = _alert_and_county(service, alert_id)
    return {"alert_id": str(alert), "acknowledged": service.ack_of(alert)}


@blp.route("/<alert_id>/ack", methods=["POST"])
@login_required
@blp.arguments(AckArgs)
def ack(args, alert_id: str):
    """Acknowledge an alert with a note; who and when are recorded (every ack is kept in its history)."""
    service = alert_service()
    alert = _alert_and_county(service, alert_id)
    try:
        saved = acknowledge_alert(service, alert, by=g.user.name, note=args["note"])
    except UnknownArea:
        abort(404, message=f"alert {alert_id!r} is not raised for that school and day")
    return {"alert_id": str(alert), "acknowledged": saved}
