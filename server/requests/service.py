"""Requests from the county office to a school, and what the school answered.

A request is written by the service (admin credentials) into the school's own database as
``request:<date>:<random>`` (``type: "request"``, a server-only type: the school's
``validate_doc_update`` refuses a device creating or changing one), where the devices pull
it with their window and show it as a task. A copy in ``ops`` (``school_request:<county>:
<school>:<id>``) lets the county's requests be listed in one query.

Nobody edits a request to close it. Its status is computed from what the school sent, as
the worker copied it into ``reports``:

- ``file`` (a missing report): ``filed`` once the day's report exists, ``explained`` once
  the school explained the day (the ``explanation`` form), else ``open``;
- ``check`` (the health department's list disagrees): ``corrected`` once a revision of the
  day's report was first seen after the request was sent, ``explained`` once an explanation
  was, else ``open``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from datetime import date

from server.summaries.service import SummaryService
from sync.canonical import parse_iso, utc_iso
from sync.provision import OPS_DB, REPORTS_DB, school_db_name

KINDS = ("file", "check")
STATUSES = ("open", "answered")
ANSWERS = ("filed", "corrected", "explained")
REQUEST_TYPE = "request"
INDEX_TYPE = "school_request"
NOTE_MAX = 1000
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class BadRequestToSchool(ValueError):
    """The request cannot be sent; ``errors`` maps a field to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class RequestService:
    """Sends and lists requests. Raises ``UnknownArea`` for an unknown county,
    ``BadRequestToSchool`` for a school outside it, and the CouchDB client's errors."""

    def __init__(self, summaries: SummaryService):
        self.summaries = summaries
        self.couch = summaries.couch
        self.ops = self.couch.db(OPS_DB)
        self.reports = self.couch.db(REPORTS_DB)

    def send(self, county_id: str, *, school_id: str, day: date, kind: str, note: str, by: str,
             context: dict | None = None, now: dt.datetime | None = None, today: date | None = None) -> dict:
        """Write the request into the school's database (and its index into ``ops``); returns it
        as ``requests_of`` shows it (status ``open``). ``today`` (local) bounds the date asked about."""
        self.summaries.county(county_id)
        school = self.summaries.snapshot().schools.get(school_id)
        if school is None or school.county_id != county_id:
            raise BadRequestToSchool({"school_id": f"{school_id!r} is not a school of county {county_id}"})
        if today is not None and day > today:
            raise BadRequestToSchool({"date": f"{day} is after today ({today})"})
        if kind not in KINDS:
            raise BadRequestToSchool({"kind": f"one of {', '.join(KINDS)}"})
        now = now or dt.datetime.now(dt.UTC)
        sent_at = utc_iso(now)
        random = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        doc = {"_id": f"request:{day.isoformat()}:{random}", "type": REQUEST_TYPE, "kind": kind,
               "school_id": school_id, "county_id": county_id, "date": day.isoformat(), "note": note[:NOTE_MAX],
               "sent_by": by, "sent_at": sent_at, "context": context or {}}
        self.couch.db(school_db_name(school_id)).put(dict(doc))
        index = {**doc, "_id": f"{INDEX_TYPE}:{county_id}:{school_id}:{doc['_id']}", "type": INDEX_TYPE,
                 "request_id": doc["_id"], "status": "sent", "created_at": sent_at}
        self.ops.put(index)
        return self._with_status([index], now)[0]

    def requests_of(self, county_id: str, status: str = "all", *, now: dt.datetime | None = None) -> dict:
        """The county's requests, newest first, each with its age and status (``open`` or
        ``answered``, and how: ``filed``, ``corrected`` or ``explained``)."""
        county = self.summaries.county(county_id)
        rows = self.ops.view("ops", "by_type_status", startkey=[INDEX_TYPE, "sent", county_id],
                             endkey=[INDEX_TYPE, "sent", county_id, {}], reduce=False, include_docs=True)["rows"]
        docs = [row["doc"] for row in rows if row.get("doc")]
        items = self._with_status(docs, now or dt.datetime.now(dt.UTC))
        if status != "all":
            items = [item for item in items if item["status"] == status]
        items.sort(key=lambda item: item["sent_at"], reverse=True)
        counts = {"open": 0, "answered": 0}
        for item in items:
            counts[item["status"]] += 1
        return {"county_id": county_id, "name": county.get("name") or county_id, "status": status,
                "counts": counts, "requests": items}

    def _with_status(self, docs: list[dict], now: dt.datetime) -> list[dict]:
        keys = sorted({f"{form}:{d['school_id']}:{d['date']}" for d in docs
                       for form in ("daily_health", "explanation")})
        found: dict[str, dict] = {}
        if keys:
            rows = self.reports.all_docs(keys=keys, include_docs=True).get("rows", [])
            found = {row["key"]: row["doc"] for row in rows if row.get("doc")}
        names = {s.id: s.name for s in self.summaries.snapshot().schools.values()}
        out = []
        for doc in docs:
            report = found.get(f"daily_health:{doc['school_id']}:{doc['date']}")
            explanation = found.get(f"explanation:{doc['school_id']}:{doc['date']}")
            answer, answered_at = _answer(doc, report, explanation)
            sent = parse_iso(doc["sent_at"]) or now
            until = parse_iso(answered_at) if answered_at else now
            out.append({
                "id": doc["request_id"], "kind": doc["kind"], "school_id": doc["school_id"],
                "school_name": names.get(doc["school_id"], doc["school_id"]), "county_id": doc["county_id"],
                "date": doc["date"], "note": doc.get("note") or "", "sent_by": doc.get("sent_by"),
                "sent_at": doc["sent_at"], "context": doc.get("context") or {},
                "age_seconds": max(0, int((now - sent).total_seconds())),
                "status": "answered" if answer else "open", "answer": answer, "answered_at": answered_at,
                "answer_after_seconds": max(0, int(((until or now) - sent).total_seconds())) if answer else None,
                "explanation": ({"reason": explanation["data"].get("reason"),
                                 "details": explanation["data"].get("details") or ""}
                                if answer == "explained" and explanation else None),
            })
        return out


def _seen_after(canonical: dict | None, sent_at: str) -> str | None:
    """When the worker first saw a revision of ``canonical`` after ``sent_at`` (the earliest)."""
    if canonical is None:
        return None
    sent = parse_iso(sent_at)
    stamps = sorted(s for s in (canonical.get("first_seen") or {}).values()
                    if (when := parse_iso(s)) is not None and sent is not None and when > sent)
    return stamps[0] if stamps else None


def _answer(request: dict, report: dict | None, explanation: dict | None) -> tuple[str | None, str | None]:
    """``(answer, answered_at)`` of one request, from the day's canonical report and explanation."""
    if request["kind"] == "file":
        if report is not None:
            return "filed", report.get("received_at")
        if explanation is not None:
            return "explained", explanation.get("received_at")
        return None, None
    corrected = _seen_after(report, request["sent_at"])
    if corrected:
        return "corrected", corrected
    explained = _seen_after(explanation, request["sent_at"])
    if explained:
        return "explained", explained
    return None, None
