"""Summaries of a county, a prefecture or the province, from the ``reports`` views and the registry.

The views give, per area and day, the summed metric vector of every canonical report
(``sync.design.METRIC_FIELDS``), and per county, day and school who reported. The
registry and its calendar give who was expected: a school open on the date (``opened`` ≤
date < ``closed``), on a school day of its county. Missing = expected − reported − explained;
a missing report is never read as a zero report, and a report filed on a holiday or by a
school not open that day is counted as received but not towards completeness.

Explained: an expected school that filed no report for the day but sent an explanation
(the ``explanation`` form: closed for a flood, a trip...). It is neither missing nor
reported: ``schools_explained`` counts it and ``completeness`` stays reported / expected.

A prefecture or the province is the sum of its counties: the per-day vectors come from one
range query at that level, the per-county breakdown from one multi-key query of the same
view, and the only per-school rows read are those of schools that were *not* open on some
date (to keep their reports out of the completeness numerator).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from datetime import date, timedelta
from typing import cast

from server.summaries.registry import PROVINCE, Calendar, RegistryIndex, RegistrySnapshot, School
from sync.canonical import parse_iso as parse_utc  # the timestamp format every document uses
from sync.couch import CouchClient
from sync.design import METRIC_FIELDS
from sync.device_status import mirrored_statuses
from sync.provision import OPS_DB, REPORTS_DB

COUNT_FIELDS = METRIC_FIELDS[4:]  # the report's own counts, after reports/zero/on-time
ABSENCE_FIELDS = ("absent_illness", "absent_fever", "absent_other")
MAX_RANGE_DAYS = 400
TREND_DAYS = 7
MULTI_KEY_LIMIT = 1000  # above this many (county, day) keys, read a date range instead
MISSING_LOOKBACK_DAYS = 60  # how far back "missing N school days in a row" is counted
LEVELS = ("county", "prefecture", PROVINCE)

__all__ = ["COUNT_FIELDS", "LEVELS", "MAX_RANGE_DAYS", "Calendar", "School", "SummaryService", "UnknownArea",
           "date_range", "rates", "total_of"]


class UnknownArea(LookupError):
    """No county, prefecture or school with that id in the registry."""


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def rates(totals: dict[str, int]) -> dict[str, float | None]:
    absent = sum(totals[name] for name in ABSENCE_FIELDS)
    return {
        "attendance": _ratio(totals["students_present"], totals["students_enrolled"]),
        "absence": _ratio(absent, totals["students_enrolled"]),
        "absence_illness": _ratio(totals["absent_illness"] + totals["absent_fever"], totals["students_enrolled"]),
        "fever": _ratio(totals["fever_at_check"], totals["students_present"]),
        "isolation": _ratio(totals["isolated_on_campus"], totals["students_present"]),
        "staff_attendance": _ratio(totals["staff_present"], totals["staff_total"]),
    }


def _empty() -> dict:
    return {"schools_expected": 0, "reports_received": 0, "reports_from_expected": 0, "schools_explained": 0,
            "zero_reports": 0,
            "on_time_device": 0, "on_time_server": 0, "totals": dict.fromkeys(COUNT_FIELDS, 0)}


def _add_vector(fig: dict, vector: list[int] | None) -> None:
    if not vector:
        return
    named = dict(zip(METRIC_FIELDS, vector, strict=True))
    fig["reports_received"] += named["reports"]
    fig["zero_reports"] += named["zero_reports"]
    fig["on_time_device"] += named["on_time_device"]
    fig["on_time_server"] += named["on_time_server"]
    for name in COUNT_FIELDS:
        fig["totals"][name] += named[name]


def _add(into: dict, fig: dict) -> None:
    for key in ("schools_expected", "reports_received", "reports_from_expected", "schools_explained",
                "zero_reports", "on_time_device", "on_time_server"):
        into[key] += fig[key]
    for name in COUNT_FIELDS:
        into["totals"][name] += fig["totals"][name]


def _finish(fig: dict) -> dict:
    """Add the derived figures (completeness, rates, missing) to summed counts."""
    fig["schools_missing"] = fig["schools_expected"] - fig["reports_from_expected"] - fig["schools_explained"]
    fig["completeness"] = _ratio(fig["reports_from_expected"], fig["schools_expected"])
    fig["on_time_device_rate"] = _ratio(fig["on_time_device"], fig["reports_received"])
    fig["on_time_server_rate"] = _ratio(fig["on_time_server"], fig["reports_received"])
    fig["rates"] = rates(fig["totals"])
    return fig


def _total(days: list[dict]) -> dict:
    total = _empty()
    for day in days:
        _add(total, day)
    total = _finish(total)
    total["school_days"] = sum(1 for d in days if d.get("school_day", True) and d["schools_expected"])
    return total


def total_of(days: list[dict]) -> dict:
    """The total over some of a summary's days (e.g. without a day still in progress)."""
    return _total(days)


