"""The daily health report (日报告、零报告): one per school per school day.

Missing and zero are different facts: ``zero_report: true`` states that
nothing abnormal happened, and then every abnormal count must be 0.
"""

from __future__ import annotations

from typing import Any

from ..fields import Count, Flag, Text, WholeNumber
from ..rules import LessOrEqual, SumEquals, ZeroWhen
from .base import Form, FormSchema, check_form_definition, meta

ABNORMAL_FIELDS = (
    "fever_at_check",
    "respiratory_symptoms",
    "isolated_on_campus",
    "sent_to_hospital",
    "suspected_cases",
    "confirmed_cases",
    "close_contacts",
    "staff_fever",
)

PEOPLE = "people"


def _abnormal(en: str, zh: str, help_en: str, help_zh: str) -> WholeNumber:
    return Count(required=True, metadata=meta(en, zh, help_en=help_en, help_zh=help_zh, unit=PEOPLE, abnormal=True))


def _rules(absent_fields: tuple[str, ...]) -> tuple:
    """Bounds that no real day can break; unusual figures (more confirmed than suspected
    cases, isolation without fever at the check) are left for people to judge.

    Students present, isolated on campus and with fever at the entry check are at
    school today; the other student counts may include students at home, so they are
    bounded by the register only. Absences by cause add up to enrolled minus present,
    which also bounds each cause. Staff counts mirror the students'.
    """
    return (
        LessOrEqual("students_present", "students_enrolled", code="present_gt_enrolled"),
        SumEquals(absent_fields, "students_enrolled", "students_present", code="absences_mismatch"),
        LessOrEqual("fever_at_check", "students_present", code="fever_gt_present"),
        LessOrEqual("respiratory_symptoms", "students_enrolled", code="respiratory_gt_enrolled"),
        LessOrEqual("isolated_on_campus", "students_present", code="isolated_gt_present"),
        LessOrEqual("sent_to_hospital", "students_enrolled", code="hospital_gt_enrolled"),
        LessOrEqual("suspected_cases", "students_enrolled", code="suspected_gt_enrolled"),
        LessOrEqual("confirmed_cases", "students_enrolled", code="confirmed_gt_enrolled"),
        LessOrEqual("close_contacts", "students_enrolled", code="contacts_gt_enrolled"),
        LessOrEqual("returned_from_affected_areas", "students_enrolled", code="returned_gt_enrolled"),
        LessOrEqual("staff_present", "staff_total", code="staff_present_gt_total"),
        LessOrEqual("staff_fever", "staff_present", code="staff_fever_gt_present"),
        ZeroWhen("zero_report", ABNORMAL_FIELDS, code="zero_report_nonzero"),
    )


def _enrolment() -> dict[str, Any]:
    return {
        "students_enrolled": Count(
            required=True,
            metadata=meta(
                "Students enrolled",
                "在册学生数",
                help_en="Students on the school's register today",
                help_zh="今日学校在册学生人数",
                unit=PEOPLE,
            ),
        ),
        "students_present": Count(
            required=True,
            metadata=meta(
                "Students present",
                "到校学生数",
                help_en="Students at school today",
                help_zh="今日实际到校学生人数",
                unit=PEOPLE,
            ),
        ),
    }


