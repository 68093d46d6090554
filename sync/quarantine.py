"""Quarantine records: documents the worker could not accept, kept whole in ``ops``."""

from __future__ import annotations

import hashlib
from typing import Any

from mobile_schema import Issue

QUARANTINE_TYPE = "quarantine"


def ops_hash(*parts: str) -> str:
    """The 24-hex-digit hash that makes ops ids deterministic (``sha1("a|b|c")``)."""
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]


def quarantine_id(db: str, doc_id: str, rev: str) -> str:
    return f"quarantine:{ops_hash(db, doc_id, rev)}"


def issue_reason(issue: Issue) -> dict:
    return {"code": issue.code, "field": issue.field, "message": {"en": issue.message("en"),
                                                                    "zh": issue.message("zh")}}


def error_reason(code: str, exc: BaseException | str) -> dict:
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return {"code": code, "field": "", "message": {"en": text, "zh": f"无法处理:{text}"}}


def quarantine_doc(
    *,
    db: str,
    body: dict,
    reasons: list[dict],
    school_id: str | None,
    county_id: str | None,
    created_at: str,
    attempts: int = 1,
) -> dict:
    """A ``quarantine:<hash>`` record (status "open") for one revision of a source doc."""
    doc_id, rev = str(body.get("_id", "")), str(body.get("_rev", ""))
    record: dict[str, Any] = {
        "_id": quarantine_id(db, doc_id, rev),
        "type": QUARANTINE_TYPE,
        "status": "open",
        "db": db,
        "doc_id": doc_id,
        "rev": rev,
        "school_id": school_id,
        "county_id": county_id,
        "created_at": created_at,
        "reasons": reasons,
        "body": {k: v for k, v in body.items() if k != "_conflicts"},
        "attempts": attempts,
    }
    return record
