"""Who may do what through ``/db/``: one policy, whatever server is behind it.

The embedded pass-through (``server.dbproxy``) applies it before any byte goes upstream;
nginx asks the same question of ``/internal/db-access`` (``auth_request``) before it
proxies to CouchDB. pouchdb-server does not enforce CouchDB's ``_users`` rules, so the
pass-through must not rely on the server to refuse what no device or browser needs.

Who is asking: HTTP Basic (``server.auth.current_user``: the cached check, throttled like
``/login``), else a CouchDB ``AuthSession`` cookie (CouchDB's own ``GET /_session``,
cached a few seconds), else anonymous. What they may do:

    /                                       GET, HEAD (signed in; PouchDB reads the uuid)
    /_session                               GET, HEAD, DELETE: anyone. POST: anyone whose
                                            name and password pass ``verify_password``
    /<own db>                               GET, HEAD (database info)
    /<own db>/_changes, _all_docs           GET, HEAD, POST (``filter``: none or _doc_ids)
    /<own db>/_bulk_docs, _bulk_get, _revs_diff        POST
    /<own db>/_local/<id>                   GET, HEAD, PUT, DELETE (replication checkpoints)
    /<own db>/_design/<name>                GET, HEAD
    /<own db>/_design/<name>/_view/<view>   GET, HEAD, POST (the app's ``window`` view)
    /<own db>/<doc>[/<attachment>]          GET, HEAD, PUT, DELETE

Own databases: ``school:<id>`` -> ``school_db_name(id)``, ``inspector:<county>`` ->
``inspections_db_name(county)``. Everything else is refused for everyone, admins included
(they use the admin API): ``_users``, ``_all_dbs``, ``_replicate``, ``_config``, other
databases, creating or deleting a database, ``_security``, ``_purge``, ``_find``, ...
Refusals are 401 for anonymous callers and 403 for signed-in ones, in CouchDB's error shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from flask import request

from server.auth import SignInRefused, TTLCache, current_user
from server.couchdb import get_couch
from sync.errors import CouchUnavailable
from sync.provision import inspections_db_name, school_db_name

COOKIE_CACHE_S = 5.0
READ = frozenset({"GET", "HEAD"})
READ_WRITE = READ | {"PUT", "DELETE"}
QUERY = READ | {"POST"}
# Database sub-resources a replicating PouchDB needs, with the methods it uses.
DB_ENDPOINTS = {
    "_changes": QUERY,
    "_all_docs": QUERY,
    "_bulk_docs": frozenset({"POST"}),
    "_bulk_get": frozenset({"POST"}),
    "_revs_diff": frozenset({"POST"}),
}
# ``filter=_selector`` crashes pouchdb-server; the app pulls by ``doc_ids`` only.
CHANGES_FILTERS = frozenset({"_doc_ids"})
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_\-=.%+/]{1,4096}$")


class DbRefused(Exception):
    """The request may not go upstream; ``status``, ``error`` and ``reason`` in CouchDB's shape."""

    def __init__(self, status: int, error: str, reason: str):
        super().__init__(f"{status} {error}: {reason}")
        self.status, self.error, self.reason = status, error, reason

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "reason": self.reason}).encode()


@dataclass(frozen=True, kw_only=True)
class Caller:
    """The account behind a ``/db/`` request (``name`` None: anonymous)."""

    name: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def anonymous(self) -> bool:
        return self.name is None

    @property
    def databases(self) -> frozenset[str]:
        """The databases this caller syncs: its schools' and its inspected counties'."""
        names = set()
        for role in self.roles:
            kind, _, ident = role.partition(":")
            if ident and kind == "school":
                names.add(school_db_name(ident))
            elif ident and kind == "inspector":
                names.add(inspections_db_name(ident))
        return frozenset(names)

    def refuse(self, reason: str) -> DbRefused:
        """401 for anonymous callers (sign in, then maybe), 403 for signed-in ones."""
        if self.anonymous:
            return DbRefused(401, "unauthorized", reason)
        return DbRefused(403, "forbidden", reason)


ANONYMOUS = Caller()


@dataclass(frozen=True, kw_only=True)
class Target:
    """What a request asks for: ``kind`` is one of ``server``, ``session``, ``database``,
    ``endpoint``, ``local``, ``design``, ``view``, ``document``, ``attachment``."""

    kind: str
    db: str | None = None


_cookies = TTLCache(COOKIE_CACHE_S)  # verified AuthSession cookies (by hash) -> caller


def _unavailable() -> DbRefused:
    return DbRefused(503, "unavailable", "the database server does not answer; try again shortly")


