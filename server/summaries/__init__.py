"""County summaries: JSON at ``/api/v1/summaries/...``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app

from server.api import Blueprint, abort
from server.auth import login_required, require_county
from server.couchdb import get_couch
from server.summaries.schemas import DateRangeArgs
from server.summaries.service import SummaryService, UnknownArea

blp = Blueprint("summaries", __name__, url_prefix="/api/v1/summaries", description="County summaries")


def local_today():
    offset = current_app.config["SETTINGS"].utc_offset_minutes
    return (datetime.now(UTC) + timedelta(minutes=offset)).date()


@blp.route("/county/<county_id>")
@login_required
@blp.arguments(DateRangeArgs, location="query")
def county_summary(args, county_id: str):
    """Per day: schools expected, reports received, zero reports, completeness, totals, missing schools."""
    require_county(county_id)
    start, end = DateRangeArgs.resolve(args, local_today())
    try:
        return SummaryService(get_couch()).county_daily(county_id, start, end)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
