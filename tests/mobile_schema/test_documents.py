"""validate_document on valid and broken documents, with both languages' messages."""

from __future__ import annotations

import pytest

from mobile_schema import FORMS, Issue, format_forbidden, get_form, validate_document
from mobile_schema.errors import UnknownForm
from mobile_schema.examples import (
    COUNTY,
    DEVICE,
    NOW,
    SCHOOL,
    daily_health,
    daily_health_v1,
    device_status,
    incident,
    inspection,
    zero_report,
)


@pytest.mark.parametrize(
    "doc",
    [
        daily_health(),
        zero_report(),
        daily_health_v1(),
        incident(),
        inspection(),
        device_status(),
        daily_health(notes="教室已通风消毒"),
        daily_health(date="2026-11-29"),
        incident(status="reported", status_history=[{"status": "reported", "at": "2026-11-27T00:30:00Z"}]),
        inspection(follow_up_status="closed", findings=[]),
        device_status(clock_offset_ms=None, last_sync_at=None),
    ],
    ids=lambda d: d["_id"],
)
def test_valid_documents(doc):
    assert validate_document(doc, now=NOW) == []


def _with(doc, path, value):
    target = doc
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


_DELETE = object()

BROKEN = [
    # (doc, field, code, english, chinese)
    (
        _with(daily_health(), "data.students_present", 121),
        "data.students_present",
        "present_gt_enrolled",
        "students present (121) is more than students enrolled (120)",
        "到校学生数(121)超过在册学生数(120)",
    ),
    (
        _with(daily_health(), "data.absent_other", 5),
        "data.absent_illness",
        "absences_mismatch",
        "absences add up to 9 but enrolled minus present is 6",
        "缺勤人数合计为 9,但在册人数减到校人数为 6",
    ),
    (
        _with(daily_health(), "data.students_present", "114"),
        "data.students_present",
        "not_integer",
        "must be a whole number",
        "必须是整数",
    ),
    (
        _with(daily_health(), "data.students_present", 11.5),
        "data.students_present",
        "not_integer",
        "must be a whole number",
        "必须是整数",
    ),
    (
        _with(daily_health(), "data.absent_fever", -1),
        "data.absent_fever",
        "negative",
        "must not be negative",
        "不能为负数",
    ),
    (
        _with(daily_health(), "data.staff_total", 100001),
        "data.staff_total",
        "too_large",
        "must be at most 100000",
        "不能大于 100000",
    ),
    (_with(daily_health(), "data.staff_total", _DELETE), "data.staff_total", "required", "is required", "必填"),
    (
        _with(daily_health(), "data.disinfection_done", "yes"),
        "data.disinfection_done",
        "not_boolean",
        "must be true or false",
        "必须是“是”或“否”",
    ),
    (
        _with(daily_health(), "data.notes", "x" * 2001),
        "data.notes",
        "too_long",
        "must be at most 2000 characters",
        "不能超过 2000 个字符",
    ),
    (
        _with(daily_health(), "data.temperature", 36.6),
        "data.temperature",
        "unknown_field",
        "is not a field of this form",
        "不是此表单的字段",
    ),
    (
        _with(daily_health(), "data.fever_at_check", 115),
        "data.fever_at_check",
        "fever_gt_present",
        "fever at the temperature check (115) is more than students present (114)",
        "晨检发热人数(115)超过到校学生数(114)",
    ),
    (
        _with(daily_health(), "data.staff_present", 13),
        "data.staff_present",
        "staff_present_gt_total",
        "staff present (13) is more than staff in total (12)",
        "到岗教职工数(13)超过教职工总数(12)",
    ),
    (
        _with(daily_health(), "data.staff_fever", 12),
        "data.staff_fever",
        "staff_fever_gt_present",
        "staff with fever (12) is more than staff present (11)",
        "发热教职工数(12)超过到岗教职工数(11)",
    ),
    (
        daily_health(students_enrolled=300, students_present=290, absent_illness=7, isolated_on_campus=400),
        "data.isolated_on_campus",
        "isolated_gt_present",
        "isolated on campus (400) is more than students present (290)",
        "校内隔离人数(400)超过到校学生数(290)",
    ),
    (
        daily_health(respiratory_symptoms=121),
        "data.respiratory_symptoms",
        "respiratory_gt_enrolled",
        "respiratory symptoms (121) is more than students enrolled (120)",
        "呼吸道症状人数(121)超过在册学生数(120)",
    ),
    (
        daily_health(sent_to_hospital=121),
        "data.sent_to_hospital",
        "hospital_gt_enrolled",
        "sent to hospital (121) is more than students enrolled (120)",
        "送医人数(121)超过在册学生数(120)",
    ),
    (
        daily_health(suspected_cases=121),
        "data.suspected_cases",
        "suspected_gt_enrolled",
        "suspected cases (121) is more than students enrolled (120)",
        "疑似病例数(121)超过在册学生数(120)",
    ),
    (
        daily_health(confirmed_cases=121),
        "data.confirmed_cases",
        "confirmed_gt_enrolled",
        "confirmed cases (121) is more than students enrolled (120)",
        "确诊病例数(121)超过在册学生数(120)",
    ),
    (
        daily_health(close_contacts=121),
        "data.close_contacts",
        "contacts_gt_enrolled",
        "close contacts (121) is more than students enrolled (120)",
        "密切接触者数(121)超过在册学生数(120)",
    ),
    (
        daily_health(returned_from_affected_areas=121),
        "data.returned_from_affected_areas",
        "returned_gt_enrolled",
        "returned from affected areas (121) is more than students enrolled (120)",
        "重点地区返校人数(121)超过在册学生数(120)",
    ),
    (
        dict(daily_health(), _attachments={"evil.html": {"content_type": "text/html", "data": "PGI+"}}),
        "_attachments",
        "attachments_refused",
        "form daily_health takes no attachments",
        "表单 daily_health 不接受附件",
    ),
    (
        zero_report(close_contacts=2),
        "data.close_contacts",
        "zero_report_nonzero",
        "a zero report needs every abnormal count at 0, but Close contacts is 2",
        "零报告要求所有异常人数为 0,但“密切接触者数”为 2",
    ),
    (
        _with(daily_health(), "date", "2026-11-27"),
        "date",
        "date_mismatch",
        "date 2026-11-27 does not match the date in the id (2026-11-28)",
        "日期 2026-11-27 与编号中的日期 2026-11-28 不一致",
    ),
    (
        daily_health(date="2026-11-30"),
        "date",
        "future_date",
        "date 2026-11-30 is in the future (latest allowed is 2026-11-29); check the device clock",
        "日期 2026-11-30 晚于允许的最晚日期 2026-11-29;请检查设备时间",
    ),
    (
        daily_health(date="2026-02-30"),
        "date",
        "bad_date",
        "must be a date written like 2020-03-02",
        "日期格式应为 2020-03-02",
    ),
    (
        _with(daily_health(), "_id", "report:daily_health:today"),
        "_id",
        "bad_id",
        "must look like report:daily_health:{date}",
        "格式应为 report:daily_health:{date}",
    ),
    (
        _with(daily_health(), "form", "weekly_health"),
        "form",
        "unknown_form",
        "unknown form weekly_health for documents of type report",
        "类型 report 没有名为 weekly_health 的表单",
    ),
    (
        _with(daily_health(), "schema_version", 3),
        "schema_version",
        "unknown_version",
        "version 3 of form daily_health is not known here (newest is 2); update the app or the server",
        "表单 daily_health 的版本 3 无法识别(最新为 2);请更新应用或服务器",
    ),
    (
        _with(daily_health(), "type", "config"),
        "type",
        "server_only_type",
        "documents of type config are written by the server only",
        "类型为 config 的文档只能由服务器写入",
    ),
    (
        _with(daily_health(), "type", "weather"),
        "type",
        "unknown_type",
        "unknown document type weather",
        "未知的文档类型 weather",
    ),
    (_with(daily_health(), "meta.device", _DELETE), "meta.device", "required", "is required", "必填"),
    (_with(daily_health(), "meta.created_at", "2026-11-28 01:02"), "meta.created_at", "bad_timestamp", None, None),
    (
        _with(daily_health(), "meta.clocks.students_present.at", "yesterday"),
        "meta.clocks.students_present.at",
        "bad_clock",
        None,
        None,
    ),
    (
        _with(daily_health(), "meta.clocks.temperature", {"at": "000000000000001:00000:d", "base": None}),
        "meta.clocks.temperature",
        "unknown_clock_field",
        None,
        None,
    ),
    (incident(student_ref="13800138000"), "data.student_ref", "privacy", None, None),
    (incident(student_ref="110105-19900307-002X"), "data.student_ref", "privacy", None, None),
    (incident(student_ref="王小明"), "data.student_ref", "bad_ref", None, None),
    (
        incident(symptoms=["fever", "headache"]),
        "data.symptoms.1",
        "invalid_choice",
        "must be one of: fever, cough, sore_throat, fatigue, diarrhoea, rash, other",
        None,
    ),
    (
        incident(actions=[{"date": "2026-11-27", "code": "isolated", "by": "x"}]),
        "data.actions.0.by",
        "unknown_field",
        None,
        None,
    ),
    (incident(actions=["isolated"]), "data.actions.0", "not_object", "must be an object", "必须是对象"),
    (
        incident(status="reported"),
        "data.status",
        "history_end",
        "status history ends at isolated but the status is reported",
        "状态记录最后为 isolated,但当前状态为 reported",
    ),
    (
        incident(
            status_history=[
                {"status": "isolated", "at": "2026-11-27T00:30:00Z"},
                {"status": "isolated", "at": "2026-11-27T00:40:00Z"},
            ]
        ),
        "data.status_history.1.status",
        "history_order",
        None,
        None,
    ),
    (incident(status_history=[]), "data.status_history", "too_few", "must have at least 1 entries", None),
    (
        inspection(items=[{"item_id": "karaoke", "status": "ok", "note": ""}]),
        "data.items.0.item_id",
        "unknown_item",
        "item karaoke is not in checklist campus_epidemic_2020 version 1",
        None,
    ),
    (inspection(checklist_version=2), "data.checklist_id", "unknown_checklist", None, None),
    (inspection(follow_up_status="closed"), "data.findings.0.status", "open_findings", None, None),
    (_with(inspection(), "county_id", _DELETE), "county_id", "required", None, None),
    (device_status(waiting_count=-3), "data.waiting_count", "negative", None, None),
    (_with(device_status(), "_id", "device_status:device_other"), "_id", "id_mismatch", None, None),
]