def _trend(days: list[dict], end: date) -> dict:
    """The last day against the ``TREND_DAYS`` days before it (their total); changes in points."""
    by_date = {d["date"]: d for d in days}
    current = by_date[end.isoformat()]
    before = [by_date[(end - timedelta(days=n)).isoformat()] for n in range(1, TREND_DAYS + 1)]
    previous = _total(before)

    def pick(fig: dict) -> dict:
        return {"completeness": fig["completeness"], "on_time_device_rate": fig["on_time_device_rate"],
                **fig["rates"], "suspected_cases": fig["totals"]["suspected_cases"],
                "confirmed_cases": fig["totals"]["confirmed_cases"]}

    now, then = pick(current), pick(previous)
    change = {}
    for key, value in now.items():
        if key.endswith("_cases"):  # counts: compare with the previous days' daily mean
            mean = then[key] / previous["school_days"] if previous["school_days"] else None
            change[key] = round(value - mean, 4) if mean is not None else None
        else:
            change[key] = round(value - then[key], 4) if value is not None and then[key] is not None else None
    return {"date": end.isoformat(), "previous_from": (end - timedelta(days=TREND_DAYS)).isoformat(),
            "previous_to": (end - timedelta(days=1)).isoformat(), "current": now, "previous": then,
            "previous_school_days": previous["school_days"], "change": change}


