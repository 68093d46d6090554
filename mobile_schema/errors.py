"""Exceptions raised by ``mobile_schema``.

Validation problems in a document are *not* exceptions: ``validate_document``
returns a list of :class:`mobile_schema.Issue`. Exceptions are for calls that
cannot produce an answer at all::

    SchemaError
    ├── UnknownForm            the document's form (or type) is not defined here
    ├── UnknownSchemaVersion   the form exists but not at that schema_version
    ├── UnknownChecklist       no checklist file for that id and version
    └── MigrationError         a migration step could not be applied

    MalformedPayload           a relay code that is not a well-formed version-1 payload
"""

from __future__ import annotations


class SchemaError(Exception):
    """Base class of every exception raised by ``mobile_schema``."""


class UnknownForm(SchemaError):
    """The form name is not one of ``FORMS``."""

    def __init__(self, form: object) -> None:
        super().__init__(f"unknown form: {form!r}")
        self.form = form


class UnknownSchemaVersion(SchemaError):
    """The form is known but the schema_version is not (often: a newer app)."""

    def __init__(self, form: str, version: object) -> None:
        super().__init__(f"form {form!r} has no schema_version {version!r}")
        self.form = form
        self.version = version


class UnknownChecklist(SchemaError):
    """No checklist data file exists for that id and version."""

    def __init__(self, checklist_id: object, version: object) -> None:
        super().__init__(f"unknown checklist {checklist_id!r} version {version!r}")
        self.checklist_id = checklist_id
        self.version = version


class MigrationError(SchemaError):
    """A document could not be migrated (its data is not shaped as its version says)."""


class MalformedPayload(ValueError):
    """A relay code (docs/relay.md) that is not a well-formed version-1 payload; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
