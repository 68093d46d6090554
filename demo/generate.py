"""Demo data at the province's shape, written the way devices write it.

A registry (prefectures, counties, schools with open/close dates, a school calendar,
rosters), CouchDB accounts (teachers, one device per school, a second device where two
devices edit the same report), and N days of ``daily_health`` reports written into the
school databases *through the device accounts*, so every document passes the school
database's ``validate_doc_update`` exactly as one from a phone would. Some schools miss
some days, about half the reports are zero reports, a few come from old devices still on
schema version 1, and some reports are edited on two devices at once: those are
replicated as sibling branches (``new_edits=false``, as PouchDB's replicator does), which
makes real CouchDB conflicts.

The generator returns a ``DemoManifest``: the final data each (school, date) should end
up with after the worker merges (the oracle of the end-to-end tests is computed from it,
not from the views).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from mobile_schema import get_form, hlc_format, validate_document
from sync.accounts import AccountSpec, new_device_token, write_accounts
from sync.couch import CouchClient
from sync.provision import REGISTRY_DB, provision_core, provision_inspections, provision_school, school_db_name

LOCAL_OFFSET = timedelta(hours=8)  # Asia/Shanghai: report dates are the school's local date
APP_VERSION = "demo-0.1.0"
DAILY = get_form("daily_health")
ABNORMAL = tuple(DAILY.abnormal_fields)
# Merge groups of daily_health (taken whole from one device in a hard conflict).
GROUPS = {f: group for group in DAILY.merge_groups for f in group}


@dataclass(frozen=True, kw_only=True)
class DemoShape:
    """How much to generate. The default is small and fast; ``province()`` is the full shape."""

    prefectures: int = 2
    counties_per_prefecture: int = 3
    schools: int = 60
    days: int = 30
    end: date | None = None  # last report date; default: yesterday, local time
    seed: int = 2020
    miss_rate: float = 0.06
    zero_rate: float = 0.5
    conflict_rate: float = 0.03
    v1_rate: float = 0.02
    teachers_per_school: int = 2

    @classmethod
    def province(cls, **changes) -> DemoShape:
        return cls(**{"prefectures": 21, "counties_per_prefecture": 9, "schools": 20_000, **changes})

    @property
    def end_date(self) -> date:
        return self.end or (datetime.now(UTC) + LOCAL_OFFSET).date() - timedelta(days=1)

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)


@dataclass
class DemoManifest:
    """What was generated: registry docs, accounts, and the expected final report data."""

    shape: DemoShape
    registry: list[dict] = field(default_factory=list)
    accounts: dict[str, dict] = field(default_factory=dict)  # name -> {password, roles, kind}
    expected: dict[tuple[str, str], dict] = field(default_factory=dict)  # (school, date) -> final data
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (school, date) edited on two devices
    hard_conflicts: list[tuple[str, str]] = field(default_factory=list)
    v1_reports: list[tuple[str, str]] = field(default_factory=list)

    def schools(self) -> list[dict]:
        return [doc for doc in self.registry if doc["type"] == "school"]

    def counties(self) -> list[dict]:
        return [doc for doc in self.registry if doc["type"] == "county"]


# -- registry --------------------------------------------------------------------------

def _build_registry(shape: DemoShape, rng: random.Random, manifest: DemoManifest) -> None:
    counties = []
    for p in range(1, shape.prefectures + 1):
        pid = f"p{p:02d}"
        manifest.registry.append({"_id": f"prefecture:{pid}", "type": "prefecture", "name": f"Prefecture {p:02d}"})
        for c in range(1, shape.counties_per_prefecture + 1):
            cid = f"{pid}c{c:02d}"
            counties.append((cid, pid))
            manifest.registry.append({"_id": f"county:{cid}", "type": "county", "prefecture_id": pid,
                                      "name": f"County {pid.upper()}-{c:02d}"})
    # Monday to Friday; the province sets holidays on top (none inside a short demo).
    manifest.registry.append({"_id": "calendar:default", "type": "calendar", "school_weekdays": [1, 2, 3, 4, 5],
                              "holidays": []})
    start = shape.start_date
    for n in range(shape.schools):
        cid, pid = counties[n % len(counties)]
        sid = f"{cid}s{n // len(counties) + 1:03d}"
        opened, closed = "2015-09-01", None
        roll = rng.random()
        if roll < 0.03:  # opened during the period: not expected before
            opened = (start + timedelta(days=rng.randrange(1, max(2, shape.days)))).isoformat()
        elif roll < 0.05:  # closed during the period: not expected after
            closed = (start + timedelta(days=rng.randrange(1, max(2, shape.days)))).isoformat()
        manifest.registry.append({"_id": f"school:{sid}", "type": "school", "county_id": cid, "prefecture_id": pid,
                                  "name": f"School {sid}", "opened": opened, "closed": closed})
        teachers = [{"username": f"t_{sid}_{i}", "display_name": f"Teacher {i} of {sid}"}
                    for i in range(1, shape.teachers_per_school + 1)]
        manifest.registry.append({"_id": f"roster:{sid}", "type": "roster", "school_id": sid, "teachers": teachers})


def _accounts(manifest: DemoManifest, rng: random.Random, teacher_password: str) -> None:
    for school in manifest.schools():
        sid = school["_id"].split(":", 1)[1]
        roster = next(d for d in manifest.registry if d["_id"] == f"roster:{sid}")
        for teacher in roster["teachers"]:
            manifest.accounts[teacher["username"]] = {"password": teacher_password, "roles": [f"school:{sid}"],
                                                      "kind": "teacher", "school_id": sid}
        for _ in range(2):  # the school's shared tablet, and a teacher's phone
            name = f"device_{uuid.UUID(int=rng.getrandbits(128)).hex}"
            manifest.accounts[name] = {"password": new_device_token(), "roles": [f"school:{sid}", "device"],
                                       "kind": "device", "school_id": sid}
            manifest.registry.append({"_id": f"device:{name}", "type": "device", "school_id": sid,
                                      "status": "active", "label": "demo device", "enrolled_by": "demo"})


def devices_of(manifest: DemoManifest, school_id: str) -> list[str]:
    return [name for name, acc in manifest.accounts.items()
            if acc["kind"] == "device" and acc["school_id"] == school_id]


# -- reports ---------------------------------------------------------------------------

def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def report_data(rng: random.Random, enrolled: int, zero: bool) -> dict:
    """The ``data`` of one ``daily_health`` report (newest version) of a school of ``enrolled`` pupils."""
    absent_illness = rng.randrange(0, max(1, enrolled // 40))
    absent_fever = 0 if zero else rng.randrange(0, 3)
    absent_other = rng.randrange(0, max(1, enrolled // 50))
    present = enrolled - absent_illness - absent_fever - absent_other
    staff_total = max(4, enrolled // 15)
    staff_present = staff_total - rng.randrange(0, 2)
    data = {
        "students_enrolled": enrolled, "students_present": present,
        "absent_illness": absent_illness, "absent_fever": absent_fever, "absent_other": absent_other,
        "fever_at_check": 0, "respiratory_symptoms": 0, "isolated_on_campus": 0, "sent_to_hospital": 0,
        "suspected_cases": 0, "confirmed_cases": 0, "close_contacts": 0,
        "returned_from_affected_areas": rng.randrange(0, 3), "staff_total": staff_total,
        "staff_present": staff_present, "staff_fever": 0, "disinfection_done": True, "notes": "",
        "zero_report": zero,
    }
    if not zero:
        data["fever_at_check"] = rng.randrange(0, 4)
        data["respiratory_symptoms"] = rng.randrange(0, 3)
        data["isolated_on_campus"] = min(data["fever_at_check"], rng.randrange(0, 2))
        data["close_contacts"] = rng.randrange(0, 2)
        if rng.random() < 0.02:
            data["suspected_cases"] = 1
        data["staff_fever"] = min(staff_present, rng.randrange(0, 2))
    return data


def _meta(author: str, device: str, submitted: datetime, clocks: dict) -> dict:
    return {"author": author, "device": device, "app_version": APP_VERSION,
            "created_at": _utc_iso(submitted - timedelta(minutes=5)), "updated_at": _utc_iso(submitted),
            "submitted_at": _utc_iso(submitted), "utc_offset_minutes": 480, "clock_offset_ms": 0, "clocks": clocks}


def _clock(moment: datetime, device: str) -> str:
    return hlc_format(int(moment.timestamp() * 1000), 0, device)


def _to_v1(doc: dict) -> dict:
    data = doc["data"]
    data["absent"] = data.pop("absent_illness") + data.pop("absent_fever") + data.pop("absent_other")
    clocks = doc["meta"]["clocks"]
    clock = clocks.pop("absent_illness")
    clocks.pop("absent_fever")
    clocks.pop("absent_other")
    clocks["absent"] = clock
    doc["schema_version"] = 1
    return doc


def daily_report(school_id: str, iso_date: str, data: dict, *, device: str, author: str,
                 submitted: datetime) -> dict:
    """A new ``daily_health`` report as a device writes it: every field's clock at ``submitted``."""
    clocks = {name: {"at": _clock(submitted, device), "base": None} for name in data}
    return {"_id": DAILY.make_id(iso_date), "type": "report", "form": "daily_health",
            "schema_version": DAILY.latest_version, "school_id": school_id, "date": iso_date, "data": data,
            "meta": _meta(author, device, submitted, clocks)}