@pytest.mark.parametrize("doc, field, code, en, zh", BROKEN, ids=[f"{b[2]}:{b[1]}" for b in BROKEN])
def test_broken_documents(doc, field, code, en, zh):
    issues = validate_document(doc, now=NOW)
    assert issues, "expected an issue"
    first = issues[0]
    assert (first.field, first.code) == (field, code), issues
    if en is not None:
        assert first.message("en") == en
    if zh is not None:
        assert first.message("zh") == zh
    assert first.message("zh") and first.message("en")
    assert format_forbidden([first]) == f"{field}: {first.message('en')} / {first.message('zh')}"


@pytest.mark.parametrize(
    "kwargs, doc, field, code",
    [
        ({"school_id": "s0002"}, daily_health(), "school_id", "wrong_school"),
        ({"school_id": SCHOOL, "device": "device_other"}, daily_health(), "meta.device", "wrong_device"),
        ({"school_id": SCHOOL}, inspection(), "type", "wrong_database"),
        ({"county_id": COUNTY}, daily_health(), "type", "wrong_database"),
        ({"county_id": "c000000"}, inspection(), "county_id", "wrong_county"),
    ],
)
def test_database_context(kwargs, doc, field, code):
    issues = validate_document(doc, now=NOW, **kwargs)
    assert (issues[0].field, issues[0].code) == (field, code)


