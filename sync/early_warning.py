"""Early warning: EARS C1, C2 and C3 on each school's and county's daily counts.

The statistics (Hutwagner et al. 2003; Fricker, Hegler and Dunfee 2008; formulas in
docs/early-warning.md) are pure functions of a series of school days, oldest first, in which
a day without a report is ``None`` (missing, never zero):

- C1: ``(y_t - mean(y_{t-7..t-1})) / sd``, alarm when above 3;
- C2: the same with the baseline ``y_{t-9..t-3}`` (a 2-day guard band), alarm above 3;
- C3: ``sum_{i=t-2..t} max(0, C2_i - 1)``, alarm above 2.

``sd`` is the baseline's sample standard deviation, raised to ``min_sd`` (so a baseline of
zeros cannot make one pupil an outbreak); an alarm also needs ``y_t >= min_count``. Missing
baseline days are left out; with fewer than ``min_baseline_days`` left there is no statistic.

``EarlyWarningUpdater`` recomputes incrementally: for each daily report the worker has
just written (accepted, corrected or deleted) it recomputes that day and the ``DAYS_AHEAD``
(11) school days after it whose statistics read it, for the school and for its county,
reading only the school days the baselines need (never the whole history), and writes
``early_warning:<scope>:<id>:<date>`` documents in ``ops`` (the ``ops/early_warnings`` view
lists those in alarm by county, prefecture and province).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import Any

from sync.couch import CouchClient
from sync.design import METRIC_FIELDS
from sync.provision import OPS_DB, REPORTS_DB

log = logging.getLogger("sync.early_warning")

# Signal -> the report's count fields summed into it.
SIGNALS: dict[str, tuple[str, ...]] = {
    "illness": ("absent_illness",),
    "fever": ("absent_fever", "fever_at_check"),
    "respiratory": ("respiratory_symptoms",),
}
SIGNAL_LABELS: dict[str, tuple[str, str]] = {
    "illness": ("因病缺勤", "illness absences"),
    "fever": ("发热缺勤及晨检发热", "fever absences and fever at the check"),
    "respiratory": ("呼吸道症状", "respiratory symptoms"),
}
METHODS = ("C1", "C2", "C3")
BASELINE_DAYS = 7
GUARD_DAYS = 2  # C2 and C3
C3_DAYS = 3  # the current day and two before
C3_EXCESS_OVER = 1.0  # C3 adds up how far each C2 goes above 1 standard deviation
# School days read before the first recomputed day: C3 at t needs C2 at t-2, whose baseline
# reaches back to t-2-GUARD-BASELINE.
LOOKBACK_SCHOOL_DAYS = C3_DAYS - 1 + GUARD_DAYS + BASELINE_DAYS
# School days after a changed day that are recomputed with it: every day whose statistics read
# it (C1 the next 7, C2 the 3rd to 9th after it, C3 two more), so that a late or corrected
# report never leaves a stale statistic behind.
DAYS_AHEAD = LOOKBACK_SCHOOL_DAYS
MAX_CALENDAR_LOOKBACK = 200  # calendar days searched for school days (a long holiday)
FLUSH_INTERVAL_S = 5.0  # queued changes are recomputed at most this often while reports stream in
READ_CHUNK = 2000  # ids per ``_all_docs`` read of the schools' series
CLOSURE_MARGIN = 5  # school days read further back, for those a school explained as closed
SCOPES = ("school", "county")
DOC_PREFIX = "early_warning:"
SETTINGS_PREFIX = "early_warning_settings:"


@dataclass(frozen=True, kw_only=True)
class EarlyWarningSettings:
    """Thresholds (the published defaults) and the guards against alarms on one pupil.

    Per county in the registry as ``early_warning_settings:<county>`` (else
    ``early_warning_settings:default``, else these values)."""

    c1_threshold: float = 3.0
    c2_threshold: float = 3.0
    c3_threshold: float = 2.0
    min_sd: float = 1.0
    min_count: int = 3
    min_baseline_days: int = 4
    # The county's sum has many more pupils; its own floor on the observed count.
    county_min_count: int = 5
    # The methods whose alarms are early warnings (alerts, roll-ups). Every method is computed
    # and shown; C2 alone by default: in bench/early_warning_eval.py it finds more outbreaks than
    # C1 at the same false-alarm rate, and C3 finds a few more at 2.6 times the false alarms.
    alert_methods: tuple[str, ...] = ("C2",)

    @classmethod
    def from_doc(cls, doc: dict | None) -> EarlyWarningSettings:
        if not doc:
            return cls()
        known: dict[str, Any] = {name: doc[name] for name in SETTING_FIELDS if name != "alert_methods"
                                 and isinstance(doc.get(name), int | float) and not isinstance(doc.get(name), bool)}
        methods = doc.get("alert_methods")
        if isinstance(methods, list) and methods and all(m in METHODS for m in methods):
            known["alert_methods"] = tuple(m for m in METHODS if m in methods)
        return cls(**known)

    def threshold(self, method: str) -> float:
        return {"C1": self.c1_threshold, "C2": self.c2_threshold, "C3": self.c3_threshold}[method]

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), alert_methods=list(self.alert_methods))


SETTING_FIELDS = tuple(EarlyWarningSettings.__dataclass_fields__)


@dataclass(frozen=True, kw_only=True)
class MethodResult:
    method: str
    statistic: float
    mean: float
    sd: float  # the baseline's own sample standard deviation
    sd_used: float  # after the ``min_sd`` floor
    baseline_days: int
    threshold: float
    alarm: bool

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "statistic": round(self.statistic, 3), "mean": round(self.mean, 3),
                "sd": round(self.sd, 3), "sd_used": round(self.sd_used, 3), "baseline_days": self.baseline_days,
                "threshold": self.threshold, "alarm": self.alarm}


def _baseline(series: list[float | None], t: int, lag: int) -> list[float]:
    """The reported values among the ``BASELINE_DAYS`` school days ending ``lag`` days before ``t``."""
    start = max(0, t - lag - BASELINE_DAYS + 1)
    return [v for v in series[start:t - lag + 1] if v is not None] if t - lag >= 0 else []


def _shewhart(series: list[float | None], t: int, lag: int, settings: EarlyWarningSettings
              ) -> tuple[float, float, float, float, int] | None:
    """(statistic, mean, sd, sd_used, n) of ``series[t]`` against the baseline, or None."""
    y = series[t] if 0 <= t < len(series) else None
    if y is None:
        return None
    base = _baseline(series, t, lag)
    if len(base) < max(2, settings.min_baseline_days):
        return None
    mean = sum(base) / len(base)
    sd = math.sqrt(sum((v - mean) ** 2 for v in base) / (len(base) - 1))
    sd_used = max(sd, settings.min_sd)
    return (y - mean) / sd_used, mean, sd, sd_used, len(base)


def c1(series: list[float | None], t: int, settings: EarlyWarningSettings) -> MethodResult | None:
    """EARS C1 at index ``t``: the 7 previous school days, no guard band. None when ``series[t]``
    is missing or the baseline has fewer than ``min_baseline_days`` reported days."""
    return _result("C1", series, t, 1, settings)


def c2(series: list[float | None], t: int, settings: EarlyWarningSettings) -> MethodResult | None:
    """EARS C2 at index ``t``: 7 school days after a 2-day guard band (t-9 .. t-3)."""
    return _result("C2", series, t, 1 + GUARD_DAYS, settings)


def _result(method: str, series: list[float | None], t: int, lag: int, settings: EarlyWarningSettings
            ) -> MethodResult | None:
    found = _shewhart(series, t, lag, settings)
    if found is None:
        return None
    statistic, mean, sd, sd_used, n = found
    threshold = settings.threshold(method)
    y = series[t] or 0
    return MethodResult(method=method, statistic=statistic, mean=mean, sd=sd, sd_used=sd_used, baseline_days=n,
                        threshold=threshold, alarm=statistic > threshold and y >= settings.min_count)


def c3(series: list[float | None], t: int, settings: EarlyWarningSettings) -> MethodResult | None:
    """EARS C3 at index ``t``: ``sum_{i=t-2..t} max(0, C2_i - 1)``. None when C2 at ``t`` is
    None; an earlier day without a C2 statistic (missing report) adds nothing."""
    today = c2(series, t, settings)
    if today is None:
        return None
    statistic = 0.0
    for i in range(t - C3_DAYS + 1, t + 1):
        found = today if i == t else c2(series, i, settings)
        if found is not None:
            statistic += max(0.0, found.statistic - C3_EXCESS_OVER)
    threshold = settings.c3_threshold
    return MethodResult(method="C3", statistic=statistic, mean=today.mean, sd=today.sd, sd_used=today.sd_used,
                        baseline_days=today.baseline_days, threshold=threshold,
                        alarm=statistic > threshold and (series[t] or 0) >= settings.min_count)


METHOD_FUNCTIONS: dict[str, Callable[[list[float | None], int, EarlyWarningSettings], MethodResult | None]] = {
    "C1": c1, "C2": c2, "C3": c3}


def evaluate(series: list[float | None], t: int, settings: EarlyWarningSettings) -> dict[str, MethodResult]:
    """Every method that has a statistic at index ``t``."""
    out = {}
    for method, function in METHOD_FUNCTIONS.items():
        found = function(series, t, settings)
        if found is not None:
            out[method] = found
    return out


# -- calendars and the data of a series ---------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SchoolCalendar:
    """School days: ISO weekdays minus holidays (registry ``calendar:<county>`` or ``calendar:default``),
    the same reading as the service's ``Calendar``."""

    school_weekdays: frozenset[int] = frozenset(range(1, 8))
    holidays: frozenset[str] = frozenset()
    closures: frozenset[str] = frozenset()  # explained closures: not days of the series

    @classmethod
    def from_doc(cls, doc: dict | None) -> SchoolCalendar:
        if not doc:
            return cls()
        return cls(school_weekdays=frozenset(doc.get("school_weekdays") or range(1, 8)),
                   holidays=frozenset(doc.get("holidays") or ()), closures=frozenset(doc.get("closures") or ()))

    def is_school_day(self, day: date) -> bool:
        key = day.isoformat()
        return day.isoweekday() in self.school_weekdays and key not in self.holidays and key not in self.closures

    def school_days_before(self, day: date, count: int) -> list[date]:
        """Up to ``count`` school days before ``day``, oldest first."""
        out: list[date] = []
        cursor = day
        for _ in range(MAX_CALENDAR_LOOKBACK):
            if len(out) >= count:
                break
            cursor -= timedelta(days=1)
            if self.is_school_day(cursor):
                out.append(cursor)
        return out[::-1]

    def school_days_after(self, day: date, count: int) -> list[date]:
        out: list[date] = []
        cursor = day
        for _ in range(MAX_CALENDAR_LOOKBACK):
            if len(out) >= count:
                break
            cursor += timedelta(days=1)
            if self.is_school_day(cursor):
                out.append(cursor)
        return out


