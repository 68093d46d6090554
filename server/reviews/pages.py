"""The review queue as pages: ``/reviews`` lists the items of the officer's counties,
``/reviews/<id>`` shows the competing versions side by side and takes the decision.

Scoping and the decision are the API's (``server.reviews``: ``may_read_review``,
``may_decide_review``; ``sync.apply_review_decision``, which writes the school's document
and the audit record), so a page and ``POST /api/v1/reviews/<id>`` cannot disagree.
Errors are shown on the page in the officer's language; the form carries the CSRF token.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from marshmallow import fields as ma_fields

from mobile_schema import get_form, hlc_parse
from server.auth import User, check_csrf, login_required, require, require_county
from server.couchdb import get_couch
from server.pages.i18n import current_language, format_age, format_local_time
from server.reviews import find_review, list_items, may_decide_review, may_read_review
from server.summaries import summary_service
from sync import apply_review_decision
from sync.merge import canonical_json
from sync.reviews import REVIEW_TYPE, ReviewError

bp = Blueprint("review_pages", __name__)

LIST_LIMIT = 200
DECIDED_LIMIT = 30
NOTE_MAX = 2000


@dataclass
class Version:
    """One competing version of the document: a column of the side-by-side table."""

    title: str
    author: str | None = None
    device: str | None = None
    edited_at: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    name: str
    label: str
    values: list[Any]  # per version; ``MISSING`` where the version has no value for the field
    chosen: Any = None
    differs: bool = False


MISSING = object()


def page_counties(user: User, county: str | None) -> list[str] | None:
    """The counties a list page shows: the one asked for (403 unless readable), else every
    county the user may read (None: all, for province officers and admins)."""
    require(lambda u: u.is_officer, "only county, prefecture and province officers and admins see this")
    if county:
        require_county(county)
        return [county]
    if user.is_province:
        return None
    snap = summary_service().snapshot()
    return sorted(user.counties | {cid for cid, doc in snap.counties.items()
                                   if doc.get("prefecture_id") in user.prefectures})


def _clock_iso(clock: str | None) -> str | None:
    """A device clock (``<wall ms>:<counter>:<device>``) as an ISO time; other text unchanged."""
    try:
        wall_ms = hlc_parse(clock or "")[0]
    except ValueError:
        return clock
    return dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC).isoformat()


def time_helpers(lang: str) -> dict:
    offset = current_app.config["SETTINGS"].utc_offset_minutes
    now = dt.datetime.now(dt.UTC)
    return {"when": lambda iso: format_local_time(_clock_iso(iso), offset, lang),
            "age": lambda iso: format_age(iso, now, lang)}


@bp.route("/reviews")
@login_required
def reviews():
    """Open review items of the officer's counties, and the recently decided ones."""
    county = request.args.get("county") or None
    counties = page_counties(g.user, county)
    open_items = list_items(REVIEW_TYPE, counties, ["open"], LIST_LIMIT)
    decided = list_items(REVIEW_TYPE, counties, ["resolved"], DECIDED_LIMIT)
    decided.sort(key=lambda doc: doc.get("resolved_at") or "", reverse=True)
    snap = summary_service().snapshot()
    schools = {sid: school.name for sid, school in snap.schools.items()}
    choices = sorted((cid, doc.get("name") or cid) for cid, doc in snap.counties.items()
                     if counties is None or cid in counties)
    lang = current_language()
    return render_template("reviews.html", open_items=open_items, decided=decided, schools=schools,
                           county=county or "", county_choices=choices, **time_helpers(lang))


def _labels(form_name: str | None, lang: str) -> dict[str, str]:
    try:
        metadata = get_form(form_name or "").fields_metadata()
    except Exception:  # noqa: BLE001 - an unknown form shows the fields' own names
        return {}
    return {name: (m.get("label") or {}).get(lang) or name for name, m in metadata.items()}


def _form_name(review: dict) -> str | None:
    for body in (review.get("merged"), review.get("doc"), review.get("previous")):
        if isinstance(body, dict) and body.get("form"):
            return body["form"]
    parts = str(review.get("doc_id") or "").split(":")
    return parts[1] if len(parts) > 2 else None


