"""``/db/`` on the service's origin: a streaming pass-through to CouchDB.

The embedded setup's stand-in for nginx's ``location /db/`` (deploy/nginx): devices sync
same-origin with their own credentials, so no CORS is needed. Nothing is changed on the
way through except hop-by-hop headers; long-poll and continuous ``_changes`` feeds stream.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, request, stream_with_context

from server.couchdb import get_couch
from sync.errors import CouchUnavailable

bp = Blueprint("dbproxy", __name__)


def couchdb_enforced(view):
    """Access is CouchDB's own business here: _security and validate_doc_update decide."""
    view.access = "couchdb"
    return view

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "COPY", "OPTIONS"]
# Hop-by-hop (RFC 9110 §7.6.1) plus those the WSGI server recomputes.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length"}
# A browser answering a 401 with its own password dialog would be wrong for a device.
_DROP_FROM_RESPONSE = _HOP_BY_HOP | {"www-authenticate", "content-encoding"}


def _raw_target() -> tuple[str, bytes]:
    """Path after ``/db`` and the query, exactly as the device sent them (``%2F`` kept)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
    else:
        path, query = quote(request.path), request.query_string.decode("latin-1")
    return (path[len("/db"):] or "/"), query.encode("latin-1")


def _creates_or_drops_database(target: str) -> bool:
    return request.method in ("PUT", "DELETE") and target.strip("/").count("/") == 0 and target.strip("/") != ""


def _body():
    if request.content_length == 0 or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    stream = request.stream

    def chunks():
        while chunk := stream.read(64 * 1024):
            yield chunk

    return chunks()


@bp.route("/db", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/db/<path:path>", methods=METHODS)
@couchdb_enforced
def passthrough(path: str) -> Response:
    target, query = _raw_target()
    if _creates_or_drops_database(target) and "Authorization" not in request.headers \
            and "AuthSession" not in request.cookies:
        # Only admins may do this anyway; and pouchdb-server 4.2.0 dies on an anonymous ``PUT /<db>``.
        return Response('{"error":"unauthorized","reason":"sign in first"}', status=401,
                        content_type="application/json")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers["Accept-Encoding"] = "identity"  # pouchdb-server gzip-buffers continuous feeds otherwise
    try:
        upstream = get_couch().open_passthrough(request.method, target, query, headers, _body())
    except CouchUnavailable:
        return Response('{"error":"unavailable","reason":"database server unreachable"}', status=502,
                        content_type="application/json")
    response_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _DROP_FROM_RESPONSE]

    response = Response(stream_with_context(upstream.iter_raw()), status=upstream.status_code,
                        headers=response_headers, direct_passthrough=True)
    # Runs even when no body is read (HEAD, 304): otherwise the pooled connection leaks.
    response.call_on_close(upstream.close)
    return response
