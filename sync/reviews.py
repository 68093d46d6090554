"""Review items for county officers, conflict notices for teachers, and the officers' decisions.

A review item is opened for every hard conflict, every merged document that fails
validation, every history violation (e.g. a device deleting a submitted report) and every
author who is not on the school's roster. ``apply_review_decision`` writes an officer's
choice back into the school database as the service account and leaves an audit record.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

from mobile_schema import hlc_tick, migrate, validate_document
from sync.canonical import now_iso
from sync.couch import CouchClient
from sync.errors import Conflict
from sync.merge import MergeResult, canonical_json
from sync.provision import OPS_DB
from sync.quarantine import issue_reason, ops_hash

REVIEW_TYPE = "review_item"
NOTICE_TYPE = "conflict_notice"
SERVICE_DEVICE = "service"


class ReviewError(ValueError):
    """A decision cannot be applied (already resolved, unknown field, invalid result)."""


def review_id_for(*parts: str) -> str:
    return f"review:{ops_hash(*parts)}"


def _base(*, db: str, doc_id: str, school_id: str | None, county_id: str | None, created_at: str) -> dict:
    return {"type": REVIEW_TYPE, "status": "open", "db": db, "doc_id": doc_id, "school_id": school_id,
            "county_id": county_id, "created_at": created_at}


def conflict_fields(result: MergeResult, *, only_hard: bool) -> list[dict]:
    """Per field: the candidates (value, author, device, clock) and the value kept."""
    out = []
    for decision in result.decisions:
        if only_hard and not decision.hard:
            continue
        if not only_hard and len({c.key for c in decision.candidates}) < 2:
            continue
        for name in decision.fields:
            values = {canonical_json(c.value.get(name)) for c in decision.candidates}
            if len(values) < 2 and len(decision.fields) > 1:
                continue
            out.append({
                "field": name,
                "strategy": decision.strategy,
                "chosen": decision.value.get(name),
                "candidates": [
                    {"value": c.value.get(name), "author": c.author, "device": c.device, "rev": c.rev,
                     "clock": (c.clocks.get(name) or {}).get("at")}
                    for c in decision.candidates
                ],
            })
    return out


def conflict_review(*, resolution_id: str, reason: str, db: str, doc_id: str, school_id: str | None,
                    county_id: str | None, date: str | None, result: MergeResult, created_at: str,
                    issues: list | None = None) -> dict:
    """``review:<hash>`` for a hard conflict (reason "hard_conflict") or an invalid merge."""
    doc = _base(db=db, doc_id=doc_id, school_id=school_id, county_id=county_id, created_at=created_at)
    doc.update({
        "_id": "review:" + resolution_id.split(":", 1)[1],
        "reason": reason,
        "date": date,
        "resolution_id": resolution_id,
        "fields": conflict_fields(result, only_hard=reason == "hard_conflict"),
        "merged": result.merged,
    })
    if issues:
        doc["issues"] = [issue_reason(i) for i in issues]
    return doc


def history_review(*, db: str, body: dict, previous: dict | None, issues: list, school_id: str | None,
                   county_id: str | None, created_at: str) -> dict:
    """A history violation (e.g. ``deleted_submitted``): the offending revision is kept whole."""
    doc = _base(db=db, doc_id=body["_id"], school_id=school_id, county_id=county_id, created_at=created_at)
    doc.update({
        "_id": review_id_for(db, body["_id"], str(body.get("_rev"))),
        "reason": "history",
        "rev": body.get("_rev"),
        "date": (previous or {}).get("date") or body.get("date"),
        "issues": [issue_reason(i) for i in issues],
        "doc": body,
        "previous": previous,
        "fields": [],
    })
    return doc


def roster_review(*, db: str, body: dict, school_id: str, county_id: str | None, created_at: str) -> dict:
    """An author who is not on the school's roster (one item per document and author)."""
    author = str((body.get("meta") or {}).get("author"))
    doc = _base(db=db, doc_id=body["_id"], school_id=school_id, county_id=county_id, created_at=created_at)
    doc.update({
        "_id": review_id_for(db, body["_id"], "roster", author),
        "reason": "roster",
        "rev": body.get("_rev"),
        "date": body.get("date"),
        "author": author,
        "device": (body.get("meta") or {}).get("device"),
        "fields": [],
    })
    return doc


def conflict_notice(*, resolution_id: str, school_id: str | None, doc_id: str, date: str | None,
                    result: MergeResult, created_at: str) -> dict:
    """What the teachers' app shows: which edits were merged, which were overridden."""
    fields = []
    for item in conflict_fields(result, only_hard=True):
        kept = canonical_json(item["chosen"])
        overridden = [{"value": c["value"], "author": c["author"], "device": c["device"]}
                      for c in item["candidates"] if canonical_json(c["value"]) != kept]
        fields.append({"field": item["field"], "kept": item["chosen"], "overridden": overridden})
    hard = [f for f in fields if f["overridden"]]
    deleted = bool(result.deleted_revs)
    if hard:
        en = (f"Edits made on different devices to {len(hard)} field(s) of this report disagreed; "
              "one value was kept and the county office will review the others.")
        zh = f"不同设备对本报告 {len(hard)} 个字段的修改不一致;已保留其中一个值,其余由区县审核。"
    elif deleted:
        en = "This report was deleted on one device and edited on another; the edit was kept."
        zh = "本报告在一台设备上被删除,在另一台设备上被修改;已保留修改。"
    else:
        en = "Edits made on different devices were merged."
        zh = "不同设备上的修改已合并。"
    return {
        "_id": "conflict_notice:" + resolution_id.split(":", 1)[1],
        "type": NOTICE_TYPE,
        "school_id": school_id,
        "doc_id": doc_id,
        "date": date,
        "created_at": created_at,
        "kind": result.kind,
        "fields": hard,
        "message": {"en": en, "zh": zh},
    }


