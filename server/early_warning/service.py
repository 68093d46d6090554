"""Early warnings as the service reads them: the worker's ``early_warning:*`` documents in ``ops``.

The worker computes them (``sync.early_warning``); here they are listed for an area and a
date range (from the ``ops/early_warnings`` view, alarms only), rolled up per county and
prefecture (how many schools are in early warning), and read as a series for one school or
county (``_all_docs`` over the ids, every day that has a report) for charting.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from server.summaries.registry import PROVINCE
from server.summaries.service import SummaryService, UnknownArea
from sync.early_warning import DOC_PREFIX, SETTINGS_PREFIX, SIGNAL_LABELS, SIGNALS, EarlyWarningSettings, describe
from sync.provision import OPS_DB, REGISTRY_DB

SCOPES = ("school", "county")


def alarm_row(*, scope: str, owner: str, day: str, alarm: dict) -> dict:
    """One alarm as a flat row: what, where, method, statistic, baseline, observed, threshold, words."""
    return {"date": day, "scope": scope, "school_id": owner if scope == "school" else None,
            "signal": alarm["signal"], "method": alarm["method"], "observed": alarm["observed"],
            "statistic": alarm["statistic"], "mean": alarm["mean"], "sd": alarm["sd"],
            "sd_used": alarm.get("sd_used"), "baseline_days": alarm.get("baseline_days"),
            "threshold": alarm["threshold"], "text_zh": describe(alarm, "zh"), "text_en": describe(alarm, "en")}


def strongest(alarms: list[dict]) -> dict[str, dict]:
    """Per signal, the alarm furthest above its threshold (one alert per school, day and signal)."""
    out: dict[str, dict] = {}
    for alarm in alarms:
        margin = alarm["statistic"] - alarm["threshold"]
        best = out.get(alarm["signal"])
        if best is None or margin > best["statistic"] - best["threshold"]:
            out[alarm["signal"]] = alarm
    return out


class EarlyWarningService:
    """Raises ``UnknownArea`` for an unknown area and the CouchDB client's errors."""

    def __init__(self, summaries: SummaryService):
        self.summaries = summaries
        self.ops = summaries.couch.db(OPS_DB)
        self.registry = summaries.couch.db(REGISTRY_DB)

    # -- lists and roll-ups -------------------------------------------------------------------------

    def rows(self, level: str, area_id: str, start: date, end: date) -> list[dict]:
        """The view's rows (alarms only) of an area over ``start``..``end``."""
        key = "" if level == PROVINCE else area_id
        return self.ops.view("ops", "early_warnings", startkey=[level, key, start.isoformat()],
                             endkey=[level, key, end.isoformat()])["rows"]

    def warnings(self, level: str, area_id: str, start: date, end: date) -> dict:
        """Every alarm in the area over the range, one row per (day, school or county, signal,
        method), with the roll-up of schools in early warning per county and prefecture."""
        snap = self.summaries.snapshot()
        if level == "county" and area_id not in snap.counties:
            raise UnknownArea(area_id)
        if level == "prefecture" and area_id not in snap.prefectures:
            raise UnknownArea(area_id)
        out: list[dict] = []
        schools_by_county: dict[str, set[str]] = {}
        county_alarm: dict[str, set[str]] = {}
        for row in self.rows(level, area_id, start, end):
            value = row["value"]
            day = row["key"][2]
            county_id = value.get("county_id") or ""
            for alarm in value.get("alarms") or []:
                item = alarm_row(scope=value["scope"], owner=value["owner"], day=day, alarm=alarm)
                school = snap.schools.get(item["school_id"] or "")
                county = snap.counties.get(county_id) or {}
                item.update(county_id=county_id, county_name=county.get("name") or county_id,
                            school_name=(school.name if school else None) if value["scope"] == "school" else None,
                            id=f"{value['scope']}:{value['owner']}:{day}:{alarm['signal']}:{alarm['method']}")
                out.append(item)
            if value["scope"] == "school":
                schools_by_county.setdefault(county_id, set()).add(value["owner"])
            else:
                county_alarm.setdefault(county_id, set()).add(day)
        counties = []
        for county_id in snap.counties_of(level, area_id if level != PROVINCE else ""):
            doc = snap.counties.get(county_id) or {}
            counties.append({"county_id": county_id, "name": doc.get("name") or county_id,
                             "prefecture_id": doc.get("prefecture_id"),
                             "schools_in_warning": len(schools_by_county.get(county_id, ())),
                             "schools": len(snap.schools_of(county_id)),
                             "county_warning_days": len(county_alarm.get(county_id, ()))})
        prefectures: dict[str, dict] = {}
        for row in counties:
            pid = row["prefecture_id"] or ""
            into = prefectures.setdefault(pid, {"prefecture_id": pid, "name": snap.name_of("prefecture", pid),
                                                "schools_in_warning": 0, "counties_in_warning": 0, "schools": 0})
            into["schools_in_warning"] += row["schools_in_warning"]
            into["schools"] += row["schools"]
            into["counties_in_warning"] += 1 if row["schools_in_warning"] or row["county_warning_days"] else 0
        return {"level": level, "id": area_id, "name": snap.name_of(level, area_id) if level != PROVINCE else PROVINCE,
                "from": start.isoformat(), "to": end.isoformat(), "warnings": out, "counties": counties,
                "prefectures": sorted(prefectures.values(), key=lambda p: -p["schools_in_warning"])}

    def for_alerts(self, county_id: str, day: date) -> list[dict]:
        """The county's school alarms of one day, strongest method per signal (for the alert list)."""
        out = []
        for row in self.rows("county", county_id, day, day):
            value = row["value"]
            if value["scope"] != "school":
                continue
            for signal, alarm in sorted(strongest(value.get("alarms") or []).items()):
                out.append({"school_id": value["owner"], "signal": signal, "alarm": alarm})
        return out

    # -- one series for a chart ---------------------------------------------------------------------

    def series(self, scope: str, owner: str, start: date, end: date) -> dict:
        """Per day with a report: each signal's observed count and rate and each method's
        statistic, baseline mean and SD, threshold and alarm."""
        prefix = f"{DOC_PREFIX}{scope}:{owner}:"
        rows = self.ops.all_docs(startkey=prefix + start.isoformat(), endkey=prefix + end.isoformat(),
                                 include_docs=True)["rows"]
        days = []
        for row in rows:
            doc = row.get("doc") or {}
            days.append({"date": doc.get("date"), "students_enrolled": doc.get("students_enrolled"),
                         "alarm": bool(doc.get("alarm")), "signals": doc.get("signals") or {},
                         "alarms": [alarm_row(scope=scope, owner=owner, day=doc.get("date") or "", alarm=a)
                                    for a in doc.get("alarms") or []]})
        return {"scope": scope, "id": owner, "from": start.isoformat(), "to": end.isoformat(),
                "signals": {name: {"zh": SIGNAL_LABELS[name][0], "en": SIGNAL_LABELS[name][1],
                                   "fields": list(fields)} for name, fields in SIGNALS.items()},
                "days": days}

    # -- settings ---------------------------------------------------------------------------------

    def settings_doc(self, county_id: str) -> dict | None:
        return self.registry.get_or_none(f"{SETTINGS_PREFIX}{county_id}")

    def settings_of(self, county_id: str) -> dict:
        """The county's thresholds as the worker uses them, and where they come from."""
        own = self.settings_doc(county_id)
        default = self.settings_doc("default") if county_id != "default" else None
        doc = own or default
        source = doc["_id"] if doc else "built-in defaults"
        return {"county_id": county_id, "source": source, **EarlyWarningSettings.from_doc(doc).as_dict()}


def flat_settings_fields() -> dict[str, Any]:
    return EarlyWarningSettings().as_dict()
