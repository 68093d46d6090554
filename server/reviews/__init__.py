"""The county's review queue and quarantine: what the worker could not settle alone.

``GET /api/v1/reviews`` lists review items (hard conflicts, invalid merges, history
violations, authors not on the roster) of the counties the caller may see;
``POST /api/v1/reviews/<id>`` applies an officer's decision: the chosen values are written
back into the school database by the service account and audited
(``sync.apply_review_decision``). ``GET /api/v1/quarantine`` lists documents the worker
refused, with the reasons in both languages and the whole body.
"""

from __future__ import annotations

from flask import g
from marshmallow import Schema, fields, validate

from server.api import Blueprint, abort
from server.auth import User, county_prefecture, login_required, require, require_county
from server.couchdb import get_couch
from sync import apply_review_decision
from sync.provision import OPS_DB
from sync.reviews import REVIEW_TYPE, ReviewError

blp = Blueprint("reviews", __name__, url_prefix="/api/v1", description="Review queue and quarantine")

QUARANTINE_TYPE = "quarantine"


class ListArgs(Schema):
    county = fields.String(load_default=None,
                           metadata={"description": "county id (officers of one county may omit it)"})
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "resolved", "all"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DecisionArgs(Schema):
    values = fields.Dict(keys=fields.String(), required=True,
                         metadata={"description": "field -> the value to keep; {} closes without a change"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))


def _counties_to_list(user: User, county: str | None) -> list[str] | None:
    """None means every county (province, admin); else the counties to read."""
    if county:
        require_county(county)
        return [county]
    if user.is_province:
        return None
    if user.counties and not user.prefectures:
        return sorted(user.counties)
    abort(400, message="say which county: ?county=<id>")


def list_items(doc_type: str, counties: list[str] | None, statuses: list[str], limit: int) -> list[dict]:
    """Review (or quarantine) items of ``counties`` (None: every county), newest first.
    Raises the CouchDB client's errors."""
    ops = get_couch().db(OPS_DB)
    items: list[dict] = []
    for status in statuses:
        ranges = [[doc_type, status, c] for c in counties] if counties is not None else [[doc_type, status]]
        for prefix in ranges:
            rows = ops.view("ops", "by_type_status", startkey=prefix, endkey=[*prefix, {}], reduce=False,
                            include_docs=True, limit=limit)["rows"]
            items.extend(row["doc"] for row in rows)
    items.sort(key=lambda doc: doc.get("created_at") or "", reverse=True)
    return items[:limit]


def _list(doc_type: str, args: dict) -> dict:
    user: User = g.user
    require(lambda u: u.is_officer, "only county, prefecture and province officers and admins see this")
    counties = _counties_to_list(user, args["county"])
    statuses = ["open", "resolved"] if args["status"] == "all" else [args["status"]]
    items = list_items(doc_type, counties, statuses, args["limit"])
    return {"items": items, "count": len(items)}


@blp.route("/reviews")
@login_required
@blp.arguments(ListArgs, location="query")
def list_reviews(args):
    """Review items of the caller's counties, newest first."""
    return _list(REVIEW_TYPE, args)


def find_review(review_id: str) -> dict | None:
    """The review item, or None when there is no such item."""
    doc = get_couch().db(OPS_DB).get_or_none(review_id)
    return doc if doc is not None and doc.get("type") == REVIEW_TYPE else None


def may_read_review(user: User, review: dict) -> bool:
    """Officers of the review's county, its prefecture's, province officers and admins."""
    county = review.get("county_id")
    return user.is_province or (county is not None and user.can_read_county(county, county_prefecture(county)))


def may_decide_review(user: User, review: dict) -> bool:
    """Only the county's own officers (and admins) decide its reviews."""
    return user.is_admin or review.get("county_id") in user.counties


def _load_review(review_id: str) -> dict:
    doc = find_review(review_id)
    if doc is None:
        abort(404, message=f"no review item {review_id!r}")
    require(lambda u: may_read_review(u, doc), "this review belongs to another county")
    return doc


@blp.route("/reviews/<review_id>")
@login_required
def get_review(review_id: str):
    """One review item with every candidate value."""
    return _load_review(review_id)


@blp.route("/reviews/<review_id>", methods=["POST"])
@login_required
@blp.arguments(DecisionArgs)
def decide_review(args, review_id: str):
    """Accept or change the automatic choice; the result is written to the school database."""
    review = _load_review(review_id)
    require(lambda u: may_decide_review(u, review), "only the county's own officers decide its reviews")
    try:
        return apply_review_decision(get_couch(), review_id, values=args["values"], officer=g.user.name,
                                     note=args["note"])
    except ReviewError as exc:
        abort(409, message=str(exc))


@blp.route("/quarantine")
@login_required
@blp.arguments(ListArgs, location="query")
def list_quarantine(args):
    """Documents the worker refused (failed validation or migration, or kept failing), with the reasons."""
    return _list(QUARANTINE_TYPE, args)
