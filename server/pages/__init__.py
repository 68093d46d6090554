"""Server-rendered pages for county officers (the dashboard) and the landing page."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request

from server.auth import login_required, require_county
from server.couchdb import get_couch
from server.summaries import local_today
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import COUNT_FIELDS, SummaryService, UnknownArea

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.route("/")
@login_required
def index():
    user = g.user
    if not user.is_officer and user.schools:
        return redirect("/app/")
    rows = get_couch().db("registry").view("registry", "by_type", key="county", reduce=False,
                                           include_docs=True)["rows"]
    counties = sorted((row["doc"] for row in rows
                       if user.can_read_county(row["id"].split(":", 1)[1], row["doc"].get("prefecture_id"))),
                      key=lambda doc: doc["_id"])
    return render_template("index.html", counties=counties)


@bp.route("/counties/<county_id>")
@login_required
def county_page(county_id: str):
    require_county(county_id)
    errors = DateRangeArgs().validate(request.args)
    if errors:
        abort(400)
    start, end = DateRangeArgs.resolve(DateRangeArgs().load(request.args), local_today())
    service = SummaryService(get_couch())
    try:
        county = service.county(county_id)
        summary = service.county_daily(county_id, start, end)
    except UnknownArea:
        abort(404)
    return render_template("county.html", county=county, summary=summary, count_fields=COUNT_FIELDS)