def signal_values(metrics: list[int] | None) -> dict[str, Any] | None:
    """The signals' counts (and the enrolled) from a metric vector; None for no report."""
    if not metrics:
        return None
    named = dict(zip(METRIC_FIELDS, metrics, strict=True))
    if not named["reports"]:
        return None
    out: dict[str, Any] = {name: sum(named[f] for f in fields) for name, fields in SIGNALS.items()}
    out["students_enrolled"] = named["students_enrolled"]
    out["reports"] = named["reports"]
    return out


def day_result(values: list[dict | None], t: int, settings: EarlyWarningSettings, *, scope: str) -> dict | None:
    """The early-warning record of index ``t`` (None when that day has no report)."""
    today = values[t]
    if today is None:
        return None
    guard = settings if scope == "school" else replace(settings, min_count=settings.county_min_count)
    signals: dict[str, Any] = {}
    alarms: list[dict] = []
    for name in SIGNALS:
        series = [None if v is None else float(v[name]) for v in values]
        results = evaluate(series, t, guard)
        enrolled = today["students_enrolled"]
        signals[name] = {"observed": today[name],
                         "rate": round(today[name] / enrolled, 4) if enrolled else None,
                         "methods": {m: r.as_dict() for m, r in results.items()}}
        alarms.extend({"signal": name, **r.as_dict(), "observed": today[name]}
                      for m, r in results.items() if r.alarm and m in guard.alert_methods)
    return {"students_enrolled": today["students_enrolled"], "reports": today["reports"], "signals": signals,
            "alarm": bool(alarms), "alarms": alarms}


