"""County summaries from the ``reports`` views and the registry.

The views give, per county (or prefecture, or the province) and day, the summed metric
vector of every canonical report (``sync.design.METRIC_FIELDS``) and the set of schools
that reported. The registry and its calendar give who was expected: a school open on the
date (``opened`` ≤ date < ``closed``), on a school day. Missing = expected − reported;
a missing report is never read as a zero report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sync.couch import CouchClient
from sync.design import METRIC_FIELDS
from sync.provision import REGISTRY_DB, REPORTS_DB

COUNT_FIELDS = METRIC_FIELDS[4:]  # the report's own counts, after reports/zero/on-time
MAX_RANGE_DAYS = 400


class UnknownArea(LookupError):
    """No county (or prefecture) with that id in the registry."""


@dataclass(frozen=True, kw_only=True)
class School:
    id: str
    name: str
    county_id: str
    prefecture_id: str
    opened: str | None
    closed: str | None

    def open_on(self, day: str) -> bool:
        return (self.opened is None or self.opened <= day) and (self.closed is None or day < self.closed)


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """Which dates are school days: ISO weekdays plus listed holidays (registry ``calendar:*``)."""

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


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def rates(totals: dict[str, int]) -> dict[str, float | None]:
    absent = totals["absent_illness"] + totals["absent_fever"] + totals["absent_other"]
    return {
        "attendance": _ratio(totals["students_present"], totals["students_enrolled"]),
        "absence": _ratio(absent, totals["students_enrolled"]),
        "absence_illness": _ratio(totals["absent_illness"] + totals["absent_fever"], totals["students_enrolled"]),
        "fever": _ratio(totals["fever_at_check"], totals["students_present"]),
        "isolation": _ratio(totals["isolated_on_campus"], totals["students_present"]),
        "staff_attendance": _ratio(totals["staff_present"], totals["staff_total"]),
    }


class SummaryService:
    """Reads summaries; every method raises ``sync.errors.CouchError`` when CouchDB fails."""

    def __init__(self, couch: CouchClient):
        self.registry = couch.db(REGISTRY_DB)
        self.reports = couch.db(REPORTS_DB)

    def county(self, county_id: str) -> dict:
        doc = self.registry.get_or_none(f"county:{county_id}")
        if doc is None or doc.get("type") != "county":
            raise UnknownArea(county_id)
        return doc

    def schools_of_county(self, county_id: str) -> list[School]:
        rows = self.registry.view("registry", "schools_by_county", startkey=[county_id],
                                  endkey=[county_id, {}])["rows"]
        return [School(id=row["id"].split(":", 1)[1], name=row["value"]["name"], county_id=county_id,
                       prefecture_id=row["value"].get("prefecture_id"), opened=row["value"].get("opened"),
                       closed=row["value"].get("closed")) for row in rows]

    def calendar_for(self, county_id: str) -> Calendar:
        docs = self.registry.all_docs(keys=[f"calendar:{county_id}", "calendar:default"], include_docs=True)["rows"]
        found = [row.get("doc") for row in docs if row.get("doc")]
        return Calendar.from_doc(found[0] if found else None)

    def _metrics_by_day(self, level: str, area_id: str, start: date, end: date) -> dict[str, list[int]]:
        rows = self.reports.view("summaries", "daily", startkey=[level, area_id, start.isoformat()],
                                 endkey=[level, area_id, end.isoformat()], group=True)["rows"]
        return {row["key"][2]: row["value"] for row in rows}

    def _reported_by_day(self, county_id: str, start: date, end: date) -> dict[str, set[str]]:
        rows = self.reports.view("summaries", "reported", startkey=[county_id, start.isoformat()],
                                 endkey=[county_id, end.isoformat(), {}], reduce=False)["rows"]
        reported: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            reported[row["key"][1]].add(row["key"][2])
        return reported

    def county_daily(self, county_id: str, start: date, end: date) -> dict:
        """One row per day of ``start``..``end`` (inclusive) and a total over the range."""
        self.county(county_id)
        schools = self.schools_of_county(county_id)
        calendar = self.calendar_for(county_id)
        metrics = self._metrics_by_day("county", county_id, start, end)
        reported = self._reported_by_day(county_id, start, end)
        days = []
        for day in date_range(start, end):
            key = day.isoformat()
            school_day = calendar.is_school_day(day)
            expected = [s.id for s in schools if school_day and s.open_on(key)]
            reported_today = reported.get(key, set())
            vector = metrics.get(key) or [0] * len(METRIC_FIELDS)
            by_name = dict(zip(METRIC_FIELDS, vector, strict=True))
            totals = {name: by_name[name] for name in COUNT_FIELDS}
            from_expected = sum(1 for s in expected if s in reported_today)
            days.append({
                "date": key,
                "school_day": school_day,
                "schools_expected": len(expected),
                "reports_received": by_name["reports"],
                "reports_from_expected": from_expected,
                "zero_reports": by_name["zero_reports"],
                "completeness": _ratio(from_expected, len(expected)),
                "on_time_device": by_name["on_time_device"],
                "on_time_server": by_name["on_time_server"],
                "totals": totals,
                "rates": rates(totals),
                "missing_school_ids": sorted(s for s in expected if s not in reported_today),
            })
        return {"county_id": county_id, "from": start.isoformat(), "to": end.isoformat(), "days": days,
                "total": self._total(days)}

    @staticmethod
    def _total(days: list[dict]) -> dict:
        totals = {name: sum(d["totals"][name] for d in days) for name in COUNT_FIELDS}
        expected = sum(d["schools_expected"] for d in days)
        from_expected = sum(d["reports_from_expected"] for d in days)
        return {
            "school_days": sum(1 for d in days if d["school_day"]),
            "schools_expected": expected,
            "reports_received": sum(d["reports_received"] for d in days),
            "reports_from_expected": from_expected,
            "zero_reports": sum(d["zero_reports"] for d in days),
            "completeness": _ratio(from_expected, expected),
            "on_time_device": sum(d["on_time_device"] for d in days),
            "on_time_server": sum(d["on_time_server"] for d in days),
            "totals": totals,
            "rates": rates(totals),
        }
