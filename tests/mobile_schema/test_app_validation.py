"""The web app's own checks (webapp/js/validate.js) find the same data issues as Python.

The app checks ``data`` only (the envelope is its own doing), from the form's JSON Schema
export; it must report every issue ``validate_document`` reports under ``data``, cross-field
ones included, in the same order and with the same params, so a teacher sees before
submitting what the database would refuse.
"""

from __future__ import annotations

import copy
import json
import pathlib
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobile_schema import json_schema, validate_document
from mobile_schema.examples import NOW, daily_health, daily_health_v1, explanation, incident
from tests.mobile_schema.test_couch_validation import documents

ROOT = pathlib.Path(__file__).resolve().parents[2]
VALIDATE_JS = ROOT / "webapp" / "js" / "validate.js"
RUNNER = pathlib.Path(__file__).with_name("node_app_validate.js")
SCHEMAS = {name: json_schema(name) for name in ("daily_health", "incident", "explanation")}

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def run_app(cases: list[dict]) -> list[list[dict]]:
    proc = subprocess.run(
        ["node", str(RUNNER), str(VALIDATE_JS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        input=json.dumps({"schemas": SCHEMAS, "cases": cases}),
    )
    return json.loads(proc.stdout)


def python_data_issues(doc: dict) -> list[dict]:
    """``validate_document``'s issues under ``data``, with paths relative to it as the app has them."""
    issues = validate_document(copy.deepcopy(doc), now=NOW)
    return [
        {"field": i.field[len("data.") :] if i.field != "data" else "", "code": i.code, "params": i.params}
        for i in issues
        if i.field == "data" or i.field.startswith("data.")
    ]


def comparable(doc: dict) -> bool:
    # The latest version of each form is what the app fills; the envelope must be sound for
    # Python to look at data at all.
    return (
        isinstance(doc.get("form"), str)
        and doc["form"] in SCHEMAS
        and doc.get("schema_version") == SCHEMAS[doc["form"]]["x-form"]["schema_version"]
        and "data" in doc
        and not any(
            i.field in ("type", "form", "schema_version", "_deleted")
            for i in validate_document(copy.deepcopy(doc), now=NOW)
        )
    )


def check(docs: list[dict]) -> None:
    docs = [json.loads(json.dumps(d)) for d in docs if comparable(d)]
    got = run_app([{"form": d["form"], "data": d["data"]} for d in docs])
    for doc, js in zip(docs, got, strict=True):
        assert js == python_data_issues(doc), doc


def test_app_reports_every_issue_the_service_would():
    check(
        [
            daily_health(),
            daily_health(students_enrolled=300, students_present=290, absent_illness=7, isolated_on_campus=400),
            daily_health(
                staff_total="12",
                students_enrolled=300,
                students_present=290,
                absent_illness=7,
                isolated_on_campus=400,
                close_contacts=301,
                confirmed_cases=-1,
            ),
            daily_health(students_present=None, isolated_on_campus=500, sent_to_hospital=121),
            daily_health(**{name: "x" for name in daily_health()["data"]}),
            incident(status="reported", student_ref="13800138000"),
            explanation(),
            explanation(reason="flood", details="x" * 501),
        ]
    )
    assert daily_health_v1()["schema_version"] != SCHEMAS["daily_health"]["x-form"]["schema_version"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(documents(), min_size=20, max_size=20))
def test_app_agrees_with_validate_document(docs):
    check(docs)
