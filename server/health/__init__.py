"""``GET /api/v1/health``: is CouchDB reachable, and how far behind is the worker."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

from server.api import Blueprint
from server.auth import public
from server.couchdb import get_couch
from sync.errors import CouchError, NotFound

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service and worker health")


def worker_state(couch) -> dict:
    """The worker shards' own status documents in ``ops`` (lag, counters, last heartbeat)."""
    stale_after = current_app.config["SETTINGS"].worker_stale_after_s
    now = datetime.now(UTC)
    try:
        rows = couch.db("ops").all_docs(startkey="worker_status:", endkey="worker_status:\ufff0",
                                        include_docs=True)["rows"]
    except NotFound:  # not provisioned yet: no worker has reported
        rows = []
    shards = []
    for row in rows:
        doc = row["doc"]
        updated = datetime.fromisoformat(doc["updated_at"].replace("Z", "+00:00"))
        lag = {db: n for db, n in (doc.get("lag") or {}).items() if n}
        shards.append({"shard": doc.get("shard"), "updated_at": doc["updated_at"],
                       "alive": (now - updated).total_seconds() < stale_after,
                       "lag_total": sum(n for n in lag.values() if isinstance(n, int)),
                       "dbs_behind": len(lag), "counters": doc.get("counters", {})})
    return {"shards": shards, "lag_total": sum(s["lag_total"] for s in shards),
            "running": any(s["alive"] for s in shards)}


@blp.route("/health")
@public
def health():
    couch = get_couch()
    try:
        info = couch.info()
        worker = worker_state(couch)
    except CouchError as exc:
        return {"status": "unavailable", "couchdb": {"ok": False, "error": str(exc)}}, 503
    return {"status": "ok",
            "couchdb": {"ok": True, "vendor": (info.get("vendor") or {}).get("name"), "version": info.get("version")},
            "worker": worker}
