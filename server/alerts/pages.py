"""Alerts as a page: ``/alerts?county=<id>&date=<day>`` lists a county's alerts of a day with
an "acknowledge / 确认" form (and a note) on each; acknowledged ones show who, when (local
time) and the note. The acknowledgement is the API's (``acknowledge_alert``: the service
plus an audit record); the forms carry the CSRF token and errors are shown on the page.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, redirect, render_template, request

from server.alerts import acknowledge_alert, alert_service
from server.alerts.service import AlertId, BadAlertId
from server.auth import check_csrf, login_required, require, require_county
from server.pages.i18n import current_language, format_local_time, translate
from server.summaries import local_today, summary_service
from server.summaries.service import UnknownArea

bp = Blueprint("alert_pages", __name__)

NOTE_MAX = 2000


def _readable_counties() -> list[tuple[str, str]]:
    user = g.user
    snap = summary_service().snapshot()
    return sorted((cid, doc.get("name") or cid) for cid, doc in snap.counties.items()
                  if user.can_read_county(cid, doc.get("prefecture_id")))


def _page(county: str | None, day_text: str | None, *, error: str | None = None, status: int = 200,
          note: str = "", failed: str | None = None):
    lang = current_language()
    offset = current_app.config["SETTINGS"].utc_offset_minutes
    answer = None
    try:
        day = dt.date.fromisoformat(day_text) if day_text else local_today()
    except ValueError:
        day, error, status = local_today(), f"{translate('date', lang)}: {day_text}", 400
    if county:
        try:
            answer = alert_service().alerts(county, day)
        except UnknownArea:
            abort(404)
    return render_template("alerts.html", answer=answer, county=county or "", day=day.isoformat(),
                           county_choices=_readable_counties() if not county else [], error=error, note=note,
                           failed=failed, saved=request.args.get("saved"),
                           when=lambda iso: format_local_time(iso, offset, lang)), status


@bp.route("/alerts")
@login_required
def alerts():
    """A county's alerts of a day (default today), with their acknowledgements."""
    require(lambda u: u.is_officer, "only county, prefecture and province officers and admins see this")
    county = request.args.get("county") or None
    if county:
        require_county(county)
    elif len(g.user.counties) == 1 and not g.user.prefectures and not g.user.is_province:
        return redirect("/alerts?" + urlencode({"county": next(iter(g.user.counties)), **{
            k: v for k, v in request.args.items() if k == "date"}}))
    return _page(county, request.args.get("date"))


@bp.route("/alerts/<alert_id>/ack", methods=["GET", "POST"])
@login_required
def acknowledge(alert_id: str):
    """Acknowledge one alert with a note (POST from the alerts page); GET goes back to the list."""
    service = alert_service()
    try:
        alert = AlertId.parse(alert_id)
        county = service.county_of_alert(alert)
    except (BadAlertId, UnknownArea):
        abort(404)
    require_county(county)
    back = "/alerts?" + urlencode({"county": county, "date": alert.date})
    if request.method == "GET":
        return redirect(back)
    check_csrf()
    lang = current_language()
    note = (request.form.get("note") or "").strip()[:NOTE_MAX]
    if not note:
        return _page(county, alert.date, error=translate("note_required", lang), status=422, failed=str(alert))
    try:
        acknowledge_alert(service, alert, by=g.user.name, note=note)
    except UnknownArea:
        return _page(county, alert.date, error=translate("ack_gone", lang), status=409, note=note,
                     failed=str(alert))
    return redirect(f"{back}&{urlencode({'saved': str(alert)})}")
