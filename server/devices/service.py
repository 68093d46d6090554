"""Device enrolment: a device gets its own CouchDB account for its school's database.

A teacher (role ``school:<id>``) or an admin (``_admin`` or ``admin``) vouches for the
device once, online; the device then syncs as ``device_<uuid4 hex>`` with roles
``school:<id>`` and ``device``. The registry keeps ``device:<name>`` so an admin can
see and revoke it (deleting the ``_users`` account ends its syncing at once).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sync.couch import CouchClient
from sync.errors import NotFound
from sync.provision import DEFAULT_WINDOW_DAYS, REGISTRY_DB, school_db_name

ADMIN_ROLES = frozenset({"_admin", "admin"})
DEVICE_ROLE = "device"


class EnrolmentError(Exception):
    """Base of the reasons enrolment is refused; ``status`` is the HTTP status to answer."""

    status = 400


class NotOfSchool(EnrolmentError):
    status = 403


class UnknownSchool(EnrolmentError):
    status = 404


@dataclass(frozen=True, kw_only=True)
class Person:
    name: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return bool(ADMIN_ROLES & set(self.roles))

    @property
    def schools(self) -> list[str]:
        return [role.split(":", 1)[1] for role in self.roles if role.startswith("school:")]


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeviceEnrolment:
    """Enrols devices; takes the service's admin ``CouchClient``."""

    def __init__(self, couch: CouchClient):
        self.couch = couch

    def school_for(self, person: Person, school_id: str | None) -> str:
        """The school the device is enrolled for. Raises ``NotOfSchool`` or ``EnrolmentError``."""
        if person.is_admin:
            if not school_id:
                raise EnrolmentError("an admin enrolling a device must give school_id")
            return school_id
        schools = person.schools
        if school_id is None:
            if len(schools) != 1:
                raise (NotOfSchool("this account is not a teacher of any school") if not schools
                       else EnrolmentError("this account belongs to several schools: give school_id"))
            return schools[0]
        if school_id not in schools:
            raise NotOfSchool(f"{person.name} is not a teacher of school {school_id}")
        return school_id

    def enrol(self, person: Person, *, school_id: str | None, label: str) -> dict:
        """Create the device account and its registry record for ``person`` (already verified
        through CouchDB); returns the enrolment.

        Raises ``NotOfSchool`` (403), ``UnknownSchool`` (404) or ``EnrolmentError`` (400).
        """
        school_id = self.school_for(person, school_id)
        registry = self.couch.db(REGISTRY_DB)
        school = registry.get_or_none(f"school:{school_id}")
        db_name = school_db_name(school_id)
        if school is None or not self.couch.db(db_name).exists():
            raise UnknownSchool(f"school {school_id} is not registered or has no database yet")
        try:
            config = self.couch.db(db_name).get("config:device")
        except NotFound:
            config = {}
        roster = registry.get_or_none(f"roster:{school_id}") or {}

        device = f"device_{uuid.uuid4().hex}"
        device_password = secrets.token_urlsafe(32)
        self.couch.put_user(device, password=device_password, roles=[f"school:{school_id}", DEVICE_ROLE])
        registry.put({
            "_id": f"device:{device}",
            "type": "device",
            "school_id": school_id,
            "enrolled_by": person.name,
            "enrolled_at": utc_now_iso(),
            "label": label,
            "status": "active",
        })
        return {
            "device": device,
            "password": device_password,
            "school_id": school_id,
            "school_name": school.get("name"),
            "db": db_name,
            "db_url": f"/db/{db_name}",
            "roster": [{"username": t.get("username"), "display_name": t.get("display_name") or t.get("username")}
                       for t in roster.get("teachers", [])],
            "window_days": int(config.get("window_days") or DEFAULT_WINDOW_DAYS),
        }
