"""Request and response shapes of the device endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from server.devices.keys import BadPublicKey, public_key_point

_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$")


def _valid_public_key(text: str) -> None:
    try:
        public_key_point(text)
    except BadPublicKey as exc:
        raise ValidationError(str(exc)) from exc


def public_key_field(**kwargs) -> fields.String:
    return fields.String(validate=_valid_public_key, metadata={
        "description": "the device's ECDSA P-256 public key: base64url of the 65-byte uncompressed point "
                       "(WebCrypto's raw export); see docs/relay.md"}, **kwargs)


class EnrolArgs(Schema):
    """Who is enrolling the device, for which school (or, for inspectors, county), and a label."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=validate.Length(min=1, max=500))
    school_id = fields.String(load_default=None, validate=_ID)
    county_id = fields.String(load_default=None, validate=_ID,
                              metadata={"description": "an inspector's device: the county it inspects"})
    label = fields.String(load_default="", validate=validate.Length(max=100))
    public_key = public_key_field(load_default=None)


class KeyArgs(Schema):
    """The public key a device enrolled before keys existed registers (once)."""

    public_key = public_key_field(required=True)


class KeyRegistration(Schema):
    device = fields.String()
    public_key = fields.String()
    key_registered_at = fields.String()


class RosterEntry(Schema):
    username = fields.String()
    display_name = fields.String()


class SchoolEntry(Schema):
    school_id = fields.String()
    name = fields.String()


class Checklist(Schema):
    checklist_id = fields.String()
    version = fields.Integer()
    title = fields.Dict(allow_none=True)
    categories = fields.List(fields.Dict())
    items = fields.List(fields.Dict())


class Refresh(Schema):
    """What a device may learn again after enrolment (``kind`` says which fields are present)."""

    kind = fields.String(metadata={"description": "school or inspector"})
    school_id = fields.String()
    county_id = fields.String()
    county_name = fields.String(allow_none=True)
    roster = fields.List(fields.Nested(RosterEntry))
    window_days = fields.Integer()
    schools = fields.List(fields.Nested(SchoolEntry))
    checklist = fields.Nested(Checklist)


class Enrolment(Refresh):
    """The device account's credentials (shown once) and what the app needs to start."""

    device = fields.String()
    password = fields.String()
    school_id = fields.String(allow_none=True)
    school_name = fields.String(allow_none=True)
    db = fields.String()
    db_url = fields.String()
    utc_offset_minutes = fields.Integer()
    key_registered_at = fields.String(allow_none=True, metadata={"description": "when the public_key sent was "
                                                                                "registered (null: none sent)"})


class ServerTime(Schema):
    now = fields.String()
    epoch_ms = fields.Integer()
