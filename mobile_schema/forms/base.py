"""What every form has: versioned data schemas, an id scheme, merge rules."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import ValidationError, validates_schema

from ..errors import UnknownSchemaVersion
from ..fields import StrictSchema
from ..rules import Rule, check_rules

MERGE_RULES = ("latest", "max", "union", "manual")

_RANDOM_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class FormSchema(StrictSchema):
    """Base of every form's ``data`` schema.

    Subclasses declare fields (from ``mobile_schema.fields``, each with
    ``metadata`` label/help/unit/abnormal/merge) and ``rules``. Loading runs
    the cross-field rules once every field is valid on its own; their
    errors are keyed by the field the rule reports on.
    """

    rules: ClassVar[tuple[Rule, ...]] = ()

    @validates_schema(skip_on_field_errors=True)
    def _cross_field_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        issues = check_rules(self.rules, data, self)
        if issues:
            messages: dict[str, list[str]] = {}
            for issue in issues:
                messages.setdefault(issue.field, []).append(issue.code)
            raise ValidationError(messages)


@dataclass(frozen=True)
class Form:
    """A form: its document type, id scheme, versions and merge behaviour.

    ``id_pattern`` is an unanchored regex (valid in Python and ES5) whose
    group 1 is the date (or, for ``device_status``, the device account).
    ``database`` is "school" or "inspections": where devices write it.
    ``attachments`` says whether a document of the form may carry CouchDB
    attachments; none does, and a form that did would need its own checks on
    what they hold (anything stored is served from the service's origin).
    """

    name: str
    doc_type: str
    versions: Mapping[int, type[FormSchema]]
    id_pattern: str
    id_example: str
    id_group: str  # "date" or "device"
    merge_groups: tuple[tuple[str, ...], ...] = ()
    database: str = "school"
    has_date: bool = True
    has_county: bool = False
    attachments: bool = False

    @property
    def latest_version(self) -> int:
        return max(self.versions)

    def schema(self, version: int | None = None) -> FormSchema:
        """A schema instance for ``version`` (default: latest). Raises ``UnknownSchemaVersion``."""
        version = self.latest_version if version is None else version
        try:
            cls = self.versions[version]
        except (KeyError, TypeError) as exc:
            raise UnknownSchemaVersion(self.name, version) from exc
        return cls()

    def fields_metadata(self, version: int | None = None) -> dict[str, dict[str, Any]]:
        """Field name -> metadata (label, help, unit, abnormal, merge), in form order."""
        return {name: dict(f.metadata) for name, f in self.schema(version).fields.items()}

    def merge_rule(self, field: str, version: int | None = None) -> str:
        """How ``field`` merges: "latest", "max", "union" or "manual". Raises ``KeyError``."""
        return self.fields_metadata(version)[field].get("merge", "latest")

    @property
    def abnormal_fields(self) -> tuple[str, ...]:
        return tuple(n for n, m in self.fields_metadata().items() if m.get("abnormal"))

    def merge_group_of(self, field: str) -> tuple[str, ...]:
        """The merge group that holds ``field``, or ``(field,)`` when it merges alone."""
        for group in self.merge_groups:
            if field in group:
                return group
        return (field,)

    def make_id(self, date: str, random: str | None = None) -> str:
        """The document id for ``date`` (for ``device_status``: the device account name).

        Forms with a random part get ``random`` or 16 fresh random characters.
        Raises ``ValueError`` when the result does not match ``id_pattern``.
        """
        if "{random}" in self.id_example:
            random = random if random is not None else "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16))
        doc_id = self.id_example.format(date=date, device=date, random=random)
        if re.fullmatch(self.id_pattern, doc_id) is None:
            raise ValueError(f"not a valid {self.name} id: {doc_id!r}")
        return doc_id

    def id_value(self, doc_id: str) -> str | None:
        """Group 1 of the id (date or device), or None when the id does not match."""
        m = re.fullmatch(self.id_pattern, doc_id)
        return m.group(1) if m else None


def check_form_definition(form: Form) -> None:
    """Fail fast at import when a form definition is inconsistent."""
    for version in form.versions:
        meta = form.fields_metadata(version)
        for name, m in meta.items():
            if m.get("merge", "latest") not in MERGE_RULES:
                raise ValueError(f"{form.name} v{version}.{name}: unknown merge rule {m.get('merge')!r}")
            if set(m.get("label", {})) != {"en", "zh"}:
                raise ValueError(f"{form.name} v{version}.{name}: label needs en and zh")
    latest = form.fields_metadata()
    grouped: list[str] = [f for g in form.merge_groups for f in g]
    if len(grouped) != len(set(grouped)) or not set(grouped) <= set(latest):
        raise ValueError(f"{form.name}: merge groups must be disjoint sets of latest-version fields")


def meta(
    en: str,
    zh: str,
    *,
    help_en: str | None = None,
    help_zh: str | None = None,
    unit: str | None = None,
    abnormal: bool = False,
    merge: str = "latest",
    ordered: bool = False,
    choices: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Field metadata in the shape every form uses.

    ``ordered`` marks a choice field whose choices are listed in the order a
    case moves through them (merged by "max", never moving back).
    ``choices`` gives a choice field (or a list of choices) its labels:
    code -> (English, Chinese), kept as ``{code: {"en", "zh"}}``. Labels are
    for people only: what is valid is still the field's own list of codes.
    """
    m: dict[str, Any] = {"label": {"en": en, "zh": zh}, "abnormal": abnormal, "merge": merge}
    if choices:
        m["choices"] = {code: {"en": c_en, "zh": c_zh} for code, (c_en, c_zh) in choices.items()}
    if help_en or help_zh:
        m["help"] = {"en": help_en or "", "zh": help_zh or ""}
    if unit:
        m["unit"] = unit
    if ordered:
        m["ordered"] = True
    return m
