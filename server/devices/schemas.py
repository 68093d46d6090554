"""Request and response shapes of the device endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$")


class EnrolArgs(Schema):
    """Who is enrolling the device, for which school (or, for inspectors, county), and a label."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=validate.Length(min=1, max=500))
    school_id = fields.String(load_default=None, validate=_ID)
    county_id = fields.String(load_default=None, validate=_ID,
                              metadata={"description": "an inspector's device: the county it inspects"})
    label = fields.String(load_default="", validate=validate.Length(max=100))


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


class ServerTime(Schema):
    now = fields.String()
    epoch_ms = fields.Integer()
