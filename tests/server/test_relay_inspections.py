"""Relay (docs/relay.md) of an inspector's inspection: it goes to the county's inspections
database, and only for the county the inspector's device is enrolled for."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mobile_schema import examples
from server.audit import AuditLog
from server.devices.keys import public_key_text
from sync.provision import provision_core
from tests.server.test_relay import Device, basic
from tests.sync.test_worker_support import days_ago
from tests.webapp.conftest import TEACHER_PASSWORD, inspector, school  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def core(couch):
    provision_core(couch)  # the registry the school and inspector fixtures write into


def test_an_inspector_s_inspection_goes_to_the_county_s_inspections_database(couch, client, inspector):  # noqa: F811
    home = inspector.school
    enrolled = client.post("/api/v1/devices/enrol", json={
        "username": inspector.username, "password": TEACHER_PASSWORD, "county_id": inspector.county_id,
        "public_key": public_key_text(key := ec.generate_private_key(ec.SECP256R1()))})
    assert enrolled.status_code == 201, enrolled.data[:300]
    origin = Device(dict(enrolled.get_json(), school_id=home.id), key)
    carrier_enrolment = client.post("/api/v1/devices/enrol", json={
        "username": home.teacher, "password": TEACHER_PASSWORD, "label": "school tablet"}).get_json()
    carrier = Device(carrier_enrolment, None)
    date = days_ago(1)
    doc = examples.inspection(inspector=inspector.username)
    doc.update(_id=f"inspection:{date}:relay{secrets.token_hex(4)}", date=date, county_id=inspector.county_id,
               school_id=home.id, _rev="1-" + "a" * 32, _revisions={"start": 1, "ids": ["a" * 32]})
    doc["meta"].update(device=origin.name, author=inspector.username)
    elsewhere = dict(doc, _id=f"inspection:{date}:relay{secrets.token_hex(4)}", county_id=inspector.county_id + "x")
    accepted, wrong = (client.post("/api/v1/relay", json={"payloads": [origin.payload(d) for d in (doc, elsewhere)]},
                                   headers=carrier.auth).get_json()["results"])
    assert (accepted["status"], accepted["county_id"], accepted["school_id"]) == ("accepted", inspector.county_id,
                                                                                 home.id)
    assert wrong["code"] == "wrong_school"
    assert couch.db(inspector.db_name).get(doc["_id"])["_rev"] == doc["_rev"]
    (record,) = AuditLog(couch).for_document(inspector.db_name, doc["_id"])
    assert record["after"]["carrier_name"] == "school tablet"


def test_an_admin_revokes_a_lost_inspector_device_and_its_codes_are_refused_from_then_on(couch, client,
                                                                                        inspector):  # noqa: F811
    admin = f"adm_{secrets.token_hex(4)}"
    couch.put_user(admin, password=TEACHER_PASSWORD, roles=["admin"])
    as_admin = basic(admin, TEACHER_PASSWORD)
    key = ec.generate_private_key(ec.SECP256R1())
    enrolled = client.post("/api/v1/devices/enrol", json={
        "username": inspector.username, "password": TEACHER_PASSWORD, "county_id": inspector.county_id,
        "label": "督导手机", "public_key": public_key_text(key)}).get_json()
    origin = Device(dict(enrolled, school_id=inspector.school.id), key)
    carrier = Device(client.post("/api/v1/devices/enrol", json={
        "username": inspector.school.teacher, "password": TEACHER_PASSWORD}).get_json(), None)
    date = days_ago(1)
    doc = examples.inspection(inspector=inspector.username)
    doc.update(_id=f"inspection:{date}:lost{secrets.token_hex(4)}", date=date, county_id=inspector.county_id,
               school_id=inspector.school.id, _rev="1-" + "b" * 32, _revisions={"start": 1, "ids": ["b" * 32]})
    doc["meta"].update(device=origin.name, author=inspector.username)
    handed_over = origin.payload(doc)

    listed = client.get(f"/api/v1/admin/counties/{inspector.county_id}/devices", headers=as_admin).get_json()
    (entry,) = [d for d in listed["devices"] if d["device"] == origin.name]
    assert (entry["status"], entry["key_registered"], entry["label"]) == ("active", True, "督导手机")
    page = client.get(f"/admin/users/{inspector.username}", headers=as_admin).get_data(as_text=True)
    assert 'id="inspector-devices"' in page and origin.name in page
    with client.session_transaction() as session:  # the page as a signed-in admin (a session and its CSRF token)
        session["user"], session["csrf"] = admin, (token := secrets.token_hex(8))
    revoked = client.post(f"/admin/users/{inspector.username}", data={
        "csrf_token": token, "action": "revoke", "county_id": inspector.county_id, "device": origin.name,
        "confirmed": "1"})
    assert revoked.status_code == 200

    assert couch.db("registry").get(f"device:{origin.name}")["status"] == "revoked"
    gone = client.get(f"/api/v1/admin/counties/{inspector.county_id}/devices/revocations", headers=as_admin)
    assert [d["device"] for d in gone.get_json()["devices"]] == [origin.name]
    relayed = client.post("/api/v1/relay", json={"payloads": [handed_over]}, headers=carrier.auth)
    (result,) = relayed.get_json()["results"]
    assert (result["status"], result["code"]) == ("refused", "revoked")
    # A device of a school is not one of the county's inspector devices.
    other = client.post(f"/api/v1/admin/counties/{inspector.county_id}/devices/revocations",
                        json={"device": carrier.name}, headers=as_admin)
    assert other.status_code == 404
