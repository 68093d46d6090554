"""``/db/`` on the service's origin: a streaming pass-through to CouchDB, behind one policy.

The embedded setup's stand-in for nginx's ``location /db/`` (deploy/nginx): devices sync
same-origin with their own credentials, so no CORS is needed. Every request is checked
against ``server.dbproxy.policy`` before any byte goes upstream (nginx asks the same policy
through ``/internal/db-access``); then nothing is changed on the way through except
hop-by-hop headers and forged ``X-Auth-CouchDB-*`` headers; feeds stream.

``POST /db/_session`` is handled here in both layouts (nginx routes it to the service): the
name and password pass ``verify_password`` (the limit shared with ``/login``) first.

Every answer is served inert (``nosniff``, a ``sandbox`` CSP, and ``Content-Disposition:
attachment`` for attachments and any body that is not JSON): a device can store HTML, the
browser must never run it on this origin.

Upstream timeouts: 5 s to connect; 60 s to answer, except ``_changes`` feeds
(``feed=longpoll|continuous|eventsource``), which may stay silent up to their ``heartbeat``
(or ``timeout``) plus a margin. A timeout answers 504, an unreachable server 502.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote

from flask import Blueprint, Response, request, stream_with_context
from werkzeug.http import parse_options_header

from server.auth import SignInRefused, public, verify_password
from server.couchdb import get_couch
from server.dbproxy.policy import DbRefused, Target, classify, identify
from sync.errors import CouchTimeout, CouchUnavailable

bp = Blueprint("dbproxy", __name__)


def couchdb_enforced(view):
    """Access is decided by ``server.dbproxy.policy``, then by CouchDB (_security, validate_doc_update)."""
    view.access = "couchdb"
    return view


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "COPY", "OPTIONS"]
# Hop-by-hop (RFC 9110 §7.6.1) plus those the WSGI server recomputes.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length"}
# A browser answering a 401 with its own password dialog would be wrong for a device.
_DROP_FROM_RESPONSE = _HOP_BY_HOP | {"www-authenticate", "content-encoding", "content-disposition",
                                     "content-security-policy", "x-content-type-options"}
# CouchDB's proxy authentication headers: never from the internet.
_FORGED_PREFIX = "x-auth-couchdb-"
# Served with every /db/ answer (nginx adds the same in deploy/nginx).
INERT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
FEEDS = frozenset({"longpoll", "continuous", "eventsource"})
FEED_MARGIN_S = 15.0
MAX_FEED_SILENCE_S = 3600.0  # nginx's proxy_read_timeout for /db/
SESSION_BODY_MAX = 64 * 1024


def _raw_target() -> tuple[str, bytes]:
    """Path after ``/db`` and the query, exactly as the device sent them (``%2F`` kept)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
    else:
        path, query = quote(request.path), request.query_string.decode("latin-1")
    return (path[len("/db"):] or "/"), query.encode("latin-1")


def upstream_read_timeout(query: str) -> float:
    """Seconds to wait for CouchDB's next bytes: ``READ_TIMEOUT_S``, or for a feed the
    longest silence it asked for (``heartbeat``, else ``timeout``, in ms) plus a margin."""
    params = parse_qs(query)
    if not FEEDS & set(params.get("feed", [])):
        return READ_TIMEOUT_S
    waits = []
    for name in ("heartbeat", "timeout"):
        for value in params.get(name, []):
            if name == "heartbeat" and value == "true":
                waits.append(60.0)  # CouchDB's default heartbeat
                continue
            try:
                waits.append(float(value) / 1000)
            except ValueError:
                continue
    waits = [wait for wait in waits if wait > 0]
    return min(min(waits, default=MAX_FEED_SILENCE_S), MAX_FEED_SILENCE_S) + FEED_MARGIN_S


def refusal_response(refused: DbRefused, status: int | None = None) -> Response:
    return Response(refused.body(), status=status or refused.status, content_type="application/json",
                    headers=INERT_HEADERS)


def _body():
    if request.content_length == 0 or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    stream = request.stream

    def chunks():
        while chunk := stream.read(64 * 1024):
            yield chunk

    return chunks()


def _session_credentials(data: bytes) -> tuple[str, str]:
    """Name and password of a ``POST /_session`` body, read as CouchDB reads it (JSON or a
    form). Raises ``DbRefused`` (400) when they are missing."""
    fields: dict = {}
    try:
        if request.mimetype == "application/x-www-form-urlencoded":
            fields = {key: values[0] for key, values in parse_qs(data.decode("utf-8")).items()}
        elif request.mimetype == "application/json":
            body = json.loads(data)
            fields = body if isinstance(body, dict) else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    name, password = fields.get("name"), fields.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        raise DbRefused(400, "bad_request", "send name and password as JSON (or a form)")
    return name, password


