"""``GET /api/v1/health``: is CouchDB reachable, and has the worker really caught up.

``worker.state`` is ``idle`` only when every alive shard has checked each of its databases
once since it started, knows of no unprocessed change, and the server confirms that no
followed database changed after what the worker processed (``sync.progress``). Scripts
that must wait for the figures to be complete wait for ``worker.idle``.

CouchDB is asked first with a short timeout (``PING_TIMEOUT_S``): a paused or overloaded
server makes health answer 503 within about two seconds instead of hanging with it.
"""

from __future__ import annotations

from flask import current_app

from server.api import Blueprint
from server.auth import public
from server.couchdb import get_couch
from sync.errors import CouchError, CouchTimeout
from sync.progress import worker_progress

PING_TIMEOUT_S = 1.5

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service and worker health")


def worker_state(couch) -> dict:
    """The worker's state, pending work and lag (``sync.progress.worker_progress``)."""
    return worker_progress(couch, stale_after_s=current_app.config["SETTINGS"].worker_stale_after_s)


@blp.route("/health")
@public
def health():
    couch = get_couch()
    try:
        info = couch.request("GET", "/", timeout=PING_TIMEOUT_S)
        worker = worker_state(couch)
    except CouchTimeout as exc:
        return {"status": "unavailable", "reason": f"CouchDB did not answer within {PING_TIMEOUT_S:g} s",
                "couchdb": {"ok": False, "error": str(exc)}}, 503
    except CouchError as exc:
        return {"status": "unavailable", "reason": "CouchDB is unreachable or failing",
                "couchdb": {"ok": False, "error": str(exc)}}, 503
    return {"status": "ok",
            "couchdb": {"ok": True, "vendor": (info.get("vendor") or {}).get("name"), "version": info.get("version")},
            "worker": worker}
