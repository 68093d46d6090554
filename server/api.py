"""flask-smorest, configured once: one error shape ``{code, status, message, errors}``."""

from __future__ import annotations

from typing import Any, NoReturn

from flask_smorest import Api as _Api
from flask_smorest import Blueprint
from flask_smorest import abort as _abort

API_SETTINGS = {
    "API_TITLE": "School daily health reporting",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def abort(http_status_code: int, **kwargs: Any) -> NoReturn:
    """flask-smorest's ``abort`` (raises an HTTP error in the API's error shape), typed as never returning."""
    _abort(http_status_code, **kwargs)
    raise AssertionError("unreachable: abort always raises")


class Api(_Api):
    """The project's API object (subclass kept so error handling has one home)."""


__all__ = ["API_SETTINGS", "Api", "Blueprint", "abort"]
