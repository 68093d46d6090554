"""Benchmark of the summaries (prints figures; not a test).

    .venv/bin/python bench/summaries.py --schools 2000 --days 90 [--counties-per-prefecture 9] [--runs 30]

Loads the demo at the given shape into a fresh embedded server (or ``--url`` of a server
that already holds it, with ``--skip-load``), runs the worker once, then prints:

* the view build time of ``_design/summaries`` (first query after the worker has written
  every canonical report);
* p50/p95 latency of a county 30-day summary through the API and of the raw view queries
  the endpoint makes (``daily`` grouped by day + ``reported`` for the same county and
  range), measured alternately in the same run; the goal is API ≤ 1.5 × raw + 10 ms;
* p50/p95 of a province 30-day summary through the API and of its raw view queries.

The API is called through Flask's test client (no HTTP socket in front of the service), so
the difference is the service's own work: registry snapshot check, arithmetic, JSON.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo import DemoShape, load  # noqa: E402
from sync.couch import CouchClient, split_credentials  # noqa: E402
from sync.embedded import EmbeddedCouch  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fmt(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5) * 1000:7.1f} ms   p95 {percentile(values, 0.95) * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--prefectures", type=int, default=21)
    parser.add_argument("--counties-per-prefecture", type=int, default=9)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--url", help="use this server instead of a fresh embedded one")
    parser.add_argument("--skip-load", action="store_true", help="the server already holds the demo")
    args = parser.parse_args()
    shape = DemoShape(prefectures=args.prefectures, counties_per_prefecture=args.counties_per_prefecture,
                      schools=args.schools, days=args.days, seed=2020)
    workdir = Path(tempfile.mkdtemp(prefix="bench-summaries-"))
    server = None if args.url else EmbeddedCouch(workdir / "couchdb").start()
    url = args.url or server.url
    try:
        print(f"shape: {shape.prefectures} prefectures x {shape.counties_per_prefecture} counties, "
              f"{shape.schools} schools, {shape.days} days ({shape.start_date}..{shape.end_date}); "
              f"server: {'given URL' if args.url else 'embedded pouchdb-server'}", flush=True)
        if not args.skip_load:
            started = time.monotonic()
            with CouchClient(url) as couch:
                load(couch, shape, threads=8)
            print(f"demo load (devices writing to school databases): {time.monotonic() - started:8.1f} s", flush=True)
            started = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "sync", "--once", "--log-level", "WARNING"],
                                 env=dict(os.environ, COUCHDB_URL=url), capture_output=True, text=True)
            if run.returncode:
                print(run.stderr[-3000:])
                return 1
            print(f"worker (canonical reports written):             {time.monotonic() - started:8.1f} s", flush=True)
        with CouchClient(url) as couch:
            reports = couch.db("reports")
            started = time.monotonic()
            reports.view("summaries", "daily", limit=1, group=True, timeout_s=3600)
            print(f"view build, _design/summaries (all its views):  {time.monotonic() - started:8.1f} s "
                  f"({reports.info()['doc_count']} docs in reports)", flush=True)

            from server import create_app
            from server.config import Settings

            app = create_app({"SETTINGS": Settings(couchdb_url=url, secret_key="bench", var_dir=workdir / "var"),
                              "TESTING": True})
            _base, user, password = split_credentials(url)
            client = app.test_client()
            client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode()
            end = shape.end_date
            start = end - timedelta(days=29)
            trend_first = min(start, end - timedelta(days=7))
            counties = sorted(doc["_id"].split(":", 1)[1] for doc in [
                row["doc"] for row in couch.db("registry").view("registry", "by_type", key="county", reduce=False,
                                                               include_docs=True)["rows"]])
            rng = random.Random(1)
            query = {"from": start.isoformat(), "to": end.isoformat()}
            client.get("/api/v1/summaries/province", query_string=query)  # warm the registry snapshot

            def raw_county(county_id: str) -> None:
                reports.view("summaries", "daily", startkey=["county", county_id, trend_first.isoformat()],
                             endkey=["county", county_id, end.isoformat()], group=True)
                reports.view("summaries", "reported", startkey=[county_id, trend_first.isoformat()],
                             endkey=[county_id, end.isoformat(), {}], reduce=False)

            def raw_county_daily_only(county_id: str) -> None:
                reports.view("summaries", "daily", startkey=["county", county_id, start.isoformat()],
                             endkey=["county", county_id, end.isoformat()], group=True)

            def api_county(county_id: str) -> None:
                answer = client.get(f"/api/v1/summaries/county/{county_id}", query_string=query)
                assert answer.status_code == 200, answer.get_data(as_text=True)[:500]

            api, raw, raw_daily = [], [], []
            for _ in range(args.runs):
                county_id = rng.choice(counties)
                for target, action in ((raw, raw_county), (api, api_county), (raw_daily, raw_county_daily_only)):
                    t0 = time.perf_counter()
                    action(county_id)
                    target.append(time.perf_counter() - t0)
            print(f"county 30-day summary, API:                      {fmt(api)}")
            print(f"county 30-day, raw view queries of the endpoint: {fmt(raw)}")
            print(f"county 30-day, raw daily view query alone:       {fmt(raw_daily)}")
            goal = 1.5 * percentile(raw, 0.5) + 0.010
            print(f"goal API p50 <= 1.5 x raw + 10 ms = {goal * 1000:.1f} ms: "
                  f"{'met' if percentile(api, 0.5) <= goal else 'NOT met'}", flush=True)

            days = [(trend_first + timedelta(days=n)).isoformat() for n in range((end - trend_first).days + 1)]

            def raw_province() -> None:
                """What the endpoint reads: every county's figures per day, by one date range."""
                reports.view("summaries", "daily_by_date", startkey=[trend_first.isoformat()],
                             endkey=[end.isoformat(), {}], group=True)

            def multikey_breakdown() -> None:
                """As first written: the province range, then one key per county and day."""
                reports.view("summaries", "daily", startkey=["province", "", trend_first.isoformat()],
                             endkey=["province", "", end.isoformat()], group=True)
                reports.view("summaries", "daily", keys=[["county", c, d] for c in counties for d in days],
                             group=True)

            before: list[float] = []
            for _ in range(max(3, args.runs // 10)):
                started = time.perf_counter()
                multikey_breakdown()
                before.append(time.perf_counter() - started)
            print(f"province, the previous queries:                 {fmt(before)}  (the queries it replaced)")

            def api_province() -> None:
                answer = client.get("/api/v1/summaries/province", query_string=query)
                assert answer.status_code == 200

            papi, praw = [], []
            for _ in range(max(5, args.runs // 3)):
                for target, action in ((praw, raw_province), (papi, api_province)):
                    t0 = time.perf_counter()
                    action()
                    target.append(time.perf_counter() - t0)
            print(f"province 30-day summary, API:                    {fmt(papi)}")
            print(f"province 30-day, raw view queries:               {fmt(praw)}")
            app.extensions["couch"].close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
