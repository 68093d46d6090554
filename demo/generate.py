"""Demo data at the province's shape, written the way devices write it.

A registry (Sichuan's prefectures and counties by their real names, schools with Chinese
names, sizes from a 12-pupil village school to a county middle school of 1,500 and more,
open/close dates, a school calendar, rosters of teachers with Chinese names), CouchDB
accounts (teachers, one device per school, a second device where two
devices edit the same report), and N days of ``daily_health`` reports written into the
school databases *through the device accounts*, so every document passes the school
database's ``validate_doc_update`` exactly as one from a phone would. Some schools miss
some days, small schools file mostly zero reports and large ones few, a few come from old devices still on
schema version 1, and some reports are edited on two devices at once: those are
replicated as sibling branches (``new_edits=false``, as PouchDB's replicator does), which
makes real CouchDB conflicts. Absence and fever follow the season, the weekday and a few
small outbreaks (``demo.health``).

Devices sync the way they do in the country (``SchoolProfile.sync``): most schools' tablets
sync every afternoon; a few schools never synced at all (no report, no status document:
nothing says they did); some have been offline for days (their last reports wait on the
device and have not arrived); some sync but have stopped filing. Each device that synced
writes its ``device_status`` document with that last sync, as the app does, so the county
page and Admin → Sync health tell the same story.

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
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from demo import naming
from demo.health import day_figures, outbreak_level, zero_chance
from demo.sichuan import PREFECTURES, Prefecture, spread
from mobile_schema import get_form, hlc_format, validate_document
from sync.accounts import AccountSpec, new_device_token, write_accounts
from sync.couch import CouchClient
from sync.provision import REGISTRY_DB, provision_core, provision_inspections, provision_school, school_db_name

LOCAL_OFFSET = timedelta(hours=8)  # Asia/Shanghai: report dates are the school's local date
APP_VERSION = "demo-0.1.0"
DAILY = get_form("daily_health")
DEVICE_STATUS = get_form("device_status")
ABNORMAL = tuple(DAILY.abnormal_fields)
# Merge groups of daily_health (taken whole from one device in a hard conflict).
GROUPS = {f: group for group in DAILY.merge_groups for f in group}


@dataclass(frozen=True, kw_only=True)
class DemoShape:
    """How much to generate. The default is small and fast (2 prefectures, 3 counties each,
    picked across the province); ``province()`` is the full shape: Sichuan's 21 prefectures
    with their real county counts (183 counties).

    ``counties_per_prefecture``: that many counties in every prefecture (spread over its real
    ones; a prefecture with fewer gets numbered extra ones), or None for the real counts.
    ``zero_rate``: the share of zero reports at a 400-pupil school on an ordinary day (small
    schools file more of them, large ones and winter fewer). ``never_synced_rate``,
    ``offline_rate``, ``silent_rate``: shares of schools that never synced, that have been
    offline for the last 2 to 6 school days, and that sync but stopped filing (at least one
    of each in a demo of 12 schools or more); ``outbreaks_per_1000``: small outbreaks per
    1,000 school-days.
    """

    prefectures: int = 2
    counties_per_prefecture: int | None = 3
    schools: int = 60
    days: int = 30
    end: date | None = None  # last report date; default: yesterday, local time
    seed: int = 2020
    miss_rate: float = 0.04
    zero_rate: float = 0.5
    conflict_rate: float = 0.03
    v1_rate: float = 0.02
    teachers_per_school: int = 2
    never_synced_rate: float = 0.015
    offline_rate: float = 0.04
    silent_rate: float = 0.03
    outbreaks_per_1000: float = 1.5

    @classmethod
    def province(cls, **changes) -> DemoShape:
        return cls(**{"prefectures": len(PREFECTURES), "counties_per_prefecture": None, "schools": 20_000,
                      **changes})

    @property
    def counties(self) -> int:
        """How many counties the shape has."""
        if self.counties_per_prefecture is None:
            return sum(len(p.counties) for p in self.chosen_prefectures())
        return self.prefectures * self.counties_per_prefecture

    def chosen_prefectures(self) -> list[Prefecture]:
        """The real prefectures the shape's ``p01``, ``p02``... are named after (spread over
        the province; more than 21 repeat them with a number)."""
        chosen = spread(PREFECTURES, min(self.prefectures, len(PREFECTURES)))
        return [chosen[n % len(chosen)] for n in range(self.prefectures)]

    @property
    def end_date(self) -> date:
        return self.end or (datetime.now(UTC) + LOCAL_OFFSET).date() - timedelta(days=1)

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)


@dataclass(frozen=True)
class SchoolProfile:
    """What the generator decided about one school (not in the registry: the demo's own facts).

    ``sync``: ``"daily"`` (syncs every afternoon), ``"never"`` (no device ever synced),
    ``"offline"`` (no sync since ``since``: its reports from then on wait on the device) or
    ``"silent"`` (syncs, but has filed nothing since ``since``)."""

    kind: str
    enrolled: int
    sync: str = "daily"
    since: str | None = None
    outbreak: str | None = None  # first day of a small outbreak
    outbreak_days: int = 0


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
    profiles: dict[str, SchoolProfile] = field(default_factory=dict)  # school -> its size, sync, outbreak
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (school, date) filed, not yet synced
    last_sync: dict[str, str] = field(default_factory=dict)  # device -> last_sync_at of its status doc
    relayed: dict | None = None  # the report carried in by another device (demo.relay), as the service answered
    _rosters: dict[str, list[dict]] = field(default_factory=dict, repr=False, compare=False)

    def schools(self) -> list[dict]:
        return [doc for doc in self.registry if doc["type"] == "school"]

    def counties(self) -> list[dict]:
        return [doc for doc in self.registry if doc["type"] == "county"]

    def roster(self, school_id: str) -> list[dict]:
        """The school's teachers (``username``, ``display_name``)."""
        if school_id not in self._rosters:  # (re)built when the registry has grown
            self._rosters = {d["school_id"]: d["teachers"] for d in self.registry if d["type"] == "roster"}
        return self._rosters[school_id]


# -- registry --------------------------------------------------------------------------

def _county_names(shape: DemoShape) -> list[tuple[str, list[str], bool]]:
    """(prefecture name, its counties' names, minority area) for ``p01``, ``p02``..."""
    out = []
    for n, prefecture in enumerate(shape.chosen_prefectures()):
        again = n // len(PREFECTURES)  # a bench shape with more prefectures than Sichuan has
        name = prefecture.name if not again else f"{prefecture.name}({again + 1})"
        wanted = shape.counties_per_prefecture or len(prefecture.counties)
        counties = spread(prefecture.counties, wanted)
        counties += [f"{prefecture.name[:2]}第{k}县" for k in range(len(counties) + 1, wanted + 1)]
        out.append((name, counties, prefecture.minority_area))
    return out


def _build_registry(shape: DemoShape, rng: random.Random, manifest: DemoManifest) -> None:
    counties = []  # (county id, prefecture id, stem for school names, minority area, district)
    for p, (prefecture, county_names, minority) in enumerate(_county_names(shape), start=1):
        pid = f"p{p:02d}"
        manifest.registry.append({"_id": f"prefecture:{pid}", "type": "prefecture", "name": prefecture})
        for c, county in enumerate(county_names, start=1):
            cid = f"{pid}c{c:02d}"
            counties.append((cid, pid, naming.county_stem(prefecture, county), minority, county.endswith("区")))
            manifest.registry.append({"_id": f"county:{cid}", "type": "county", "prefecture_id": pid,
                                      "name": county})
    # Monday to Friday; the province sets holidays on top (none inside a short demo).
    manifest.registry.append({"_id": "calendar:default", "type": "calendar", "school_weekdays": [1, 2, 3, 4, 5],
                              "holidays": []})
    start = shape.start_date
    # Names and sizes from their own generator: they stay the same when a rate changes.
    names = random.Random(f"{shape.seed}/names")
    taken: dict[str, set[str]] = {}
    for n in range(shape.schools):
        cid, pid, stem, minority, district = counties[n % len(counties)]
        index = n // len(counties)
        sid = f"{cid}s{index + 1:03d}"
        opened, closed = "2015-09-01", None
        roll = rng.random()
        if roll < 0.03:  # opened during the period: not expected before
            opened = (start + timedelta(days=rng.randrange(1, max(2, shape.days)))).isoformat()
        elif roll < 0.05:  # closed during the period: not expected after
            closed = (start + timedelta(days=rng.randrange(1, max(2, shape.days)))).isoformat()
        kind = naming.school_kind(index, names, district=district)
        name = naming.school_name(kind, stem, names, minority=minority, taken=taken.setdefault(cid, set()))
        # village schools mostly small: 12 to 40 pupils more often than 100
        low, high = kind.low, kind.high
        enrolled = low + int((high - low) * names.random() ** (2.0 if kind is naming.VILLAGE else 1.0))
        manifest.profiles[sid] = SchoolProfile(kind=kind.code, enrolled=enrolled)
        manifest.registry.append({"_id": f"school:{sid}", "type": "school", "county_id": cid, "prefecture_id": pid,
                                  "name": name, "opened": opened, "closed": closed})
        teachers = [{"username": f"t_{sid}_{i}", "display_name": naming.person_name(names)}
                    for i in range(1, shape.teachers_per_school + 1)]
        manifest.registry.append({"_id": f"roster:{sid}", "type": "roster", "school_id": sid, "teachers": teachers})
    _assign_profiles(shape, manifest, random.Random(f"{shape.seed}/profiles"))


def _school_days(shape: DemoShape, school: dict) -> list[date]:
    """The period's school days (Monday to Friday) on which ``school`` was open."""
    days = (shape.start_date + timedelta(days=n) for n in range(shape.days))
    return [d for d in days if d.isoweekday() <= 5 and school["opened"] <= d.isoformat()
            and not (school["closed"] and d.isoformat() >= school["closed"])]


def _assign_profiles(shape: DemoShape, manifest: DemoManifest, rng: random.Random) -> None:
    """Which schools never synced, are offline, are silent, have an outbreak: exact counts
    (``rate`` x schools, at least one of each from 12 schools), drawn among the schools open
    the whole period."""
    steady = [s for s in manifest.schools() if s["opened"] <= shape.start_date.isoformat() and not s["closed"]]
    rng.shuffle(steady)

    def count(rate: float) -> int:
        return max(1 if shape.schools >= 12 else 0, round(rate * shape.schools))

    for sync, rate in (("never", shape.never_synced_rate), ("offline", shape.offline_rate),
                       ("silent", shape.silent_rate)):
        for school in [steady.pop() for _ in range(min(count(rate), len(steady)))]:
            sid = school["_id"].split(":", 1)[1]
            days = _school_days(shape, school)
            since = None
            if sync != "never" and days:
                since = days[-min(len(days), rng.randint(2, 6) if sync == "offline" else rng.randint(2, 4))]
            manifest.profiles[sid] = replace(manifest.profiles[sid], sync=sync,
                                             since=since.isoformat() if since else None)
    # outbreaks at schools that report; the first one peaks on one of the last school days, so
    # a first look at the demo has something unusual to show
    outbreaks = count(shape.outbreaks_per_1000 * shape.days * 5 / 7 / 1000)
    weekdays = [d for d in (shape.end_date - timedelta(days=n) for n in range(min(shape.days, 7)))
                if d.isoweekday() <= 5]
    for n, school in enumerate(steady[:outbreaks]):
        sid = school["_id"].split(":", 1)[1]
        if n == 0 and weekdays:
            begin = rng.choice(weekdays[:2]) - timedelta(days=2)  # level 1 two days after it began
        else:
            begin = shape.start_date + timedelta(days=rng.randrange(0, max(1, shape.days - 3)))
        manifest.profiles[sid] = replace(manifest.profiles[sid], outbreak=begin.isoformat(),
                                         outbreak_days=rng.randint(5, 9))


def _accounts(manifest: DemoManifest, rng: random.Random, teacher_password: str) -> None:
    for school in manifest.schools():
        sid = school["_id"].split(":", 1)[1]
        roster = manifest.roster(sid)
        for teacher in roster:
            manifest.accounts[teacher["username"]] = {"password": teacher_password, "roles": [f"school:{sid}"],
                                                      "kind": "teacher", "school_id": sid}
        # the school's shared tablet, and a teacher's phone
        for label in ("学校平板", f"{roster[-1]['display_name']}的手机"):
            name = f"device_{uuid.UUID(int=rng.getrandbits(128)).hex}"
            manifest.accounts[name] = {"password": new_device_token(), "roles": [f"school:{sid}", "device"],
                                       "kind": "device", "school_id": sid}
            manifest.registry.append({"_id": f"device:{name}", "type": "device", "school_id": sid,
                                      "status": "active", "label": label, "enrolled_by": "demo"})


def devices_of(manifest: DemoManifest, school_id: str) -> list[str]:
    return [name for name, acc in manifest.accounts.items()
            if acc["kind"] == "device" and acc["school_id"] == school_id]


# -- reports ---------------------------------------------------------------------------

def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def report_data(rng: random.Random, enrolled: int, zero: bool, *, day: date | None = None,
                outbreak: float = 0.0) -> dict:
    """The ``data`` of one ``daily_health`` report (newest version) of a school of ``enrolled``
    pupils on ``day`` (an ordinary day when None), ``outbreak`` its strength from 0 to 1
    (``demo.health.day_figures``)."""
    return day_figures(rng, enrolled, zero, day=day, outbreak=outbreak)


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
    statuses: dict[str, dict] = field(default_factory=dict)  # device -> its device_status

    def phases(self) -> list[tuple[str, bool, list[dict]]]:
        # a device's status goes with its normal writes (one request less per device)
        plain = {d: docs + ([self.statuses[d]] if d in self.statuses else []) for d, docs in self.plain.items()}
        plain.update({d: [doc] for d, doc in self.statuses.items() if d not in plain})
        return ([(d, True, docs) for d, docs in sorted(plain.items())]
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
    notes = {"notes": "今日已消毒两次"}
    return (attendance_change(1), notes) if rng.random() < 0.5 else (staff, notes)


def _school_reports(shape: DemoShape, school: dict, manifest: DemoManifest, rng: random.Random) -> SchoolWrites:
    sid = school["_id"].split(":", 1)[1]
    devices = devices_of(manifest, sid)
    roster = [t["username"] for t in manifest.roster(sid)]
    profile = manifest.profiles.get(sid) or SchoolProfile(kind="", enrolled=rng.randrange(80, 900))
    writes = SchoolWrites(sid)
    if profile.sync == "never":
        return writes
    outbreak_start = date.fromisoformat(profile.outbreak) if profile.outbreak else None
    for offset in range(shape.days):
        day = shape.start_date + timedelta(days=offset)
        iso = day.isoformat()
        if day.isoweekday() > 5 or iso < school["opened"] or (school["closed"] and iso >= school["closed"]):
            continue
        if profile.since and iso >= profile.since:
            if profile.sync == "offline":  # filed on the device, waiting for a connection
                manifest.waiting.append((sid, iso))
            continue
        if rng.random() < shape.miss_rate:
            continue
        device, author = devices[0], rng.choice(roster)
        local_submit = datetime.combine(day, time(7, 30)) + timedelta(minutes=rng.randrange(0, 240))
        submitted = (local_submit - LOCAL_OFFSET).replace(tzinfo=UTC)
        outbreak = outbreak_level(day, outbreak_start, profile.outbreak_days)
        zero = rng.random() < zero_chance(shape.zero_rate, profile.enrolled, day, outbreak)
        data = report_data(rng, profile.enrolled, zero, day=day, outbreak=outbreak)
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


def _last_write(docs: list[dict]) -> datetime | None:
    stamps = [doc["meta"]["updated_at"] for doc in docs]
    return datetime.fromisoformat(max(stamps).replace("Z", "+00:00")) if stamps else None


def _device_statuses(shape: DemoShape, school: dict, manifest: DemoManifest, writes: SchoolWrites,
                     rng: random.Random, now: datetime) -> None:
    """Each device's ``device_status`` as it last synced it (added to ``writes.statuses``;
    ``manifest.last_sync``). A device syncs after what it wrote; the tablet of a school that
    syncs daily also in the afternoon of the last school day. Never-synced schools and
    unused phones have none."""
    sid = writes.school_id
    profile = manifest.profiles.get(sid) or SchoolProfile(kind="", enrolled=0)
    if profile.sync == "never":
        return
    tablet, phone = devices_of(manifest, sid)[:2]
    days = _school_days(shape, school)
    last_day = days[-1] if days else None

    def afternoon(day: date) -> datetime:
        local = datetime.combine(day, time(15, 0)) + timedelta(minutes=rng.randrange(0, 240))
        return (local - LOCAL_OFFSET).replace(tzinfo=UTC)

    def after(moment: datetime | None) -> datetime | None:
        return moment + timedelta(minutes=rng.randrange(2, 40)) if moment else None

    wrote = {device: _last_write(writes.plain.get(device, []) + writes.branches.get(device, [])
                                 + writes.bases.get(device, [])) for device in (tablet, phone)}
    synced = {tablet: after(wrote[tablet]), phone: after(wrote[phone])}
    if profile.sync in ("daily", "silent") and last_day:
        reported_last_day = (sid, last_day.isoformat()) in manifest.expected
        # a school that missed the last day: its tablet synced that afternoon (silent) or not
        if profile.sync == "silent" or reported_last_day or rng.random() < 0.5:
            synced[tablet] = afternoon(last_day)
    if synced[phone] is None and days and rng.random() < 0.6:  # the phone, now and then
        phone_synced, tablet_synced = afternoon(rng.choice(days)), synced[tablet]
        if tablet_synced and phone_synced > tablet_synced:
            phone_synced = tablet_synced - timedelta(minutes=rng.randrange(10, 600))
        synced[phone] = phone_synced
    for device, moment in synced.items():
        if moment is None:
            continue
        moment = min(moment, now - timedelta(minutes=rng.randrange(1, 30)))  # never in the future
        stamp = _utc_iso(moment)
        manifest.last_sync[device] = stamp
        writes.statuses[device] = {
            "_id": DEVICE_STATUS.make_id(device), "type": "device_status", "form": "device_status",
            "schema_version": DEVICE_STATUS.latest_version, "school_id": sid,
            "data": {"device": device, "school_id": sid, "app_version": APP_VERSION, "last_sync_at": stamp,
                     "waiting_count": 0, "storage_used_bytes": rng.randrange(300_000, 4_000_000),
                     "clock_offset_ms": rng.randrange(-3000, 3000), "last_error": None},
            "meta": {"author": device, "device": device, "app_version": APP_VERSION, "created_at": stamp,
                     "updated_at": stamp, "submitted_at": stamp, "utc_offset_minutes": 480, "clock_offset_ms": 0,
                     "clocks": {}},
        }


# -- loading ---------------------------------------------------------------------------

def _write_school(couch: CouchClient, manifest: DemoManifest, writes: SchoolWrites, now: datetime) -> int:
    db_name = school_db_name(writes.school_id)
    written = 0
    base = couch.base_url.split("://", 1)[1]
    scheme = couch.base_url.split("://", 1)[0]
    clients: dict[str, CouchClient] = {}  # one per device, for all its phases
    try:
        for device, new_edits, docs in writes.phases():
            as_device = clients.get(device)
            if as_device is None:
                password = manifest.accounts[device]["password"]
                as_device = clients[device] = CouchClient(f"{scheme}://{device}:{password}@{base}")
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
    finally:
        for client in clients.values():
            client.close()
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
    """Every school's reports and its devices' status documents (``rng`` as ``plan`` left it);
    fills ``manifest.expected``, ``manifest.waiting`` and ``manifest.last_sync``."""
    now = datetime.now(UTC)
    all_writes = []
    for school in manifest.schools():
        writes = _school_reports(manifest.shape, school, manifest, rng)
        _device_statuses(manifest.shape, school, manifest, writes, rng, now)
        all_writes.append(writes)
    return all_writes


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
    ``write_reports``; and one report carried in by another device (``demo.relay``)."""
    from demo.relay import carry_in, withhold  # (here: demo.relay imports this module)

    manifest, rng = plan(shape, teacher_password=teacher_password)
    write_registry(couch, manifest)
    create_accounts(couch, manifest, progress=progress)
    provision_databases(couch, manifest, threads=threads, progress=progress)
    all_writes = plan_reports(manifest, rng)
    withheld = withhold(manifest, all_writes)  # one report comes in carried by another device
    write_reports(couch, manifest, all_writes, threads=threads, progress=progress)
    if withheld is not None:
        manifest.relayed = carry_in(couch, manifest, withheld)
    return manifest