def _newest_clock(doc: dict) -> str | None:
    clocks = (doc.get("meta") or {}).get("clocks") or {}
    ats = [c["at"] for c in clocks.values() if isinstance(c, dict) and isinstance(c.get("at"), str)]
    return max(ats) if ats else None


def decided_document(current: dict, values: dict[str, Any], officer: str, now: dt.datetime) -> dict:
    """``current`` (migrated) with the officer's values, author and fresh per-field clocks."""
    doc = migrate(current)
    meta = dict(doc.get("meta") or {})
    clocks = dict(meta.get("clocks") or {})
    last = _newest_clock(doc)
    now_ms = int(now.timestamp() * 1000)
    for name in sorted(values):
        clock = hlc_tick(last, now_ms, SERVICE_DEVICE)
        clocks[name] = {"at": clock, "base": (clocks.get(name) or {}).get("at")}
        last = clock
        doc["data"][name] = copy.deepcopy(values[name])
    meta.update(author=officer, device=SERVICE_DEVICE, clocks=clocks, updated_at=now_iso())
    doc["meta"] = meta
    return doc


def apply_review_decision(client: CouchClient, review_id: str, *, values: dict, officer: str,
                          note: str = "") -> dict:
    """Write an officer's chosen ``values`` (field -> value) into the school's current doc.

    The doc is written with the client's (service) account, ``meta.author`` = ``officer``
    and new per-field clocks; the review is marked "resolved" with who, when and the
    officer's ``note``, and an ``audit:`` record is added to ``ops``. Empty ``values`` resolves without writing.
    Returns the resolved review. Raises ``ReviewError`` when the review is not open, a field
    is unknown, the document is gone, or the result would not validate; ``NotFound`` for an
    unknown review.
    """
    ops = client.db(OPS_DB)
    review = ops.get(review_id)
    if review.get("type") != REVIEW_TYPE or review.get("status") != "open":
        raise ReviewError(f"{review_id} is not an open review item")
    written_rev = None
    if values:
        school = client.db(review["db"])
        for _attempt in range(3):
            current = school.get_or_none(review["doc_id"])
            if current is None:
                raise ReviewError(f"{review['doc_id']} no longer exists in {review['db']}")
            current = {k: v for k, v in current.items() if k not in ("_conflicts", "_revisions")}
            unknown = sorted(set(values) - set(current.get("data") or {}) - set(_form_fields(current)))
            if unknown:
                raise ReviewError(f"unknown field(s): {', '.join(unknown)}")
            doc = decided_document(current, values, officer, dt.datetime.now(dt.UTC))
            issues = validate_document(doc, school_id=review.get("school_id")) if review["db"].startswith(
                "school_") else validate_document(doc, county_id=review.get("county_id"))
            if issues:
                raise ReviewError("; ".join(f"{i.field}: {i.message('en')}" for i in issues))
            try:
                written_rev = school.put(doc)["rev"]
                break
            except Conflict:
                continue
        else:
            raise ReviewError(f"{review['doc_id']} kept changing; try again")
    resolved_at = now_iso()
    # Same shape as the service's audit log (server/audit.py): time-ordered id, who/at/action/target.
    audit = {
        "_id": f"audit:{resolved_at}:{uuid.uuid4().hex[:8]}",
        "type": "audit",
        "who": officer,
        "at": resolved_at,
        "target": f"{review['db']}/{review['doc_id']}",
        "before": {"review": review_id, "status": review.get("status")},
        "after": {"values": values, "written_rev": written_rev, "note": note},
        "status": "done",
        "action": "review_decision",
        "db": review["db"],
        "doc_id": review["doc_id"],
        "school_id": review.get("school_id"),
        "county_id": review.get("county_id"),
        "created_at": resolved_at,
        "officer": officer,
        "review_id": review_id,
        "values": values,
        "written_rev": written_rev,
        "note": note,
    }
    ops.put(audit)
    review.update(status="resolved", resolved_by=officer, resolved_at=resolved_at,
                  decision={"values": values, "written_rev": written_rev, "audit_id": audit["_id"],
                            "note": note})
    ops.put(review)
    return review


def _form_fields(doc: dict) -> list[str]:
    from mobile_schema import get_form

    try:
        return list(get_form(doc["form"]).schema().fields)
    except Exception:  # noqa: BLE001 - an unknown form has no fields to offer
        return []
