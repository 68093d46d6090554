"""A school's explanation for a day without a report (说明): why nothing was filed.

One per school per date (``explanation:<date>``), written by a teacher when the county
office asks about a missing day (or a figure the health department disputes) and the
answer is not a report. The worker copies it into ``reports`` like any form; the summaries
count a school that explained a missing day as "explained", never as reported.
"""

from __future__ import annotations

from ..fields import Choice, Text
from .base import Form, FormSchema, check_form_definition, meta

#: Why a school filed nothing on a day, in the order the app lists them.
REASONS = ("closed_weather", "closed_holiday", "trip", "other")
REASON_LABELS = {
    "closed_weather": ("Closed: weather, flood or disaster", "停课:天气、洪涝或灾害"),
    "closed_holiday": ("Closed: holiday or exam day", "停课:放假或考试日"),
    "trip": ("Whole school away on a trip", "全校外出(研学、活动)"),
    "other": ("Other", "其他"),
}


class ExplanationV1(FormSchema):
    """Explanation, version 1: a reason from the list and free text."""

    reason = Choice(REASONS, required=True, metadata=meta("Reason", "原因", choices=REASON_LABELS))
    details = Text(
        load_default="",
        max_length=500,
        metadata=meta(
            "Details",
            "说明",
            help_en="What happened, for the county office; no names of students",
            help_zh="具体情况,供区县了解;不要填写学生姓名",
        ),
    )


EXPLANATION = Form(
    name="explanation",
    doc_type="explanation",
    versions={1: ExplanationV1},
    id_pattern=r"explanation:(20[0-9]{2}-[0-9]{2}-[0-9]{2})",
    id_example="explanation:{date}",
    id_group="date",
)
check_form_definition(EXPLANATION)
