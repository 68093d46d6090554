"""The registry as the summaries need it: areas, schools, calendars, alert rules.

Reading 20,000 school rows on every province request would dominate its latency, so the
service keeps one snapshot per app and rebuilds it when the registry's ``update_seq``
moves (one cheap ``GET /registry`` per request): an admin's edit, a new calendar or a
school that closed shows up in the next answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

from sync.couch import CouchClient
from sync.provision import REGISTRY_DB

PROVINCE = "province"


@dataclass(frozen=True, kw_only=True)
class School:
    id: str
    name: str
    county_id: str
    prefecture_id: str | None
    opened: str | None
    closed: str | None

    def open_on(self, day: str) -> bool:
        return (not self.opened or self.opened <= day) and (not self.closed or day < self.closed)


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """Which dates are school days: ISO weekdays minus listed holidays (registry ``calendar:*``)."""

    school_weekdays: frozenset[int] = frozenset(range(1, 8))
    holidays: frozenset[str] = frozenset()

    @classmethod
    def from_doc(cls, doc: dict | None) -> Calendar:
        if not doc:
            return cls()
        return cls(school_weekdays=frozenset(doc.get("school_weekdays") or range(1, 8)),
                   holidays=frozenset(doc.get("holidays") or ()))

    def is_school_day(self, day: date) -> bool:
        return day.isoweekday() in self.school_weekdays and day.isoformat() not in self.holidays


@dataclass(frozen=True, kw_only=True)
class RegistrySnapshot:
    seq: object
    prefectures: dict[str, dict]
    counties: dict[str, dict]
    schools: dict[str, School]
    calendars: dict[str, dict]  # "<county_id>" or "default" -> calendar doc
    by_county: dict[str, list[School]] = field(default_factory=dict)

    def calendar_for(self, county_id: str) -> Calendar:
        """The county's own calendar, else the province's default (every day when there is none)."""
        return Calendar.from_doc(self.calendars.get(county_id) or self.calendars.get("default"))

    def schools_of(self, county_id: str) -> list[School]:
        return self.by_county.get(county_id, [])

    def counties_of(self, level: str, area_id: str) -> list[str]:
        """County ids of a county, a prefecture or the province (sorted)."""
        if level == "county":
            return [area_id] if area_id in self.counties else []
        if level == "prefecture":
            return sorted(c for c, doc in self.counties.items() if doc.get("prefecture_id") == area_id)
        return sorted(self.counties)

    def name_of(self, level: str, area_id: str) -> str:
        doc = {"county": self.counties, "prefecture": self.prefectures}.get(level, {}).get(area_id)
        return (doc or {}).get("name") or area_id


def _tail(doc_id: str) -> str:
    return doc_id.split(":", 1)[1]


class RegistryIndex:
    """Hands out a current ``RegistrySnapshot``; thread-safe; raises ``CouchError`` when CouchDB fails."""

    def __init__(self, couch: CouchClient):
        self.db = couch.db(REGISTRY_DB)
        self._snapshot: RegistrySnapshot | None = None
        self._lock = threading.Lock()

    def current(self) -> RegistrySnapshot:
        seq = self.db.info().get("update_seq")
        snapshot = self._snapshot
        if snapshot is not None and snapshot.seq == seq:
            return snapshot
        with self._lock:
            if self._snapshot is None or self._snapshot.seq != seq:
                self._snapshot = self._load(seq)
            return self._snapshot

    def _load(self, seq: object) -> RegistrySnapshot:
        by_type = {}
        for kind in ("prefecture", "county", "calendar"):
            rows = self.db.view("registry", "by_type", key=kind, reduce=False, include_docs=True)["rows"]
            by_type[kind] = {_tail(row["id"]): row["doc"] for row in rows if row.get("doc")}
        schools: dict[str, School] = {}
        by_county: dict[str, list[School]] = {}
        for row in self.db.view("registry", "schools_by_county")["rows"]:
            value = row["value"] or {}
            school = School(id=_tail(row["id"]), name=value.get("name") or _tail(row["id"]),
                            county_id=row["key"][0], prefecture_id=value.get("prefecture_id"),
                            opened=value.get("opened"), closed=value.get("closed"))
            schools[school.id] = school
            by_county.setdefault(school.county_id, []).append(school)
        return RegistrySnapshot(seq=seq, prefectures=by_type["prefecture"], counties=by_type["county"],
                                schools=schools, calendars=by_type["calendar"], by_county=by_county)
