from __future__ import annotations

import pytest

from mobile_schema import UnknownChecklist, check_history, load_checklist
from mobile_schema.examples import daily_health, daily_health_v1, incident, inspection


def test_deleting_a_submitted_report_is_flagged():
    old = daily_health()
    issues = check_history(old, {"_id": old["_id"], "_rev": "2-x", "_deleted": True})
    assert [(i.field, i.code) for i in issues] == [("_id", "deleted_submitted")]
    assert issues[0].message("zh")


def test_status_only_moves_forward():
    old = incident(
        status="under_treatment",
        status_history=[
            {"status": "reported", "at": "2026-11-27T00:30:00Z"},
            {"status": "under_treatment", "at": "2026-11-27T02:00:00Z"},
        ],
    )
    [issue] = check_history(old, incident())
    assert (issue.field, issue.code, issue.params) == (
        "data.status",
        "status_backwards",
        {"old": "under_treatment", "new": "isolated"},
    )
    assert check_history(incident(), old) == []
    assert check_history(inspection(follow_up_status="rectified"), inspection())[0].code == "status_backwards"


def test_identity_and_versions():
    assert check_history(None, daily_health()) == []
    assert check_history(daily_health_v1(), daily_health()) == []
    moved = {**daily_health(), "school_id": "s0002"}
    assert [(i.field, i.code) for i in check_history(daily_health(), moved)] == [("school_id", "identity_changed")]


def test_checklist_is_27_bilingual_items():
    checklist = load_checklist("campus_epidemic_2020", 1)
    items = checklist["items"]
    assert len(items) == 27
    assert len({i["id"] for i in items}) == 27
    categories = {c["id"] for c in checklist["categories"]}
    for item in items:
        assert item["zh"] and item["en"] and item["category"] in categories
    ids = {i["id"] for i in items}
    assert {
        "entry_temperature",
        "isolation_room",
        "disinfection",
        "ventilation",
        "returnee_tracking",
        "daily_zero_report",
        "emergency_plan",
        "canteen",
        "dormitory_entry",
    } <= ids


def test_unknown_checklist():
    with pytest.raises(UnknownChecklist):
        load_checklist("campus_epidemic_2020", 2)
