"""The ``meta`` block every device-written document carries."""

from __future__ import annotations

from .clocks import HLC_PATTERN
from .fields import ClockMap, FullMatch, StrictSchema, Text, Timestamp, WholeNumber

#: About ten years either way: beyond that the device clock is simply unset.
CLOCK_OFFSET_LIMIT_MS = 10 * 366 * 24 * 3600 * 1000


class FieldClockSchema(StrictSchema):
    """The edit clock of one data field and the clock of the value it replaced."""

    at = Text(required=True, validate=[FullMatch(HLC_PATTERN, error="bad_clock")])
    base = Text(required=True, allow_none=True, validate=[FullMatch(HLC_PATTERN, error="bad_clock")])


class MetaSchema(StrictSchema):
    """Who wrote a document, on which device, when, and per-field edit clocks.

    Times are UTC ("...Z") with the local offset they were recorded in;
    ``clock_offset_ms`` is the server clock minus the device clock as last
    measured from the server's Date header (null when never measured).
    """

    author = Text(required=True, min_length=1, max_length=100)
    device = Text(required=True, min_length=1, max_length=120)
    app_version = Text(required=True, min_length=1, max_length=40)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    submitted_at = Timestamp(allow_none=True)
    utc_offset_minutes = WholeNumber(required=True, minimum=-720, maximum=840)
    clock_offset_ms = WholeNumber(allow_none=True, minimum=-CLOCK_OFFSET_LIMIT_MS, maximum=CLOCK_OFFSET_LIMIT_MS)
    clocks = ClockMap(FieldClockSchema)
