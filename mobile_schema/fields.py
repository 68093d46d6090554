"""Field types and validators the forms are built from.

They are ordinary marshmallow fields and validators with two additions:

* every error message is an issue *code* (see ``messages.py``), so a
  marshmallow error dict converts straight into ``Issue`` objects;
* every field and validator can describe itself as plain data
  (``field_spec``), which the JSON Schema export and the generated
  ``validate_doc_update`` JavaScript interpret. Python and JavaScript thus
  check the same bounds, in the same order, from one definition.

Values are checked as JSON gives them, without coercion: "5" is not a number
and "true" is not a boolean. JSON cannot tell 5 from 5.0 (nor can
JavaScript), so an integral float counts as a whole number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, cast

from marshmallow import Schema, ValidationError, fields, types, validate

#: Dates are local school dates; the 2000-2099 range keeps JavaScript's
#: two-digit-year quirks of Date.UTC out of the picture.
DATE_PATTERN = r"20[0-9]{2}-[0-9]{2}-[0-9]{2}"
TIMESTAMP_PATTERN = r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z"
CODE_PATTERN = r"[A-Za-z0-9_-]{1,64}"

COUNT_MAX = 100_000


# --- validators ---------------------------------------------------------------------


class FullMatch(validate.Validator):
    """The whole string must match ``pattern`` (a regex valid in Python and ES5)."""

    error: str

    def __init__(self, pattern: str, *, error: str) -> None:
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.error = error

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self.error)
        return value

    def spec(self) -> dict[str, Any]:
        return {"check": "pattern", "pattern": self.pattern, "code": self.error, "params": {}}


class CalendarDate(validate.Validator):
    """A real calendar date written YYYY-MM-DD (2000-2099)."""

    error = "bad_date"

    def __call__(self, value: str) -> str:
        if re.fullmatch(DATE_PATTERN, value) is None:
            raise ValidationError(self.error)
        try:
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError(self.error) from exc
        return value

    def spec(self) -> dict[str, Any]:
        return {"check": "date", "pattern": DATE_PATTERN, "code": self.error, "params": {}}


class NoPersonalIdentifiers(validate.Validator):
    """Reject what looks like a phone number (11 digits) or a national id (18 chars).

    Spaces and hyphens are ignored first, so "138-0013-8000" is caught too;
    any run of 11 or more digits is refused (a national id has 17 digits
    followed by a digit or X).
    """

    error = "privacy"
    strip = r"[ -]"
    digits = r"[0-9]{11}"

    def __call__(self, value: str) -> str:
        if re.search(self.digits, re.sub(self.strip, "", value)):
            raise ValidationError(self.error)
        return value

    def spec(self) -> dict[str, Any]:
        return {
            "check": "no_personal_ids",
            "strip": self.strip,
            "digits": self.digits,
            "code": self.error,
            "params": {},
        }


def validator_spec(v: Callable[[Any], Any]) -> dict[str, Any]:
    """Describe one validator as data. Raises ``TypeError`` for one it cannot describe."""
    if hasattr(v, "spec"):
        return v.spec()
    if isinstance(v, validate.Range):
        if v.min is not None and v.max is None:
            return {"check": "min", "min": v.min, "code": v.error, "params": {"min": v.min}}
        if v.max is not None and v.min is None:
            return {"check": "max", "max": v.max, "code": v.error, "params": {"max": v.max}}
    if isinstance(v, validate.Length) and v.equal is None:
        if v.min is not None and v.max is None:
            return {"check": "minlen", "min": v.min, "code": v.error, "params": {"min": v.min}}
        if v.max is not None and v.min is None:
            return {"check": "maxlen", "max": v.max, "code": v.error, "params": {"max": v.max}}
    if isinstance(v, validate.OneOf):
        choices = list(v.choices)
        return {"check": "choices", "choices": choices, "code": v.error, "params": {"choices": choices}}
    raise TypeError(f"cannot describe validator {v!r}: use one bound per Range/Length")


# --- fields -------------------------------------------------------------------------


def _messages(type_code: str) -> types.ErrorMessages:
    return {"required": "required", "null": type_code, "invalid": type_code}


class WholeNumber(fields.Integer):
    """A JSON number without a fractional part, optionally bounded."""

    kind = "integer"
    type_code = "not_integer"
    default_error_messages = _messages("not_integer")

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs: Any) -> None:
        validators = []
        if minimum is not None:
            validators.append(validate.Range(min=minimum, error="negative" if minimum == 0 else "too_small"))
        if maximum is not None:
            validators.append(validate.Range(max=maximum, error="too_large"))
        validators.extend(kwargs.pop("validate", None) or [])
        super().__init__(strict=False, validate=validators, **kwargs)

    def _validated(self, value: Any) -> int:
        if value is True or value is False:
            raise self.make_error("invalid")
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self.make_error("invalid")


def Count(*, maximum: int = COUNT_MAX, **kwargs: Any) -> WholeNumber:
    """A head count: a whole number from 0 to ``maximum``."""
    return WholeNumber(minimum=0, maximum=maximum, **kwargs)


class Flag(fields.Boolean):
    """JSON true or false, nothing else."""

    kind = "boolean"
    type_code = "not_boolean"
    default_error_messages = _messages("not_boolean")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class Text(fields.String):
    """A JSON string, with optional length bounds (in code points) and validators."""

    kind = "string"
    type_code = "not_string"
    default_error_messages = _messages("not_string")

    def __init__(self, *, min_length: int | None = None, max_length: int | None = None, **kwargs: Any) -> None:
        validators = []
        if min_length is not None:
            validators.append(validate.Length(min=min_length, error="empty" if min_length == 1 else "too_short"))
        if max_length is not None:
            validators.append(validate.Length(max=max_length, error="too_long"))
        validators.extend(kwargs.pop("validate", None) or [])
        super().__init__(validate=validators, **kwargs)


def Choice(choices: tuple[str, ...] | list[str], **kwargs: Any) -> Text:
    """One string out of a fixed list."""
    return Text(validate=[validate.OneOf(list(choices), error="invalid_choice")], **kwargs)


def DateText(**kwargs: Any) -> Text:
    """A calendar date as a "YYYY-MM-DD" string (stored as text, as in the JSON)."""
    return Text(validate=[CalendarDate()], **kwargs)


def Timestamp(**kwargs: Any) -> Text:
    """A UTC time as ISO 8601 text ending in Z."""
    return Text(validate=[FullMatch(TIMESTAMP_PATTERN, error="bad_timestamp")], **kwargs)


def CodeText(**kwargs: Any) -> Text:
    """An identifier such as an item id or a school id."""
    return Text(validate=[FullMatch(CODE_PATTERN, error="bad_code")], **kwargs)


class ListOf(fields.List):
    """A JSON array of ``inner`` values, with optional bounds on its length."""

    kind = "list"
    type_code = "not_list"
    default_error_messages = _messages("not_list")

    def __init__(
        self, inner: fields.Field, *, min_items: int | None = None, max_items: int | None = None, **kwargs: Any
    ) -> None:
        validators = []
        if min_items is not None:
            validators.append(validate.Length(min=min_items, error="too_few"))
        if max_items is not None:
            validators.append(validate.Length(max=max_items, error="too_many"))
        super().__init__(inner, validate=validators, **kwargs)


class StrictSchema(Schema):
    """A schema whose own errors are issue codes; unknown keys are refused."""

    error_messages = {"unknown": "unknown_field", "type": "not_object"}


class Object(fields.Nested):
    """A JSON object checked by a nested ``StrictSchema``."""

    kind = "object"
    type_code = "not_object"
    default_error_messages = _messages("not_object")


class ClockMap(fields.Field):
    """An object mapping data field names to ``{at, base}`` edit clocks.

    Errors are keyed by field name, in sorted key order, with the clock
    schema's errors under each key.
    """

    kind = "map"
    type_code = "not_object"
    default_error_messages = _messages("not_object")

    def __init__(self, values: type[StrictSchema], **kwargs: Any) -> None:
        self.values_schema = values()
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        out: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key in sorted(value):
            try:
                out[key] = self.values_schema.load(value[key])
            except ValidationError as exc:
                errors[key] = exc.messages
        if errors:
            raise ValidationError(errors)
        return out


# --- description as data ------------------------------------------------------------


def field_spec(name: str, field: fields.Field) -> dict[str, Any]:
    """Describe a field as data (kind, required, nullable, checks, nested parts)."""
    kind = getattr(field, "kind", None)
    if kind is None:
        raise TypeError(f"field {name!r} is a {type(field).__name__}; use the fields in mobile_schema.fields")
    spec: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "required": bool(field.required),
        "nullable": bool(field.allow_none),
        "type_code": cast(Any, field).type_code,  # every field with a ``kind`` has one
        "checks": [validator_spec(v) for v in field.validators],
    }
    if isinstance(field, ListOf):
        spec["items"] = field_spec("", field.inner)
    elif isinstance(field, Object):
        spec["fields"] = schema_spec(field.schema)
    elif isinstance(field, ClockMap):
        spec["values"] = schema_spec(field.values_schema)
    return spec


def schema_spec(schema: Schema) -> list[dict[str, Any]]:
    """Describe every field of a schema, in declaration order."""
    return [field_spec(name, f) for name, f in schema.fields.items()]
