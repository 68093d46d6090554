"""JSON Schema (draft 7) of a form's ``data``, for devices and the web app.

Types, required fields, bounds, lengths and choices come from
marshmallow-jsonschema; this module adds what it cannot know (anchored
patterns of our own validators, dates, the privacy guard) and the ``x-``
keys a form renderer needs: ``x-fields`` (labels, help, unit, abnormal,
merge, order, and ``choices``: the bilingual labels of a choice field's codes,
which nested fields carry in their ``definitions`` property too),
``x-merge-groups``, ``x-rules`` (cross-field rules as data) and
``x-messages`` (the bilingual catalogue).
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema
from marshmallow_jsonschema import JSONSchema

from .describe import checklists_spec, version_spec
from .fields import ListOf, Object
from .forms import get_form
from .messages import MESSAGES


def _anchored(pattern: str) -> str:
    # JSON Schema patterns search; ours must match the whole string.
    return f"^(?:{pattern})$"


def _decorate_field(prop: dict[str, Any], field: Any, definitions: dict[str, Any]) -> None:
    for v in field.validators:
        spec = v.spec() if hasattr(v, "spec") else None
        if spec is None:
            continue
        if spec["check"] == "pattern":
            prop["pattern"] = _anchored(spec["pattern"])
        elif spec["check"] == "date":
            prop["pattern"] = _anchored(spec["pattern"])
            prop["format"] = "date"
        elif spec["check"] == "no_personal_ids":
            # "11 digits once spaces and hyphens are removed" as one regex.
            prop["not"] = {"pattern": "[0-9]([ -]*[0-9]){10}"}
    if isinstance(field, ListOf):
        items = prop.get("items", {})
        if "$ref" not in items:
            _decorate_field(items, field.inner, definitions)
        elif isinstance(field.inner, Object):
            _decorate_schema(field.inner.schema, definitions)
    elif isinstance(field, Object):
        _decorate_schema(field.schema, definitions)


def _decorate_schema(schema: Schema, definitions: dict[str, Any]) -> None:
    definition = definitions[type(schema).__name__]
    for name, field in schema.fields.items():
        _decorate_field(definition["properties"][name], field, definitions)


def json_schema(form_name: str, version: int | None = None) -> dict[str, Any]:
    """JSON Schema draft 7 for the ``data`` of ``form_name`` at ``version`` (default latest).

    Raises ``UnknownForm`` or ``UnknownSchemaVersion``.
    """
    form = get_form(form_name)
    version = form.latest_version if version is None else version
    schema = form.schema(version)
    exported = JSONSchema().dump(schema)
    definitions = copy.deepcopy(exported["definitions"])
    _decorate_schema(schema, definitions)
    root = definitions.pop(type(schema).__name__)
    x_fields = {}
    for order, (name, field) in enumerate(schema.fields.items()):
        entry = copy.deepcopy(dict(field.metadata))
        entry["order"] = order
        entry["required"] = bool(field.required)
        x_fields[name] = entry
    described = version_spec(form, version)
    out: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"urn:school-reporting:form:{form.name}:v{version}",
        "title": f"{form.name} v{version}",
        **root,
        "definitions": definitions,
        "x-form": {
            "name": form.name,
            "doc_type": form.doc_type,
            "schema_version": version,
            "latest_version": form.latest_version,
            "id_pattern": _anchored(form.id_pattern),
            "id_example": form.id_example,
        },
        "x-fields": x_fields,
        "x-merge-groups": [list(g) for g in form.merge_groups if set(g) <= set(schema.fields)],
        "x-rules": described["rules"],
        "x-checks": described["fields"],
        "x-messages": copy.deepcopy(MESSAGES),
    }
    if any(rule["rule"] == "in_checklist" for rule in described["rules"]):
        out["x-checklists"] = checklists_spec()
    return out