def _check_sign_in() -> bytes:
    """The body of a ``POST /_session`` whose credentials ``verify_password`` accepts.
    Raises ``DbRefused`` (400, 401, 429 or 503): a refused guess never reaches CouchDB."""
    data = b""  # read up to the limit (a chunked body has no Content-Length to check first)
    while len(data) <= SESSION_BODY_MAX and (chunk := request.stream.read(SESSION_BODY_MAX + 1 - len(data))):
        data += chunk
    if len(data) > SESSION_BODY_MAX:
        raise DbRefused(413, "too_large", "a sign-in body is small")
    name, password = _session_credentials(data)
    try:
        verify_password(name, password)
    except SignInRefused as refused:
        raise DbRefused(refused.status, "too_many_requests" if refused.status == 429 else "unauthorized",
                        refused.message) from None
    except CouchUnavailable:
        raise DbRefused(503, "unavailable", "the database server does not answer; try again shortly") from None
    return data


def _upstream_headers() -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in _HOP_BY_HOP and not k.lower().startswith(_FORGED_PREFIX)
               and k.lower() != "x-forwarded-for"}
    headers["Accept-Encoding"] = "identity"  # pouchdb-server gzip-buffers continuous feeds otherwise
    if request.remote_addr:  # the client (ProxyFix behind nginx): CouchDB 3.4's lockout keys on it
        headers["X-Forwarded-For"] = request.remote_addr
    return headers


def _inert(response_headers: list[tuple[str, str]], target: Target) -> list[tuple[str, str]]:
    content_type = next((v for k, v in response_headers if k.lower() == "content-type"), "")
    headers = response_headers + list(INERT_HEADERS.items())
    if target.kind == "attachment" or parse_options_header(content_type)[0].lower() != "application/json":
        headers.append(("Content-Disposition", "attachment"))
    return headers


# merge_slashes=False: the policy sees the path as CouchDB will (and refuses ``//``).
@bp.route("/db", defaults={"path": ""}, methods=METHODS, strict_slashes=False, merge_slashes=False)
@bp.route("/db/<path:path>", methods=METHODS, merge_slashes=False)
@couchdb_enforced
def passthrough(path: str) -> Response:
    target_path, query = _raw_target()
    try:
        target = classify(identify(), request.method, target_path, query.decode("latin-1"))
        body = _check_sign_in() if target.kind == "session" and request.method == "POST" else _body()
    except DbRefused as refused:
        return refusal_response(refused)
    try:
        upstream = get_couch().open_passthrough(
            request.method, target_path, query, _upstream_headers(), body,
            read_timeout_s=upstream_read_timeout(query.decode("latin-1")), connect_timeout_s=CONNECT_TIMEOUT_S)
    except CouchTimeout:
        return refusal_response(DbRefused(504, "timeout", "the database server did not answer in time"))
    except CouchUnavailable:
        return refusal_response(DbRefused(502, "unavailable", "database server unreachable"))
    response_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _DROP_FROM_RESPONSE]

    response = Response(stream_with_context(upstream.iter_raw()), status=upstream.status_code,
                        headers=_inert(response_headers, target), direct_passthrough=True)
    # Runs even when no body is read (HEAD, 304): otherwise the pooled connection leaks.
    response.call_on_close(upstream.close)
    return response


@bp.route("/internal/db-access", methods=METHODS)
@public
def access_check() -> Response:
    """nginx's ``auth_request`` for ``/db/``: may ``X-Original-Method X-Original-URI`` (with
    this request's Authorization and Cookie) go to CouchDB? 204 yes; otherwise 401 or 403,
    since nginx passes only those through. The real status (401, 403, 400, 429, 503) is in
    ``X-Db-Status`` and the CouchDB-shaped body in ``X-Db-Error``, which nginx answers with.
    ``POST /db/_session`` never comes here: nginx sends it to the pass-through above."""
    method = request.headers.get("X-Original-Method", "")
    path, _, query = request.headers.get("X-Original-URI", "").partition("?")
    try:
        if path != "/db" and not path.startswith("/db/"):
            raise DbRefused(400, "bad_request", "not a /db/ request")
        target = classify(identify(), method, path[len("/db"):] or "/", query)
        if target.kind == "session" and method == "POST":
            raise DbRefused(403, "forbidden", "sign in through the service's /db/_session")
    except DbRefused as refused:
        response = refusal_response(refused, status=refused.status if refused.status in (401, 403) else 403)
        response.headers["X-Db-Status"] = str(refused.status)
        response.headers["X-Db-Error"] = refused.body().decode()
        return response
    return Response(status=204)
