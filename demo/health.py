"""A believable day of absence and fever at one school: seasonal, weekday effects, outbreaks.

Rates are per pupil per school day. Respiratory illness in Sichuan peaks in mid-winter and
is lowest in summer (``season_factor``: 0.6 in July, 2.0 in mid-January); Mondays see more
illness absence than the rest of the week (children who fell ill over the weekend); a small
outbreak at one school (``outbreak_level`` between 0 and 1) multiplies fever and illness
absence for about a week, with suspected cases and close contacts at its peak. Nothing here
is an epidemiological model: it is meant to look right on a dashboard and trip the alert
rules now and then.
"""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

ILLNESS_ABSENCE = 0.008  # absent for illness, per pupil per day, at season factor 1
FEVER_ABSENCE = 0.002
OTHER_ABSENCE = 0.005  # family matters, weather: not seasonal here
FEVER_AT_CHECK = 0.0012
RESPIRATORY = 0.004
STAFF_FEVER = 0.002
# An outbreak at its peak multiplies these (fever most: that is what the entry check sees).
OUTBREAK_FEVER = 15.0
OUTBREAK_ILLNESS = 10.0
# Expected fever and respiratory events at a school of this many pupils on an ordinary day:
# ``zero_rate`` is the share of zero reports at such a school (``zero_chance``).
REFERENCE_PUPILS = 400
# Monday to Friday: illness absence and fever at the entry check.
WEEKDAY_FACTOR = {1: 1.2, 2: 1.05, 3: 1.0, 4: 0.95, 5: 0.9, 6: 1.0, 7: 1.0}
OUTBREAK_NOTES = ("班级发热学生增多,已报告乡镇卫生院", "已对相关班级加强晨午检和通风消毒",
                  "疾控中心已到校采样,等待结果", "部分学生居家观察,家长已告知")


def season_factor(day: date) -> float:
    """0.6 in mid-July to 2.0 in mid-January (a cosine over the year)."""
    winter = 0.5 * (1 + math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25))
    return 0.6 + 1.4 * winter


def outbreak_level(day: date, start: date | None, length: int) -> float:
    """How strong an outbreak that began on ``start`` and lasts ``length`` days is on ``day``:
    up over two days, then down."""
    if start is None:
        return 0.0
    n = (day - start).days
    if n < 0 or n >= length:
        return 0.0
    return min(1.0, (n + 1) / 3) * (1 - max(0, n - 2) / max(1, length - 2))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method; a rounded normal for large means)."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def zero_chance(zero_rate: float, enrolled: int, day: date | None, outbreak: float) -> float:
    """The chance that nothing abnormal happens at the school on ``day``: ``zero_rate`` at a
    school of ``REFERENCE_PUPILS`` on an ordinary day, nearly 1 at a village school, nearly 0
    at a county middle school in winter and during an outbreak."""
    if outbreak > 0:
        return 0.0
    season = season_factor(day) if day else 1.0
    weekday = WEEKDAY_FACTOR[day.isoweekday()] if day else 1.0
    expected = enrolled * (FEVER_AT_CHECK + RESPIRATORY) * season * weekday
    reference = REFERENCE_PUPILS * (FEVER_AT_CHECK + RESPIRATORY)
    return zero_rate ** (expected / reference)


def day_figures(rng: random.Random, enrolled: int, zero: bool, *, day: date | None = None,
                outbreak: float = 0.0) -> dict:
    """The ``data`` of a ``daily_health`` report (newest version) of a school of ``enrolled``
    pupils on ``day`` (an ordinary day when None); ``zero``: nothing abnormal (every abnormal
    count 0), else at least one abnormal count is not."""
    season = season_factor(day) if day else 1.0
    weekday = WEEKDAY_FACTOR[day.isoweekday()] if day else 1.0
    illness = season * weekday * (1 + OUTBREAK_ILLNESS * outbreak)
    absent_illness = poisson(rng, enrolled * ILLNESS_ABSENCE * illness)
    absent_fever = 0 if zero else poisson(rng, enrolled * FEVER_ABSENCE * illness)
    absent_other = poisson(rng, enrolled * OTHER_ABSENCE)
    # every absence is a pupil on the register: cut the largest causes first
    absent_illness = min(absent_illness, enrolled)
    absent_fever = min(absent_fever, enrolled - absent_illness)
    absent_other = min(absent_other, enrolled - absent_illness - absent_fever)
    present = enrolled - absent_illness - absent_fever - absent_other
    staff_total = max(2, round(enrolled / 13))
    staff_present = staff_total - min(staff_total - 1, poisson(rng, staff_total * 0.03))
    data: dict[str, Any] = {
        "students_enrolled": enrolled, "students_present": present,
        "absent_illness": absent_illness, "absent_fever": absent_fever, "absent_other": absent_other,
        "fever_at_check": 0, "respiratory_symptoms": 0, "isolated_on_campus": 0, "sent_to_hospital": 0,
        "suspected_cases": 0, "confirmed_cases": 0, "close_contacts": 0,
        "returned_from_affected_areas": min(enrolled, poisson(rng, 0.15)), "staff_total": staff_total,
        "staff_present": staff_present, "staff_fever": 0, "disinfection_done": rng.random() > 0.03,
        "notes": "", "zero_report": zero,
    }
    if zero:
        return data
    fever = season * weekday * (1 + OUTBREAK_FEVER * outbreak)
    data["fever_at_check"] = min(present, poisson(rng, present * FEVER_AT_CHECK * fever))
    data["respiratory_symptoms"] = min(enrolled, poisson(rng, enrolled * RESPIRATORY * season * (1 + 4 * outbreak)))
    data["staff_fever"] = min(staff_present, poisson(rng, staff_present * STAFF_FEVER * season))
    suspected = confirmed = 0
    if outbreak > 0.5:
        suspected = min(enrolled, poisson(rng, 1.5 * outbreak))
        confirmed = min(suspected, poisson(rng, 0.4 * outbreak))
        data["notes"] = rng.choice(OUTBREAK_NOTES)
    elif rng.random() < 0.004 * season * enrolled / REFERENCE_PUPILS:
        suspected = 1
    data.update(suspected_cases=suspected, confirmed_cases=confirmed)
    if not any(data[name] for name in ("fever_at_check", "respiratory_symptoms", "staff_fever", "suspected_cases")):
        # not a zero report, so something was seen: one pupil, mostly a cough
        data["fever_at_check" if present and rng.random() < 0.3 else "respiratory_symptoms"] = 1
    feverish: int = data["fever_at_check"]
    data["isolated_on_campus"] = sum(rng.random() < 0.6 for _ in range(feverish))
    data["sent_to_hospital"] = sum(rng.random() < 0.15 for _ in range(feverish))
    cases = suspected + confirmed
    if cases:
        data["close_contacts"] = min(enrolled, sum(poisson(rng, 6) for _ in range(cases)))
    return data
