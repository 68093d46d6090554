"""``/api/v1/devices``: enrolment answers and what it records."""

from __future__ import annotations

from tests.webapp.conftest import TEACHER_PASSWORD


def test_teacher_enrols_a_device_for_their_school(api, school, couch):
    answer = api.post("/api/v1/devices/enrol",
                      json={"username": school.teacher, "password": TEACHER_PASSWORD, "label": "G3 tablet"})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["school_id"] == school.id and body["db"] == school.db_name and body["db_url"] == f"/db/{school.db_name}"
    assert body["device"].startswith("device_") and len(body["device"]) == len("device_") + 32
    assert [t["display_name"] for t in body["roster"]] == ["王老师", "李老师"]
    assert body["window_days"] == 60 and body["utc_offset_minutes"] == 480
    assert couch.whoami(body["device"], body["password"])["roles"] == [f"school:{school.id}", "device"]
    record = couch.db("registry").get(f"device:{body['device']}")
    assert record["enrolled_by"] == school.teacher and record["status"] == "active" and record["label"] == "G3 tablet"


def test_wrong_password_is_401_in_the_api_error_shape(api, school):
    answer = api.post("/api/v1/devices/enrol", json={"username": school.teacher, "password": "nope"})
    assert answer.status_code == 401
    assert {"code", "status", "message"} <= set(answer.json())


def test_teacher_of_another_school_is_403(api, school):
    answer = api.post("/api/v1/devices/enrol",
                      json={"username": school.teacher, "password": TEACHER_PASSWORD, "school_id": "s_other"})
    assert answer.status_code == 403
    assert answer.json()["code"] == 403


def test_server_time(api):
    body = api.get("/api/v1/devices/time").json()
    assert isinstance(body["epoch_ms"], int) and body["now"].endswith("Z")
