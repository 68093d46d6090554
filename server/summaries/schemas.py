"""Query arguments of the summary endpoints."""

from __future__ import annotations

from datetime import date, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.summaries.export import FORMATS, LANGS
from server.summaries.service import MAX_RANGE_DAYS


class ExportArgs(Schema):
    """``format=json|csv|xlsx`` (JSON by default); ``table`` picks the CSV table; ``lang=zh|en``
    the language of a CSV/XLSX's headers and labels (default: the page's, else Chinese)."""

    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    table = fields.String(load_default=None)
    lang = fields.String(load_default=None, validate=validate.OneOf(LANGS))


class DateRangeArgs(ExportArgs):
    """``from``/``to`` (inclusive); defaults: the last 7 days."""

    start = fields.Date(data_key="from", load_default=None)
    end = fields.Date(data_key="to", load_default=None)

    @validates_schema
    def check_range(self, data, **_kwargs):
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise ValidationError("'from' must not be after 'to'", "from")
        if start and end and (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationError(f"a range may span at most {MAX_RANGE_DAYS} days", "to")

    @staticmethod
    def resolve(args: dict, today: date) -> tuple[date, date]:
        end = args.get("end") or today
        start = args.get("start") or end - timedelta(days=6)
        if (end - start).days >= MAX_RANGE_DAYS:
            start = end - timedelta(days=MAX_RANGE_DAYS - 1)
        return start, end


class DayArgs(ExportArgs):
    """``date`` (default: today, local time)."""

    date = fields.Date(load_default=None)
