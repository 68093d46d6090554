"""An incident: one student's case followed over time, by pseudonymous reference.

No names, national id numbers or phone numbers are stored: ``student_ref``
is the school's own pseudonymous code for the student.
"""

from __future__ import annotations

from ..fields import (
    Choice,
    DateText,
    FullMatch,
    ListOf,
    NoPersonalIdentifiers,
    Object,
    StrictSchema,
    Text,
    Timestamp,
)
from ..rules import ForwardHistory
from .base import Form, FormSchema, check_form_definition, meta

SYMPTOMS = ("fever", "cough", "sore_throat", "fatigue", "diarrhoea", "rash", "other")
ACTIONS = (
    "isolated",
    "sent_home",
    "sent_to_hospital",
    "parents_notified",
    "disinfected",
    "reported_to_health_dept",
    "other",
)
#: In the order a case moves through them; a case never moves back.
STATUSES = ("reported", "isolated", "under_treatment", "recovered", "closed")

#: Labels of the codes above: code -> (English, Chinese).
SYMPTOM_LABELS = {
    "fever": ("Fever", "发热"),
    "cough": ("Cough", "咳嗽"),
    "sore_throat": ("Sore throat", "咽痛"),
    "fatigue": ("Fatigue", "乏力"),
    "diarrhoea": ("Diarrhoea", "腹泻"),
    "rash": ("Rash", "皮疹"),
    "other": ("Other", "其他"),
}
ACTION_LABELS = {
    "isolated": ("Isolated", "已隔离"),
    "sent_home": ("Sent home", "已送回家"),
    "sent_to_hospital": ("Sent to hospital", "已送医"),
    "parents_notified": ("Parents notified", "已通知家长"),
    "disinfected": ("Disinfected", "已消毒"),
    "reported_to_health_dept": ("Reported to the health department", "已报告卫生部门"),
    "other": ("Other", "其他"),
}
STATUS_LABELS = {
    "reported": ("Reported", "已报告"),
    "isolated": ("Isolated", "隔离中"),
    "under_treatment": ("Under treatment", "治疗中"),
    "recovered": ("Recovered", "已康复"),
    "closed": ("Closed", "已结案"),
}

STUDENT_REF_PATTERN = r"[A-Za-z0-9-]{4,32}"
ID_RANDOM_PATTERN = r"[a-z0-9]{8,32}"


class ActionSchema(StrictSchema):
    """Something done about the case on a date."""

    date = DateText(required=True, metadata=meta("Date", "日期"))
    code = Choice(ACTIONS, required=True, metadata=meta("Action", "措施", choices=ACTION_LABELS))
    note = Text(load_default="", max_length=500, metadata=meta("Note", "说明"))


class StatusChangeSchema(StrictSchema):
    """When the case reached a status."""

    status = Choice(STATUSES, required=True, metadata=meta("Status", "状态", ordered=True, choices=STATUS_LABELS))
    at = Timestamp(required=True, metadata=meta("Time", "时间"))


class IncidentV1(FormSchema):
    """Incident, version 1."""

    student_ref = Text(
        required=True,
        # Privacy first, so a phone number gets the privacy message, not a format one.
        validate=[NoPersonalIdentifiers(), FullMatch(STUDENT_REF_PATTERN, error="bad_ref")],
        metadata=meta(
            "Student reference",
            "学生编号",
            help_en="The pseudonymous code from the class register; never a name, ID or phone number",
            help_zh="班级登记的化名编号;不得填写姓名、身份证号或手机号",
            merge="manual",
        ),
    )
    onset_date = DateText(required=True, metadata=meta("Onset date", "发病日期", merge="manual"))
    symptoms = ListOf(
        Choice(SYMPTOMS),
        required=True,
        max_items=len(SYMPTOMS),
        metadata=meta("Symptoms", "症状", merge="union", choices=SYMPTOM_LABELS),
    )
    actions = ListOf(
        Object(ActionSchema),
        required=True,
        max_items=200,
        metadata=meta("Actions taken", "已采取措施", merge="union"),
    )
    status = Choice(
        STATUSES, required=True, metadata=meta("Status", "状态", merge="max", ordered=True, choices=STATUS_LABELS)
    )
    status_history = ListOf(
        Object(StatusChangeSchema),
        required=True,
        min_items=1,
        max_items=50,
        metadata=meta("Status history", "状态记录", merge="union"),
    )
    rules = (ForwardHistory("status_history", "status", STATUSES),)


INCIDENT = Form(
    name="incident",
    doc_type="incident",
    versions={1: IncidentV1},
    id_pattern=r"incident:(20[0-9]{2}-[0-9]{2}-[0-9]{2}):" + ID_RANDOM_PATTERN,
    id_example="incident:{date}:{random}",
    id_group="date",
)
check_form_definition(INCIDENT)
