"""Alerts from configurable rules, per county and day, and their acknowledgements.

Rules live in the registry: ``alert_rules:<county>`` if the county has its own, else
``alert_rules:default``, else ``DEFAULT_RULES``. Alerts are computed when asked (from the
``school_metrics`` view and the missing-school list), so a changed rule or a late report
changes them at once; only acknowledgements are stored, in ``ops`` as ``alert_ack:<alert id>``.
An alert id is ``<school>:<date>:<rule>``: the same alert keeps its id, and its ack, on every
computation.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.summaries.service import ABSENCE_FIELDS, SummaryService, UnknownArea
from sync.design import METRIC_FIELDS
from sync.early_warning import describe
from sync.errors import Conflict
from sync.provision import OPS_DB, REGISTRY_DB

# ``early_<signal>``: an EARS early warning (server/early_warning), the signal's strongest method.
EARLY_RULES = ("early_illness", "early_fever", "early_respiratory")
RULES = ("cases", "fever_rate", "absence_rate", "missing", *EARLY_RULES)
DEFAULT_RULES = {"cases_min": 1, "fever_rate_above": 0.02, "absence_rate_above": 0.10, "missing_days_min": 2}
ALERT_ID = re.compile(r"^(?P<school>[^:/]{1,64}):(?P<date>\d{4}-\d{2}-\d{2}):(?P<rule>[a-z_]+)$")


class BadAlertId(ValueError):
    """The id does not look like ``<school>:<YYYY-MM-DD>:<rule>``."""


@dataclass(frozen=True, kw_only=True)
class AlertId:
    school_id: str
    date: str
    rule: str

    @classmethod
    def parse(cls, text: str) -> AlertId:
        m = ALERT_ID.match(text or "")
        if not m or m["rule"] not in RULES:
            raise BadAlertId(text)
        try:
            date.fromisoformat(m["date"])
        except ValueError as exc:
            raise BadAlertId(text) from exc
        return cls(school_id=m["school"], date=m["date"], rule=m["rule"])

    def __str__(self) -> str:
        return f"{self.school_id}:{self.date}:{self.rule}"


class AlertService:
    """Raises ``UnknownArea`` for an unknown county or school and ``CouchError`` when CouchDB fails."""

    def __init__(self, summaries: SummaryService):
        self.summaries = summaries
        self.registry = summaries.couch.db(REGISTRY_DB)
        self.ops = summaries.couch.db(OPS_DB)

    def rules_for(self, county_id: str) -> dict:
        rows = self.registry.all_docs(keys=[f"alert_rules:{county_id}", "alert_rules:default"],
                                      include_docs=True)["rows"]
        found = [row["doc"] for row in rows if row.get("doc")]
        rules: dict[str, Any] = dict(DEFAULT_RULES)
        if found:
            rules.update({k: v for k, v in found[0].items() if k in DEFAULT_RULES and isinstance(v, int | float)})
            rules["source"] = found[0]["_id"]
        else:
            rules["source"] = "built-in defaults"
        return rules

    def alerts(self, county_id: str, day: date) -> dict:
        county = self.summaries.county(county_id)
        rules = self.rules_for(county_id)
        snap = self.summaries.snapshot()
        key = day.isoformat()
        found: list[tuple[str, str, float, Any, dict[str, Any]]] = []
        for (school_id, _date), vector in sorted(self.summaries.school_metrics(county_id, day, day).items()):
            named = dict(zip(METRIC_FIELDS, vector, strict=True))
            cases = named["suspected_cases"] + named["confirmed_cases"]
            if cases >= rules["cases_min"]:
                found.append((school_id, "cases", cases, rules["cases_min"],
                              {"suspected": named["suspected_cases"], "confirmed": named["confirmed_cases"]}))
            if named["students_present"]:
                fever = round(named["fever_at_check"] / named["students_present"], 4)
                if fever > rules["fever_rate_above"]:
                    found.append((school_id, "fever_rate", fever, rules["fever_rate_above"],
                                  {"fever_at_check": named["fever_at_check"],
                                   "students_present": named["students_present"]}))
            if named["students_enrolled"]:
                absent = sum(named[name] for name in ABSENCE_FIELDS)
                absence = round(absent / named["students_enrolled"], 4)
                if absence > rules["absence_rate_above"]:
                    found.append((school_id, "absence_rate", absence, rules["absence_rate_above"],
                                  {"absent": absent, "students_enrolled": named["students_enrolled"]}))
        for row in self.summaries.missing(county_id, day)["missing"]:
            if row["consecutive_school_days"] >= rules["missing_days_min"]:
                found.append((row["school_id"], "missing", row["consecutive_school_days"], rules["missing_days_min"],
                              {"status": row["status"], "last_sync_at": row["last_sync_at"]}))
        found.extend(self._early_warnings(county_id, day))
        ids = [str(AlertId(school_id=s, date=key, rule=rule)) for s, rule, *_ in found]
        acks = self.acks(ids)
        alerts = []
        for alert_id, (school_id, rule, value, threshold, detail) in zip(ids, found, strict=True):
            school = snap.schools.get(school_id)
            alerts.append({"id": alert_id, "county_id": county_id, "school_id": school_id,
                           "school_name": school.name if school else school_id, "date": key, "rule": rule,
                           "value": value, "threshold": threshold, "detail": detail,
                           "severity": "high" if rule == "cases" else "normal",
                           "acknowledged": acks.get(alert_id)})
        return {"county_id": county_id, "name": county.get("name") or county_id, "date": key,
                "rules": rules, "alerts": alerts}

    def _early_warnings(self, county_id: str, day: date) -> list[tuple[str, str, float, Any, dict[str, Any]]]:
        """The county's schools in early warning that day: the value is the observed count and the
        threshold the count above which that method alarms (C3: its statistic's threshold)."""
        from server.early_warning.service import EarlyWarningService  # late: it imports the summaries

        out: list[tuple[str, str, float, Any, dict[str, Any]]] = []
        for item in EarlyWarningService(self.summaries).for_alerts(county_id, day):
            alarm = item["alarm"]
            line = (alarm["threshold"] if alarm["method"] == "C3"
                    else round(alarm["mean"] + alarm["threshold"] * alarm["sd_used"], 1))
            detail = {k: alarm.get(k) for k in ("method", "statistic", "mean", "sd", "sd_used", "baseline_days",
                                                "threshold", "observed")}
            detail.update(text_zh=describe(alarm, "zh"), text_en=describe(alarm, "en"))
            out.append((item["school_id"], f"early_{item['signal']}", alarm["observed"], line, detail))
        return out

    def acks(self, alert_ids: list[str]) -> dict[str, dict]:
        if not alert_ids:
            return {}
        rows = self.ops.all_docs(keys=[f"alert_ack:{i}" for i in alert_ids], include_docs=True)["rows"]
        return {row["doc"]["alert_id"]: _ack_view(row["doc"]) for row in rows if row.get("doc")}

    def county_of_alert(self, alert: AlertId) -> str:
        return self.summaries.school(alert.school_id).county_id

    def acknowledge(self, alert: AlertId, *, by: str, note: str) -> dict:
        """Record (or add to) the acknowledgement. Raises ``UnknownArea`` when no such alert is
        raised now for that school and day."""
        county_id = self.county_of_alert(alert)
        current = {a["id"] for a in self.alerts(county_id, date.fromisoformat(alert.date))["alerts"]}
        if str(alert) not in current:
            raise UnknownArea(str(alert))
        at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        entry = {"by": by, "at": at, "note": note}
        for _attempt in range(3):
            doc = self.ops.get_or_none(f"alert_ack:{alert}") or {
                "_id": f"alert_ack:{alert}", "type": "alert_ack", "alert_id": str(alert), "county_id": county_id,
                "school_id": alert.school_id, "date": alert.date, "rule": alert.rule, "created_at": at, "history": []}
            doc["history"].append(entry)
            doc.update(by=by, at=at, note=note)
            try:
                self.ops.put(doc)
                return _ack_view(doc)
            except Conflict:
                continue
        raise Conflict(409, "conflict", "the acknowledgement changed while saving; try again")

    def ack_of(self, alert: AlertId) -> dict | None:
        doc = self.ops.get_or_none(f"alert_ack:{alert}")
        return _ack_view(doc) if doc else None


def _ack_view(doc: dict) -> dict:
    return {"by": doc["by"], "at": doc["at"], "note": doc["note"], "history": doc.get("history", [])}
