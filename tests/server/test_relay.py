"""Relay without signal (docs/relay.md) against the real service and a real CouchDB-compatible
server: device keys, ``POST /api/v1/relay``, counting once, tampering and every refusal."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mobile_schema.relay import BASE45_ALPHABET, encode_payload
from server.audit import AuditLog
from server.devices.keys import public_key_text, sign_as_device
from sync import run_until_idle
from sync.couch import CouchClient
from sync.design import METRIC_FIELDS
from sync.provision import REGISTRY_DB, school_db_name
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import COUNTY, days_ago, report

world = support.world  # fixture
PASSWORD = "relay-test-pw"


def basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


class Device:
    """An enrolled device: its account, and its signing key (None: enrolled without one)."""

    def __init__(self, enrolment: dict, key: ec.EllipticCurvePrivateKey | None):
        self.name = enrolment["device"]
        self.password = enrolment["password"]
        self.school_id = enrolment["school_id"]
        self.key = key

    @property
    def auth(self) -> dict:
        return basic(self.name, self.password)

    def sign(self, body: bytes) -> bytes:
        assert self.key is not None
        return sign_as_device(self.key, body)

    def stored(self, date: str, *, rev: str | None = None, **data) -> dict:
        """A daily report as this device stores it (written on the device, never synced)."""
        doc = report(self.school_id, date, device=self.name, author="t1", **data)
        doc["meta"]["clocks"] = {"students_present": {"at": f"{1_795_000_000_000:015d}:00000:{self.name}",
                                                      "base": None}}
        rev_id = rev or secrets.token_hex(16)
        return dict(doc, _rev=f"1-{rev_id}", _revisions={"start": 1, "ids": [rev_id]})

    def payload(self, doc: dict, *, signer: Device | None = None) -> str:
        return encode_payload(doc, (signer or self).sign)


@pytest.fixture
def relay(world, couch, client):
    """``relay.school()``, ``relay.device(school, key=True)``, ``relay.post(carrier, payloads)``;
    accounts and registry records made here are removed afterwards."""

    class Relay:
        users: list[str] = []

        def school(self) -> str:
            school_id = world.add_school()
            teacher = f"t_{school_id}"
            couch.put_user(teacher, password=PASSWORD, roles=[f"school:{school_id}"])
            self.users.append(teacher)
            return school_id

        def device(self, school_id: str, *, key: bool = True, label: str = "") -> Device:
            private = ec.generate_private_key(ec.SECP256R1()) if key else None
            body = {"username": f"t_{school_id}", "password": PASSWORD, "school_id": school_id, "label": label}
            if private is not None:
                body["public_key"] = public_key_text(private)
            answer = client.post("/api/v1/devices/enrol", json=body)
            assert answer.status_code == 201, answer.data[:300]
            enrolment = answer.get_json()
            assert (enrolment["key_registered_at"] is not None) == key
            return Device(enrolment, private)

        def person(self, roles: list[str]) -> str:
            name = f"p_{secrets.token_hex(5)}"
            couch.put_user(name, password=PASSWORD, roles=roles)
            self.users.append(name)
            return name

        def post(self, carrier: Device, payloads: list[str]) -> list[dict]:
            answer = client.post("/api/v1/relay", json={"payloads": payloads}, headers=carrier.auth)
            assert answer.status_code == 200, answer.data[:500]
            results = answer.get_json()["results"]
            assert [r["index"] for r in results] == list(range(len(payloads)))
            return results

    helper = Relay()
    helper.users = []
    yield helper
    registry = couch.db(REGISTRY_DB)
    rows = registry.all_docs(startkey="device:", endkey="device:\ufff0", include_docs=True)["rows"]
    for row in rows:
        if row["doc"].get("school_id") in world.schools:
            couch.delete_user(row["id"].split(":", 1)[1])
            registry.delete(row["id"], row["doc"]["_rev"])
    for name in helper.users:
        couch.delete_user(name)


def leaves(couch, school_id: str, doc_id: str) -> list[str]:
    return sorted(leaf["_rev"] for leaf in couch.db(school_db_name(school_id)).open_revs(doc_id)
                  if not leaf.get("_deleted"))


def reports_counted(world, school_id: str, date: str) -> int:
    canonical = world.canonicals().get(f"daily_health:{school_id}:{date}")
    return 0 if canonical is None else dict(zip(METRIC_FIELDS, canonical["metrics"], strict=True))["reports"]


def test_a_relayed_report_is_counted_once_whichever_copy_arrives(world, couch, client, relay):
    school, other_school = relay.school(), relay.school()
    origin = relay.device(school)
    carrier = relay.device(other_school, label="李老师的手机")
    date = days_ago(1)
    doc = origin.stored(date)
    doc["meta"]["submitted_at"] = f"{date}T01:00:00.000Z"  # filed on time, offline
    payload = origin.payload(doc)

    (first,) = relay.post(carrier, [payload])
    assert first == {"index": 0, "status": "accepted", "doc_id": doc["_id"], "rev": doc["_rev"],
                     "school_id": school, "school_name": f"School {school}", "origin_device": origin.name}
    stored = couch.db(school_db_name(school)).get(doc["_id"])
    assert stored["_rev"] == doc["_rev"] and stored["data"] == doc["data"] and stored["meta"] == doc["meta"]
    run_until_idle(world.couch, world.settings())
    assert reports_counted(world, school, date) == 1
    canonical = world.canonicals()[f"daily_health:{school}:{date}"]
    assert canonical["timeliness"]["on_time_device"] is True  # the origin's submit time counts

    (again,) = relay.post(carrier, [payload])  # the same code uploaded again
    assert again["status"] == "already_delivered" and again["rev"] == doc["_rev"]
    run_until_idle(world.couch, world.settings())
    assert world.canonicals()[f"daily_health:{school}:{date}"]["_rev"] == canonical["_rev"]

    # The origin comes online and replicates the same revision, as its own account.
    base = couch.base_url.split("://", 1)[1]
    with CouchClient(f"http://{origin.name}:{origin.password}@{base}") as as_origin:
        (pushed,) = as_origin.db(school_db_name(school)).bulk_docs([doc], new_edits=False)
        assert pushed.ok, pushed
        assert leaves(couch, school, doc["_id"]) == [doc["_rev"]]
        # ... and a later edit on the device continues the same history: still one leaf.
        edited = dict(doc, _rev="2-" + "e" * 32, _revisions={"start": 2, "ids": ["e" * 32, doc["_rev"][2:]]},
                      data=dict(doc["data"], notes="补充"))
        (pushed,) = as_origin.db(school_db_name(school)).bulk_docs([edited], new_edits=False)
        assert pushed.ok, pushed
    assert leaves(couch, school, doc["_id"]) == [edited["_rev"]]
    assert not couch.db(school_db_name(school)).find_conflicted(doc["_id"])
    run_until_idle(world.couch, world.settings())
    assert reports_counted(world, school, date) == 1
    (late,) = relay.post(carrier, [payload])  # an old code after the edit: its revision is history
    assert late["status"] == "already_delivered"
    assert leaves(couch, school, doc["_id"]) == [edited["_rev"]]

    # Audited once, and the report's history says who carried it.
    (record,) = AuditLog(couch).for_document(school_db_name(school), doc["_id"])
    assert record["action"] == "relay" and record["who"] == carrier.name
    assert record["after"]["origin_device"] == origin.name and record["after"]["rev"] == doc["_rev"]
    assert record["after"]["carrier_name"] == "李老师的手机" and record["after"]["carrier_school_id"] == other_school
    officer = relay.person([f"county:{COUNTY}"])
    history = client.get(f"/api/v1/schools/{school}/reports/{date}/corrections", headers=basic(officer, PASSWORD))
    assert history.status_code == 200 and [r["action"] for r in history.get_json()["corrections"]] == ["relay"]
    page = client.get(f"/schools/{school}?from={date}&to={date}", headers=basic(officer, PASSWORD))
    assert page.status_code == 200
    assert "由 李老师的手机 代为上传" in page.get_data(as_text=True)


def test_a_report_the_origin_synced_first_is_already_delivered(world, couch, relay):
    school = relay.school()
    origin, carrier = relay.device(school), relay.device(school)
    doc = origin.stored(days_ago(2))
    base = couch.base_url.split("://", 1)[1]
    with CouchClient(f"http://{origin.name}:{origin.password}@{base}") as as_origin:
        assert as_origin.db(school_db_name(school)).bulk_docs([doc], new_edits=False)[0].ok
    (result,) = relay.post(carrier, [origin.payload(doc)])
    assert result["status"] == "already_delivered"
    assert AuditLog(couch).for_document(school_db_name(school), doc["_id"]) == []


def _change_one_character(text: str, position: int) -> str:
    current = text[position]
    replacement = BASE45_ALPHABET[(BASE45_ALPHABET.index(current) + 1) % len(BASE45_ALPHABET)]
    return text[:position] + replacement + text[position + 1:]


def test_a_changed_character_is_never_accepted(couch, relay):
    school = relay.school()
    origin, carrier = relay.device(school), relay.device(school)
    doc = origin.stored(days_ago(1))
    payload = origin.payload(doc)
    start = len("SR1:1/1:")
    positions = [start, start + 50, start + 96, start + 120, len(payload) // 2, len(payload) - 5, len(payload) - 1]
    results = relay.post(carrier, [_change_one_character(payload, p) for p in positions])
    assert [r["status"] for r in results] == ["refused"] * len(positions)
    assert {r["code"] for r in results} <= {"malformed", "bad_signature"}
    assert "bad_signature" in {r["code"] for r in results}  # a change in the signature itself, at least
    assert all(r["reason"] for r in results)
    assert couch.db(school_db_name(school)).get_or_none(doc["_id"]) is None


def test_refusals_say_why(world, couch, client, relay):
    school, elsewhere = relay.school(), relay.school()
    origin = relay.device(school)
    other = relay.device(school)
    keyless = relay.device(school, key=False)
    carrier = relay.device(elsewhere)
    stranger = Device({"device": "device_" + "0" * 32, "password": "x", "school_id": school},
                      ec.generate_private_key(ec.SECP256R1()))
    wrong_school = origin.stored(days_ago(1))
    wrong_school.update(school_id=elsewhere)
    payloads = {
        "bad_signature": origin.payload(origin.stored(days_ago(1)), signer=other),
        "unknown_device": stranger.payload(stranger.stored(days_ago(1))),
        "no_key": keyless.payload(keyless.stored(days_ago(1)), signer=other),
        "wrong_school": origin.payload(wrong_school),
        "invalid": origin.payload(origin.stored(days_ago(3), students_present=500)),  # more present than enrolled
        "malformed": "SR1:1/1:not a code",
    }
    results = relay.post(carrier, list(payloads.values()))
    assert [r["code"] for r in results] == list(payloads)
    assert all(r["status"] == "refused" and r["reason"] for r in results)
    invalid = results[list(payloads).index("invalid")]["reason"]
    assert "data.students_present" in invalid
    for doc_id in {f"report:daily_health:{days_ago(n)}" for n in (1, 3)}:
        assert couch.db(school_db_name(school)).get_or_none(doc_id) is None
        assert couch.db(school_db_name(elsewhere)).get_or_none(doc_id) is None


def test_a_revoked_device_s_reports_are_refused_whenever_they_arrive(couch, client, relay):
    school = relay.school()
    origin, carrier = relay.device(school), relay.device(school)
    handed_over = origin.payload(origin.stored(days_ago(1)))  # before the revocation
    admin = relay.person(["admin"])
    revoked = client.post(f"/api/v1/admin/schools/{school}/devices/revocations", json={"device": origin.name},
                          headers=basic(admin, PASSWORD))
    assert revoked.status_code == 200, revoked.data[:300]
    (result,) = relay.post(carrier, [handed_over])
    assert (result["status"], result["code"]) == ("refused", "revoked")
    record = couch.db(REGISTRY_DB).get(f"device:{origin.name}")
    assert record["status"] == "revoked" and record["public_key"]  # the key stays for audit
    # ... and a revoked device cannot carry either: its account is gone.
    assert client.post("/api/v1/relay", json={"payloads": [handed_over]}, headers=origin.auth).status_code == 401


def test_who_may_upload(couch, client, relay):
    school = relay.school()
    origin = relay.device(school)
    payload = origin.payload(origin.stored(days_ago(1)))
    body = {"payloads": [payload]}
    assert client.post("/api/v1/relay", json=body).status_code == 401
    assert client.post("/api/v1/relay", json=body, headers=basic(origin.name, "wrong")).status_code == 401
    teacher = client.post("/api/v1/relay", json=body, headers=basic(f"t_{school}", PASSWORD))
    assert teacher.status_code == 403 and teacher.get_json()["code"] == 403
    admin = relay.person(["admin"])
    assert client.post("/api/v1/relay", json=body, headers=basic(admin, PASSWORD)).status_code == 403
    for bad in ({}, {"payloads": []}, {"payloads": "SR1"}, {"payloads": [1]}, {"payloads": [payload] * 51}, [payload]):
        answer = client.post("/api/v1/relay", json=bad, headers=origin.auth)
        assert answer.status_code == 400, (bad, answer.data[:200])
    assert couch.db(school_db_name(school)).get_or_none(f"report:daily_health:{days_ago(1)}") is None


def test_a_device_without_a_key_registers_one_once(couch, client, relay):
    school = relay.school()
    device = relay.device(school, key=False)
    carrier = relay.device(school)
    key = ec.generate_private_key(ec.SECP256R1())
    text = public_key_text(key)
    answer = client.post("/api/v1/devices/key", json={"public_key": text}, headers=device.auth)
    assert answer.status_code == 200, answer.data[:300]
    registered = answer.get_json()
    assert registered["device"] == device.name and registered["public_key"] == text
    padded = text + "="  # the same key, written with padding
    again = client.post("/api/v1/devices/key", json={"public_key": padded}, headers=device.auth)
    assert again.status_code == 200 and again.get_json()["key_registered_at"] == registered["key_registered_at"]
    other = public_key_text(ec.generate_private_key(ec.SECP256R1()))
    assert client.post("/api/v1/devices/key", json={"public_key": other}, headers=device.auth).status_code == 409
    assert couch.db(REGISTRY_DB).get(f"device:{device.name}")["public_key"] == text
    device.key = key
    (result,) = relay.post(carrier, [device.payload(device.stored(days_ago(1)))])
    assert result["status"] == "accepted"
    admin = relay.person(["admin"])
    listed = client.get(f"/api/v1/admin/schools/{school}/devices", headers=basic(admin, PASSWORD)).get_json()
    assert {d["device"]: d["key_registered"] for d in listed["devices"]} == {device.name: True, carrier.name: True}


not_on_curve = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode().rstrip("=")
compressed = base64.urlsafe_b64encode(b"\x02" + b"\x01" * 32).decode().rstrip("=")


@pytest.mark.parametrize("bad_key", [not_on_curve, compressed, "", "not base64url!", "A" * 87, 42])
def test_a_key_that_is_not_a_p256_point_is_refused(client, relay, bad_key):
    school = relay.school()
    device = relay.device(school, key=False)
    answer = client.post("/api/v1/devices/key", json={"public_key": bad_key}, headers=device.auth)
    assert answer.status_code in (400, 422) and answer.get_json()["errors"], answer.data[:300]
    enrol = client.post("/api/v1/devices/enrol", json={"username": f"t_{school}", "password": PASSWORD,
                                                       "public_key": bad_key})
    assert enrol.status_code in (400, 422)


def test_key_registration_is_for_device_accounts_only(client, relay):
    school = relay.school()
    key = public_key_text(ec.generate_private_key(ec.SECP256R1()))
    assert client.post("/api/v1/devices/key", json={"public_key": key}).status_code == 401
    teacher = client.post("/api/v1/devices/key", json={"public_key": key}, headers=basic(f"t_{school}", PASSWORD))
    assert teacher.status_code == 403