def _rev(position: int, body: dict) -> str:
    return f"{position}-{hashlib.md5(json.dumps(body, sort_keys=True).encode()).hexdigest()}"


@dataclass
class SchoolWrites:
    """What the devices of one school write, in order (``phases``)."""

    school_id: str
    plain: dict[str, list[dict]] = field(default_factory=dict)  # device -> docs (normal writes)
    # Replicated revisions (new_edits=false): first the common ancestors, then the branches.
    bases: dict[str, list[dict]] = field(default_factory=dict)
    branches: dict[str, list[dict]] = field(default_factory=dict)

    def phases(self) -> list[tuple[str, bool, list[dict]]]:
        return ([(d, True, docs) for d, docs in sorted(self.plain.items())]
                + [(d, False, docs) for d, docs in sorted(self.bases.items())]
                + [(d, False, docs) for d, docs in sorted(self.branches.items())])


def _edit(doc: dict, device: str, author: str, moment: datetime, changes: dict) -> dict:
    """A correction on ``device``: changed fields get a new clock whose base is the old one."""
    edited = json.loads(json.dumps(doc))
    clocks = edited["meta"]["clocks"]
    for name, value in changes.items():
        edited["data"][name] = value
        clocks[name] = {"at": _clock(moment, device), "base": doc["meta"]["clocks"][name]["at"]}
    edited["meta"].update(author=author, device=device, updated_at=_utc_iso(moment))
    return edited


