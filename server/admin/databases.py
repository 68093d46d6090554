"""School databases: provision, inspect, reprocess, and find the ones growing too big.

A school database is replicated whole to the server and (within the data window) to
every device, so one that keeps growing costs every device storage and sync time: above
``threshold`` documents it is flagged. The numbers come from CouchDB (``GET /<db>``),
the worker's side documents in ``ops`` (quarantine, resolutions, reviews), its status
documents (lag per database) and its checkpoint in ``ops`` (``sync.checkpoint``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from server.admin.errors import ConflictError, InvalidInput, NotFoundError
from server.audit import AuditLog
from sync.checkpoint import Checkpointer, seq_number
from sync.couch import CouchClient
from sync.design import school_design
from sync.errors import NotFound
from sync.provision import (
    DEFAULT_WINDOW_DAYS,
    OPS_DB,
    REGISTRY_DB,
    SharedDatabase,
    provision_school,
    school_db_name,
    school_security,
)

DEFAULT_DOC_THRESHOLD = 20_000
PARALLEL_READS = 8


def _size(info: dict) -> int | None:
    sizes = info.get("sizes") or {}
    return sizes.get("file") or info.get("disk_size") or sizes.get("active") or info.get("data_size")


class SchoolDatabases:
    """Reads and provisions school databases; takes the admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog):
        self.couch = couch
        self.ops = couch.db(OPS_DB)
        self.audit = audit

    def worker_lag(self) -> dict[str, int]:
        """Changes still to read per database, from every worker shard's status doc."""
        try:
            rows = self.ops.all_docs(startkey="worker_status:", endkey="worker_status:\ufff0",
                                     include_docs=True)["rows"]
        except NotFound:
            return {}
        lag: dict[str, int] = {}
        for row in rows:
            for db, pending in ((row.get("doc") or {}).get("lag") or {}).items():
                if isinstance(pending, int):
                    lag[db] = max(lag.get(db, 0), pending)
        return lag

    def summary(self, school_id: str, *, threshold: int = DEFAULT_DOC_THRESHOLD,
                lag: dict[str, int] | None = None) -> dict:
        """Size and counts of one school's database (cheap: one request, for lists)."""
        name = school_db_name(school_id)
        try:
            info = self.couch.db(name).info()
        except NotFound:
            return {"school_id": school_id, "db": name, "provisioned": False, "doc_count": None,
                    "size_bytes": None, "over_threshold": False, "worker_lag": None}
        lag = self.worker_lag() if lag is None else lag
        count = info.get("doc_count")
        return {"school_id": school_id, "db": name, "provisioned": True, "doc_count": count,
                "doc_del_count": info.get("doc_del_count"), "size_bytes": _size(info),
                "update_seq": seq_number(info.get("update_seq")),
                "over_threshold": isinstance(count, int) and count > threshold, "worker_lag": lag.get(name)}

    def detail(self, school_id: str, *, threshold: int = DEFAULT_DOC_THRESHOLD) -> dict:
        """Everything about one school database: the summary, whether its security, validation
        and config are as provisioning would set them, the worker's checkpoint, conflicts
        pending (resolutions and reviews in ``ops``, documents with ``_conflicts``) and the
        quarantined documents."""
        out = self.summary(school_id, threshold=threshold)
        out["threshold"] = threshold
        if not out["provisioned"]:
            return out
        db = self.couch.db(out["db"])
        design = db.get_or_none("_design/school") or {}
        wanted = school_design(school_id)
        config = db.get_or_none("config:device") or {}
        checkpoint = Checkpointer(self.couch).stored(db.name) or {}
        since = seq_number(checkpoint.get("since", 0))
        out.update(
            security_ok=db.get_security() == school_security(school_id),
            validation_ok=all(design.get(k) == v for k, v in wanted.items() if k != "_id"),
            window_days=config.get("window_days"),
            checkpoint={"since": since, "updated_at": checkpoint.get("updated_at")},
            changes_unread=(out["update_seq"] - since) if out["update_seq"] is not None and since is not None
            else None,
        )
        out.update(self._ops_counts(out["db"]))
        out["docs_with_conflicts"] = self._conflicted(db)
        return out

    def _ops_counts(self, db_name: str) -> dict:
        rows = self.ops.view("ops", "by_source", startkey=[db_name], endkey=[db_name, {}])["rows"]
        counts: dict[str, Any] = {"quarantined": 0, "resolutions_pending": 0, "reviews_open": 0}
        quarantined = []
        for row in rows:
            doc_type, status = row["key"][2], row.get("value")
            if doc_type == "quarantine" and status == "open":
                counts["quarantined"] += 1
                quarantined.append({"id": row["id"], "doc_id": row["key"][1]})
            elif doc_type == "conflict_resolution" and status == "pending":
                counts["resolutions_pending"] += 1
            elif doc_type == "review" and status == "open":
                counts["reviews_open"] += 1
        counts["quarantined_docs"] = quarantined[:100]
        return counts

    @staticmethod
    def _conflicted(db) -> list[str]:
        found: list[str] = []
        start = None
        while True:
            page = db.all_docs(include_docs=True, conflicts=True, limit=1001, startkey=start)["rows"]
            for row in page[:1000]:
                if (row.get("doc") or {}).get("_conflicts"):
                    found.append(row["id"])
            if len(page) <= 1000 or len(found) >= 100:
                return found[:100]
            start = page[1000]["id"]

    def provision(self, *, who: str, school_id: str, window_days: int | None = None) -> dict:
        """Create or repair the database (security, validation, config). Keeps the current
        data window unless ``window_days`` is given."""
        if window_days is not None and not 1 <= window_days <= 3650:
            raise InvalidInput("window_days must be 1-3650")
        db = self.couch.db(school_db_name(school_id))
        current = (db.get_or_none("config:device") or {}) if db.exists() else {}
        days = window_days or current.get("window_days") or DEFAULT_WINDOW_DAYS
        try:
            report = provision_school(self.couch, school_id, window_days=days)
        except SharedDatabase as clash:
            raise ConflictError(str(clash)) from None
        changes = {"created_dbs": report.created_dbs, "security_set": report.security_set,
                   "design_updated": report.design_updated, "docs_written": report.docs_written}
        self.audit.record(who=who, action="database.provision", target=db.name,
                          before={"window_days": current.get("window_days")},
                          after=dict(changes, window_days=days))
        return dict(changes, window_days=days)

    def reprocess(self, *, who: str, school_id: str) -> dict:
        """Reset the worker's checkpoint: it reads the whole database again (idempotently)."""
        db = self.couch.db(school_db_name(school_id))
        if not db.exists():
            raise NotFoundError(f"{db.name} does not exist: provision it first")
        checkpoints = Checkpointer(self.couch)
        before = checkpoints.stored(db.name) or {}
        checkpoints.reset(db.name)
        self.audit.record(who=who, action="database.reprocess", target=db.name,
                          before={"since": before.get("since")}, after={"since": 0})
        return {"school_id": school_id, "db": db.name, "checkpoint": {"since": 0}}

    def overview(self, school_ids: list[str], *, threshold: int = DEFAULT_DOC_THRESHOLD) -> list[dict]:
        """Summaries of many schools' databases, read a few at a time, biggest first."""
        lag = self.worker_lag()
        with ThreadPoolExecutor(PARALLEL_READS) as pool:
            items = list(pool.map(lambda s: self.summary(s, threshold=threshold, lag=lag), school_ids))
        return sorted(items, key=lambda i: -(i["doc_count"] or 0))


def school_ids(couch: CouchClient, county_id: str | None) -> list[str]:
    registry = couch.db(REGISTRY_DB)
    if county_id:
        rows = registry.view("registry", "schools_by_county", startkey=[county_id], endkey=[county_id, {}])["rows"]
    else:
        rows = registry.view("registry", "by_type", key="school", reduce=False)["rows"]
    return [row["id"].split(":", 1)[1] for row in rows]