def test_matching_context_is_valid():
    assert validate_document(daily_health(), now=NOW, school_id=SCHOOL, device=DEVICE) == []
    assert validate_document(inspection(), now=NOW, county_id=COUNTY, device=DEVICE) == []


def test_several_issues_in_contract_order():
    doc = daily_health(students_present="x", temperature=1, absent_fever=-2)
    doc["meta"]["device"] = 5
    issues = validate_document(doc, now=NOW)
    assert [(i.field, i.code) for i in issues] == [
        ("meta.device", "not_string"),
        ("data.students_present", "not_integer"),
        ("data.absent_fever", "negative"),
        ("data.temperature", "unknown_field"),
    ]


@pytest.mark.parametrize(
    "changes",
    [
        # Unusual, not impossible: left for people to judge.
        {"confirmed_cases": 3, "suspected_cases": 0},  # confirmed without being suspected first
        {"isolated_on_campus": 5, "fever_at_check": 0},  # isolated for another reason
        {"sent_to_hospital": 6, "isolated_on_campus": 0},  # straight to hospital; or from home
        {"respiratory_symptoms": 115, "fever_at_check": 0},  # symptoms at home, absent students too
        {"close_contacts": 120, "returned_from_affected_areas": 120},  # the whole register
        {"isolated_on_campus": 114, "sent_to_hospital": 120, "suspected_cases": 120, "confirmed_cases": 120},
    ],
)
def test_unusual_but_possible_reports_are_valid(changes):
    assert validate_document(daily_health(**changes), now=NOW) == []


