"""County officers' corrections to a school's daily report, written by the service.

Officers never write into school databases themselves (DESIGN §2): they ask the service,
which checks that they are an officer of the school's county (or an admin), changes only
the fields they name, and writes ``report:daily_health:<date>`` with its own account.
The new revision carries ``meta.author`` = the officer, ``meta.device`` = the service, and
for each changed field a new hybrid-logical-clock stamp whose ``base`` is the field's
previous clock, so devices' offline edits of the same field from the old value are a
hard conflict (seen by a person), and untouched fields merge as usual. The document is
validated like a device's before it is written, and the change is audited (before/after).
"""

from __future__ import annotations

import copy
import re
import time
from datetime import date

from mobile_schema import hlc_tick, validate_document
from server.admin.errors import ConflictError, InvalidInput, NotFoundError
from server.audit import AuditLog, utc_now_iso
from sync.couch import CouchClient
from sync.errors import Conflict
from sync.provision import REGISTRY_DB, school_db_name

SERVICE_DEVICE = "service"
SERVICE_APP_VERSION = "service"
_DEVICE_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def report_id(day: str) -> str:
    return f"report:daily_health:{day}"


class Corrections:
    """Applies officers' corrections; takes the admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog, *, utc_offset_minutes: int = 480):
        self.couch = couch
        self.audit = audit
        self.utc_offset_minutes = utc_offset_minutes
        self.device = couch.username if couch.username and _DEVICE_SAFE.match(couch.username) else SERVICE_DEVICE

    def school(self, school_id: str) -> dict:
        doc = self.couch.db(REGISTRY_DB).get_or_none(f"school:{school_id}") if re.match(
            r"^[A-Za-z0-9_-]{1,64}$", school_id) else None
        if doc is None or doc.get("type") != "school":
            raise NotFoundError(f"no school {school_id!r} in the registry")
        return doc

    @staticmethod
    def check_date(day: str) -> str:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                date.fromisoformat(day)
                return day
        except ValueError:
            pass
        raise InvalidInput(f"not a date YYYY-MM-DD: {day!r}")

    def history(self, school_id: str, day: str) -> list[dict]:
        return self.audit.for_document(school_db_name(school_id), report_id(self.check_date(day)))

    def correct(self, *, officer: str, school_id: str, day: str, changes: dict, reason: str,
                county_id: str | None = None, now_ms: int | None = None) -> dict:
        """Write the changed fields. Raises ``NotFoundError`` (no school, database or report),
        ``ConflictError`` (the report has unresolved conflicts or changed meanwhile) or
        ``InvalidInput`` (no change, or the corrected report would be invalid: ``errors`` is
        ``{"report": {field: [{code, message}, ...]}}``)."""
        self.check_date(day)
        if not changes:
            raise InvalidInput("changes: name at least one field and its corrected value")
        db = self.couch.db(school_db_name(school_id))
        doc_id = report_id(day)
        current = db.get_or_none(doc_id, conflicts=True)  # a missing database is None too
        if current is None:
            raise NotFoundError(f"school {school_id} has no report for {day}")
        if current.get("_conflicts"):
            raise ConflictError("the report has conflicting versions the worker has not merged yet; try later")
        data = current.get("data") or {}
        changed = {k: v for k, v in changes.items() if k not in data or data[k] != v}
        if not changed:
            raise InvalidInput("every value given is already the report's")
        updated = copy.deepcopy(current)
        meta = updated.setdefault("meta", {})
        clocks = meta.setdefault("clocks", {})
        seen = [c["at"] for c in clocks.values() if isinstance(c, dict) and isinstance(c.get("at"), str)]
        last = max(seen) if seen else None
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        for field in sorted(changed):
            tick = hlc_tick(last, now_ms, self.device)
            previous = clocks.get(field)
            clocks[field] = {"at": tick, "base": previous.get("at") if isinstance(previous, dict) else None}
            last = tick
            updated.setdefault("data", {})[field] = changed[field]
        meta.update(author=officer, device=self.device, app_version=SERVICE_APP_VERSION, updated_at=utc_now_iso(),
                    utc_offset_minutes=self.utc_offset_minutes, clock_offset_ms=0)
        updated.pop("_conflicts", None)
        issues = validate_document(updated, school_id=school_id)
        if issues:
            problems: dict[str, list[dict]] = {}
            for issue in issues:
                problems.setdefault(issue.field, []).append({"code": issue.code, "message": issue.message("en")})
            raise InvalidInput("the corrected report would not be valid", errors={"report": problems})
        try:
            db.put(updated)
        except Conflict as exc:
            raise ConflictError("the report changed meanwhile; reload it and correct again") from exc
        before = {k: data.get(k) for k in changed}
        self.audit.record(who=officer, action="report.correct", target=f"{school_id}/{doc_id}",
                          before=before, after=dict(changed), db=db.name, doc_id=doc_id, school_id=school_id,
                          county_id=county_id, reason=reason, rev=updated["_rev"])
        return {"school_id": school_id, "date": day, "rev": updated["_rev"],
                "changed": {k: {"before": before[k], "after": changed[k]} for k in changed}}
