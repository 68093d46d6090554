"""Forms described as plain JSON-able data.

This description is what the JavaScript side interprets (the generated
``validate_doc_update``) and what the JSON Schema export carries in its
``x-`` keys, so devices, the database and Python check one definition.
"""

from __future__ import annotations

from typing import Any

from .checklists import available_checklists, load_checklist
from .fields import schema_spec
from .forms import FORMS, Form
from .meta import MetaSchema


def version_spec(form: Form, version: int) -> dict[str, Any]:
    schema = form.schema(version)
    return {
        "fields": schema_spec(schema),
        "rules": [rule.spec(schema) for rule in schema.rules],
    }


def form_spec(form: Form) -> dict[str, Any]:
    return {
        "name": form.name,
        "doc_type": form.doc_type,
        "database": form.database,
        "id_pattern": form.id_pattern,
        "id_example": form.id_example,
        "id_group": form.id_group,
        "has_date": form.has_date,
        "has_county": form.has_county,
        "attachments": form.attachments,
        "latest": form.latest_version,
        "versions": {str(v): version_spec(form, v) for v in sorted(form.versions)},
    }


def forms_spec() -> dict[str, Any]:
    return {name: form_spec(form) for name, form in FORMS.items()}


def meta_spec() -> list[dict[str, Any]]:
    return schema_spec(MetaSchema())


def checklists_spec() -> dict[str, dict[str, list[str]]]:
    """checklist id -> version (as a string) -> item ids."""
    out: dict[str, dict[str, list[str]]] = {}
    for checklist_id, version in available_checklists():
        items = load_checklist(checklist_id, version)["items"]
        out.setdefault(checklist_id, {})[str(version)] = [item["id"] for item in items]
    return out
