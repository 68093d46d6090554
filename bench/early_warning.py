"""Benchmark of early warning in the worker (prints figures; not a test).

    .venv/bin/python bench/early_warning.py --schools 500 --days 30 [--mornings 2] [--url URL --skip-load]

Loads the demo (``--days`` of history) into a fresh embedded server (or ``--url``), runs the
worker once over it, then times "mornings": every school files one report for the next
school day (written into its database, as a device's sync would), and the worker processes
them, alternately without early warning (``early_warning=False``) and with it. It prints the
worker's time per report in both cases, early warning's own share (time inside
``EarlyWarningUpdater.update``) and its requests per report, and what that means for 20,000
schools (the work per report is bounded whatever the number of schools: ~23 ids of its
school's series in a shared ``_all_docs``, its share of a ``_bulk_docs`` in ``ops``, and one
grouped view query per county per flush).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo import DemoShape, load  # noqa: E402
from mobile_schema import examples  # noqa: E402
from sync import early_warning as ew  # noqa: E402
from sync.couch import CouchClient  # noqa: E402
from sync.embedded import EmbeddedCouch  # noqa: E402
from sync.provision import school_db_name  # noqa: E402
from sync.settings import WorkerSettings  # noqa: E402
from sync.worker import Worker  # noqa: E402


def next_school_day(day: date) -> date:
    day += timedelta(days=1)
    while day.isoweekday() > 5:  # the demo's calendar: Monday to Friday
        day += timedelta(days=1)
    return day


def write_morning(couch: CouchClient, schools: list[str], day: date, spike_every: int) -> int:
    """One report per school for ``day`` (every ``spike_every``-th with a fever spike)."""
    written = 0
    for n, school in enumerate(schools):
        fever = 25 if spike_every and n % spike_every == 0 else 1
        doc = examples.daily_health(date=day.isoformat(), absent_fever=fever, students_enrolled=400,
                                    students_present=400 - 3 - fever - 2)
        doc["school_id"] = school
        doc["meta"] = dict(copy.deepcopy(doc["meta"]), device="bench-device", author="bench", clocks={})
        couch.db(school_db_name(school)).put(doc)
        written += 1
    return written


class TimedUpdater(ew.EarlyWarningUpdater):
    """Counts the time and the calls spent in ``update``."""

    seconds = 0.0
    calls = 0
    reports = 0

    def update(self, changed):
        changed = list(changed)
        t0 = time.perf_counter()
        try:
            return super().update(changed)
        finally:
            TimedUpdater.seconds += time.perf_counter() - t0
            TimedUpdater.calls += 1
            TimedUpdater.reports += len(changed)


def run_worker(url: str, *, early_warning: bool) -> tuple[float, int]:
    """(seconds, canonical reports written) of one worker run until idle."""
    settings = WorkerSettings(couchdb_url=url, early_warning=early_warning, status_interval_s=3600)
    with CouchClient(url) as client:
        worker = Worker(client, settings)
        if early_warning:
            worker.early_warning = TimedUpdater(client, worker.registry.doc)
        t0 = time.perf_counter()
        worker.run_until_idle()
        return time.perf_counter() - t0, worker.metrics.counters["written"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--prefectures", type=int, default=3)
    parser.add_argument("--counties-per-prefecture", type=int, default=4)
    parser.add_argument("--mornings", type=int, default=2,
                        help="pairs of mornings (without, with early warning); at most 5")
    parser.add_argument("--spike-every", type=int, default=50, help="every n-th school's report has a spike")
    parser.add_argument("--url", help="use this server instead of a fresh embedded one")
    parser.add_argument("--skip-load", action="store_true", help="the server already holds the demo")
    args = parser.parse_args()
    # History ends three weeks ago, so that the timed mornings are past days (a report dated
    # more than a day ahead is refused).
    shape = DemoShape(prefectures=args.prefectures, counties_per_prefecture=args.counties_per_prefecture,
                      schools=args.schools, days=args.days, seed=2026, end=date.today() - timedelta(days=21))
    workdir = Path(tempfile.mkdtemp(prefix="bench-early-warning-"))
    server = None if args.url else EmbeddedCouch(workdir / "couchdb").start()
    url = args.url or server.url
    os.environ.setdefault("COUCHDB_URL", url)
    try:
        print(f"shape: {shape.prefectures} prefectures x {shape.counties_per_prefecture} counties, "
              f"{shape.schools} schools, {shape.days} days of history; "
              f"server: {'given URL' if args.url else 'embedded pouchdb-server'}", flush=True)
        with CouchClient(url) as couch:
            if not args.skip_load:
                t0 = time.monotonic()
                load(couch, shape, threads=8)
                print(f"demo load:                                   {time.monotonic() - t0:8.1f} s", flush=True)
                took, _written = run_worker(url, early_warning=True)
                print(f"worker over the history (with early warning): {took:8.1f} s", flush=True)
            schools = sorted(row["id"].split(":", 1)[1] for row in couch.db("registry").view(
                "registry", "by_type", key="school", reduce=False)["rows"])
            couch.db("reports").view("summaries", "daily", limit=1, group=True, timeout_s=3600)  # views built
            couch.db("ops").view("ops", "early_warnings", limit=1, timeout_s=3600)
            TimedUpdater.seconds, TimedUpdater.calls, TimedUpdater.reports = 0.0, 0, 0  # the mornings only
            day = shape.end_date
            without: list[float] = []
            with_ew: list[float] = []
            for _ in range(args.mornings):
                for target, on in ((without, False), (with_ew, True)):
                    day = next_school_day(day)
                    n = write_morning(couch, schools, day, args.spike_every)
                    took, written = run_worker(url, early_warning=on)
                    print(f"  {day} early warning {'on ' if on else 'off'}: {written} of {n} reports written "
                          f"in {took:6.1f} s", flush=True)
                    target.append(took / n)
            alarms = couch.db("ops").view("ops", "early_warnings", endkey=["province", "", day.isoformat()],
                                          startkey=["province", "", shape.end_date.isoformat()])["rows"]
        off, on = sum(without) / len(without), sum(with_ew) / len(with_ew)
        share = TimedUpdater.seconds / max(1, TimedUpdater.reports)
        print(f"reports per morning: {len(schools)} (one per school); "
              f"mornings timed: {args.mornings} + {args.mornings}")
        print(f"worker per report, without early warning: {off * 1000:7.2f} ms")
        print(f"worker per report, with early warning:    {on * 1000:7.2f} ms  ({(on - off) / off * 100:+.0f} %)")
        print(f"inside EarlyWarningUpdater.update:        {share * 1000:7.2f} ms per report "
              f"({TimedUpdater.calls} batches, {TimedUpdater.reports} reports)")
        print(f"alarms (school or county) on the timed mornings: {len(alarms)}")
        print(f"at 20,000 schools: early warning adds ~{(on - off) * 20000 / 60:.1f} worker-minutes per morning "
              f"(~{share * 20000 / 60:.1f} by the update's own time), spread over the worker's threads and shards")
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
