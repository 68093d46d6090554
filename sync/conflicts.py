"""Settling replication conflicts in a school database (DESIGN §6).

Order of writes, so that a crash or a 409 at any point is repaired by running again:

1. the ``resolution:<hash>`` record in ``ops`` (status "pending"), holding every leaf's
   full body, the ancestor (or null), the per-field strategy, the merged result, and the
   notice and review items still to write;
2. one ``_bulk_docs`` in the school database: the merged body on the winning branch and a
   tombstone marked ``resolved_by: <record id>`` on every other leaf;
3. the notice and review items, then the record's status "written".

The hash covers the database, the document id and the sorted leaf revisions, so the same
leaves give the same record on any worker. After a crash between 2 and 3 the marked
tombstones lead the next run back to the pending record, which it finishes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mobile_schema import SchemaError, get_form, migrate, validate_document
from sync.canonical import now_iso
from sync.couch import CouchClient, Database
from sync.errors import Conflict, NotFound
from sync.merge import RESOLVED_BY, MergeResult, common_ancestor, is_worker_tombstone, merge_leaves, winning_rev
from sync.metrics import WorkerMetrics
from sync.provision import OPS_DB
from sync.quarantine import ops_hash
from sync.reviews import conflict_notice, conflict_review

log = logging.getLogger(__name__)

RESOLUTION_TYPE = "conflict_resolution"


def resolution_id(db: str, doc_id: str, revs: list[str]) -> str:
    return f"resolution:{ops_hash(db, doc_id, ','.join(sorted(revs)))}"


@dataclass(frozen=True)
class Resolution:
    """What ``ConflictResolver.resolve`` did: ``none`` (no conflict), ``written``, ``review``."""

    status: str
    resolution_id: str | None = None
    merged_rev: str | None = None
    kind: str | None = None


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("_rev", "_revisions", "_conflicts", "_deleted_conflicts")}


def create_only(db: Database, docs: list[dict]) -> None:
    """Write docs that do not exist yet; an existing one (409) is left as it is."""
    if not docs:
        return
    for result in db.bulk_docs(docs):
        if not result.ok and result.error != "conflict":
            log.error("write failed", extra={"db": db.name, "doc_id": result.id, "error": result.error,
                                              "reason": result.reason})


class ConflictResolver:
    """Merges the leaves of conflicted documents; deterministic and safe to repeat."""

    def __init__(self, client: CouchClient, *, metrics: WorkerMetrics | None = None, max_rounds: int = 3):
        self.client = client
        self.ops = client.db(OPS_DB)
        self.metrics = metrics
        self.max_rounds = max_rounds

    def resolve(self, db_name: str, doc_id: str, *, school_id: str | None = None,
                county_id: str | None = None) -> Resolution:
        """Resolve ``doc_id`` if it has more than one leaf (deleted leaves the worker wrote
        do not count). Raises ``SchemaError`` when a leaf cannot be migrated, ``CouchError``
        subclasses for server trouble; after ``max_rounds`` 409s returns status "retry"."""
        db = self.client.db(db_name)
        for _round in range(self.max_rounds):
            leaves = db.open_revs(doc_id, "all")
            self._finish_pending(db, leaves)
            candidates = [leaf for leaf in leaves if not is_worker_tombstone(leaf)]
            live = [leaf for leaf in candidates if leaf.get("_deleted") is not True]
            if len(candidates) < 2 or not live:
                return Resolution(status="none")
            outcome = self._resolve_once(db, doc_id, candidates, live, school_id, county_id)
            if outcome is not None:
                return outcome
        return Resolution(status="retry")

    # -- one round ----------------------------------------------------------------------

    def _ancestor(self, db: Database, doc_id: str, live: list[dict]) -> tuple[str | None, dict | None]:
        if len(live) < 2:
            return None, None
        rev = common_ancestor(live)
        if rev is None:
            return None, None
        try:
            body = db.get(doc_id, rev=rev)
        except NotFound:
            return rev, None  # compacted away
        if body.get("_deleted") is True:
            return rev, None
        try:
            return rev, migrate(body)
        except SchemaError:
            return rev, None

    def _resolve_once(self, db: Database, doc_id: str, candidates: list[dict], live: list[dict],
                      school_id: str | None, county_id: str | None) -> Resolution | None:
        migrated = [migrate(leaf) for leaf in live]
        form = get_form(migrated[0]["form"])
        ancestor_rev, ancestor = self._ancestor(db, doc_id, live)
        tombstones = [leaf for leaf in candidates if leaf.get("_deleted") is True]
        result = merge_leaves(form, migrated + tombstones, ancestor)
        assert result.merged is not None
        res_id = resolution_id(db.name, doc_id, [leaf["_rev"] for leaf in candidates])
        winner = winning_rev(leaf["_rev"] for leaf in live)
        merged = dict(result.merged, _id=doc_id)
        if db.name.startswith("inspections_"):
            issues = validate_document(merged, county_id=county_id)
        else:
            issues = validate_document(merged, school_id=school_id)
        now = now_iso()
        date = merged.get("date")
        record = {
            "_id": res_id,
            "type": RESOLUTION_TYPE,
            "status": "invalid" if issues else "pending",
            "db": db.name,
            "doc_id": doc_id,
            "school_id": school_id,
            "county_id": county_id,
            "created_at": now,
            "date": date,
            "leaves": [{"rev": leaf["_rev"], "deleted": leaf.get("_deleted") is True, "body": leaf}
                       for leaf in sorted(candidates, key=lambda b: b["_rev"])],
            "ancestor_rev": ancestor_rev,
            "ancestor": ancestor,
            "kind": result.kind,
            "hard": bool(result.hard_decisions),
            "strategy": result.strategies,
            "decisions": [d.to_json() for d in result.decisions],
            "deleted_revs": list(result.deleted_revs),
            "merged": merged,
            "winner_rev": winner,
        }
        if issues:
            review = conflict_review(resolution_id=res_id, reason="invalid_merge", db=db.name, doc_id=doc_id,
                                     school_id=school_id, county_id=county_id, date=date, result=result,
                                     created_at=now, issues=issues)
            create_only(self.ops, [record, review])
            log.warning("merged document invalid; sent to review", extra={"db": db.name, "doc_id": doc_id,
                                                                          "resolution": res_id})
            return Resolution(status="review", resolution_id=res_id, kind=result.kind)
        outbox = [conflict_notice(resolution_id=res_id, school_id=school_id, doc_id=doc_id, date=date,
                                  result=result, created_at=now)]
        if result.hard_decisions:
            outbox.append(conflict_review(resolution_id=res_id, reason="hard_conflict", db=db.name, doc_id=doc_id,
                                          school_id=school_id, county_id=county_id, date=date, result=result,
                                          created_at=now))
        record["outbox"] = outbox
        try:
            self.ops.put(dict(record))
        except Conflict:
            pass  # written by an earlier try with the same leaves: the same content
        writes = []
        winner_body = next(leaf for leaf in live if leaf["_rev"] == winner)
        if _strip(winner_body) != merged:
            writes.append(dict(merged, _rev=winner))
        for leaf in candidates:
            if leaf["_rev"] != winner:
                writes.append({"_id": doc_id, "_rev": leaf["_rev"], "_deleted": True, RESOLVED_BY: res_id})
        results = db.bulk_docs(writes) if writes else []
        failed = [r for r in results if not r.ok]
        if any(r.error == "conflict" for r in failed):
            return None  # someone wrote meanwhile: read the leaves again
        if failed:
            log.error("resolution write refused", extra={"db": db.name, "doc_id": doc_id,
                                                          "errors": [r.error for r in failed]})
        merged_rev = results[0].rev if writes and RESOLVED_BY not in writes[0] and results[0].ok else None
        self._finish(db, res_id, written_revs=[r.rev for r in results if r.ok])
        self._count(result)
        return Resolution(status="written", resolution_id=res_id, merged_rev=merged_rev, kind=result.kind)

    def _count(self, result: MergeResult) -> None:
        if self.metrics is not None:
            self.metrics.inc("conflicts_hard" if result.hard_decisions else "conflicts_soft")

    # -- finishing ------------------------------------------------------------------------

    def _finish(self, db: Database, res_id: str, *, written_revs: list[str | None] | None = None) -> None:
        """Write the record's notice and reviews, then mark it "written" (idempotent)."""
        for _attempt in range(3):
            record = self.ops.get_or_none(res_id)
            if record is None or record.get("status") != "pending":
                return
            outbox = record.get("outbox") or []
            notices = [d for d in outbox if d.get("type") == "conflict_notice"]
            reviews = [d for d in outbox if d.get("type") != "conflict_notice"]
            create_only(db, notices)
            create_only(self.ops, reviews)
            record.update(status="written", written_at=now_iso())
            if written_revs is not None:
                record["written_revs"] = written_revs
            try:
                self.ops.put(record)
                return
            except Conflict:
                continue

    def _finish_pending(self, db: Database, leaves: list[dict]) -> None:
        """Tombstones the worker wrote name their record: finish any left pending by a crash."""
        for res_id in sorted({leaf[RESOLVED_BY] for leaf in leaves if is_worker_tombstone(leaf)}):
            if isinstance(res_id, str) and res_id.startswith("resolution:"):
                self._finish(db, res_id)
