"""The only module that speaks HTTP to CouchDB.

A thin layer over ``httpx.Client`` (see docs/decisions.md for why not CouchDB-Python
and friends). It is strict where CouchDB 3 is strict and pouchdb-server is lenient:

* every view key parameter is JSON-encoded, every boolean parameter is ``true``/``false``
  (a string where a bool or key belongs raises ``TypeError`` before anything is sent);
* ``Accept: application/json`` on every request and ``Content-Type: application/json``
  on every JSON body (pouchdb-server silently ignores bodies without it);
* ``_bulk_docs`` results are matched to the request's documents by id, never by position.

Errors are translated into ``sync.errors``; httpx exceptions never escape.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from sync.accounts import prehashed_credentials, user_doc
from sync.errors import (
    HTTP_ERRORS,
    BadRequest,
    CouchHTTPError,
    CouchTimeout,
    CouchUnavailable,
    NotFound,
    Unauthorized,
    UnsupportedByServer,
)

# View/query parameters whose value is JSON (CouchDB 3 rejects or misreads bare strings).
JSON_PARAMS = frozenset(
    {"key", "keys", "startkey", "endkey", "start_key", "end_key", "startkey_docid", "open_revs"}
)
# Parameters CouchDB reads as booleans: only lowercase true/false are honoured there.
BOOL_PARAMS = frozenset(
    {
        "conflicts", "descending", "group", "include_docs", "inclusive_end", "reduce",
        "revs", "revs_info", "update_seq", "attachments", "latest", "deleted_conflicts",
        "stable", "sorted", "new_edits", "style_all_docs", "create_target", "continuous",
    }
)
# Doc-id prefixes whose slash is part of the path, not of the id.
_PATH_PREFIXES = ("_design/", "_local/")


def encode_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Turn Python values into CouchDB query parameters, refusing ambiguous ones."""
    out: dict[str, str] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        if name in BOOL_PARAMS:
            if not isinstance(value, bool):
                raise TypeError(f"query parameter {name!r} must be a bool, got {value!r}")
            out[name] = "true" if value else "false"
        elif name in JSON_PARAMS:
            out[name] = value if name == "open_revs" and value == "all" else json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            raise TypeError(f"unexpected boolean for query parameter {name!r}")
        else:
            out[name] = str(value)
    return out


def quote_doc_id(doc_id: str) -> str:
    for prefix in _PATH_PREFIXES:
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix):], safe="")
    return quote(doc_id, safe="")


@dataclass(frozen=True, kw_only=True)
class BulkResult:
    """One document's outcome in ``_bulk_docs``: ``ok`` with ``rev``, or ``error``/``reason``."""

    id: str
    rev: str | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``http://u:p@host:5984/`` -> (``http://host:5984``, ``u``, ``p``)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return base, user, password


