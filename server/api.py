"""flask-smorest, configured once: one error shape ``{code, status, message, errors}``."""

from __future__ import annotations

from flask_smorest import Api as _Api
from flask_smorest import Blueprint, abort

API_SETTINGS = {
    "API_TITLE": "School daily health reporting",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class Api(_Api):
    """The project's API object (subclass kept so error handling has one home)."""


__all__ = ["API_SETTINGS", "Api", "Blueprint", "abort"]