class SummaryService:
    """Reads summaries; every method raises ``sync.errors.CouchError`` when CouchDB fails and
    ``UnknownArea`` for an id the registry does not have."""

    def __init__(self, couch: CouchClient, index: RegistryIndex | None = None, *, utc_offset_minutes: int = 480,
                 deadline_local: str = "10:00"):
        self.couch = couch
        self.reports = couch.db(REPORTS_DB)
        self.ops = couch.db(OPS_DB)
        self.index = index or RegistryIndex(couch)
        self.utc_offset = timedelta(minutes=utc_offset_minutes)
        self.deadline_local = dt.time.fromisoformat(deadline_local)

    # -- registry ---------------------------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        return self.index.current()

    def county(self, county_id: str) -> dict:
        doc = self.snapshot().counties.get(county_id)
        if doc is None:
            raise UnknownArea(county_id)
        return doc

    def school(self, school_id: str) -> School:
        school = self.snapshot().schools.get(school_id)
        if school is None:
            raise UnknownArea(school_id)
        return school

    def schools_of_county(self, county_id: str) -> list[School]:
        return self.snapshot().schools_of(county_id)

    def calendar_for(self, county_id: str) -> Calendar:
        return self.snapshot().calendar_for(county_id)

    # -- views ------------------------------------------------------------------------------

    def _metrics_by_day(self, level: str, area_id: str, start: date, end: date) -> dict[str, list[int]]:
        rows = self.reports.view("summaries", "daily", startkey=[level, area_id, start.isoformat()],
                                 endkey=[level, area_id, end.isoformat()], group=True)["rows"]
        return {row["key"][2]: row["value"] for row in rows}

    def _county_metrics(self, county_ids: list[str], days: list[date]) -> dict[tuple[str, str], list[int]]:
        """Per (county, date) vectors for many counties.

        A few counties (a prefecture): one key per county and day. Many (the province): one
        range over the dates of the date-first view, since a multi-key query costs a lookup
        per key and the range reads each report once.
        """
        if not county_ids or not days:
            return {}
        if len(county_ids) * len(days) <= MULTI_KEY_LIMIT:
            keys = [["county", c, d.isoformat()] for c in county_ids for d in days]
            rows = self.reports.view("summaries", "daily", keys=keys, group=True)["rows"]
            return {(row["key"][1], row["key"][2]): row["value"] for row in rows if row.get("value")}
        wanted = set(county_ids)
        rows = self.reports.view("summaries", "daily_by_date", startkey=[days[0].isoformat()],
                                 endkey=[days[-1].isoformat(), {}], group=True)["rows"]
        return {(row["key"][1], row["key"][0]): row["value"] for row in rows
                if row["key"][1] in wanted and row.get("value")}

    def _reported_by_day(self, county_id: str, start: date, end: date) -> dict[str, set[str]]:
        rows = self.reports.view("summaries", "reported", startkey=[county_id, start.isoformat()],
                                 endkey=[county_id, end.isoformat(), {}], reduce=False)["rows"]
        reported: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            reported[row["key"][1]].add(row["key"][2])
        return reported

    def _reported_pairs(self, pairs: list[list[str]]) -> set[tuple[str, str, str]]:
        """Which of the given [county, date, school] triples have a report."""
        found: set[tuple[str, str, str]] = set()
        for chunk in range(0, len(pairs), 2000):
            rows = self.reports.view("summaries", "reported", keys=pairs[chunk:chunk + 2000], reduce=False)["rows"]
            found.update(tuple(row["key"]) for row in rows)
        return found

    def explanations(self, start: date, end: date, county_ids: set[str] | None = None
                     ) -> dict[tuple[str, str], dict[str, dict]]:
        """``(county, date) -> {school: explanation}`` of the schools' explanations in the range
        (reason, details, received_at), whether or not they count (see ``_explained``)."""
        rows = self.reports.view("summaries", "explained", startkey=[start.isoformat()],
                                 endkey=[end.isoformat(), {}])["rows"]
        out: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
        for row in rows:
            day, county_id, school_id = row["key"]
            if county_ids is None or county_id in county_ids:
                out[(county_id, day)][school_id] = row["value"]
        return out

    def school_metrics(self, county_id: str, start: date, end: date) -> dict[tuple[str, str], list[int]]:
        """Per (school, date) metric vectors of one county's reports."""
        rows = self.reports.view("summaries", "school_metrics", startkey=[county_id, start.isoformat()],
                                 endkey=[county_id, end.isoformat(), {}])["rows"]
        return {(row["key"][2], row["key"][1]): row["value"] for row in rows}

    # -- county -----------------------------------------------------------------------------

    def county_daily(self, county_id: str, start: date, end: date) -> dict:
        """One row per day of ``start``..``end`` (inclusive), a total over the range, and the
        trend of ``end`` against the 7 days before it."""
        snap = self.snapshot()
        county = self.county(county_id)
        first = min(start, end - timedelta(days=TREND_DAYS))
        schools = snap.schools_of(county_id)
        calendar = snap.calendar_for(county_id)
        metrics = self._metrics_by_day("county", county_id, first, end)
        reported = self._reported_by_day(county_id, first, end)
        explanations = self.explanations(first, end, {county_id})
        days = []
        for day in date_range(first, end):
            key = day.isoformat()
            school_day = calendar.is_school_day(day)
            expected = [s.id for s in schools if school_day and s.open_on(key)]
            reported_today = reported.get(key, set())
            explained = explanations.get((county_id, key), {})
            fig = _empty()
            _add_vector(fig, metrics.get(key))
            fig["schools_expected"] = len(expected)
            fig["reports_from_expected"] = sum(1 for s in expected if s in reported_today)
            explained_ids = sorted(s for s in expected if s not in reported_today and s in explained)
            fig["schools_explained"] = len(explained_ids)
            fig = _finish(fig)
            days.append({"date": key, "school_day": school_day, **fig,
                         "missing_school_ids": sorted(s for s in expected
                                                      if s not in reported_today and s not in explained),
                         "explained_school_ids": explained_ids})
        shown = [d for d in days if d["date"] >= start.isoformat()]
        return {"level": "county", "county_id": county_id, "prefecture_id": county.get("prefecture_id"),
                "name": county.get("name") or county_id, "from": start.isoformat(), "to": end.isoformat(),
                "days": shown, "total": _total(shown), "trend": _trend(days, end)}

    def county_schools(self, county_id: str, start: date, end: date) -> dict:
        """Per school over the range: days expected, reported, missing, zero reports, totals, rates."""
        snap = self.snapshot()
        county = self.county(county_id)
        calendar = snap.calendar_for(county_id)
        metrics = self.school_metrics(county_id, start, end)
        explanations = self.explanations(start, end, {county_id})
        school_days = [d.isoformat() for d in date_range(start, end) if calendar.is_school_day(d)]
        vectors_of: dict[str, list[list[int]]] = defaultdict(list)
        for (sid, _day), vector in metrics.items():
            vectors_of[sid].append(vector)
        rows = []
        for school in sorted(snap.schools_of(county_id), key=lambda s: s.id):
            fig = _empty()
            expected_days = [d for d in school_days if school.open_on(d)]
            fig["schools_expected"] = len(expected_days)
            fig["reports_from_expected"] = sum(1 for d in expected_days if (school.id, d) in metrics)
            fig["schools_explained"] = sum(1 for d in expected_days if (school.id, d) not in metrics
                                           and school.id in explanations.get((county_id, d), {}))
            for vector in vectors_of.get(school.id, ()):
                _add_vector(fig, vector)
            fig = _finish(fig)
            fig["days_expected"] = fig.pop("schools_expected")
            fig["days_missing"] = fig.pop("schools_missing")
            fig["days_explained"] = fig.pop("schools_explained")
            rows.append({"school_id": school.id, "name": school.name, "opened": school.opened,
                         "closed": school.closed, **fig})
        return {"level": "county", "county_id": county_id, "name": county.get("name") or county_id,
                "from": start.isoformat(), "to": end.isoformat(), "schools": rows}

    def school_daily(self, school_id: str, start: date, end: date) -> dict:
        """One school's reports per day (the end of the drill-down)."""
        snap = self.snapshot()
        school = self.school(school_id)
        calendar = snap.calendar_for(school.county_id)
        metrics = self.school_metrics(school.county_id, start, end)
        explanations = self.explanations(start, end, {school.county_id})
        days = []
        for day in date_range(start, end):
            key = day.isoformat()
            vector = metrics.get((school_id, key))
            expected = calendar.is_school_day(day) and school.open_on(key)
            explanation = explanations.get((school.county_id, key), {}).get(school_id)
            fig = _empty()
            _add_vector(fig, vector)
            fig["schools_expected"] = int(expected)
            fig["reports_from_expected"] = int(expected and vector is not None)
            fig["schools_explained"] = int(expected and vector is None and explanation is not None)
            fig = _finish(fig)
            status = ("reported" if vector is not None else "explained" if fig["schools_explained"]
                      else "missing" if expected else "not_expected")
            days.append({"date": key, "school_day": calendar.is_school_day(day), "expected": expected,
                         "status": status, "zero_report": bool(fig["zero_reports"]),
                         "on_time_device": bool(fig["on_time_device"]), "on_time_server": bool(fig["on_time_server"]),
                         "explanation": ({"reason": explanation["reason"], "details": explanation["details"]}
                                         if explanation is not None and vector is None else None),
                         "totals": fig["totals"] if vector is not None else None,
                         "rates": fig["rates"] if vector is not None else None})
        return {"level": "school", "school_id": school_id, "name": school.name, "county_id": school.county_id,
                "prefecture_id": school.prefecture_id, "from": start.isoformat(), "to": end.isoformat(),
                "days": days}

    # -- prefecture and province ---------------------------------------------------------------

    def area_daily(self, level: str, area_id: str, start: date, end: date) -> dict:
        """A prefecture's (``level="prefecture"``) or the province's (``level="province"``, id "")
        figures per day, in total, per county (and per prefecture for the province), with trend."""
        snap = self.snapshot()
        counties = snap.counties_of(level, area_id)
        if level == "prefecture" and area_id not in snap.prefectures and not counties:
            raise UnknownArea(area_id)
        first = min(start, end - timedelta(days=TREND_DAYS))
        days = date_range(first, end)
        county_vectors = self._county_metrics(counties, days)
        # The area's own figures are the sum of its counties' (every report has one county).
        level_vectors: dict[str, list[int]] = {}
        for (_county, key), vector in county_vectors.items():
            level_vectors[key] = [a + b for a, b in zip(level_vectors.get(key, [0] * len(vector)), vector,
                                                        strict=True)]
        # Schools not open on a school day of their county: their reports are received, not expected.
        expected_count: dict[tuple[str, str], int] = {}
        outsiders: list[list[str]] = []
        for county_id in counties:
            calendar = snap.calendar_for(county_id)
            schools = snap.schools_of(county_id)
            for day in days:
                key = day.isoformat()
                if not calendar.is_school_day(day):
                    expected_count[(county_id, key)] = 0
                    continue
                open_now = 0
                for school in schools:
                    if school.open_on(key):
                        open_now += 1
                    else:
                        outsiders.append([county_id, key, school.id])
                expected_count[(county_id, key)] = open_now
        outsider_reports: dict[tuple[str, str], int] = defaultdict(int)
        for county_id, key, _school in self._reported_pairs(outsiders) if outsiders else ():
            outsider_reports[(county_id, key)] += 1
        explained_count = self._explained_counts(counties, days)

        per_county_day: dict[tuple[str, str], dict] = {}
        for county_id in counties:
            calendar = snap.calendar_for(county_id)
            for day in days:
                key = day.isoformat()
                fig = _empty()
                _add_vector(fig, county_vectors.get((county_id, key)))
                fig["schools_expected"] = expected_count[(county_id, key)]
                fig["reports_from_expected"] = (fig["reports_received"] - outsider_reports[(county_id, key)]
                                                if calendar.is_school_day(day) else 0)
                fig["schools_explained"] = explained_count[(county_id, key)]
                per_county_day[(county_id, key)] = fig

        day_rows = []
        for day in days:
            key = day.isoformat()
            fig = _empty()
            _add_vector(fig, level_vectors.get(key))
            for county_id in counties:
                part = per_county_day[(county_id, key)]
                fig["schools_expected"] += part["schools_expected"]
                fig["reports_from_expected"] += part["reports_from_expected"]
                fig["schools_explained"] += part["schools_explained"]
            day_rows.append({"date": key, "school_day": fig["schools_expected"] > 0, **_finish(fig)})
        shown_keys = [d.isoformat() for d in days if d >= start]
        shown = [row for row in day_rows if row["date"] >= start.isoformat()]

        def area_total(county_ids: list[str]) -> dict:
            total = _empty()
            for county_id in county_ids:
                for key in shown_keys:
                    _add(total, per_county_day[(county_id, key)])
            return _finish(total)

        county_rows = [{"county_id": c, "name": snap.name_of("county", c),
                        "prefecture_id": snap.counties[c].get("prefecture_id"), **area_total([c])}
                       for c in counties]
        answer = {"level": level, "id": area_id, "name": snap.name_of(level, area_id) if area_id else "province",
                  "from": start.isoformat(), "to": end.isoformat(), "days": shown, "total": _total(shown),
                  "trend": _trend(day_rows, end), "counties": county_rows}
        if level == PROVINCE:
            by_prefecture: dict[str, list[str]] = defaultdict(list)
            for c in counties:
                by_prefecture[snap.counties[c].get("prefecture_id") or ""].append(c)
            answer["prefectures"] = [{"prefecture_id": p, "name": snap.name_of("prefecture", p),
                                      "counties": len(by_prefecture.get(p, [])),
                                      **area_total(by_prefecture.get(p, []))}
                                     for p in sorted(set(snap.prefectures) | set(by_prefecture))]
        return answer

    def _explained_counts(self, counties: list[str], days: list[date]) -> dict[tuple[str, str], int]:
        """Per (county, date): expected schools with an explanation and no report (explanations
        are few, so each is checked against the ``reported`` view by key)."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        if not counties or not days:
            return counts
        snap = self.snapshot()
        candidates: list[list[str]] = []
        for (county_id, key), by_school in self.explanations(days[0], days[-1], set(counties)).items():
            if not snap.calendar_for(county_id).is_school_day(date.fromisoformat(key)):
                continue
            for school_id in by_school:
                school = snap.schools.get(school_id)
                if school is not None and school.county_id == county_id and school.open_on(key):
                    candidates.append([county_id, key, school_id])
        reported = self._reported_pairs(candidates) if candidates else set()
        for county_id, key, school_id in candidates:
            if (county_id, key, school_id) not in reported:
                counts[(county_id, key)] += 1
        return counts

    # -- missing schools ------------------------------------------------------------------------

    def _deadline_utc(self, day: date) -> dt.datetime:
        return (dt.datetime.combine(day, self.deadline_local) - self.utc_offset).replace(tzinfo=dt.UTC)

    def device_syncs(self, county_id: str) -> dict[str, str]:
        """``school_id -> last_sync_at`` of the school's most recently synced device, for one
        county's schools: one query of the worker's device status mirrors in ``ops``."""
        newest: dict[str, str] = {}
        for school_id, devices in mirrored_statuses(self.ops, county_id).items():
            for status in devices.values():
                stamp = status.get("last_sync_at")
                when = parse_utc(stamp)
                # only parseable stamps are kept, so ``newest`` values parse
                if when and isinstance(stamp, str) and (
                        school_id not in newest or when > cast(dt.datetime, parse_utc(newest[school_id]))):
                    newest[school_id] = stamp
        return newest

    def last_sync(self, school_id: str, *, device_syncs: dict[str, str] | None = None
                  ) -> tuple[str | None, str | None]:
        """When a device of the school last synced, and how that is known.

        From the ``device_status:*`` docs the app writes (``last_sync_at``, newest device), as
        the worker mirrored them into ``ops`` (pass ``device_syncs`` of the school's county to
        save the query); without them, the newest ``received_at`` of its canonical reports.
        """
        if device_syncs is None:
            device_syncs = self.device_syncs(self.school(school_id).county_id)
        if device_syncs.get(school_id):
            return device_syncs[school_id], "device_status"
        rows = self.reports.view("summaries", "by_school", startkey=[school_id, {}], endkey=[school_id],
                                 descending=True, limit=5, include_docs=True)["rows"]
        stamps = [row["doc"].get("received_at") for row in rows if row.get("doc")]
        stamps = [s for s in stamps if parse_utc(s)]
        if stamps:
            return max(stamps, key=lambda s: cast(dt.datetime, parse_utc(s))), "report_received"  # all parse
        return None, None

    def sync_health(self, county_id: str) -> dict:
        """Admin → Sync health's answer for the county's schools (every school, ``days=0``)."""
        from server.admin.sync_health import SyncHealth  # late: server.admin imports the pages

        return SyncHealth(self.couch).report(days=0, county_id=county_id)

    def missing(self, county_id: str, day: date) -> dict:
        """Every school expected on ``day`` without a report or an explanation (those are listed
        under ``explained``, with the reason), how many school days in a row it has
        been missing (counting ``day``, up to ``MISSING_LOOKBACK_DAYS`` back), when it last synced,
        and whether it is silent (synced after the deadline, no report: ``not_reported``) or out of
        touch (no sync since the deadline: ``not_synced``; the report may be waiting on a device).

        The last sync is Admin → Sync health's, by the same rule from the same answer (its
        minute-long cache included): the device status mirrors of the school's devices that
        are not revoked, moved onto the server's clock; a school none of whose devices has
        reported a status has never synced (a report's ``received_at`` is not used: the two
        pages would disagree)."""
        snap = self.snapshot()
        county = self.county(county_id)
        calendar = snap.calendar_for(county_id)
        first = day - timedelta(days=MISSING_LOOKBACK_DAYS - 1)
        reported = self._reported_by_day(county_id, first, day)
        explanations = self.explanations(first, day, {county_id})
        school_days = [d for d in reversed(date_range(first, day)) if calendar.is_school_day(d)]
        deadline = self._deadline_utc(day)
        rows: list[dict] = []
        explained_rows: list[dict] = []
        sync_as_of = None
        if calendar.is_school_day(day):
            health = self.sync_health(county_id)
            sync_as_of = health["generated_at"]
            device_syncs = {row["school_id"]: row["last_sync_at"] for row in health["schools"]}
            for school in sorted(snap.schools_of(county_id), key=lambda s: s.id):
                key = day.isoformat()
                if not school.open_on(key) or school.id in reported.get(key, set()):
                    continue
                explanation = explanations.get((county_id, key), {}).get(school.id)
                if explanation is not None:
                    explained_rows.append({"school_id": school.id, "name": school.name,
                                           "reason": explanation["reason"], "details": explanation["details"],
                                           "received_at": explanation.get("received_at")})
                    continue
                streak, last_report = 0, None
                for past in school_days:
                    past_key = past.isoformat()
                    if not school.open_on(past_key) or school.id in explanations.get((county_id, past_key), {}):
                        continue  # not open then, or explained: neither missing nor reported, look further back
                    if school.id in reported.get(past_key, set()):
                        last_report = past_key
                        break
                    streak += 1
                synced_at = device_syncs.get(school.id)
                source = "device_status" if synced_at else None
                synced = parse_utc(synced_at)
                status = "not_reported" if synced and synced >= deadline else "not_synced"
                rows.append({"school_id": school.id, "name": school.name, "consecutive_school_days": streak,
                             "at_least": last_report is None, "last_report_date": last_report,
                             "last_sync_at": synced_at, "last_sync_source": source, "status": status})
        expected = [s for s in snap.schools_of(county_id) if calendar.is_school_day(day) and s.open_on(day.isoformat())]
        return {"county_id": county_id, "name": county.get("name") or county_id, "date": day.isoformat(),
                "school_day": calendar.is_school_day(day), "schools_expected": len(expected),
                "deadline": self._deadline_utc(day).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lookback_days": MISSING_LOOKBACK_DAYS, "sync_as_of": sync_as_of, "missing": rows,
                "explained": explained_rows}