class CouchClient:
    """A pooled connection to one CouchDB server.

    ``url`` may carry credentials (``http://user:pass@host:5984``); they are sent as HTTP
    Basic on every request. Raises ``CouchUnavailable`` when the server cannot be reached
    and a ``CouchHTTPError`` subclass for an error answer.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, max_connections: int = 20):
        self.base_url, self.username, password = split_credentials(url)
        self._auth = httpx.BasicAuth(self.username, password or "") if self.username else None
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=self._auth,
            timeout=httpx.Timeout(timeout, connect=5.0),
            # identity: pouchdb-server gzip-buffers continuous feeds when asked for gzip.
            headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            # Shared by threads and used for other people's _session checks: never keep a cookie.
            cookies=_NoCookies(),
        )
        self._capabilities: dict[str, bool] = {}

    # -- plumbing ------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CouchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer."""
        response = self._send(method, path, params=params, json_body=json_body, timeout=timeout,
                              headers=headers, auth=auth)
        return response.json() if response.content else None

    def _send(self, method, path, *, params=None, json_body=None, timeout=None, headers=None,
              auth=None) -> httpx.Response:
        send_headers = dict(headers or {})
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = "application/json"
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        if auth is not None:
            kwargs["auth"] = auth
        try:
            response = self._http.request(
                method, path, params=encode_params(params), content=content, headers=send_headers, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise CouchTimeout(f"{method} {path}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise CouchUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            self._raise_for(response, method, path)
        return response

    @staticmethod
    def _raise_for(response: httpx.Response, method: str, path: str) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        error = str(body.get("error", "")) or response.reason_phrase
        reason = str(body.get("reason", ""))
        # 412 "nodedown": a cluster node went away under a request in flight (CouchDB 3):
        # as transient as a 5xx, so the caller backs off and retries instead of failing.
        if response.status_code >= 500 or (response.status_code == 412 and error == "nodedown"):
            raise CouchUnavailable(f"{method} {path} -> {response.status_code} {error}: {reason}")
        cls = HTTP_ERRORS.get(response.status_code, CouchHTTPError)
        raise cls(response.status_code, error, reason, method=method, path=path)

    # -- server --------------------------------------------------------------------------

    def info(self) -> dict:
        return self.request("GET", "/")

    def all_dbs(self, **params: Any) -> list[str]:
        return self.request("GET", "/_all_dbs", params=params)

    def db(self, name: str) -> Database:
        return Database(self, name)

    def session(self, name: str, password: str, *, client_address: str | None = None) -> dict:
        """Check a user's password with ``POST /_session``; returns its ``userCtx``.

        Raises ``Unauthorized`` for a wrong name or password, ``Forbidden`` when CouchDB 3.4's
        lockout holds. ``client_address`` is sent as ``X-Forwarded-For``: CouchDB (from
        loopback) keys its lockout on it, so it locks that address, not the service's.
        The answer's cookie is not kept: the service keeps its own session and re-verifies.
        """
        headers = {"X-Forwarded-For": client_address} if client_address else None
        body = self.request("POST", "/_session", json_body={"name": name, "password": password},
                            headers=headers, auth=_NoAuth())
        ctx = body.get("userCtx") or {"name": body.get("name"), "roles": body.get("roles", [])}
        return {"name": ctx.get("name"), "roles": list(ctx.get("roles") or [])}

    def cookie_session(self, auth_session: str) -> dict:
        """The ``userCtx`` (``name``, ``roles``) the server gives an ``AuthSession`` cookie value:
        ``name`` is None when the cookie is not (or no longer) valid. Raises ``CouchUnavailable``."""
        try:
            body = self.request("GET", "/_session", headers={"Cookie": f"AuthSession={auth_session}"},
                                auth=_NoAuth(), timeout=10)
        except (BadRequest, Unauthorized):  # a malformed or forged cookie
            return {"name": None, "roles": []}
        ctx = body.get("userCtx") or {}
        return {"name": ctx.get("name"), "roles": list(ctx.get("roles") or [])}

    def whoami(self, name: str, password: str) -> dict:
        """``GET /_session`` with Basic credentials: the userCtx CouchDB sees for them."""
        body = self.request("GET", "/_session", auth=httpx.BasicAuth(name, password))
        return body["userCtx"]

    def has(self, capability: str) -> bool:
        """Whether the server has ``_db_updates``, ``_scheduler``, ``node_config``,
        ``pbkdf2_prf`` (verifies PBKDF2-SHA256 user hashes: Apache CouchDB 3.4+) or
        ``cluster`` (more than one node); cached."""
        if capability == "cluster" and capability not in self._capabilities:
            try:
                nodes = self.request("GET", "/_membership").get("cluster_nodes") or []
            except CouchHTTPError:
                nodes = []
            self._capabilities[capability] = len(nodes) > 1
        if capability == "pbkdf2_prf" and capability not in self._capabilities:
            info = self.info()
            version = tuple(int(p) for p in re.findall(r"\d+", str(info.get("version", "")))[:2])
            self._capabilities[capability] = "couchdb" in info and version >= (3, 4)
        if capability not in self._capabilities:
            probes = {
                "_db_updates": ("/_db_updates", {"feed": "normal", "limit": 1}),
                "_scheduler": ("/_scheduler/docs", {"limit": 1}),
                "node_config": ("/_node/_local/_config/couchdb", None),
            }
            path, params = probes[capability]
            for attempt in (1, 2, 3):
                try:
                    self._send("GET", path, params=params, timeout=10)
                    self._capabilities[capability] = True
                    break
                except CouchHTTPError as exc:
                    # Only a refusal says the server lacks it; a busy server's 5xx is asked again
                    # and, if it persists, not remembered.
                    if exc.status < 500:
                        self._capabilities[capability] = False
                        break
                    if attempt == 3:
                        return False
                    time.sleep(attempt)
        return self._capabilities[capability]

    def db_updates(self, *, since: str = "now", feed: str = "longpoll", timeout_s: float = 30) -> dict:
        """Databases that changed since ``since`` (``{"results": [...], "last_seq": ...}``).

        Raises ``UnsupportedByServer`` where the server lacks ``_db_updates``.
        """
        if not self.has("_db_updates"):
            raise UnsupportedByServer("_db_updates")
        return self.request(
            "GET", "/_db_updates",
            params={"since": since, "feed": feed, "timeout": int(timeout_s * 1000)},
            timeout=timeout_s + 10,
        )

    def scheduler_docs(self) -> list[dict] | None:
        """Replication states from ``_scheduler/docs``, or None where the server lacks it."""
        if not self.has("_scheduler"):
            return None
        return self.request("GET", "/_scheduler/docs")["docs"]

    def config_get(self, section: str, key: str) -> str | None:
        prefix = "/_node/_local/_config" if self.has("node_config") else "/_config"
        try:
            return self.request("GET", f"{prefix}/{section}/{key}")
        except NotFound:
            return None

    def config_set(self, section: str, key: str, value: str) -> None:
        prefix = "/_node/_local/_config" if self.has("node_config") else "/_config"
        self.request("PUT", f"{prefix}/{section}/{key}", json_body=value)

    def replicate(self, source: str, target: str, **options: Any) -> dict:
        """One-shot ``POST /_replicate``; plain URL strings work on both servers."""
        return self.request("POST", "/_replicate", json_body={"source": source, "target": target, **options},
                            timeout=max(self.timeout, 600))

    def put_user(self, name: str, *, password: str | None, roles: list[str], token: bool = False,
                 **extra: Any) -> dict:
        """Create or update a ``_users`` account (keeps the password when ``password`` is None).

        ``token``: ``password`` is a device's random token, written pre-hashed with few
        iterations instead of CouchDB's 600,000 (why: ``sync.accounts``).
        """
        users = self.db("_users")
        current = users.get_or_none(f"org.couchdb.user:{name}")
        credentials = None
        if token and password is not None:
            credentials = self.token_credentials(password)
            password = None
        return users.put(user_doc(name, roles=roles, password=password, credentials=credentials, current=current,
                                  **extra))

    def token_credentials(self, token: str) -> dict:
        """``_users`` fields for a device token, hashed in the form this server verifies."""
        return prehashed_credentials(token, sha256=self.has("pbkdf2_prf"))

    def delete_user(self, name: str) -> bool:
        users = self.db("_users")
        doc = users.get_or_none(f"org.couchdb.user:{name}")
        if doc is None:
            return False
        users.delete(doc["_id"], doc["_rev"])
        return True

    # -- pass-through for the /db/ proxy ---------------------------------------------------

    def open_passthrough(self, method: str, path: str, query: bytes, headers: Mapping[str, str],
                         body: Iterable[bytes] | bytes | None, *, read_timeout_s: float | None = 60.0,
                         connect_timeout_s: float = 5.0) -> httpx.Response:
        """Forward a device's request unchanged and return the streaming response.

        Used by the embedded setup's ``/db/`` route; the caller must ``close()`` the response.
        The device's own credentials travel in its headers; the service account's are not added.
        ``read_timeout_s`` bounds each wait for the server (None: no limit, for feeds). Raises
        ``CouchTimeout`` when the server does not connect or answer in time, ``CouchUnavailable``
        when it cannot be reached.
        """
        url = httpx.URL(self.base_url + path, query=query)
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, write=60.0, pool=10.0)
        request = self._http.build_request(method, url, headers=headers, content=body, timeout=timeout)
        request.headers.pop("authorization", None)
        if "authorization" in {k.lower() for k in headers}:
            request.headers["Authorization"] = next(v for k, v in headers.items() if k.lower() == "authorization")
        try:
            # auth=None would fall back to the client's; an empty header set above wins.
            return self._http.send(request, stream=True, auth=_NoAuth())
        except httpx.TimeoutException as exc:
            raise CouchTimeout(f"{method} {path}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise CouchUnavailable(f"{method} {path}: {exc!r}") from exc


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing (a user's AuthSession must not ride on admin calls)."""

    def extract_cookies(self, response, request) -> None:  # type: ignore[override]
        return None

    def set_cookie(self, cookie) -> None:  # type: ignore[override]
        return None


class _NoAuth(httpx.Auth):
    """Send the request as built: the proxy must never add the service account's credentials."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield request


class Database:
    """One database on a ``CouchClient``."""

    def __init__(self, client: CouchClient, name: str):
        self.client = client
        self.name = name
        self.path = "/" + quote(name, safe="")

    def __repr__(self) -> str:
        return f"Database({self.name!r})"

    def _doc_path(self, doc_id: str) -> str:
        return f"{self.path}/{quote_doc_id(doc_id)}"

    # -- the database itself ---------------------------------------------------------------

    def exists(self) -> bool:
        try:
            self.client.request("HEAD", self.path)
            return True
        except NotFound:
            return False

    def create(self, *, exist_ok: bool = True, q: int | None = None, n: int | None = None) -> bool:
        """Create the database; returns False when it existed (and ``exist_ok``).

        ``q`` (shards) and ``n`` (copies of each shard) go as query parameters of
        ``PUT /db``; None leaves them to the server's ``[cluster]`` defaults. They only
        apply at creation: an existing database keeps its shards. pouchdb-server ignores
        both.
        """
        from sync.errors import PreconditionFailed

        for name, value in (("q", q), ("n", n)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        try:
            self.client.request("PUT", self.path, params={"q": q, "n": n})
            return True
        except PreconditionFailed:
            if exist_ok:
                return False
            raise

    def delete_database(self) -> None:
        self.client.request("DELETE", self.path)

    def info(self) -> dict:
        return self.client.request("GET", self.path)

    def get_security(self) -> dict:
        return self.client.request("GET", f"{self.path}/_security") or {}

    def put_security(self, security: dict) -> None:
        self.client.request("PUT", f"{self.path}/_security", json_body=security)

    # -- documents ----------------------------------------------------------------------

    def get(self, doc_id: str, **params: Any) -> dict:
        return self.client.request("GET", self._doc_path(doc_id), params=params)

    def get_or_none(self, doc_id: str, **params: Any) -> dict | None:
        try:
            return self.get(doc_id, **params)
        except NotFound:
            return None

    def put(self, doc: dict, **params: Any) -> dict:
        """Write ``doc`` at its ``_id``; sets the new ``_rev`` on it. Raises ``Conflict``."""
        result = self.client.request("PUT", self._doc_path(doc["_id"]), json_body=doc, params=params)
        doc["_rev"] = result["rev"]
        return result

    def delete(self, doc_id: str, rev: str) -> dict:
        return self.client.request("DELETE", self._doc_path(doc_id), params={"rev": rev})

    def get_local(self, name: str) -> dict | None:
        return self.get_or_none(f"_local/{name}")

    def put_local(self, name: str, body: dict, *, rev: str | None = None) -> str:
        """Write a ``_local/`` doc (never replicated), overwriting whatever is there; returns
        its new revision. ``rev``: the revision the caller last read or wrote, which saves
        reading it first (a stale one costs one retry)."""
        from sync.errors import Conflict

        doc = dict(body, _id=f"_local/{name}")
        for attempt in (1, 2):
            if rev is None or attempt == 2:
                current = self.get_local(name)
                rev = current["_rev"] if current is not None else None
            if rev is not None:
                doc["_rev"] = rev
            try:
                return self.client.request("PUT", self._doc_path(doc["_id"]), json_body=doc)["rev"]
            except Conflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def open_revs(self, doc_id: str, revs: list[str] | str = "all", *, with_history: bool = True) -> list[dict]:
        """Every requested leaf of ``doc_id`` as a body (deleted leaves included).

        Missing revisions are left out. ``with_history`` adds ``_revisions`` to each body.
        """
        answer = self.client.request(
            "GET", self._doc_path(doc_id),
            params={"open_revs": revs, "revs": with_history, "latest": True},
        )
        return [item["ok"] for item in answer if "ok" in item]

    def bulk_docs(self, docs: list[dict], *, new_edits: bool = True) -> list[BulkResult]:
        """``_bulk_docs``; results in the order of ``docs``, matched by id (not position).

        Per-document errors (``forbidden``, ``conflict``) come back as results, not raised.
        """
        body: dict[str, Any] = {"docs": docs}
        if not new_edits:
            body["new_edits"] = False
        answer = self.client.request("POST", f"{self.path}/_bulk_docs", json_body=body,
                                     timeout=max(self.client.timeout, 120))
        by_id: dict[str | None, deque] = defaultdict(deque)
        for item in answer or []:
            by_id[item.get("id")].append(item)
        results = []
        for doc in docs:
            queue = by_id.get(doc.get("_id"))
            item = queue.popleft() if queue else None
            if item is None:
                # new_edits=false answers only errors; CouchDB omits successful docs there.
                results.append(BulkResult(id=doc.get("_id", ""), rev=doc.get("_rev")) if not new_edits
                               else BulkResult(id=doc.get("_id", ""), error="missing", reason="no result"))
            elif "error" in item:
                results.append(BulkResult(id=item.get("id", ""), error=item["error"], reason=item.get("reason")))
            else:
                results.append(BulkResult(id=item["id"], rev=item.get("rev")))
        return results

    def all_docs(self, **params: Any) -> dict:
        if "keys" in params:
            keys = params.pop("keys")
            return self.client.request("POST", f"{self.path}/_all_docs", params=params, json_body={"keys": keys})
        return self.client.request("GET", f"{self.path}/_all_docs", params=params)

    def changes(
        self,
        *,
        since: Any = 0,
        limit: int | None = None,
        include_docs: bool = False,
        conflicts: bool = False,
        feed: str = "normal",
        timeout_s: float = 30,
        doc_ids: list[str] | None = None,
        style: str | None = None,
    ) -> dict:
        """One batch of ``_changes``; ``feed="longpoll"`` waits up to ``timeout_s`` for one.

        An idle long poll ends with an empty batch at the same ``since``.
        """
        params: dict[str, Any] = {
            "since": since, "limit": limit, "include_docs": include_docs, "feed": feed, "style": style,
        }
        if conflicts:
            params["conflicts"] = True
        path = f"{self.path}/_changes"
        body = None
        if doc_ids is not None:
            params["filter"] = "_doc_ids"
            body = {"doc_ids": doc_ids}
        if feed == "longpoll":
            return self._longpoll(path, params, body, since, timeout_s)
        if body is not None:
            return self.client.request("POST", path, params=params, json_body=body, timeout=timeout_s + 10)
        return self.client.request("GET", path, params=params, timeout=timeout_s + 10)

    def _longpoll(self, path: str, params: dict, body: dict | None, since: Any, timeout_s: float) -> dict:
        # pouchdb-server ignores ``timeout`` and keeps an idle long poll open for ever, sending
        # only heartbeat newlines; CouchDB lets ``heartbeat`` override ``timeout``. So ask for
        # heartbeats on both and end an idle wait ourselves at the deadline.
        params = dict(params, heartbeat=1000)
        deadline = time.monotonic() + timeout_s
        chunks: list[bytes] = []
        method = "POST" if body is not None else "GET"
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            with self.client._http.stream(method, path, params=encode_params(params), content=content,
                                          headers=headers, timeout=httpx.Timeout(15, connect=5)) as response:
                if response.status_code >= 400:
                    response.read()
                    self.client._raise_for(response, method, path)
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    if time.monotonic() > deadline and not b"".join(chunks).strip().endswith(b"}"):
                        return {"results": [], "last_seq": since}
        except httpx.TransportError as exc:
            raise CouchUnavailable(f"{method} {path}: {exc!r}") from exc
        return json.loads(b"".join(chunks))

    def view(self, ddoc: str, view: str, **params: Any) -> dict:
        """Query ``_design/<ddoc>/_view/<view>``; ``keys`` goes in a POST body."""
        path = f"{self.path}/_design/{quote(ddoc, safe='')}/_view/{quote(view, safe='')}"
        timeout = params.pop("timeout_s", None) or max(self.client.timeout, 300)
        if "keys" in params:
            keys = params.pop("keys")
            return self.client.request("POST", path, params=params, json_body={"keys": keys}, timeout=timeout)
        return self.client.request("GET", path, params=params, timeout=timeout)

    def revs_diff(self, revs: dict[str, list[str]]) -> dict[str, list[str]]:
        """``_revs_diff``: of the given ``{doc id: [rev, ...]}``, the revisions this database
        lacks (neither a leaf nor in any branch's history), by document id."""
        answer = self.client.request("POST", f"{self.path}/_revs_diff", json_body=revs) or {}
        return {doc_id: entry.get("missing", []) for doc_id, entry in answer.items()}

    def find_conflicted(self, doc_id: str) -> list[str]:
        doc = self.get(doc_id, conflicts=True)
        return list(doc.get("_conflicts", []))


__all__ = ["BulkResult", "CouchClient", "Database", "encode_params", "quote_doc_id", "split_credentials"]