def test_every_issue_at_once():
    """A simple field error does not hide the cross-field ones whose fields are valid;
    a rule reading an invalid field is skipped (it cannot be judged)."""
    doc = daily_health(
        staff_total="12",
        students_enrolled=300,
        students_present=290,
        absent_illness=4,
        absent_fever=3,
        absent_other=3,
        isolated_on_campus=400,
        close_contacts=301,
        confirmed_cases=-1,
    )
    issues = validate_document(doc, now=NOW)
    assert [(i.field, i.code) for i in issues] == [
        ("data.confirmed_cases", "negative"),
        ("data.staff_total", "not_integer"),
        ("data.isolated_on_campus", "isolated_gt_present"),
        ("data.close_contacts", "contacts_gt_enrolled"),
    ]
    # staff_present <= staff_total reads the invalid staff_total: not judged.
    assert "staff_present_gt_total" not in {i.code for i in issues}
    assert format_forbidden(issues) == "; ".join(f"{i.field}: {i.message('en')} / {i.message('zh')}" for i in issues)


def test_refusal_counts_what_it_does_not_spell_out():
    from mobile_schema.issues import FORBIDDEN_MAX_ISSUES

    issues = [Issue(f"data.f{i}", "required") for i in range(FORBIDDEN_MAX_ISSUES + 3)]
    text = format_forbidden(issues)
    assert text.count("is required") == FORBIDDEN_MAX_ISSUES
    assert text.endswith("; and 3 more / 另有 3 项")
    with pytest.raises(ValueError):
        format_forbidden([])


def test_tombstone_and_non_objects():
    assert validate_document({"_id": "report:daily_health:2026-11-28", "_deleted": True}) == [
        Issue("_deleted", "deletion_refused")
    ]
    assert validate_document(["not", "a", "doc"])[0].code == "not_object"
    assert validate_document({"type": "report"})[0] == Issue("form", "required")


def test_json_integral_float_counts_as_integer():
    assert validate_document(daily_health(students_enrolled=120.0), now=NOW) == []


def test_form_api():
    form = get_form("daily_health")
    assert form.doc_type == "report" and form.latest_version == 2 and set(form.versions) == {1, 2}
    assert form.make_id("2026-11-28") == "report:daily_health:2026-11-28"
    assert form.merge_rule("returned_from_affected_areas") == "max"
    assert form.merge_rule("notes") == form.merge_rule("disinfection_done") == "latest"
    assert form.merge_groups[0] == (
        "students_enrolled",
        "students_present",
        "absent_illness",
        "absent_fever",
        "absent_other",
    )
    assert form.abnormal_fields == (
        "fever_at_check",
        "respiratory_symptoms",
        "isolated_on_campus",
        "sent_to_hospital",
        "suspected_cases",
        "confirmed_cases",
        "close_contacts",
        "staff_fever",
    )
    assert form.fields_metadata(1)["absent"]["label"]["zh"] == "缺勤学生数"
    assert get_form("incident").merge_rule("symptoms") == "union"
    assert get_form("incident").merge_rule("status") == "max"
    incident_id = get_form("incident").make_id("2026-11-27")
    assert incident_id.startswith("incident:2026-11-27:") and get_form("incident").id_value(incident_id) == "2026-11-27"
    assert get_form("device_status").make_id(DEVICE) == f"device_status:{DEVICE}"
    with pytest.raises(ValueError):
        get_form("incident").make_id("2026-11-27", random="UPPER")
    with pytest.raises(UnknownForm):
        get_form("weekly")
    assert set(FORMS) == {"daily_health", "incident", "inspection", "device_status", "explanation"}


def test_every_field_has_bilingual_label_and_merge_rule():
    for form in FORMS.values():
        for version in form.versions:
            for name, meta in form.fields_metadata(version).items():
                assert meta["label"]["en"] and meta["label"]["zh"], (form.name, name)
                assert meta["merge"] in {"latest", "max", "union", "manual"}


def test_schema_load_runs_cross_field_rules():
    from marshmallow import ValidationError

    with pytest.raises(ValidationError) as exc:
        get_form("daily_health").schema().load(daily_health(students_present=121)["data"])
    assert exc.value.messages["students_present"] == ["present_gt_enrolled"]
