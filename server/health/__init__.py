"""``GET /api/v1/health``: is CouchDB reachable, and has the worker really caught up.

``worker.state`` is ``idle`` only when every alive shard has checked each of its databases
once since it started, knows of no unprocessed change, and the server confirms that no
followed database changed after what the worker processed (``sync.progress``). Scripts
that must wait for the figures to be complete wait for ``worker.idle``.
"""

from __future__ import annotations

from flask import current_app

from server.api import Blueprint
from server.auth import public
from server.couchdb import get_couch
from sync.errors import CouchError
from sync.progress import worker_progress

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service and worker health")


def worker_state(couch) -> dict:
    """The worker's state, pending work and lag (``sync.progress.worker_progress``)."""
    return worker_progress(couch, stale_after_s=current_app.config["SETTINGS"].worker_stale_after_s)


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