# -- plain words ---------------------------------------------------------------------------------

def describe(alarm: dict, lang: str = "zh") -> str:
    """One alarm in plain words, e.g. "发热缺勤及晨检发热 9 人,近 7 个上学日平均 2.1 人(标准差 1.3),高于预警线"."""
    zh, en = SIGNAL_LABELS.get(alarm["signal"], (alarm["signal"], alarm["signal"]))
    days = alarm.get("baseline_days", BASELINE_DAYS)
    guard = alarm["method"] != "C1"
    if lang == "en":
        where = f"the {days} school days before" + (" (leaving out the last 2)" if guard else "")
        return (f"{en.capitalize()}: {alarm['observed']}, against an average of {alarm['mean']:.1f} over {where} "
                f"(standard deviation {alarm['sd']:.1f}); above the warning line "
                f"({alarm['method']} {alarm['statistic']:.1f} > {alarm['threshold']:g})")
    where = f"近 {days} 个上学日" if not guard else f"此前第 3 至第 9 个上学日中的 {days} 天"
    return (f"{zh} {alarm['observed']} 人,{where}平均 {alarm['mean']:.1f} 人(标准差 {alarm['sd']:.1f}),"
            f"高于预警线({alarm['method']} {alarm['statistic']:.1f} > {alarm['threshold']:g})")


