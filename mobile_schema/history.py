"""Rules about a document's history, checked by the worker.

Under replication ``validate_doc_update`` sees a branch's parent (or
nothing) as ``oldDoc``, so rules that compare revisions belong here: the
worker applies them to consecutive revisions it has seen.
"""

from __future__ import annotations

from typing import Any, cast

from marshmallow import validate

from .errors import SchemaError
from .forms import FORMS
from .issues import Issue
from .migrations import migrate

#: Top-level fields that make a document what it is; a revision may not change them.
IDENTITY_FIELDS = ("type", "form", "school_id", "county_id", "date")


def check_history(old_doc: dict[str, Any] | None, new_doc: dict[str, Any]) -> list[Issue]:
    """Issues with ``new_doc`` as the next revision of ``old_doc``; empty when acceptable.

    Flags deleting a submitted document from a device (``deleted_submitted``),
    changing identity fields (``identity_changed``) and moving an ordered
    status (incident status, inspection follow-up) backwards
    (``status_backwards``). Both documents are migrated to the latest version
    first; when either cannot be (unknown form or version), only the
    deletion and identity rules apply. Never raises.
    """
    if not isinstance(old_doc, dict) or old_doc.get("_deleted") is True:
        return []
    if new_doc.get("_deleted") is True:
        if old_doc.get("type") in {f.doc_type for f in FORMS.values() if f.has_date}:
            return [Issue("_id", "deleted_submitted")]
        return []
    issues = [
        Issue(name, "identity_changed", {"old": old_doc[name], "new": new_doc.get(name)})
        for name in IDENTITY_FIELDS
        if name in old_doc and new_doc.get(name) != old_doc[name]
    ]
    try:
        old, new = migrate(old_doc), migrate(new_doc)
    except SchemaError:
        return issues
    form = FORMS[new["form"]]
    old_data, new_data = old.get("data"), new.get("data")
    if not isinstance(old_data, dict) or not isinstance(new_data, dict):
        return issues
    schema = form.schema()
    for name, field in schema.fields.items():
        if not field.metadata.get("ordered"):
            continue
        order = list(cast(validate.OneOf, field.validators[0]).choices)  # ordered fields are Choice fields
        before, after = old_data.get(name), new_data.get(name)
        if before in order and after in order and order.index(after) < order.index(before):
            issues.append(Issue(f"data.{name}", "status_backwards", {"old": before, "new": after}))
    return issues
