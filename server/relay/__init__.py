"""``POST /api/v1/relay``: a device uploads reports it carried for other devices (docs/relay.md).

The carrier signs in with its own device account (HTTP Basic, checked by CouchDB); each
payload is checked against its origin device's registered key and written into the
origin's database with the origin's revision (``server.relay.service``).
"""

from __future__ import annotations

from functools import wraps

from flask import g
from prometheus_client import Counter

from server.api import Blueprint, abort
from server.audit import AuditLog
from server.auth import public
from server.couchdb import get_couch
from server.devices import device_account
from server.metrics import REGISTRY
from server.relay.schemas import RelayArgs, RelayResults
from server.relay.service import NotACarrier, RelayService
from sync.errors import CouchUnavailable

blp = Blueprint("relay", __name__, url_prefix="/api/v1/relay", description="Reports carried by another device")

RELAYED = Counter("relay_payloads", "Relayed payloads by outcome (accepted, already_delivered, or the refusal code)",
                  ["outcome"], registry=REGISTRY)


def carrier_required(view):
    """Check the carrier's credentials before the body is read: a request without them is a 401
    whatever it sends."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = device_account()
        try:
            g.carrier = _service().carrier(user.name, tuple(user.roles))
        except NotACarrier as exc:
            abort(403, message=str(exc))
        return view(*args, **kwargs)

    return wrapper


def _service() -> RelayService:
    couch = get_couch()
    return RelayService(couch, AuditLog(couch))


@blp.route("", methods=["POST"])
@public  # answers only an enrolled device account, whose credentials CouchDB verifies (rate-limited)
@carrier_required
@blp.arguments(RelayArgs, error_status_code=400)
@blp.response(200, RelayResults)
@blp.alt_response(401, description="No device credentials, or CouchDB refuses them (e.g. a revoked device)")
@blp.alt_response(403, description="A person's account, or a device not enrolled or revoked")
@blp.alt_response(503, description="The database did not answer; send the same payloads again later")
def relay(args):
    """Upload payloads carried for other devices (1-50); one result per payload, in order:
    ``accepted``, ``already_delivered`` (both: forget it) or ``refused`` with a ``code`` and a
    ``reason`` (keep it and show the reason)."""
    try:
        results = _service().deliver(g.carrier, args["payloads"])
    except CouchUnavailable:
        abort(503, message="the database did not answer; send the same payloads again later")
    for result in results:
        RELAYED.labels(result.get("code") or result["status"]).inc()
    return {"results": results}, 200, {"Cache-Control": "no-store"}


__all__ = ["blp"]
