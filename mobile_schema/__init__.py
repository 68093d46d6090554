"""Forms that school devices write, and every check on them.

Marshmallow schemas per form and version, migrations between versions, the
JSON Schema devices render forms from, and the CouchDB
``validate_doc_update`` function generated from the same definitions.
"""

from __future__ import annotations

from .checklists import load_checklist
from .clocks import hlc_format, hlc_parse, hlc_tick
from .couch_validation import NOT_AUTHORIZED, validate_doc_update_source
from .errors import MigrationError, SchemaError, UnknownChecklist, UnknownForm, UnknownSchemaVersion
from .forms import DEVICE_TYPES, FORMS, SERVER_ONLY_TYPES, Form, FormSchema, get_form
from .history import check_history
from .issues import Issue, format_forbidden
from .jsonschema_export import json_schema
from .messages import MESSAGES, format_message
from .migrations import migrate
from .validation import latest_allowed_date, validate_document

__all__ = [
    "DEVICE_TYPES",
    "FORMS",
    "MESSAGES",
    "NOT_AUTHORIZED",
    "SERVER_ONLY_TYPES",
    "Form",
    "FormSchema",
    "Issue",
    "MigrationError",
    "SchemaError",
    "UnknownChecklist",
    "UnknownForm",
    "UnknownSchemaVersion",
    "check_history",
    "format_forbidden",
    "format_message",
    "get_form",
    "hlc_format",
    "hlc_parse",
    "hlc_tick",
    "json_schema",
    "latest_allowed_date",
    "load_checklist",
    "migrate",
    "validate_doc_update_source",
    "validate_document",
]
