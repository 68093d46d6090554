"""An inspection (督导): a visit with a checklist, its findings and their follow-up.

Written by inspectors' devices into ``inspections_<county>``; the checklist
itself is data (``mobile_schema/checklists``) referenced by id and version.
"""

from __future__ import annotations

from ..fields import Choice, CodeText, DateText, ListOf, Object, StrictSchema, Text, WholeNumber
from ..rules import AllWhen, InChecklist
from .base import Form, FormSchema, check_form_definition, meta
from .incident import ID_RANDOM_PATTERN

ITEM_STATUSES = ("ok", "issue", "not_applicable")
FINDING_STATUSES = ("open", "rectifying", "rectified", "verified")
FOLLOW_UP_STATUSES = ("open", "rectifying", "rectified", "closed")
#: Labels of the codes above: code -> (English, Chinese).
ITEM_STATUS_LABELS = {
    "ok": ("OK", "符合要求"),
    "issue": ("Issue found", "存在问题"),
    "not_applicable": ("Not applicable", "不适用"),
}
FINDING_STATUS_LABELS = {
    "open": ("Open", "待整改"),
    "rectifying": ("Being rectified", "整改中"),
    "rectified": ("Rectified", "已整改"),
    "verified": ("Verified", "已复核"),
}
FOLLOW_UP_STATUS_LABELS = {
    "open": ("Open", "待跟踪"),
    "rectifying": ("Being rectified", "整改中"),
    "rectified": ("Rectified", "已整改"),
    "closed": ("Closed", "已销号"),
}


class ItemSchema(StrictSchema):
    item_id = CodeText(required=True, metadata=meta("Item", "检查项"))
    status = Choice(ITEM_STATUSES, required=True, metadata=meta("Result", "结果", choices=ITEM_STATUS_LABELS))
    note = Text(load_default="", max_length=1000, metadata=meta("Note", "说明"))


class FindingSchema(StrictSchema):
    item_id = CodeText(required=True, metadata=meta("Item", "检查项"))
    description = Text(required=True, min_length=1, max_length=2000, metadata=meta("Finding", "问题描述"))
    rectification_deadline = DateText(required=True, metadata=meta("Rectify by", "整改期限"))
    status = Choice(
        FINDING_STATUSES,
        required=True,
        metadata=meta("Status", "整改状态", ordered=True, choices=FINDING_STATUS_LABELS),
    )


class InspectionV1(FormSchema):
    """Inspection, version 1."""

    inspector = Text(required=True, min_length=1, max_length=100, metadata=meta("Inspector", "督导人员"))
    checklist_id = CodeText(required=True, metadata=meta("Checklist", "检查清单", merge="manual"))
    checklist_version = WholeNumber(
        required=True, minimum=1, maximum=1000, metadata=meta("Checklist version", "清单版本", merge="manual")
    )
    items = ListOf(
        Object(ItemSchema), required=True, max_items=500, metadata=meta("Checklist items", "检查项目", merge="manual")
    )
    findings = ListOf(
        Object(FindingSchema), required=True, max_items=500, metadata=meta("Findings", "发现问题", merge="union")
    )
    follow_up_status = Choice(
        FOLLOW_UP_STATUSES,
        required=True,
        metadata=meta("Follow-up", "跟踪状态", merge="max", ordered=True, choices=FOLLOW_UP_STATUS_LABELS),
    )
    rules = (
        InChecklist("checklist_id", "checklist_version", [("items", "item_id", True), ("findings", "item_id", False)]),
        AllWhen("follow_up_status", "closed", "findings", "status", "verified", "item_id", code="open_findings"),
    )


INSPECTION = Form(
    name="inspection",
    doc_type="inspection",
    versions={1: InspectionV1},
    id_pattern=r"inspection:(20[0-9]{2}-[0-9]{2}-[0-9]{2}):" + ID_RANDOM_PATTERN,
    id_example="inspection:{date}:{random}",
    id_group="date",
    database="inspections",
    has_county=True,
)
check_form_definition(INSPECTION)
