"""Errors of the CouchDB access layer and the worker.

    CouchError                      anything that went wrong talking to CouchDB
    ├── CouchUnavailable            connection refused, reset, timed out, 5xx: transient, retry
    │   └── CouchTimeout            no connection or no answer in time
    └── CouchHTTPError              the server answered with an error status
        ├── BadRequest          400
        ├── Unauthorized        401 (bad credentials: fatal for a worker)
        ├── Forbidden           403 (validate_doc_update or _security said no)
        ├── NotFound            404
        ├── Conflict            409
        └── PreconditionFailed  412 (e.g. the database already exists)

    UnsupportedByServer             the server lacks an endpoint (e.g. _db_updates on pouchdb-server)

httpx errors never leave ``sync.couch``: they are translated with ``raise ... from exc``.
"""

from __future__ import annotations


class CouchError(Exception):
    """Base class of every CouchDB error the project raises."""


class CouchUnavailable(CouchError):
    """The server could not be reached or failed (5xx). Transient: retry with backoff."""


class CouchTimeout(CouchUnavailable):
    """The server did not connect or answer in time (e.g. paused, overloaded)."""


class UnsupportedByServer(CouchError):
    """The server does not implement this endpoint (pouchdb-server lacks several)."""


class CouchHTTPError(CouchError):
    """The server answered with an error status; ``error`` and ``reason`` are CouchDB's."""

    status: int = 0

    def __init__(self, status: int, error: str, reason: str, *, method: str = "", path: str = ""):
        self.status = status
        self.error = error
        self.reason = reason
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} -> {status} {error}: {reason}")


class BadRequest(CouchHTTPError):
    status = 400


class Unauthorized(CouchHTTPError):
    status = 401


class Forbidden(CouchHTTPError):
    status = 403


class NotFound(CouchHTTPError):
    status = 404


class Conflict(CouchHTTPError):
    status = 409


class PreconditionFailed(CouchHTTPError):
    status = 412


HTTP_ERRORS: dict[int, type[CouchHTTPError]] = {
    cls.status: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed)
}
