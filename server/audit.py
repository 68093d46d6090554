"""The audit log of admin actions, kept in ``ops``.

Every change an admin (or an officer's correction) makes is recorded as one document::

    audit:<UTC time>:<random>  {type: "audit", who, at, action, target, before, after}

Ids start with the time, so ``_all_docs`` reads the log in time order without a view.
Records that concern one document of a school database also carry ``db`` and ``doc_id``,
so the ``ops/by_source`` view finds them (a report's corrections). Nothing here ever
holds a password: callers pass what changed, and ``redact`` drops secret-looking keys.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

from server.spreadsheet import safe_cell
from sync.canonical import now_iso
from sync.couch import CouchClient
from sync.provision import OPS_DB

AUDIT_TYPE = "audit"
AUDIT_PREFIX = "audit:"
SECRET_KEYS = frozenset({"password", "derived_key", "salt", "password_sha", "password_scheme", "iterations"})
TIME_ID = re.compile(r"^audit:\d{4}-\d{2}-\d{2}T")
CSV_COLUMNS = ("at", "who", "action", "target", "before", "after", "reason")


utc_now_iso = now_iso  # the timestamp format every document uses (sync.canonical)


def redact(value: Any) -> Any:
    """A copy of ``value`` without password material (at any depth)."""
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class AuditLog:
    """Writes and reads ``audit:*`` records; takes the service's admin ``CouchClient``."""

    def __init__(self, couch: CouchClient):
        self.ops = couch.db(OPS_DB)

    def record(self, *, who: str, action: str, target: str, before: Any = None, after: Any = None,
               **extra: Any) -> dict:
        """Store one record and return it. Raises the CouchDB client's errors (the caller's
        action has already happened; a failure here surfaces as a 503 rather than passing silently)."""
        at = utc_now_iso()
        doc = {"_id": f"{AUDIT_PREFIX}{at}:{secrets.token_hex(4)}", "type": AUDIT_TYPE, "who": who, "at": at,
               "action": action, "target": target, "before": redact(before), "after": redact(after)}
        doc.update({k: v for k, v in extra.items() if v is not None})
        self.ops.put(doc)
        return doc

    def entries(self, *, who: str | None = None, action: str | None = None, target: str | None = None,
                since: str | None = None, until: str | None = None, limit: int = 100,
                scan_limit: int = 20_000) -> list[dict]:
        """Newest first. ``action`` and ``target`` match as prefixes; ``since``/``until`` are
        ISO times or dates (inclusive). At most ``scan_limit`` records are read per call."""
        found = []
        for doc in self._scan(since=since, until=until, scan_limit=scan_limit):
            if who and doc.get("who") != who:
                continue
            if action and not str(doc.get("action", "")).startswith(action):
                continue
            if target and not str(doc.get("target", "")).startswith(target):
                continue
            found.append(self.public(doc))
            if len(found) >= limit:
                break
        return found

    def for_document(self, db: str, doc_id: str) -> list[dict]:
        """Audit records about one document of a school database, oldest first."""
        rows = self.ops.view("ops", "by_source", startkey=[db, doc_id, AUDIT_TYPE],
                             endkey=[db, doc_id, AUDIT_TYPE], include_docs=True)["rows"]
        return sorted((self.public(row["doc"]) for row in rows if row.get("doc")), key=lambda d: d["at"])

    def _scan(self, *, since: str | None, until: str | None, scan_limit: int) -> Iterator[dict]:
        # Only time-ordered ids (audit:<ISO time>:...); other writers' audit:<uuid> docs are skipped.
        start = AUDIT_PREFIX + (until + "\ufff0" if until else "9999")
        end = AUDIT_PREFIX + (since or "0000")
        read = 0
        while read < scan_limit:
            batch = min(500, scan_limit - read)
            rows = self.ops.all_docs(startkey=start, endkey=end, descending=True, include_docs=True,
                                     limit=batch + 1)["rows"]
            for row in rows[:batch]:
                if row.get("doc") and TIME_ID.match(row["id"]):
                    yield row["doc"]
            read += len(rows[:batch])
            if len(rows) <= batch:
                return
            start = rows[batch]["id"]

    @staticmethod
    def public(doc: dict) -> dict:
        return {"id": doc["_id"], "who": doc.get("who"), "at": doc.get("at"), "action": doc.get("action"),
                "target": doc.get("target"), "before": doc.get("before"), "after": doc.get("after"),
                "reason": doc.get("reason")}


def display_json(value: Any) -> str:
    """``value`` as JSON a person reads: Chinese as Chinese (``王老师``, not ``\\u738b...``), keys sorted."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_csv(entries: list[dict]) -> str:
    """The entries as CSV (before/after as JSON, Chinese as Chinese), starting with a UTF-8 BOM
    so that Excel reads it as UTF-8 rather than the system's code page."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([safe_cell(v) for v in (
            entry.get("at"), entry.get("who"), entry.get("action"), entry.get("target"),
            display_json(entry.get("before")), display_json(entry.get("after")), entry.get("reason"))])
    return out.getvalue()


__all__ = ["AuditLog", "audit_csv", "display_json", "redact", "utc_now_iso"]
