"""Device enrolment: a device gets its own CouchDB account, which is what syncs.

A school device: a teacher (role ``school:<id>``) or an admin (``_admin`` or ``admin``)
vouches for it once, online; it then syncs the school's database as
``device_<uuid4 hex>`` with roles ``school:<id>`` and ``device``.

An inspector's device: the inspector (role ``inspector:<county>``) who will use it
enrols it for the county (the device is personal: its roster is that inspector); it
syncs ``inspections_<county>`` with roles ``inspector:<county>`` and ``device``, and gets
the county's schools (registry view ``registry/schools_by_county``) and the checklist.

The registry keeps ``device:<name>`` so an admin can see and revoke a device (deleting
the ``_users`` account ends its syncing at once), with the device's signing key
(``public_key``, ``key_registered_at``; docs/relay.md), kept after revocation for audit.
``refresh`` answers a device that asks again for what may change after enrolment: the
roster, the county's schools, the checklist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mobile_schema.checklists import available_checklists, load_checklist
from server.auth import ADMIN_ROLES
from server.devices.keys import normalized_public_key
from sync.accounts import new_device_token
from sync.canonical import now_iso
from sync.couch import CouchClient
from sync.errors import Conflict, NotFound
from sync.provision import DEFAULT_WINDOW_DAYS, REGISTRY_DB, inspections_db_name, school_db_name

DEVICE_ROLE = "device"
SCHOOL = "school"
INSPECTOR = "inspector"
#: The checklist inspectors get unless their county's registry record names another
#: (``checklist_id`` and ``checklist_version`` on ``county:<id>``).
DEFAULT_CHECKLIST_ID = "campus_epidemic_2020"


class EnrolmentError(Exception):
    """Base of the reasons enrolment is refused; ``status`` is the HTTP status to answer."""

    status = 400


class NotOfSchool(EnrolmentError):
    status = 403


class UnknownSchool(EnrolmentError):
    status = 404


class NotADevice(EnrolmentError):
    status = 403


class NotAPerson(EnrolmentError):
    status = 403


class KeyAlreadyRegistered(EnrolmentError):
    status = 409


@dataclass(frozen=True, kw_only=True)
class Person:
    name: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return bool(ADMIN_ROLES & set(self.roles))

    def scopes(self, prefix: str) -> list[str]:
        return [role.split(":", 1)[1] for role in self.roles if role.startswith(prefix + ":")]

    @property
    def schools(self) -> list[str]:
        return self.scopes(SCHOOL)

    @property
    def counties(self) -> list[str]:
        """Counties this person inspects (roles ``inspector:<county>``)."""
        return self.scopes(INSPECTOR)


utc_now_iso = now_iso  # the timestamp format every document uses (sync.canonical)


def local_today(utc_offset_minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=utc_offset_minutes)).date().isoformat()


class DeviceEnrolment:
    """Enrols devices and answers their refreshes; takes the service's admin ``CouchClient``."""

    def __init__(self, couch: CouchClient, *, utc_offset_minutes: int = 480):
        self.couch = couch
        self.registry = couch.db(REGISTRY_DB)
        self.utc_offset_minutes = utc_offset_minutes

    # -- whose device ---------------------------------------------------------------------

    def target_for(self, person: Person, school_id: str | None, county_id: str | None) -> tuple[str, str]:
        """``("school", id)`` or ``("inspector", county)``: what the device is enrolled for.

        Raises ``NotOfSchool`` (403) or ``EnrolmentError`` (400).
        """
        if school_id and county_id:
            raise EnrolmentError("give school_id or county_id, not both")
        if county_id:
            # An inspector's device is personal: the inspector who uses it enrols it (and is
            # its roster), so an admin cannot enrol one for someone else.
            if county_id not in person.counties:
                raise NotOfSchool(f"{person.name} is not an inspector of county {county_id}")
            return INSPECTOR, county_id
        if person.is_admin:
            if not school_id:
                raise EnrolmentError("an admin enrolling a device must give school_id")
            return SCHOOL, school_id
        if school_id is not None:
            if school_id not in person.schools:
                raise NotOfSchool(f"{person.name} is not a teacher of school {school_id}")
            return SCHOOL, school_id
        targets = [(SCHOOL, s) for s in person.schools] + [(INSPECTOR, c) for c in person.counties]
        if len(targets) == 1:
            return targets[0]
        if not targets:
            raise NotOfSchool("this account is not a teacher of a school nor an inspector of a county")
        raise EnrolmentError("this account belongs to several schools or counties: give school_id or county_id")

    def school_for(self, person: Person, school_id: str | None) -> str:
        """The school a school device is enrolled for (kept for callers of the school-only API)."""
        kind, scope = self.target_for(person, school_id, None)
        if kind != SCHOOL:
            raise NotOfSchool(f"{person.name} is not a teacher of any school")
        return scope

    # -- enrolment ------------------------------------------------------------------------

    def enrol(self, person: Person, *, school_id: str | None, label: str, county_id: str | None = None,
              public_key: str | None = None) -> dict:
        """Create the device account and its registry record for ``person`` (already verified
        through CouchDB), with the device's ``public_key`` when sent (already checked by the
        request schema); returns the enrolment.

        Raises ``NotAPerson`` (403) for a device's own account (only people vouch for devices:
        a device enrolling another would outlive its own revocation), ``NotOfSchool`` (403),
        ``UnknownSchool`` (404) or ``EnrolmentError`` (400).
        """
        if DEVICE_ROLE in person.roles:
            raise NotAPerson("a device cannot enrol devices: a teacher, inspector or admin signs in to enrol one")
        kind, scope = self.target_for(person, school_id, county_id)
        key = self.key_fields(public_key) if public_key else {}
        if kind == INSPECTOR:
            enrolment = self._enrol_inspector(person, scope, label, key)
        else:
            enrolment = self._enrol_school(person, scope, label, key)
        return dict(enrolment, key_registered_at=key.get("key_registered_at"))

    @staticmethod
    def key_fields(public_key: str) -> dict:
        return {"public_key": normalized_public_key(public_key), "key_registered_at": utc_now_iso()}

    def _new_account(self, roles: list[str], record: dict) -> tuple[str, str]:
        device = f"device_{uuid.uuid4().hex}"
        device_password = new_device_token()
        self.couch.put_user(device, password=device_password, roles=roles, token=True)
        self.registry.put({"_id": f"device:{device}", "type": "device", "enrolled_at": utc_now_iso(),
                           "status": "active", **record})
        return device, device_password

    def register_key(self, device: str, roles: tuple[str, ...], public_key: str) -> dict:
        """Register the signing key of a device account (already verified through CouchDB)
        that has none; the same key again is answered as registered.

        Raises ``NotADevice`` (403: a person's account, or a device not active in the
        registry) and ``KeyAlreadyRegistered`` (409: the device has another key; a key is
        never replaced, so a stolen password cannot swap in a key of the thief's).
        """
        if DEVICE_ROLE not in roles:
            raise NotADevice("only a device account registers its key")
        key = self.key_fields(public_key)
        for attempt in (1, 2):
            record = self.registry.get_or_none(f"device:{device}")
            if record is None or record.get("status") != "active":
                raise NotADevice("this device is not enrolled, or has been revoked")
            if record.get("public_key"):
                if record["public_key"] != key["public_key"]:
                    raise KeyAlreadyRegistered("this device already has another key; a key is registered once")
                return {"device": device, "public_key": record["public_key"],
                        "key_registered_at": record.get("key_registered_at")}
            record.update(key)
            try:
                self.registry.put(record)
            except Conflict:
                if attempt == 2:
                    raise
                continue  # the record changed meanwhile (e.g. the same request twice): read it again
            return {"device": device, **key}
        raise AssertionError("unreachable")

    def _enrol_school(self, person: Person, school_id: str, label: str, key: dict) -> dict:
        school = self.registry.get_or_none(f"school:{school_id}")
        db_name = school_db_name(school_id)
        if school is None or not self.couch.db(db_name).exists():
            raise UnknownSchool(f"school {school_id} is not registered or has no database yet")
        device, device_password = self._new_account(
            [f"school:{school_id}", DEVICE_ROLE],
            {"kind": SCHOOL, "school_id": school_id, "enrolled_by": person.name, "label": label, **key})
        return {
            "kind": SCHOOL,
            "device": device,
            "password": device_password,
            "school_id": school_id,
            "school_name": school.get("name"),
            "db": db_name,
            "db_url": f"/db/{db_name}",
            "roster": self.school_roster(school_id),
            "window_days": self.window_days(school_id),
        }

    def _enrol_inspector(self, person: Person, county_id: str, label: str, key: dict) -> dict:
        county = self.registry.get_or_none(f"county:{county_id}")
        db_name = inspections_db_name(county_id)
        if county is None or not self.couch.db(db_name).exists():
            raise UnknownSchool(f"county {county_id} is not registered or has no inspections database yet")
        device, device_password = self._new_account(
            [f"inspector:{county_id}", DEVICE_ROLE],
            {"kind": INSPECTOR, "school_id": None, "county_id": county_id, "enrolled_by": person.name,
             "label": label, **key})
        return {
            "kind": INSPECTOR,
            "device": device,
            "password": device_password,
            "school_id": None,
            "school_name": None,
            "county_id": county_id,
            "county_name": county.get("name"),
            "db": db_name,
            "db_url": f"/db/{db_name}",
            "roster": [self.person_entry(person.name)],
            "schools": self.county_schools(county_id),
            "checklist": self.county_checklist(county),
            "window_days": DEFAULT_WINDOW_DAYS,
        }

    # -- what a device may ask again --------------------------------------------------------

    def refresh(self, device: str, roles: tuple[str, ...]) -> dict:
        """What a device account (already verified through CouchDB) needs to know again.

        Raises ``NotADevice`` (403) for a person's account or a device revoked in the registry.
        """
        if DEVICE_ROLE not in roles:
            raise NotADevice("only a device account can ask for its roster")
        record = self.registry.get_or_none(f"device:{device}")
        if record is None or record.get("status") != "active":
            raise NotADevice("this device is not enrolled, or has been revoked")
        person = Person(name=device, roles=roles)
        if person.counties:
            county_id = person.counties[0]
            county = self.registry.get_or_none(f"county:{county_id}") or {}
            enrolled_by = record.get("enrolled_by")
            return {
                "kind": INSPECTOR,
                "county_id": county_id,
                "county_name": county.get("name"),
                "roster": [self.person_entry(enrolled_by)] if enrolled_by else [],
                "schools": self.county_schools(county_id),
                "checklist": self.county_checklist(county),
            }
        if not person.schools:
            raise NotADevice("this device account has no school or county")
        school_id = person.schools[0]
        return {
            "kind": SCHOOL,
            "school_id": school_id,
            "roster": self.school_roster(school_id),
            "window_days": self.window_days(school_id),
        }

    def school_roster(self, school_id: str) -> list[dict]:
        roster = self.registry.get_or_none(f"roster:{school_id}") or {}
        return [{"username": t.get("username"), "display_name": t.get("display_name") or t.get("username")}
                for t in roster.get("teachers", []) if t.get("username")]

    def window_days(self, school_id: str) -> int:
        try:
            config = self.couch.db(school_db_name(school_id)).get("config:device")
        except NotFound:
            config = {}
        return int(config.get("window_days") or DEFAULT_WINDOW_DAYS)

    def person_entry(self, name: str) -> dict:
        """``{username, display_name}`` of a person's account (the display name from ``_users``)."""
        doc = self.couch.db("_users").get_or_none(f"org.couchdb.user:{name}") or {}
        return {"username": name, "display_name": doc.get("display_name") or name}

    def county_schools(self, county_id: str) -> list[dict]:
        """The county's schools open today (school's local date), by name."""
        today = local_today(self.utc_offset_minutes)
        rows = self.registry.view("registry", "schools_by_county", startkey=[county_id],
                                  endkey=[county_id, {}])["rows"]
        out = []
        for row in rows:
            value = row.get("value") or {}
            if value.get("closed") and value["closed"] <= today:
                continue
            if value.get("opened") and value["opened"] > today:
                continue
            school_id = row["id"].split(":", 1)[1]
            out.append({"school_id": school_id, "name": value.get("name") or school_id})
        return sorted(out, key=lambda s: (s["name"], s["school_id"]))

    @staticmethod
    def county_checklist(county: dict) -> dict:
        """The checklist the county's inspectors use, whole (items with their labels)."""
        available = available_checklists()
        wanted = (county.get("checklist_id"), county.get("checklist_version"))
        if wanted not in available:
            versions = [v for cid, v in available if cid == DEFAULT_CHECKLIST_ID]
            wanted = (DEFAULT_CHECKLIST_ID, max(versions)) if versions else available[-1]
        checklist = load_checklist(*wanted)
        return {"checklist_id": wanted[0], "version": wanted[1], "title": checklist.get("title"),
                "categories": checklist.get("categories", []), "items": checklist["items"]}
