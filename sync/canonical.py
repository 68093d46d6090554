"""The canonical copy of a school report in ``reports``: id, metrics and timeliness.

Pure functions: the worker passes in what it read (the migrated source document, the
registry's school doc, the existing canonical doc) and gets the new body back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mobile_schema import FORMS, get_form
from sync.design import METRIC_FIELDS
from sync.settings import WorkerSettings

CANONICAL_TYPE = "canonical_report"


def utc_iso(moment: dt.datetime) -> str:
    """``2026-11-28T02:00:00.000Z`` (the timestamp format every document uses)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str | None) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def now_iso() -> str:
    return utc_iso(dt.datetime.now(dt.UTC))


def canonical_id(source_id: str, school_id: str) -> str:
    """The canonical id for a source document id (works for tombstones too).

    ``report:daily_health:<date>`` -> ``daily_health:<school>:<date>``; other forms
    ``<type>:<rest>`` -> ``<form>:<school>:<rest>``. Raises ``ValueError`` for an id that
    names no form.
    """
    head, _, rest = source_id.partition(":")
    if head == "report":
        form, _, date = rest.partition(":")
        get_form(form)
        return f"{form}:{school_id}:{date}"
    forms = [f.name for f in FORMS.values() if f.doc_type == head]
    if not forms or not rest:
        raise ValueError(f"{source_id!r} is not the id of a report")
    return f"{forms[0]}:{school_id}:{rest}"


def deadline_utc(date: str, settings: WorkerSettings) -> dt.datetime:
    """The report deadline for ``date``: ``deadline_local`` on that local date, in UTC."""
    hours, minutes = (int(part) for part in settings.deadline_local.split(":"))
    local = dt.datetime.fromisoformat(date).replace(hour=hours, minute=minutes)
    return (local - dt.timedelta(minutes=settings.utc_offset_minutes)).replace(tzinfo=dt.UTC)


def timeliness(doc: dict, received_at: str, settings: WorkerSettings) -> dict | None:
    """Device-side and server-side timeliness of a dated report (None without a date)."""
    date = doc.get("date")
    if not isinstance(date, str):
        return None
    deadline = deadline_utc(date, settings)
    meta = doc.get("meta") or {}
    submitted = parse_iso(meta.get("submitted_at"))
    offset = meta.get("clock_offset_ms") or 0
    corrected = submitted + dt.timedelta(milliseconds=offset) if submitted else None
    received = parse_iso(received_at)
    return {
        "deadline": utc_iso(deadline),
        "submitted_at": meta.get("submitted_at"),
        "clock_offset_ms": meta.get("clock_offset_ms"),
        "submitted_corrected": utc_iso(corrected) if corrected else None,
        "received_at": received_at,
        "on_time_device": bool(corrected and corrected <= deadline),
        "on_time_server": bool(received and received <= deadline),
    }


def metric_vector(data: dict, times: dict | None) -> list[int]:
    """The summary vector in ``METRIC_FIELDS`` order (a missing count counts as 0)."""
    head = {
        "reports": 1,
        "zero_reports": 1 if data.get("zero_report") is True else 0,
        "on_time_device": 1 if times and times["on_time_device"] else 0,
        "on_time_server": 1 if times and times["on_time_server"] else 0,
    }
    out = []
    for name in METRIC_FIELDS:
        if name in head:
            out.append(head[name])
        else:
            value = data.get(name)
            out.append(int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0)
    return out


def build_canonical(
    migrated: dict,
    *,
    db_name: str,
    school: dict,
    existing: dict | None,
    seen_at: str,
    settings: WorkerSettings,
    flags: list[str] | tuple[str, ...] = (),
) -> dict:
    """The canonical body for a migrated source revision.

    ``school`` is the registry's ``school:<id>`` doc; ``existing`` the canonical doc now in
    ``reports`` (its ``_rev``, ``received_at`` and ``first_seen`` are kept); ``seen_at`` is
    when the worker saw this revision. Raises ``KeyError`` when the document lacks a form,
    date or id.
    """
    school_id = school["_id"].split(":", 1)[1]
    rev = migrated["_rev"]
    first_seen = dict((existing or {}).get("first_seen") or {})
    first_seen.setdefault(rev, seen_at)
    received_at = (existing or {}).get("received_at") or min(first_seen.values())
    meta = migrated.get("meta") or {}
    data = migrated.get("data") or {}
    form = migrated["form"]
    times = timeliness(migrated, received_at, settings)
    body: dict[str, Any] = {
        "_id": canonical_id(migrated["_id"], school_id),
        "type": CANONICAL_TYPE,
        "form": form,
        "schema_version": migrated["schema_version"],
        "school_id": school_id,
        "county_id": school.get("county_id"),
        "prefecture_id": school.get("prefecture_id"),
        "date": migrated.get("date"),
        "data": data,
        "author": meta.get("author"),
        "device": meta.get("device"),
        "metrics": metric_vector(data, times) if form == "daily_health" else None,
        "timeliness": times,
        "received_at": received_at,
        "first_seen": first_seen,
        "source": {"db": db_name, "doc_id": migrated["_id"], "rev": rev},
        "flags": sorted(set(flags)),
    }
    if existing and existing.get("_rev"):
        body["_rev"] = existing["_rev"]
    return body


def same_body(a: dict | None, b: dict | None) -> bool:
    """Whether two canonical bodies differ only in ``_rev`` (then nothing is written)."""
    if a is None or b is None:
        return a is b
    strip = lambda d: {k: v for k, v in d.items() if k != "_rev"}  # noqa: E731
    return strip(a) == strip(b)


def source_body(canonical: dict) -> dict:
    """A source-like body rebuilt from a canonical doc, for ``check_history``."""
    form = get_form(canonical["form"])
    body = {
        "_id": canonical["source"]["doc_id"],
        "type": form.doc_type,
        "form": canonical["form"],
        "schema_version": canonical["schema_version"],
        "school_id": canonical["school_id"],
        "data": canonical.get("data") or {},
        "meta": {"author": canonical.get("author"), "device": canonical.get("device")},
    }
    if canonical.get("date") is not None:
        body["date"] = canonical["date"]
    return body
