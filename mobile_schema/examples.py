"""Example documents, one valid document per form (fresh copies on every call).

Used by the tests, and handy for the web app and docs: each builder takes
keyword changes to `data`. `NOW` is a fixed time at which all of them are
valid (none is dated in the future).
"""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
DEVICE = "device_7f3a9c2e-1b4d-4e8f-9a0b-5c6d7e8f9a0b"
SCHOOL = "s0001"
COUNTY = "c510104"
CLOCK = f"{1_795_000_000_000:015d}:{0:05d}:{DEVICE}"


def meta(**changes):
    m = {
        "author": "t_s0001_1",
        "device": DEVICE,
        "app_version": "0.1.0",
        "created_at": "2026-11-28T01:02:03.000Z",
        "updated_at": "2026-11-28T01:05:00.000Z",
        "submitted_at": "2026-11-28T01:05:00.000Z",
        "utc_offset_minutes": 480,
        "clock_offset_ms": 0,
        "clocks": {"students_present": {"at": CLOCK, "base": None}},
    }
    m.update(changes)
    return m


def daily_health(date="2026-11-28", **data_changes):
    data = {
        "students_enrolled": 120,
        "students_present": 114,
        "absent_illness": 3,
        "absent_fever": 1,
        "absent_other": 2,
        "fever_at_check": 1,
        "respiratory_symptoms": 0,
        "isolated_on_campus": 1,
        "sent_to_hospital": 0,
        "suspected_cases": 0,
        "confirmed_cases": 0,
        "close_contacts": 0,
        "returned_from_affected_areas": 4,
        "staff_total": 12,
        "staff_present": 11,
        "staff_fever": 0,
        "disinfection_done": True,
        "notes": "",
        "zero_report": False,
    }
    data.update(data_changes)
    return {
        "_id": f"report:daily_health:{date}",
        "type": "report",
        "form": "daily_health",
        "schema_version": 2,
        "school_id": SCHOOL,
        "date": date,
        "data": data,
        "meta": meta(),
    }


def zero_report(**data_changes):
    doc = daily_health(fever_at_check=0, isolated_on_campus=0, zero_report=True)
    doc["data"].update(data_changes)
    return doc


def daily_health_v1(**data_changes):
    doc = daily_health()
    data = doc["data"]
    data["absent"] = data.pop("absent_illness") + data.pop("absent_fever") + data.pop("absent_other")
    data.update(data_changes)
    doc["schema_version"] = 1
    doc["meta"]["clocks"] = {"absent": {"at": CLOCK, "base": None}}
    return doc


def incident(**data_changes):
    data = {
        "student_ref": "G3C2-017",
        "onset_date": "2026-11-27",
        "symptoms": ["fever", "cough"],
        "actions": [
            {"date": "2026-11-27", "code": "isolated", "note": ""},
            {"date": "2026-11-27", "code": "parents_notified", "note": "mother came at 10:00"},
        ],
        "status": "isolated",
        "status_history": [
            {"status": "reported", "at": "2026-11-27T00:30:00.000Z"},
            {"status": "isolated", "at": "2026-11-27T00:40:00.000Z"},
        ],
    }
    data.update(data_changes)
    return {
        "_id": "incident:2026-11-27:k3j9x0aa71bq",
        "type": "incident",
        "form": "incident",
        "schema_version": 1,
        "school_id": SCHOOL,
        "date": "2026-11-27",
        "data": data,
        "meta": meta(clocks={}),
    }


def inspection(**data_changes):
    data = {
        "inspector": "insp_c510104_2",
        "checklist_id": "campus_epidemic_2020",
        "checklist_version": 1,
        "items": [
            {"item_id": "entry_temperature", "status": "ok", "note": ""},
            {"item_id": "isolation_room", "status": "issue", "note": "no separate room"},
            {"item_id": "dormitory_entry", "status": "not_applicable", "note": "day school"},
        ],
        "findings": [
            {
                "item_id": "isolation_room",
                "description": "Isolation room shares a corridor with classrooms",
                "rectification_deadline": "2026-12-05",
                "status": "open",
            }
        ],
        "follow_up_status": "open",
    }
    data.update(data_changes)
    return {
        "_id": "inspection:2026-11-28:a81kd02mzz",
        "type": "inspection",
        "form": "inspection",
        "schema_version": 1,
        "county_id": COUNTY,
        "school_id": SCHOOL,
        "date": "2026-11-28",
        "data": data,
        "meta": meta(clocks={}),
    }


def device_status(**data_changes):
    data = {
        "device": DEVICE,
        "school_id": SCHOOL,
        "app_version": "0.1.0",
        "last_sync_at": "2026-11-28T01:00:00.000Z",
        "waiting_count": 2,
        "storage_used_bytes": 1_234_567,
        "clock_offset_ms": -1500,
        "last_error": None,
    }
    data.update(data_changes)
    return {
        "_id": f"device_status:{DEVICE}",
        "type": "device_status",
        "form": "device_status",
        "schema_version": 1,
        "school_id": SCHOOL,
        "data": data,
        "meta": meta(clocks={}),
    }


def explanation(date="2026-11-27", **data_changes):
    data = {"reason": "closed_weather", "details": "山洪,道路中断,停课一天"}
    data.update(data_changes)
    return {
        "_id": f"explanation:{date}",
        "type": "explanation",
        "form": "explanation",
        "schema_version": 1,
        "school_id": SCHOOL,
        "date": date,
        "data": data,
        "meta": meta(clocks={"reason": {"at": CLOCK, "base": None}}),
    }