def compare(review: dict, lang: str, t) -> tuple[list[Version], list[Row], list[Row]]:
    """The versions side by side: rows that the officer decides (``differs``), and the rest."""
    labels = _labels(_form_name(review), lang)
    versions: list[Version] = []
    if review.get("fields"):
        by_rev: dict[str, Version] = {}
        for item in review["fields"]:
            for candidate in item.get("candidates") or []:
                rev = str(candidate.get("rev"))
                version = by_rev.get(rev)
                if version is None:
                    version = by_rev[rev] = Version(title=f"{t('version')} {len(by_rev) + 1}",
                                                    author=candidate.get("author"), device=candidate.get("device"))
                    versions.append(version)
                version.values[item["field"]] = candidate.get("value")
                clock = candidate.get("clock")
                if clock and (version.edited_at is None or clock > version.edited_at):
                    version.edited_at = clock
        chosen = {item["field"]: item.get("chosen") for item in review["fields"]}
    elif review.get("reason") == "history":
        for title, body in ((t("previous_version"), review.get("previous")), (t("refused_change"), review.get("doc"))):
            if isinstance(body, dict):
                meta = body.get("meta") or {}
                values = dict(body.get("data") or {}) if not body.get("_deleted") else {}
                versions.append(Version(title=title, author=meta.get("author"), device=meta.get("device"),
                                        edited_at=meta.get("updated_at"), values=values))
        chosen = dict((review.get("previous") or {}).get("data") or {})
    else:
        chosen = {}
    names: list[str] = []
    for version in versions:
        names.extend(n for n in version.values if n not in names)
    order = list(labels)
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    decide: list[Row] = []
    rest: list[Row] = []
    for name in names:
        per_version = [v.values.get(name, MISSING) for v in versions]
        differs = len({canonical_json(None if v is MISSING else v) for v in per_version}) > 1
        row = Row(name=name, label=labels.get(name, name), values=per_version, chosen=chosen.get(name),
                  differs=differs)
        (decide if differs else rest).append(row)
    merged = review.get("merged")
    if isinstance(merged, dict) and not rest:  # a conflict lists only its fields: show the rest of the report
        for name, value in (merged.get("data") or {}).items():
            if name not in names:
                rest.append(Row(name=name, label=labels.get(name, name), values=[value] * max(1, len(versions))))
        rest.sort(key=lambda r: order.index(r.name) if r.name in order else len(order))
    return versions, decide, rest


def parse_entered(form_name: str | None, name: str, text: str) -> Any:
    """The typed value of ``text`` for the form's field ``name`` (numbers, yes/no, lists as JSON).
    Raises ``ValueError`` with a short reason."""
    try:
        schema_field = get_form(form_name or "").schema().fields.get(name)
    except Exception:  # noqa: BLE001 - no form: keep the text
        schema_field = None
    if schema_field is None:
        return text
    raw: Any = text.strip()
    if isinstance(schema_field, ma_fields.List | ma_fields.Dict):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ValueError("JSON") from exc
    try:
        return schema_field.deserialize(raw)
    except ValidationError as exc:
        raise ValueError("; ".join(str(m) for m in exc.messages) if isinstance(exc.messages, list)
                         else str(exc.messages)) from exc


def decision_values(review: dict, versions: list[Version], decide: list[Row], form) -> dict:
    """Field -> value from the posted form: ``keep`` (a version's index), ``close`` (nothing),
    or per field ``pick:<field>`` = ``v<index>`` | ``enter`` with ``enter:<field>``.
    Raises ``ValueError`` with a message key or ``(field, reason)``."""
    if form.get("action") == "close":
        return {}
    keep = form.get("keep")
    if keep is not None:
        try:
            version = versions[int(keep)]
        except (ValueError, IndexError) as exc:
            raise ValueError("choose_value") from exc
        return {row.name: version.values[row.name] for row in decide if row.name in version.values}
    values: dict[str, Any] = {}
    for row in decide:
        pick = form.get(f"pick:{row.name}")
        if pick == "enter":
            text = form.get(f"enter:{row.name}", "")
            if not text.strip():
                raise ValueError("choose_value")
            try:
                values[row.name] = parse_entered(_form_name(review), row.name, text)
            except ValueError as exc:
                raise ValueError((row.label, str(exc))) from exc
        elif pick and pick.startswith("v") and pick[1:].isdigit() and int(pick[1:]) < len(versions):
            value = row.values[int(pick[1:])]
            if value is MISSING:
                raise ValueError("choose_value")
            values[row.name] = value
        else:
            raise ValueError("choose_value")
    return values


@bp.route("/reviews/<review_id>", methods=["GET", "POST"])
@login_required
def review(review_id: str):
    """One review: the versions side by side, and (for the county's officers) the decision form."""
    from server.pages.i18n import translate

    require(lambda u: u.is_officer, "only county, prefecture and province officers and admins see this")
    doc = find_review(review_id)
    if doc is None:
        abort(404)
    require(lambda u: may_read_review(u, doc), "this review belongs to another county")
    lang = current_language()

    def t(key: str) -> str:
        return translate(key, lang)

    versions, decide, rest = compare(doc, lang, t)
    error, status = None, 200
    note = ""
    if request.method == "POST":
        check_csrf()
        require(lambda u: may_decide_review(u, doc), "only the county's own officers decide its reviews")
        note = (request.form.get("note") or "").strip()[:NOTE_MAX]
        try:
            values = decision_values(doc, versions, decide, request.form)
            apply_review_decision(get_couch(), review_id, values=values, officer=g.user.name, note=note)
        except ReviewError as exc:
            error, status = f"{t('decision_refused')} {exc}", 409
        except ValueError as exc:
            reason = exc.args[0] if exc.args else "choose_value"
            if isinstance(reason, tuple):
                error = f"{t('bad_value')}: {reason[0]} ({reason[1]})"
            else:
                error = t(reason)
            status = 422
        else:
            return redirect(url_for("review_pages.review", review_id=review_id, saved=1))
        doc = find_review(review_id) or doc
    snap = summary_service().snapshot()
    school = snap.schools.get(doc.get("school_id") or "")
    return render_template("reviews_detail.html", review=doc, versions=versions, decide=decide, rest=rest,
                           missing=MISSING, school_name=school.name if school else doc.get("school_id"),
                           may_decide=may_decide_review(g.user, doc), error=error, note=note,
                           saved=request.args.get("saved") == "1" and doc.get("status") == "resolved",
                           **time_helpers(lang)), status