def _conflicting_edits(rng: random.Random, data: dict, hard: bool) -> tuple[dict, dict]:
    """Two devices' corrections of one report: different groups (soft) or the same group (hard)."""
    def attendance_change(extra: int) -> dict:
        return {"absent_other": data["absent_other"] + extra, "students_present": data["students_present"] - extra}

    if hard:
        return attendance_change(1), attendance_change(2)
    staff = {"staff_present": max(data["staff_fever"], data["staff_present"] - 1)}
    notes = {"notes": "disinfected twice today"}
    return (attendance_change(1), notes) if rng.random() < 0.5 else (staff, notes)


def _school_reports(shape: DemoShape, school: dict, manifest: DemoManifest, rng: random.Random) -> SchoolWrites:
    sid = school["_id"].split(":", 1)[1]
    devices = devices_of(manifest, sid)
    roster = [t["username"] for t in next(d for d in manifest.registry if d["_id"] == f"roster:{sid}")["teachers"]]
    enrolled = rng.randrange(80, 900)
    writes = SchoolWrites(sid)
    chronic_gap = rng.random() < 0.05  # a school that has stopped reporting for the last days
    for offset in range(shape.days):
        day = shape.start_date + timedelta(days=offset)
        iso = day.isoformat()
        if day.isoweekday() > 5 or iso < school["opened"] or (school["closed"] and iso >= school["closed"]):
            continue
        if rng.random() < shape.miss_rate or (chronic_gap and offset >= shape.days - 3):
            continue
        device, author = devices[0], rng.choice(roster)
        local_submit = datetime.combine(day, time(7, 30)) + timedelta(minutes=rng.randrange(0, 240))
        submitted = (local_submit - LOCAL_OFFSET).replace(tzinfo=UTC)
        data = report_data(rng, enrolled, rng.random() < shape.zero_rate)
        doc = daily_report(sid, iso, data, device=device, author=author, submitted=submitted)
        if rng.random() < shape.conflict_rate:
            hard = rng.random() < 0.4
            change_a, change_b = _conflicting_edits(rng, data, hard)
            later = submitted + timedelta(minutes=30)
            edit_a = _edit(doc, devices[0], roster[0], later, change_a)
            edit_b = _edit(doc, devices[1], roster[-1], later + timedelta(minutes=1), change_b)
            base_rev = _rev(1, doc)
            for device_name, edit in ((devices[0], edit_a), (devices[1], edit_b)):
                rev = _rev(2, edit)
                branch = dict(edit, _rev=rev, _revisions={"start": 2, "ids": [rev.split("-", 1)[1],
                                                                               base_rev.split("-", 1)[1]]})
                writes.branches.setdefault(device_name, []).append(branch)
            writes.bases.setdefault(devices[0], []).append(dict(doc, _rev=base_rev))
            # Soft: both changes survive. Hard: the same group from the later clock (device b).
            final = dict(data, **change_a, **change_b) if not hard else dict(data, **change_b)
            manifest.expected[(sid, iso)] = final
            manifest.conflicts.append((sid, iso))
            if hard:
                manifest.hard_conflicts.append((sid, iso))
            continue
        manifest.expected[(sid, iso)] = dict(data)  # what the report says, in the newest version
        if rng.random() < shape.v1_rate:  # an old phone still on version 1 of the form
            doc = _to_v1(doc)
            manifest.v1_reports.append((sid, iso))
            # Version 1 had one absence count with no reason: it reads as "other" in version 2.
            manifest.expected[(sid, iso)].update(
                absent_illness=0, absent_fever=0, absent_other=doc["data"]["absent"])
        writes.plain.setdefault(device, []).append(doc)
    return writes


