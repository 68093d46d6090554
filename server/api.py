"""flask-smorest, configured once: one error shape ``{code, status, message, errors}``.

Also the one place that reads request bodies for the API: ``parse_json_body`` (strict
UTF-8, bounded nesting, no NaN/Infinity, no unpaired surrogates; every failure a 400)
and the body size each kind of route accepts (``body_limit``), enforced by werkzeug on
the input stream, so a chunked body is cut off at the limit too (413).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar

import flask
from flask import current_app, render_template, request
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import abort as _abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

API_SETTINGS = {
    "API_TITLE": "School daily health reporting",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}

# Request body limits per kind of route (bytes). nginx allows 10 MB in front of / and /api/.
JSON_MAX_BYTES = 1024 * 1024          # JSON API requests and ordinary forms (the app-wide default)
UPLOAD_MAX_BYTES = 2 * 1024 * 1024    # CSV/XLSX uploads (registry import, verification list)
DB_PROXY_MAX_BYTES = 64 * 1024 * 1024  # /db/: CouchDB's own max_http_request_size decides below that
MAX_JSON_DEPTH = 32                   # no request of this API nests deeper than a few levels

_SURROGATE = re.compile("[\ud800-\udfff]")
F = TypeVar("F", bound=Callable[..., Any])


def abort(http_status_code: int, **kwargs: Any) -> NoReturn:
    """flask-smorest's ``abort`` (raises an HTTP error in the API's error shape), typed as never returning."""
    _abort(http_status_code, **kwargs)
    raise AssertionError("unreachable: abort always raises")


class BadBody(ValueError):
    """A request body that cannot be used as JSON; ``str(exc)`` says why (for a 400)."""


def _refuse_constant(name: str) -> NoReturn:
    raise BadBody(f"{name} is not a JSON number")


def parse_json_body(data: bytes) -> Any:
    """The JSON value of ``data``. Raises ``BadBody`` for bytes that are not UTF-8, text that
    is not JSON (including NaN/Infinity and integers over Python's digit limit), nesting
    deeper than ``MAX_JSON_DEPTH``, and strings holding unpaired surrogates (``"\\ud800"``:
    not Unicode, and a database would store them as replacement characters)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody("the body is not UTF-8 text") from exc
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise BadBody(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except BadBody:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() over sys.get_int_max_str_digits()
        raise BadBody("the body is not valid JSON") from exc
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: the check itself must not recurse
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadBody(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                item = item.values()
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise BadBody("the body holds text that is not valid Unicode")
    return value


def read_json_body() -> Any:
    """The request's JSON body for views that read it themselves (``None`` when empty).
    Aborts with 400 in the API's error shape when it cannot be used."""
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        return parse_json_body(data)
    except BadBody as exc:
        abort(400, message=str(exc), errors={"json": [str(exc)]})


class BodyParser(FlaskParser):
    """webargs' parser with the API's own JSON reader (webargs lets RecursionError through as a 500)."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return parse_json_body(data)
        except BadBody as exc:
            abort(400, message=str(exc), errors={"json": [str(exc)]})


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint, parsing bodies with ``BodyParser``."""

    ARGUMENTS_PARSER = BodyParser()


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Let a view accept bodies up to ``max_bytes`` instead of ``JSON_MAX_BYTES`` (put it
    right under the ``route`` decorator, so the registered view carries it)."""
    def decorator(view: F) -> F:
        view.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return view

    return decorator


class _MaxStream(LimitedStream):
    """A stream cut off at the route's limit that says so when read whole: werkzeug's
    ``LimitedStream.readall`` stops quietly at a maximum, so ``get_data()`` of a chunked
    body over the limit would return its first part instead of refusing it."""

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):  # more than the limit was sent
            raise RequestEntityTooLarge()
        return data


class LimitedRequest(flask.Request):
    """A request whose body limit is its route's: ``body_limit`` on the view, ``/db/`` the
    proxy's, else the app's ``MAX_CONTENT_LENGTH``. werkzeug applies it to the input stream
    (a Content-Length over it, or a chunked body reaching it: 413)."""

    @property  # type: ignore[override]
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None:
            return self._max_content_length
        if current_app:
            view = current_app.view_functions.get(self.endpoint or "")
            limit = getattr(view, "max_body_bytes", None)
            if limit is not None:
                return int(limit)
            if self.blueprint == "dbproxy":
                return DB_PROXY_MAX_BYTES
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        # Kept so ``close`` can close it: an upload cut off at the limit (413) leaves its
        # temporary file outside ``files``, where werkzeug would not close it.
        stream = super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self.__dict__.setdefault("_upload_streams", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_upload_streams", []):
            stream.close()

    @cached_property
    def stream(self):  # type: ignore[override]
        limit = self.max_content_length
        if limit is None or "wsgi.input_terminated" not in self.environ or self.shallow:
            return super().stream
        # The server ends the body itself (chunked, or gunicorn): werkzeug would cap it at the limit.
        if (self.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        return _MaxStream(self.environ["wsgi.input"], limit, is_max=True)


ERROR_PAGE_CODES = frozenset({400, 401, 403, 404, 405, 413, 429, 500, 503})  # with their own words


def wants_error_page() -> bool:
    """A person's browser asked for a page: not an API or ``/db/`` path, and the client prefers
    HTML to JSON (browsers send ``text/html``; API clients, curl's ``*/*`` and tests send neither)."""
    if request.path.startswith(("/api/", "/db/")):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def render_error_page(code: int, *, limit_mb: int | None = None) -> str:
    """The error page in the page's language (server/pages/templates/error.html), with a way
    back: the signed-in user's landing page and another sign-in, or the sign-in page."""
    from flask import url_for

    from server.auth import current_user, landing_for, safe_next
    from server.pages.i18n import current_language, translate

    lang = current_language()
    key = f"error_{code}" if code in ERROR_PAGE_CODES else "error_other"
    try:
        user = current_user()
    except Exception:  # noqa: BLE001 - an error page must not fail on the account lookup (CouchDB down: 503)
        user = None
    here = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
    login_url = url_for("auth.login", next=here) if here and code in (401, 403) else url_for("auth.login")
    return render_template("error.html", code=code, heading=translate(key, lang),
                           text=translate(f"{key}_text", lang).format(limit=limit_mb),
                           landing=landing_for(user) if user else None, login_url=login_url)


class Api(_Api):
    """The project's API object: every HTTP error (API or not) in the one error shape, with a
    message; a browser asking for a page (``wants_error_page``) gets a readable page instead."""

    def handle_http_exception(self, error: HTTPException):
        data = dict(getattr(error, "data", None) or {})
        limit_mb = None
        if error.code == 413:
            limit_mb = (request.max_content_length or JSON_MAX_BYTES) // (1024 * 1024)
            data.setdefault("message", f"the request body may be at most {limit_mb} MB")
        elif error.description:
            data.setdefault("message", error.description)
        error.data = data  # type: ignore[attr-defined]  # read by flask-smorest's handler
        if error.code and wants_error_page():
            try:
                page = render_error_page(error.code, limit_mb=limit_mb)
            except Exception:  # noqa: BLE001 - the page failing must not hide the error: answer JSON
                current_app.logger.exception("the error page for %s could not be rendered", error.code)
            else:
                headers = dict(data.get("headers") or {})
                if error.code == 405 and getattr(error, "valid_methods", None):
                    headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
                return page, error.code, headers
        return super().handle_http_exception(error)


__all__ = ["API_SETTINGS", "DB_PROXY_MAX_BYTES", "ERROR_PAGE_CODES", "JSON_MAX_BYTES", "MAX_JSON_DEPTH",
           "UPLOAD_MAX_BYTES", "Api", "BadBody", "Blueprint", "BodyParser", "LimitedRequest", "abort", "body_limit",
           "parse_json_body", "read_json_body", "render_error_page", "wants_error_page"]
