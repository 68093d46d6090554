"""Request and response shapes of ``POST /api/v1/relay`` (docs/relay.md)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAYLOADS = 50


class RelayArgs(Schema):
    payloads = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=MAX_PAYLOADS),
                           metadata={"description": "codes' texts as scanned: SR1:<i>/<n>:<base45>"})


class RelayResult(Schema):
    index = fields.Integer(metadata={"description": "the payload's place in the request, from 0"})
    status = fields.String(metadata={"description": "accepted, already_delivered or refused"})
    code = fields.String(metadata={"description": "why refused: malformed, unknown_device, no_key, revoked, "
                                                  "bad_signature, wrong_school or invalid"})
    reason = fields.String(metadata={"description": "the refusal in words (English / Chinese) the carrier shows"})
    doc_id = fields.String()
    rev = fields.String()
    school_id = fields.String(allow_none=True)
    school_name = fields.String(allow_none=True, metadata={"description": "the origin school's name, for the carrier"})
    county_id = fields.String(allow_none=True)
    origin_device = fields.String()


class RelayResults(Schema):
    results = fields.List(fields.Nested(RelayResult))