# -- loading ---------------------------------------------------------------------------

def _write_school(couch: CouchClient, manifest: DemoManifest, writes: SchoolWrites, now: datetime) -> int:
    db_name = school_db_name(writes.school_id)
    written = 0
    base = couch.base_url.split("://", 1)[1]
    scheme = couch.base_url.split("://", 1)[0]
    for device, new_edits, docs in writes.phases():
        with CouchClient(f"{scheme}://{device}:{manifest.accounts[device]['password']}@{base}") as as_device:
            for doc in docs:
                problems = validate_document(doc, now=now, school_id=writes.school_id, device=device)
                if problems:
                    raise ValueError(f"demo generator made an invalid doc {doc['_id']}: {problems[0]}")
            for chunk in range(0, len(docs), 200):
                results = as_device.db(db_name).bulk_docs(docs[chunk:chunk + 200], new_edits=new_edits)
                failed = [r for r in results if not r.ok]
                if failed:
                    raise RuntimeError(f"{db_name}: device write refused: {failed[0]}")
                written += len(results)
    return written


def plan(shape: DemoShape, *, teacher_password: str | None = None) -> tuple[DemoManifest, random.Random]:
    """The registry and the accounts of ``shape`` (nothing is written), and the random
    generator in the state ``plan_reports`` continues from."""
    rng = random.Random(shape.seed)
    manifest = DemoManifest(shape=shape)
    _build_registry(shape, rng, manifest)
    _accounts(manifest, rng, teacher_password or secrets.token_urlsafe(9))
    return manifest, rng


