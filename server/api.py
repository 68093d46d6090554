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
from flask import current_app, render_template_string, request
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


_TOO_LARGE_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>413</title>
<h1>文件太大 The file is too large</h1>
<p>最大 {{ limit }} MB。请拆分后分别上传。 At most {{ limit }} MB: split it and upload the parts.</p>
<p><a href="javascript:history.back()">返回 Back</a></p></html>"""


class Api(_Api):
    """The project's API object: every HTTP error (API or not) in the one error shape, with a
    message; a too-large form post from a page gets a readable page instead."""

    def handle_http_exception(self, error: HTTPException):
        data = dict(getattr(error, "data", None) or {})
        if error.code == 413:
            limit_mb = (request.max_content_length or JSON_MAX_BYTES) // (1024 * 1024)
            if not request.path.startswith(("/api/", "/db/")) and request.accept_mimetypes.accept_html:
                return render_template_string(_TOO_LARGE_PAGE, limit=limit_mb), 413
            data.setdefault("message", f"the request body may be at most {limit_mb} MB")
        elif error.description:
            data.setdefault("message", error.description)
        error.data = data  # type: ignore[attr-defined]  # read by flask-smorest's handler
        return super().handle_http_exception(error)


__all__ = ["API_SETTINGS", "DB_PROXY_MAX_BYTES", "JSON_MAX_BYTES", "MAX_JSON_DEPTH", "UPLOAD_MAX_BYTES", "Api",
           "BadBody", "Blueprint", "BodyParser", "LimitedRequest", "abort", "body_limit", "parse_json_body",
           "read_json_body"]