def _health_and_staff() -> dict[str, Any]:
    return {
        "fever_at_check": _abnormal(
            "Fever at the temperature check",
            "晨检发热人数",
            "Students at 37.3 °C or above at the entry check",
            "入校体温检测≥37.3℃的学生人数",
        ),
        "respiratory_symptoms": _abnormal(
            "Respiratory symptoms",
            "呼吸道症状人数",
            "Students with cough, sore throat or short breath",
            "有咳嗽、咽痛、气促等症状的学生人数",
        ),
        "isolated_on_campus": _abnormal(
            "Isolated on campus", "校内隔离人数", "Students in the isolation room today", "今日在隔离室(区)的学生人数"
        ),
        "sent_to_hospital": _abnormal(
            "Sent to hospital", "送医人数", "Students taken to a clinic or hospital today", "今日送往医疗机构的学生人数"
        ),
        "suspected_cases": _abnormal(
            "Suspected cases",
            "疑似病例数",
            "Students the health department treats as suspected cases",
            "经卫生健康部门确定的疑似病例学生数",
        ),
        "confirmed_cases": _abnormal(
            "Confirmed cases", "确诊病例数", "Students confirmed by the health department", "经卫生健康部门确诊的学生数"
        ),
        "close_contacts": _abnormal(
            "Close contacts", "密切接触者数", "Students identified as close contacts", "被认定为密切接触者的学生数"
        ),
        "returned_from_affected_areas": Count(
            required=True,
            metadata=meta(
                "Returned from affected areas",
                "重点地区返校人数",
                help_en="Students back from affected areas and being tracked",
                help_zh="从疫情重点地区返校并在跟踪中的学生人数",
                unit=PEOPLE,
                merge="max",
            ),
        ),
        "staff_total": Count(required=True, metadata=meta("Staff in total", "教职工总数", unit=PEOPLE)),
        "staff_present": Count(required=True, metadata=meta("Staff present", "到岗教职工数", unit=PEOPLE)),
        "staff_fever": _abnormal(
            "Staff with fever", "发热教职工数", "Staff at 37.3 °C or above today", "今日体温≥37.3℃的教职工人数"
        ),
        "disinfection_done": Flag(
            required=True,
            metadata=meta(
                "Disinfection done",
                "已完成消毒",
                help_en="Classrooms and shared areas disinfected today",
                help_zh="今日已对教室和公共区域消毒",
            ),
        ),
        "notes": Text(
            load_default="",
            max_length=2000,
            metadata=meta(
                "Notes",
                "备注",
                help_en="Anything the county office should know; no names of students",
                help_zh="需要告知区县的情况;不要填写学生姓名",
            ),
        ),
        "zero_report": Flag(
            required=True,
            metadata=meta(
                "Zero report",
                "零报告",
                help_en="Nothing abnormal today: every abnormal count is 0",
                help_zh="今日无异常:所有异常人数均为 0",
            ),
        ),
    }


def _schema(name: str, doc: str, absences: dict[str, Any]) -> type[FormSchema]:
    # Built from parts so both versions list fields in form order:
    # enrolment, absences, health, staff.
    attrs = {**_enrolment(), **absences, **_health_and_staff()}
    attrs.update(rules=_rules(tuple(absences)), __doc__=doc, __module__=__name__)
    return type(name, (FormSchema,), attrs)


DailyHealthV1 = _schema(
    "DailyHealthV1",
    "Daily health report, version 1: a single count of absent students.",
    {"absent": Count(required=True, metadata=meta("Students absent", "缺勤学生数", unit=PEOPLE))},
)

DailyHealthV2 = _schema(
    "DailyHealthV2",
    "Daily health report, version 2: absences by reason (illness, fever, other).",
    {
        "absent_illness": Count(required=True, metadata=meta("Absent: illness", "因病缺勤", unit=PEOPLE)),
        "absent_fever": Count(required=True, metadata=meta("Absent: fever", "因发热缺勤", unit=PEOPLE)),
        "absent_other": Count(required=True, metadata=meta("Absent: other reasons", "其他原因缺勤", unit=PEOPLE)),
    },
)


DAILY_HEALTH = Form(
    name="daily_health",
    doc_type="report",
    versions={1: DailyHealthV1, 2: DailyHealthV2},
    id_pattern=r"report:daily_health:(20[0-9]{2}-[0-9]{2}-[0-9]{2})",
    id_example="report:daily_health:{date}",
    id_group="date",
    merge_groups=(
        ("students_enrolled", "students_present", "absent_illness", "absent_fever", "absent_other"),
        ("zero_report", *ABNORMAL_FIELDS),
        ("staff_total", "staff_present"),
    ),
)
check_form_definition(DAILY_HEALTH)
