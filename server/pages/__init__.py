"""Server-rendered pages for county officers (the dashboard) and the landing page."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from server.couchdb import get_couch
from server.summaries import local_today
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import COUNT_FIELDS, SummaryService, UnknownArea

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.route("/")
def index():
    rows = get_couch().db("registry").view("registry", "by_type", key="county", reduce=False,
                                           include_docs=True)["rows"]
    counties = sorted((row["doc"] for row in rows), key=lambda doc: doc["_id"])
    return render_template("index.html", counties=counties)


@bp.route("/counties/<county_id>")
def county_page(county_id: str):
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