# -- incremental recomputation ---------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _Plan:
    """What one flush recomputes for a school or county: the changed ``days``, the ``targets``
    (those and the school days after them that read them) and the ``span`` of school days read."""

    scope: str
    owner: str
    report: dict
    days: set[date]
    targets: list[date]
    span: list[date]
    settings: EarlyWarningSettings


def doc_id(scope: str, owner: str, day: str) -> str:
    return f"{DOC_PREFIX}{scope}:{owner}:{day}"


class EarlyWarningUpdater:
    """Recomputes early warnings after reports change; see the module docstring.

    ``registry_doc`` returns a registry document by id (the worker's cache) or None. Raises the
    CouchDB client's errors."""

    def __init__(self, client: CouchClient, registry_doc: Callable[[str], dict | None], *,
                 flush_interval_s: float = FLUSH_INTERVAL_S):
        self.reports = client.db(REPORTS_DB)
        self.ops = client.db(OPS_DB)
        self.registry_doc = registry_doc
        self.flush_interval_s = flush_interval_s
        # Recomputed at most every ``flush_interval_s`` (and when the worker goes idle), not once
        # per school's batch: in the morning burst the schools' series are read and their
        # results written a few hundred at a time, and a county's document is written once,
        # not by each of its schools.
        self._pending: dict[tuple[str, str], tuple[dict, set[date]]] = {}
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()

    def settings_for(self, county_id: str | None) -> EarlyWarningSettings:
        doc = (self.registry_doc(f"{SETTINGS_PREFIX}{county_id}") if county_id else None) or self.registry_doc(
            f"{SETTINGS_PREFIX}default")
        return EarlyWarningSettings.from_doc(doc)

    def calendar_for(self, county_id: str | None) -> SchoolCalendar:
        doc = (self.registry_doc(f"calendar:{county_id}") if county_id else None) or self.registry_doc(
            "calendar:default")
        return SchoolCalendar.from_doc(doc)

    def update(self, changed: Iterable[dict]) -> int:
        """Queue changed daily reports (dicts with ``school_id``, ``county_id``,
        ``prefecture_id`` and ``date``) for the next recompute, and recompute if the last was
        ``flush_interval_s`` ago; returns how many ``ops`` documents were written."""
        with self._pending_lock:
            for report in changed:
                try:
                    day = date.fromisoformat(report["date"])
                except (KeyError, TypeError, ValueError):
                    continue
                for scope in SCOPES:
                    owner = report.get(f"{scope}_id")
                    if owner:
                        self._pending.setdefault((scope, owner), (report, set()))[1].add(day)
        if time.monotonic() - self._last_flush >= self.flush_interval_s:
            return self.flush()
        return 0

    def flush(self) -> int:
        """Recompute every school and county queued since the last flush: the schools' series in
        one read, each county's in one view query, the results in one write (one thread at a
        time; another that asks meanwhile returns 0). Returns documents written."""
        if not self._flush_lock.acquire(blocking=False):
            return 0
        try:
            self._last_flush = time.monotonic()
            with self._pending_lock:
                pending, self._pending = self._pending, {}
            try:
                plans = [self._plan(scope, owner, report, days) for (scope, owner), (report, days) in pending.items()]
                plans = [plan for plan in plans if plan.targets]
                values = self._school_values([plan for plan in plans if plan.scope == "school"])
                wanted: dict[str, dict | None] = {}
                for plan in plans:
                    if plan.scope == "school":
                        span, series = values[plan.owner]
                    else:
                        span, series = plan.span, self._values(plan.scope, plan.owner, plan.span)
                    wanted.update(self._results(plan, span, series))
                return self._write(wanted)
            except BaseException:
                with self._pending_lock:  # kept for the next flush
                    for key, (report, days) in pending.items():
                        self._pending.setdefault(key, (report, set()))[1].update(days)
                raise
        finally:
            self._flush_lock.release()

    def pending_count(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    def _targets(self, calendar: SchoolCalendar, days: set[date]) -> list[date]:
        targets: set[date] = set()
        for day in days:
            if calendar.is_school_day(day):
                targets.add(day)
            targets.update(calendar.school_days_after(day, DAYS_AHEAD))
        return sorted(targets)

    def _plan(self, scope: str, owner: str, report: dict, days: set[date]) -> _Plan:
        county_id = report.get("county_id")
        calendar = self.calendar_for(county_id)
        targets = self._targets(calendar, days)
        span: list[date] = []
        if targets:
            # A school reads a few more days back: days it explained as closed leave its series.
            margin = CLOSURE_MARGIN if scope == "school" else 0
            before = calendar.school_days_before(targets[0], LOOKBACK_SCHOOL_DAYS + margin)
            span = [d for d in before + _between(targets[0], targets[-1]) if calendar.is_school_day(d)]
        return _Plan(scope=scope, owner=owner, report=report, days=days, targets=targets, span=span,
                     settings=self.settings_for(county_id))

    def _results(self, plan: _Plan, span: list[date], values: list[dict | None]) -> dict[str, dict | None]:
        index = {d: i for i, d in enumerate(span)}
        county_id = plan.report.get("county_id")
        out: dict[str, dict | None] = {}
        for day in plan.targets:
            result = day_result(values, index[day], plan.settings, scope=plan.scope) if day in index else None
            key = doc_id(plan.scope, plan.owner, day.isoformat())
            if result is None:
                # A day without a report has no document, unless its report was just deleted
                # (then it is one of ``days``); a later day without one has nothing to remove.
                if day in plan.days:
                    out[key] = None
                continue
            out[key] = {"_id": key, "type": "early_warning", "scope": plan.scope, "owner": plan.owner,
                        "school_id": plan.owner if plan.scope == "school" else None, "county_id": county_id,
                        "prefecture_id": plan.report.get("prefecture_id"), "date": day.isoformat(),
                        "settings": plan.settings.as_dict(), **result}
        return out

    def _school_values(self, plans: list[_Plan]) -> dict[str, tuple[list[date], list[dict | None]]]:
        """Every planned school's (days, series), read with ``_all_docs`` in chunks of
        ``READ_CHUNK`` ids. A day the school explained as closed (an ``explanation`` with a
        ``closed_*`` reason) and did not report is not a day of its series."""
        keys = [f"{form}:{plan.owner}:{d.isoformat()}" for plan in plans for d in plan.span
                for form in ("daily_health", "explanation")]
        found: dict[str, dict] = {}
        for i in range(0, len(keys), READ_CHUNK):
            rows = self.reports.all_docs(keys=keys[i:i + READ_CHUNK], include_docs=True)["rows"]
            found.update({row["key"]: row["doc"] for row in rows if row.get("doc")})
        out = {}
        for plan in plans:
            days, series = [], []
            for d in plan.span:
                report = found.get(f"daily_health:{plan.owner}:{d.isoformat()}")
                explained = found.get(f"explanation:{plan.owner}:{d.isoformat()}") or {}
                if report is None and str((explained.get("data") or {}).get("reason", "")).startswith("closed_"):
                    continue
                days.append(d)
                series.append(signal_values((report or {}).get("metrics")))
            out[plan.owner] = (days, series)
        return out

    def _values(self, scope: str, owner: str, span: list[date]) -> list[dict | None]:
        """A county's series: its schools' reports summed per day (the ``summaries/daily`` view)."""
        if not span:
            return []
        rows = self.reports.view("summaries", "daily", group=True, startkey=["county", owner, span[0].isoformat()],
                                 endkey=["county", owner, span[-1].isoformat()])["rows"]
        by_day = {row["key"][2]: row["value"] for row in rows}
        return [signal_values(by_day.get(d.isoformat())) for d in span]

    def _write(self, wanted: dict[str, dict | None], *, attempts: int = 3) -> int:
        """Write what changed. A day's document is first created blindly (a new report's day
        has none: one request); one that exists (a conflict), or one to delete, is read and
        written again only if it changed, up to ``attempts`` times (another shard may write it)."""
        written = 0
        fresh = [doc for doc in wanted.values() if doc is not None]
        if fresh:
            done, conflicts = self._bulk(fresh)
            written += done
            wanted = {key: doc for key, doc in wanted.items() if doc is None or key in conflicts}
        for _ in range(attempts):
            if not wanted:
                break
            done, conflicts = self._write_once(wanted)
            written += done
            wanted = {key: wanted[key] for key in conflicts}
        return written

    def _write_once(self, wanted: dict[str, dict | None]) -> tuple[int, list[str]]:
        rows = self.ops.all_docs(keys=sorted(wanted), include_docs=True)["rows"]
        existing = {row["key"]: row["doc"] for row in rows if row.get("doc")}
        out = []
        for key, doc in wanted.items():
            current = existing.get(key)
            if doc is None:
                if current is not None:
                    out.append({"_id": key, "_rev": current["_rev"], "_deleted": True})
                continue
            doc = {k: v for k, v in doc.items() if k != "_rev"}
            if current is not None:
                if {k: v for k, v in current.items() if k != "_rev"} == doc:
                    continue
                doc["_rev"] = current["_rev"]
            out.append(doc)
        if not out:
            return 0, []
        return self._bulk(out)

    def _bulk(self, docs: list[dict]) -> tuple[int, list[str]]:
        written, conflicts = 0, []
        for result in self.ops.bulk_docs(docs):
            if result.ok:
                written += 1
            elif result.error == "conflict":
                conflicts.append(result.id)
            else:
                log.warning("early warning not written", extra={"doc_id": result.id, "error": result.error})
        return written, conflicts


def _between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


__all__ = ["METHODS", "SIGNALS", "SIGNAL_LABELS", "EarlyWarningSettings", "EarlyWarningUpdater", "MethodResult",
           "SchoolCalendar", "c1", "c2", "c3", "day_result", "describe", "doc_id", "evaluate", "signal_values"]