def write_registry(couch: CouchClient, manifest: DemoManifest) -> None:
    """The core databases (``registry``, ``reports``, ``ops``) and the registry's documents."""
    provision_core(couch)
    registry = couch.db(REGISTRY_DB)
    for chunk in range(0, len(manifest.registry), 500):
        registry.bulk_docs(manifest.registry[chunk:chunk + 500])


def create_accounts(couch: CouchClient, manifest: DemoManifest, *, kinds: tuple[str, ...] | None = None,
                    progress: Callable[[str, int, int], None] | None = None) -> int:
    """The manifest's ``_users`` accounts (only those of ``kinds``, e.g. ``("device",)``, when
    given): devices' tokens pre-hashed, teachers' passwords hashed by CouchDB."""
    return write_accounts(couch, [AccountSpec(name=name, roles=acc["roles"], password=acc["password"],
                                              token=acc["kind"] == "device")
                                  for name, acc in manifest.accounts.items() if kinds is None or acc["kind"] in kinds],
                          progress=progress)


def provision_databases(couch: CouchClient, manifest: DemoManifest, *, threads: int = 8,
                        progress: Callable[[str, int, int], None] | None = None) -> None:
    """One database per school (``threads`` at once), then one inspections database per county."""
    say = progress or (lambda _stage, _done, _total: None)
    schools = manifest.schools()
    with ThreadPoolExecutor(threads) as pool:
        done = 0
        for _ in pool.map(lambda s: provision_school(couch, s["_id"].split(":", 1)[1]), schools):
            done += 1
            say("school databases", done, len(schools))
    for county in manifest.counties():
        provision_inspections(couch, county["_id"].split(":", 1)[1])


def plan_reports(manifest: DemoManifest, rng: random.Random) -> list[SchoolWrites]:
    """Every school's reports (``rng`` as ``plan`` left it); fills ``manifest.expected``."""
    return [_school_reports(manifest.shape, school, manifest, rng) for school in manifest.schools()]


def write_reports(couch: CouchClient, manifest: DemoManifest, all_writes: list[SchoolWrites], *, threads: int = 8,
                  progress: Callable[[str, int, int], None] | None = None) -> int:
    """Write the reports through the device accounts, ``threads`` schools at once; returns
    how many documents were written."""
    say = progress or (lambda _stage, _done, _total: None)
    now = datetime.now(UTC)
    done = written = 0
    with ThreadPoolExecutor(threads) as pool:
        for count in pool.map(lambda w: _write_school(couch, manifest, w, now), all_writes):
            done += 1
            written += count
            say("reports", done, len(all_writes))
    return written


def load(couch: CouchClient, shape: DemoShape, *, teacher_password: str | None = None,
         progress: Callable[[str, int, int], None] | None = None, threads: int = 8) -> DemoManifest:
    """Generate and write the demo; returns the manifest. Idempotent only on an empty server.

    The stages, in order (each usable alone, as bench/province.py times them): ``plan``,
    ``write_registry``, ``create_accounts``, ``provision_databases``, ``plan_reports``,
    ``write_reports``."""
    manifest, rng = plan(shape, teacher_password=teacher_password)
    write_registry(couch, manifest)
    create_accounts(couch, manifest, progress=progress)
    provision_databases(couch, manifest, threads=threads, progress=progress)
    write_reports(couch, manifest, plan_reports(manifest, rng), threads=threads, progress=progress)
    return manifest
