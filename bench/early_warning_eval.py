"""Evaluation of the early-warning methods against injected outbreaks (prints figures; not a test).

    .venv/bin/python bench/early_warning_eval.py [--schools 2000] [--seed 1]

Generates a school year of daily illness counts for ``--schools`` schools (30 to 3,000 pupils,
log-uniform; a per-pupil rate with a winter season, a weekly pattern and overdispersed
gamma-Poisson noise; school days Monday to Friday minus a winter and a summer holiday),
injects outbreaks into a random 5% of school-weeks (start on a random school day of the week,
3 to 10 school days long, a peak of 1% to 5% of the pupils and at least 3, rising and falling),
and runs EARS C1, C2 and C3 (``sync.early_warning``, with the service's defaults, and without
the ``min_sd``/``min_count`` guards as published) and the fixed thresholds of the alert rules
(2% and 10% of the pupils). For each it prints:

* sensitivity: outbreaks with an alarm on one of their days;
* false alarms per school per 100 school days: alarms on days outside every outbreak;
* median detection delay in school days (0: on the outbreak's first day), of those detected;
* the statistics' compute time, and what a day of reports costs at 20,000 schools (three
  signals, every method; the I/O is in ``bench/early_warning.py``).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.early_warning import EarlyWarningSettings, c1, c2, c3, evaluate  # noqa: E402

YEAR_START = date(2025, 9, 1)
WINTER = (date(2026, 1, 19), date(2026, 2, 22))
SUMMER = (date(2026, 7, 6), date(2026, 8, 31))


def school_days() -> list[date]:
    days = []
    day = YEAR_START
    while day < date(2026, 8, 31):
        if day.isoweekday() <= 5 and not (WINTER[0] <= day <= WINTER[1]) and not (SUMMER[0] <= day <= SUMMER[1]):
            days.append(day)
        day += timedelta(days=1)
    return days


@dataclass
class School:
    size: int
    counts: list[float]
    outbreak_days: set[int]  # indexes of school days inside an outbreak
    outbreaks: list[tuple[int, int]]  # (first index, length)


def poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def make_school(rng: random.Random, days: list[date], outbreak_share: float) -> School:
    size = round(math.exp(rng.uniform(math.log(30), math.log(3000))))
    per_pupil = rng.uniform(0.003, 0.012)  # illness absences per pupil and day, on average
    dispersion = 4.0  # gamma shape: variance = mean + mean^2 / 4
    weekly = {1: 1.15, 2: 1.0, 3: 0.97, 4: 0.95, 5: 0.93}
    counts: list[float] = []
    for day in days:
        season = 1 + 0.45 * math.cos(2 * math.pi * ((day - date(2026, 1, 10)).days / 365))
        mean = size * per_pupil * season * weekly[day.isoweekday()]
        counts.append(float(poisson(rng, rng.gammavariate(dispersion, mean / dispersion))))
    outbreaks: list[tuple[int, int]] = []
    inside: set[int] = set()
    weeks: dict[tuple[int, int], list[int]] = {}
    for i, day in enumerate(days):
        weeks.setdefault(day.isocalendar()[:2], []).append(i)
    for indexes in weeks.values():
        if rng.random() >= outbreak_share or indexes[0] < 12:
            continue
        first = rng.choice(indexes)
        length = rng.randint(3, 10)
        if any(j in inside for j in range(first - 12, first + length)):
            continue
        peak = max(3, round(size * rng.uniform(0.01, 0.05)))
        for k in range(length):
            if first + k >= len(counts):
                break
            shape = (k + 1) / (length / 2) if k < length / 2 else (length - k) / (length / 2)
            counts[first + k] += poisson(rng, peak * min(1.0, shape))
            inside.add(first + k)
        outbreaks.append((first, length))
    return School(size=size, counts=counts, outbreak_days=inside, outbreaks=outbreaks)


def detect(schools: list[School], alarm_on) -> tuple[float, float, float | None, int]:
    detected, delays, false_alarms, days_total, outbreaks = 0, [], 0, 0, 0
    for school in schools:
        alarms = [alarm_on(school, t) for t in range(len(school.counts))]
        days_total += len(school.counts) - 12
        false_alarms += sum(1 for t, a in enumerate(alarms) if a and t >= 12 and t not in school.outbreak_days)
        for first, length in school.outbreaks:
            outbreaks += 1
            hits = [k for k in range(length) if first + k < len(alarms) and alarms[first + k]]
            if hits:
                detected += 1
                delays.append(hits[0])
    return (detected / outbreaks if outbreaks else 0.0, false_alarms / days_total * 100,
            statistics.median(delays) if delays else None, outbreaks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outbreak-share", type=float, default=0.05, help="school-weeks with an outbreak")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    days = school_days()
    t0 = time.perf_counter()
    schools = [make_school(rng, days, args.outbreak_share) for _ in range(args.schools)]
    print(f"{args.schools} schools x {len(days)} school days ({days[0]}..{days[-1]}), sizes "
          f"{min(s.size for s in schools)}..{max(s.size for s in schools)} pupils; "
          f"{sum(len(s.outbreaks) for s in schools)} outbreaks injected; generated in {time.perf_counter() - t0:.1f} s")
    defaults = EarlyWarningSettings()
    bare = EarlyWarningSettings(min_sd=1e-9, min_count=0, min_baseline_days=2)
    methods = {"C1": c1, "C2": c2, "C3": c3}
    rows = []
    for label, settings in (("defaults (min_sd 1, min_count 3)", defaults), ("as published (no guards)", bare)):
        for name, function in methods.items():
            def alarm_on(school: School, t: int, function=function, settings=settings) -> bool:
                found = function(school.counts, t, settings)
                return bool(found and found.alarm)
            rows.append((f"{name}, {label}", *detect(schools, alarm_on)))
    for share in (0.02, 0.10):
        rows.append((f"fixed: count > {share:.0%} of pupils",
                     *detect(schools, lambda school, t, share=share: school.counts[t] > share * school.size)))
    print(f"{'method':42} {'sensitivity':>11} {'false alarms/100 school days':>29} {'median delay':>13}")
    for label, sensitivity, false_rate, delay, _n in rows:
        print(f"{label:42} {sensitivity:11.1%} {false_rate:29.2f} {'—' if delay is None else f'{delay:.0f}':>13}")
    # Compute time: every method on one day of one school, as the worker does per signal.
    sample = [(s.counts, t) for s in schools[:200] for t in range(12, len(s.counts), 7)]
    t0 = time.perf_counter()
    for counts, t in sample:
        evaluate(counts, t, defaults)
    per = (time.perf_counter() - t0) / len(sample)
    print(f"statistics per school, signal and day (C1, C2, C3): {per * 1e6:.0f} µs; a day of reports at 20,000 "
          f"schools x 3 signals x 12 recomputed days: {per * 20000 * 3 * 12:.1f} s of CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
