"""Whole-document validation: envelope, meta, data, cross-field rules.

The order of the returned issues is part of the contract: the generated
``validate_doc_update`` function reports the same issues, in the same order,
with the same fields and messages (``format_forbidden``). The order is:

0. a deletion (``_deleted: true``) is refused outright: devices never delete
   (drafts live on the device only; the service and the worker, which may, are
   server admins and pass ``validate_doc_update`` unchecked);
1. ``type``, ``form``, ``schema_version`` (the first problem here stops the check:
   nothing else can be interpreted);
2. ``_attachments`` (unless the form takes them), ``_id``, ``school_id``,
   ``county_id`` (inspections), ``date`` (dated forms);
3. ``meta``: its fields in declaration order, then ``wrong_device``, ``_id`` versus
   the device (device_status), then clocks for fields the form does not have;
4. ``data``: fields in declaration order (list entries in order, nested fields
   in declaration order), then unknown keys sorted; one issue per path;
5. cross-field rules, in declared order, each one whose fields (``Rule.reads``)
   are valid, whatever else is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from marshmallow import Schema, ValidationError

from .fields import CODE_PATTERN, CalendarDate, schema_spec
from .forms import DEVICE_TYPES, FORMS, SERVER_ONLY_TYPES, Form
from .issues import Issue
from .meta import MetaSchema
from .rules import check_rules

#: The issue for a deletion by anyone but a server admin (see ``validate_document``).
DELETION_REFUSED = Issue("_deleted", "deletion_refused")

#: School dates are local dates in UTC+8 (Asia/Shanghai has no DST).
LOCAL_UTC_OFFSET = dt.timedelta(hours=8)
#: A report may be dated at most this far past the local today (clock skew, time zones).
FUTURE_ALLOWANCE = dt.timedelta(days=1)


def is_whole_number(value: Any) -> bool:
    """True for a JSON number without fraction (as JavaScript sees it); never for booleans."""
    if value is True or value is False:
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def latest_allowed_date(now: dt.datetime | None = None) -> str:
    """The latest report date accepted at ``now`` (UTC): local today plus the allowance."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    local = now.astimezone(dt.UTC) + LOCAL_UTC_OFFSET + FUTURE_ALLOWANCE
    return local.date().isoformat()


# --- marshmallow errors -> ordered issues ---------------------------------------------


def _params(spec: Mapping[str, Any] | None, code: str) -> dict[str, Any]:
    for check in (spec or {}).get("checks", ()):
        if check["code"] == code:
            return dict(check["params"])
    return {}


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _field_errors(value: Any, spec: Mapping[str, Any] | None, path: str) -> list[tuple[tuple, Issue]]:
    if isinstance(value, list):
        return [((), Issue(path, value[0], _params(spec, value[0])))]
    spec = spec or {}
    kind = spec.get("kind")
    out: list[tuple[tuple, Issue]] = []
    if kind == "list":
        for index, sub in value.items():
            for key, issue in _field_errors(sub, spec["items"], _join(path, index)):
                out.append((((0, index),) + key, issue))
    elif kind == "object":
        out.extend(_flatten(value, spec["fields"], path))
    elif kind == "map":
        for name, sub in value.items():
            for key, issue in _flatten(sub, spec["values"], _join(path, name)):
                out.append((((0, name),) + key, issue))
    else:  # pragma: no cover - every field kind is handled above
        raise TypeError(f"unexpected nested errors at {path}: {value!r}")
    return out


def _flatten(messages: Mapping[str, Any], specs: Sequence[Mapping[str, Any]], path: str) -> list[tuple[tuple, Issue]]:
    order = {s["name"]: (i, s) for i, s in enumerate(specs)}
    out: list[tuple[tuple, Issue]] = []
    for name, value in messages.items():
        if name == "_schema":
            out.append(((), Issue(path, value[0], {})))
            continue
        index, spec = order.get(name, (None, None))
        key = (0, index) if index is not None else (1, name)
        for sub_key, issue in _field_errors(value, spec, _join(path, name)):
            out.append(((key,) + sub_key, issue))
    return out


def schema_issues(schema: Schema, value: Any, path: str) -> tuple[list[Issue], Any]:
    """Load ``value`` with ``schema``; return (issues in contract order, loaded data or None).

    Cross-field rule failures of a ``FormSchema`` are re-checked on the loaded
    data so their issues carry params.
    """
    try:
        return [], schema.load(value)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        rules = getattr(schema, "rules", ())
        rule_codes = {code for rule in rules for code in rule.codes}
        only_rules = all(
            isinstance(v, list) and all(c in rule_codes for c in v) and k != "_schema" for k, v in messages.items()
        )
        issues: list[Issue] = []
        if not (rules and only_rules):  # with field errors marshmallow skips the rules: they are all field errors
            flat = _flatten(messages, schema_spec(schema), path)
            flat.sort(key=lambda pair: pair[0])
            issues = [issue for _, issue in flat]
        if rules and isinstance(value, dict):
            # Rules are (re)checked here, on the fields that loaded, so they carry params and
            # a field error does not hide them; a rule reading an invalid field is skipped.
            prefix = f"{path}." if path else ""
            invalid = {i.field[len(prefix) :].split(".")[0] for i in issues}
            loaded = cast(dict[str, Any], exc.valid_data)  # a single (not many=True) load collects a dict
            issues.extend(i.prefixed(path) for i in check_rules(rules, loaded, schema, invalid=invalid))
        return issues, None


# --- the envelope ---------------------------------------------------------------------


def _string_issue(doc: Mapping[str, Any], name: str) -> Issue | None:
    if name not in doc:
        return Issue(name, "required")
    if not isinstance(doc[name], str):
        return Issue(name, "not_string")
    return None


