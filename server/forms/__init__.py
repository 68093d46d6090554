"""The forms devices render and validate: JSON Schema exported from ``mobile_schema``."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from flask import Response, request

from mobile_schema import FORMS, UnknownForm, json_schema
from server.api import Blueprint, abort
from server.auth import public

blp = Blueprint("forms", __name__, url_prefix="/api/v1/forms", description="Form definitions for devices")


@cache
def _exports() -> tuple[dict, str]:
    """Every form's JSON Schema, computed once per process (forms change only with a deploy)."""
    schemas = {name: json_schema(name) for name in FORMS}
    etag = hashlib.sha256(json.dumps(schemas, sort_keys=True).encode()).hexdigest()[:32]
    return schemas, etag


def _json_with_etag(body: dict, etag: str) -> Response:
    if etag in request.if_none_match:
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    response = Response(json.dumps(body, ensure_ascii=False), content_type="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"  # revalidate: cheap with the ETag
    return response


@blp.route("")
@public
def list_forms():
    schemas, etag = _exports()
    forms = [{"name": name, "doc_type": form.doc_type, "latest_version": form.latest_version,
              "versions": sorted(form.versions), "url": f"/api/v1/forms/{name}"}
             for name, form in FORMS.items()]
    return _json_with_etag({"forms": forms, "etag": etag}, etag)


@blp.route("/<form_name>")
@public
def get_form_schema(form_name: str):
    schemas, etag = _exports()
    if form_name not in schemas:
        abort(404, message=str(UnknownForm(form_name)))
    return _json_with_etag(schemas[form_name], f"{etag}-{form_name}")
