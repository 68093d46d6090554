"""``/api/v1/devices``: enrolment answers and what it records."""

from __future__ import annotations

from tests.waiting import wait_for
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


def enrol(api, username, **extra):
    answer = api.post("/api/v1/devices/enrol", json={"username": username, "password": TEACHER_PASSWORD, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_inspector_enrols_a_device_for_their_county(api, inspector, couch):
    body = enrol(api, inspector.username, label="督导平板")
    county = inspector.county_id
    assert body["kind"] == "inspector" and body["county_id"] == county and body["school_id"] is None
    assert body["db"] == inspector.db_name and body["db_url"] == f"/db/{inspector.db_name}"
    assert couch.whoami(body["device"], body["password"])["roles"] == [f"inspector:{county}", "device"]
    assert body["schools"] == [{"school_id": inspector.school.id, "name": f"测试小学 {inspector.school.id[1:]}"}]
    checklist = body["checklist"]
    assert checklist["checklist_id"] == "campus_epidemic_2020" and checklist["version"] == 1
    assert len(checklist["items"]) == 27 and {"id", "zh", "en", "category"} <= set(checklist["items"][0])
    assert body["roster"] == [{"username": inspector.username, "display_name": inspector.display_name}]
    record = couch.db("registry").get(f"device:{body['device']}")
    assert record["kind"] == "inspector" and record["county_id"] == county
    assert record["enrolled_by"] == inspector.username


def test_inspector_of_another_county_and_teacher_for_a_county_are_403(api, inspector, school):
    answer = api.post("/api/v1/devices/enrol", json={"username": inspector.username, "password": TEACHER_PASSWORD,
                                                     "county_id": "c_other"})
    assert answer.status_code == 403
    answer = api.post("/api/v1/devices/enrol", json={"username": school.teacher, "password": TEACHER_PASSWORD,
                                                     "county_id": school.county_id})
    assert answer.status_code == 403


def test_roster_answers_the_device_with_what_changed(api, school, couch):
    body = enrol(api, school.teacher)
    device = (body["device"], body["password"])
    registry = couch.db("registry")
    roster = registry.get(f"roster:{school.id}")
    roster["teachers"].append({"username": f"t3_{school.id}", "display_name": "张老师"})
    registry.put(roster)
    answer = api.get("/api/v1/devices/roster", auth=device)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    refreshed = answer.json()
    assert refreshed["kind"] == "school" and refreshed["school_id"] == school.id and refreshed["window_days"] == 60
    assert [t["display_name"] for t in refreshed["roster"]] == ["王老师", "李老师", "张老师"]


def test_roster_refuses_people_strangers_and_revoked_devices(api, school, couch):
    assert api.get("/api/v1/devices/roster").status_code == 401
    answer = api.get("/api/v1/devices/roster", auth=(school.teacher, TEACHER_PASSWORD))
    assert answer.status_code == 403  # a person's account is not a device
    body = enrol(api, school.teacher)
    assert api.get("/api/v1/devices/roster", auth=(body["device"], "wrong")).status_code == 401
    couch.delete_user(body["device"])  # what an admin's revocation does
    # CouchDB 3.4 drops a deleted account from its credentials cache by following _users'
    # changes, a moment after the deletion (and the service's own cache within seconds).
    answer = wait_for(lambda: (a := api.get("/api/v1/devices/roster", auth=(body["device"], body["password"])))
                      .status_code != 200 and a, 60, "the revoked device to be refused")
    assert answer.status_code == 401 and answer.json()["code"] == 401


def test_roster_of_an_inspectors_device(api, inspector):
    body = enrol(api, inspector.username)
    answer = api.get("/api/v1/devices/roster", auth=(body["device"], body["password"]))
    assert answer.status_code == 200, answer.text
    refreshed = answer.json()
    assert refreshed["kind"] == "inspector" and refreshed["county_id"] == inspector.county_id
    assert refreshed["schools"] == body["schools"] and refreshed["checklist"] == body["checklist"]
    assert refreshed["roster"] == body["roster"]


def test_an_admin_cannot_enrol_an_inspectors_device(api, inspector, couch):
    admin = f"a_{inspector.county_id}"
    couch.put_user(admin, password=TEACHER_PASSWORD, roles=["admin"])
    try:
        answer = api.post("/api/v1/devices/enrol", json={"username": admin, "password": TEACHER_PASSWORD,
                                                         "county_id": inspector.county_id})
        assert answer.status_code == 403  # the device is personal: its inspector enrols it
    finally:
        couch.delete_user(admin)