def _allowed_types(school_id: str | None, county_id: str | None) -> frozenset[str]:
    if school_id is not None:
        return frozenset(f.doc_type for f in FORMS.values() if f.database == "school")
    if county_id is not None:
        return frozenset(f.doc_type for f in FORMS.values() if f.database == "inspections")
    return DEVICE_TYPES


def _form_of(
    doc: Mapping[str, Any], school_id: str | None, county_id: str | None
) -> tuple[Form | None, int | None, Issue | None]:
    issue = _string_issue(doc, "type")
    if issue:
        return None, None, issue
    doc_type = doc["type"]
    if doc_type in SERVER_ONLY_TYPES:
        return None, None, Issue("type", "server_only_type", {"type": doc_type})
    if doc_type not in DEVICE_TYPES:
        return None, None, Issue("type", "unknown_type", {"type": doc_type})
    if doc_type not in _allowed_types(school_id, county_id):
        return None, None, Issue("type", "wrong_database", {"type": doc_type})
    issue = _string_issue(doc, "form")
    if issue:
        return None, None, issue
    form = FORMS.get(doc["form"])
    if form is None or form.doc_type != doc_type:
        return None, None, Issue("form", "unknown_form", {"form": doc["form"], "type": doc_type})
    if "schema_version" not in doc:
        return form, None, Issue("schema_version", "required")
    version = doc["schema_version"]
    if not is_whole_number(version):
        return form, None, Issue("schema_version", "not_integer")
    # Very large numbers stay floats so the message shows them as JavaScript does.
    version = int(version) if abs(version) < 1e21 else version
    if version not in form.versions:
        return (
            form,
            None,
            Issue(
                "schema_version",
                "unknown_version",
                {"form": form.name, "version": version, "latest": form.latest_version},
            ),
        )
    return form, version, None


def validate_document(
    doc: Any,
    *,
    now: dt.datetime | None = None,
    school_id: str | None = None,
    county_id: str | None = None,
    device: str | None = None,
) -> list[Issue]:
    """Every issue in a document as a device would write it; an empty list means valid.

    ``now`` (UTC) decides which dates are in the future (default: the real
    time). Pass the database's ``school_id`` or ``county_id`` and the writing
    ``device`` account to check what ``validate_doc_update`` checks for that
    database. A deletion (``_deleted: true``) is refused (``deletion_refused``):
    only the service and the worker delete, as server admins; what their
    deletions mean is the worker's ``check_history``. Never raises for any
    JSON value.
    """
    if not isinstance(doc, dict):
        return [Issue("", "not_object")]
    if doc.get("_deleted") is True:
        return [DELETION_REFUSED]
    form, version, issue = _form_of(doc, school_id, county_id)
    if issue:
        return [issue]
    assert form is not None and version is not None
    issues: list[Issue] = []

    # Anything stored is served from the service's origin: no attachments unless a form takes them.
    # (CouchDB drops an empty ``_attachments``, so validate_doc_update never sees one.)
    if doc.get("_attachments", {}) != {} and not form.attachments:
        issues.append(Issue("_attachments", "attachments_refused", {"form": form.name}))

    # _id
    id_value = None
    issue = _string_issue(doc, "_id")
    if issue:
        issues.append(issue)
    else:
        id_value = form.id_value(doc["_id"])
        if id_value is None:
            issues.append(Issue("_id", "bad_id", {"example": form.id_example}))

    # school_id / county_id
    issues.extend(_code_issues(doc, "school_id", school_id, "wrong_school"))
    if form.has_county:
        issues.extend(_code_issues(doc, "county_id", county_id, "wrong_county"))

    # date
    if form.has_date:
        issue = _string_issue(doc, "date")
        if issue:
            issues.append(issue)
        else:
            date = doc["date"]
            try:
                CalendarDate()(date)
            except ValidationError:
                issues.append(Issue("date", "bad_date"))
            else:
                if id_value is not None and id_value != date:
                    issues.append(Issue("date", "date_mismatch", {"date": date, "id_date": id_value}))
                limit = latest_allowed_date(now)
                if date > limit:
                    issues.append(Issue("date", "future_date", {"date": date, "limit": limit}))

    # meta
    schema = form.schema(version)
    if "meta" not in doc:
        issues.append(Issue("meta", "required"))
    else:
        meta = doc["meta"]
        meta_issues, _ = schema_issues(MetaSchema(), meta, "meta")
        issues.extend(meta_issues)
        if isinstance(meta, dict):
            meta_device = meta.get("device")
            if device is not None and isinstance(meta_device, str) and meta_device != device:
                issues.append(Issue("meta.device", "wrong_device", {"device": meta_device, "expected": device}))
            if (
                form.id_group == "device"
                and id_value is not None
                and isinstance(meta_device, str)
                and id_value != meta_device
            ):
                issues.append(Issue("_id", "id_mismatch", {"expected": form.id_example.format(device=meta_device)}))
            clocks = meta.get("clocks")
            if isinstance(clocks, dict):
                issues.extend(
                    Issue(f"meta.clocks.{name}", "unknown_clock_field")
                    for name in sorted(clocks)
                    if name not in schema.fields
                )

    # data
    if "data" not in doc:
        issues.append(Issue("data", "required"))
    else:
        data_issues, _ = schema_issues(schema, doc["data"], "data")
        issues.extend(data_issues)
    return issues


def _code_issues(doc: Mapping[str, Any], name: str, expected: str | None, mismatch: str) -> list[Issue]:
    issue = _string_issue(doc, name)
    if issue:
        return [issue]
    value = doc[name]
    if re.fullmatch(CODE_PATTERN, value) is None:
        return [Issue(name, "bad_code")]
    if expected is not None and value != expected:
        return [Issue(name, mismatch, {name: value, "expected": expected})]
    return []