def identify() -> Caller:
    """The caller of the current request. Raises ``DbRefused``: 401 or 429 for HTTP Basic
    credentials that ``verify_password`` refuses, 503 when CouchDB cannot check them."""
    auth = request.authorization
    try:
        if auth is not None and auth.type == "basic" and auth.username:
            user = current_user()
            if user is None:  # a deleted or deactivated account
                raise DbRefused(401, "unauthorized", "this account is no longer active")
            return Caller(name=user.name, roles=user.roles)
        cookie = request.cookies.get("AuthSession")
        if cookie:
            return _cookie_caller(cookie)
    except SignInRefused as refused:
        error = "too_many_requests" if refused.status == 429 else "unauthorized"
        raise DbRefused(refused.status, error, refused.message) from None
    except CouchUnavailable:
        raise _unavailable() from None
    return ANONYMOUS


def _cookie_caller(cookie: str) -> Caller:
    if not _COOKIE_VALUE.match(cookie):
        return ANONYMOUS
    key = hashlib.sha256(cookie.encode()).hexdigest()
    caller = _cookies.get(key)
    if caller is None:
        ctx = get_couch().cookie_session(cookie)
        caller = Caller(name=ctx["name"], roles=tuple(ctx["roles"])) if ctx["name"] else ANONYMOUS
        _cookies.put(key, caller)
    return caller


def _segments(path: str) -> list[str]:
    """The decoded path segments (one trailing slash allowed). Empty, ``.`` and ``..``
    segments are refused: CouchDB drops empty ones, so ``//_users`` would mean ``_users``."""
    raw = path[1:] if path.startswith("/") else path
    if raw.endswith("/"):
        raw = raw[:-1]
    if raw == "":
        return []
    parts = [unquote(part) for part in raw.split("/")]
    if any(part in ("", ".", "..") for part in parts):
        raise DbRefused(400, "bad_request", "malformed path")
    return parts


def classify(caller: Caller, method: str, path: str, query: str = "") -> Target:
    """What ``method path?query`` (``path`` as CouchDB sees it, still percent-encoded) asks
    for, if this caller may do it. Raises ``DbRefused`` (400, 401 or 403) otherwise."""
    parts = _segments(path)
    if not parts:
        if caller.anonymous or method not in READ:
            raise caller.refuse("only GET of the server's root is allowed here, signed in")
        return Target(kind="server")
    db, rest = parts[0], parts[1:]
    if db == "_session" and not rest:
        if method in READ | {"DELETE", "POST"}:
            return Target(kind="session")
        raise caller.refuse(f"{method} /_session is not allowed")
    if db.startswith("_"):
        raise caller.refuse(f"{db} is not available through /db/ (the service's API does what people need)")
    if db not in caller.databases:
        if caller.anonymous:
            raise caller.refuse("sign in first")
        raise caller.refuse(f"you may not use database {db}")
    if not rest:
        if method in ("PUT", "DELETE"):
            raise caller.refuse("creating or deleting databases is not allowed through /db/ (admins use the admin API)")
        if method not in READ:
            raise caller.refuse(f"{method} of a database is not allowed through /db/")
        return Target(kind="database", db=db)
    target, allowed = _db_resource(rest, query)
    if target is None or method not in allowed:
        raise caller.refuse(f"{method} {'/'.join(rest)} is not allowed through /db/")
    return Target(kind=target, db=db)


def _db_resource(rest: list[str], query: str) -> tuple[str | None, frozenset[str]]:
    """The kind of a path inside a database and the methods allowed on it (None: refused)."""
    head = rest[0]
    if head.startswith(("_design/", "_local/")):  # an id with its slash encoded (%2F)
        rest = head.split("/", 1) + rest[1:]
        head = rest[0]
    if head in DB_ENDPOINTS and len(rest) == 1:
        if head == "_changes" and not set(parse_qs(query).get("filter", [])) <= CHANGES_FILTERS:
            return None, frozenset()
        return "endpoint", DB_ENDPOINTS[head]
    if head == "_local" and len(rest) == 2:
        return "local", READ_WRITE
    if head == "_design" and len(rest) == 2:
        return "design", READ
    if head == "_design" and len(rest) == 4 and rest[2] == "_view":
        return "view", QUERY
    if head.startswith("_"):
        return None, frozenset()
    return ("document" if len(rest) == 1 else "attachment"), READ_WRITE


__all__ = ["ANONYMOUS", "Caller", "DbRefused", "Target", "classify", "identify"]
