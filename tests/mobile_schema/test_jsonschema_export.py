from __future__ import annotations

import jsonschema
import pytest

from mobile_schema import FORMS, MESSAGES, UnknownForm, UnknownSchemaVersion, json_schema
from mobile_schema.examples import daily_health, daily_health_v1, device_status, incident, inspection, zero_report

VALID = [
    ("daily_health", None, daily_health()),
    ("daily_health", None, zero_report()),
    ("daily_health", 1, daily_health_v1()),
    ("incident", None, incident()),
    ("inspection", None, inspection()),
    ("device_status", None, device_status()),
    ("device_status", None, device_status(last_error=None, clock_offset_ms=None)),
]

INVALID = [
    ("daily_health", daily_health(students_present="114")),
    ("daily_health", daily_health(students_present=-1)),
    ("daily_health", daily_health(staff_total=100001)),
    ("daily_health", daily_health(disinfection_done="yes")),
    ("daily_health", daily_health(notes="x" * 2001)),
    ("daily_health", daily_health(extra=1)),
    ("daily_health", daily_health_v1()),  # v1 data against the v2 schema
    ("incident", incident(student_ref="13800138000")),
    ("incident", incident(student_ref="ab")),
    ("incident", incident(symptoms=["headache"])),
    ("incident", incident(onset_date="27/11/2026")),
    ("incident", incident(status_history=[])),
    ("inspection", inspection(items=[{"item_id": "a", "status": "fine"}])),
    ("device_status", device_status(waiting_count=1.5)),
]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_schema_is_draft7_with_extensions(form):
    schema = json_schema(form)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["x-messages"] == MESSAGES
    assert list(schema["x-fields"]) == list(FORMS[form].schema().fields)
    for meta in schema["x-fields"].values():
        assert {"label", "merge", "abnormal", "order"} <= set(meta)


@pytest.mark.parametrize("form, version, doc", VALID)
def test_examples_pass(form, version, doc):
    jsonschema.validate(doc["data"], json_schema(form, version), cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize("form, doc", INVALID)
def test_type_and_bound_violations_fail(form, doc):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc["data"], json_schema(form), cls=jsonschema.Draft7Validator)


def test_daily_health_extensions():
    schema = json_schema("daily_health")
    assert schema["x-merge-groups"][0][0] == "students_enrolled"
    assert [r["rule"] for r in schema["x-rules"]] == ["le", "sum_eq", *["le"] * 10, "zero_when"]
    assert schema["x-rules"][0]["reads"] == ["students_present", "students_enrolled"]
    assert schema["x-fields"]["fever_at_check"]["abnormal"] is True
    assert schema["x-fields"]["students_enrolled"]["label"] == {"en": "Students enrolled", "zh": "在册学生数"}
    assert schema["x-form"]["schema_version"] == 2
    assert "x-checklists" in json_schema("inspection")


def test_errors():
    with pytest.raises(UnknownForm):
        json_schema("weekly")
    with pytest.raises(UnknownSchemaVersion):
        json_schema("daily_health", 9)
