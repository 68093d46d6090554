"""Request and response shapes of the device endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class EnrolArgs(Schema):
    """Who is enrolling the device, for which school, and a label to recognise it by."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=validate.Length(min=1, max=500))
    school_id = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$"))
    label = fields.String(load_default="", validate=validate.Length(max=100))


class RosterEntry(Schema):
    username = fields.String()
    display_name = fields.String()


class Enrolment(Schema):
    """The device account's credentials (shown once) and what the app needs to start."""

    device = fields.String()
    password = fields.String()
    school_id = fields.String()
    school_name = fields.String(allow_none=True)
    db = fields.String()
    db_url = fields.String()
    roster = fields.List(fields.Nested(RosterEntry))
    window_days = fields.Integer()
    utc_offset_minutes = fields.Integer()


class ServerTime(Schema):
    now = fields.String()
    epoch_ms = fields.Integer()
