"""One node of a 3-node CouchDB cluster goes down while the worker runs; nothing is lost.

A small demo (12 schools, two weeks) is written through device accounts into a real
cluster (``conftest.cluster``) and the worker runs as in production (``python -m sync``,
following node1). As soon as it has written its first canonical report, node2 is stopped. While node2 is down, devices
keep filing: a third week of reports (with conflicting edits from two devices) through
node1 and node3, and corrections of reports the worker had already made canonical. The
worker must get through all of it before node2 returns; then node2 comes back, the worker
settles to idle, and:

* ``reports`` holds exactly one canonical document per (school, date) written, with the
  final data, no conflicts, and made from each source document's final revision;
* nothing was quarantined and the worker counted no errors;
* the worker never exited (it is restarted if it does, as systemd would, so that the
  checks above still run; the test fails at the end);
* every county, prefecture and province figure, day by day, equals the oracle computed
  from the generator's own record (``tests/server/test_summaries_oracle.Oracle``);
* the service gives the same answers through node1, node3 and node2.

The third week is made and written by the demo generator's own helpers, so it is filed
exactly as the first two. Reads are CouchDB's: a document read is a quorum, while a range of
``_all_docs`` or a view is served by one copy of each shard, which just after node2 returns
may be node2's, still being brought up to date; the test reads accordingly (see below).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from demo import DemoShape, load
from demo.generate import DAILY, LOCAL_OFFSET, _edit, _school_reports, _write_school, devices_of  # as demo files
from sync.couch import CouchClient
from sync.progress import worker_progress
from sync.provision import OPS_DB, REPORTS_DB, school_db_name
from tests.server.test_summaries_oracle import COUNTS, Oracle, admin_client

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(600)]

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARED = ("schools_expected", "reports_received", "reports_from_expected", "schools_missing", "zero_reports",
            "completeness", "totals")
CORRECTIONS = 4  # wave-1 reports corrected on a second device while node2 is down
DEADLINE_S = 180.0


def wait_for(condition: Callable[[], object], what: str, *, timeout: float = DEADLINE_S, every: float = 0.2,
             check: Callable[[], None] | None = None, detail: Callable[[], str] | None = None):
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout``,
    with ``detail()`` in the message. ``check`` runs on every round (e.g. "restart the worker
    if it exited")."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(every)


def last_friday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.isoweekday() != 5:
        day -= timedelta(days=1)
    return day


def canonical_ids(couch: CouchClient) -> set[str]:
    rows = couch.db(REPORTS_DB).all_docs(startkey="daily_health:", endkey="daily_health:\ufff0")["rows"]
    return {row["id"] for row in rows}


def expected_ids(manifest) -> set[str]:
    return {f"daily_health:{sid}:{day}" for sid, day in manifest.expected}


def correct(node_url: str, manifest, school_id: str, day: str) -> None:
    """A teacher corrects a filed report on the school's second device (a new revision of it)."""
    device = devices_of(manifest, school_id)[1]
    roster = next(d for d in manifest.registry if d["_id"] == f"roster:{school_id}")["teachers"]
    scheme, rest = node_url.split("://", 1)
    host = rest.rsplit("@", 1)[-1]
    with CouchClient(f"{scheme}://{device}:{manifest.accounts[device]['password']}@{host}") as as_device:
        db = as_device.db(school_db_name(school_id))
        doc = db.get(DAILY.make_id(day))
        data = doc["data"]
        changes = {"absent_other": data["absent_other"] + 1, "students_present": data["students_present"] - 1}
        moment = datetime.now(UTC) - timedelta(minutes=1)
        db.put(_edit(doc, device, roster[0]["username"], moment, changes))
    manifest.expected[(school_id, day)] = dict(manifest.expected[(school_id, day)], **changes)


def summaries(client, oracle: Oracle, start: date, end: date) -> dict[tuple[str, str], dict]:
    """Every area's summary over ``start``..``end`` through ``client``, checked against the oracle."""
    query = {"from": start.isoformat(), "to": end.isoformat()}
    areas = [("county", c) for c in sorted(oracle.counties)]
    areas += [("prefecture", p) for p in sorted({c["prefecture_id"] for c in oracle.counties.values()})]
    areas.append(("province", ""))
    answers = {}
    for level, area_id in areas:
        path = f"/api/v1/summaries/{level}/{area_id}" if area_id else f"/api/v1/summaries/{level}"
        answer = client.get(path, query_string=query)
        assert answer.status_code == 200, (level, area_id, answer.get_json())
        body = answer.get_json()
        assert [row["date"] for row in body["days"]] == [
            (start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
        for row in body["days"]:
            want = oracle.day(level, area_id, date.fromisoformat(row["date"]))
            for key in COMPARED:
                assert row[key] == want[key], (level, area_id, row["date"], key, row[key], want[key])
            if level == "county":
                assert row["missing_school_ids"] == want["missing_school_ids"], (area_id, row["date"])
        want_total = oracle.total(level, area_id, start, end)
        for key in ("schools_expected", "reports_received", "reports_from_expected", "zero_reports", "completeness",
                    "totals"):
            assert body["total"][key] == want_total[key], (level, area_id, "total", key)
        answers[(level, area_id)] = {"days": body["days"], "total": body["total"]}
    return answers


def agreed_summaries(client, oracle: Oracle, start: date, end: date, node: str, *, timeout: float = 120.0):
    """``summaries`` once they agree with the oracle (deadline ``timeout``), and how many reads that took."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return summaries(client, oracle, start, end), attempts
        except AssertionError as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"the figures through {node} still differ from the oracle after {timeout:.0f} s: {exc}")
        time.sleep(1.0)


class SupervisedWorker:
    """``python -m sync run`` following ``url``, as production runs it, and restarted when it
    exits, as systemd does (``Restart=on-failure``). Every exit is recorded (the test fails on
    any, after checking that nothing was lost); ``stop`` sends SIGTERM and returns the code."""

    def __init__(self, url: str, log_path):
        # one change a batch: more requests in flight, so node2 goes down while some are
        self.env = dict(os.environ, COUCHDB_URL=url, WORKER_BATCH_SIZE="1", PYTHONPATH=PROJECT)
        self.log_path = log_path
        self.exits: list[str] = []
        self.proc = self._start()

    def _start(self) -> subprocess.Popen:
        with open(self.log_path, "a") as log:
            return subprocess.Popen([sys.executable, "-m", "sync", "run"], cwd=PROJECT, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:]

    def check(self) -> None:
        """Restart the worker if it has exited (the ``check`` of ``wait_for``)."""
        if self.proc.poll() is not None:
            self.exits.append(f"exit code {self.proc.returncode}:\n{self.log_tail()}")
            self.proc = self._start()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode


def test_worker_loses_nothing_when_a_node_goes_down_and_comes_back(cluster, tmp_path, tmp_path_factory):
    node1, node2, node3 = cluster.node_urls()
    today = (datetime.now(UTC) + LOCAL_OFFSET).date()
    outage_end = last_friday_before(today)
    # two weeks before the outage (Monday to Friday twice), the third week during it
    shape = DemoShape(prefectures=2, counties_per_prefecture=2, schools=12, days=12, seed=31,
                      end=outage_end - timedelta(days=7), conflict_rate=0.05, v1_rate=0.04)
    outage_week = replace(shape, days=5, end=outage_end, conflict_rate=0.15, v1_rate=0.05)
    start, end = shape.start_date, outage_week.end_date

    began = time.monotonic()
    with CouchClient(node1) as couch1, CouchClient(node3) as couch3:
        manifest = load(couch1, shape)  # provisions every database, writes through device accounts
        before_outage = dict(manifest.expected)
        # most of 12 schools x 10 school days (the demo has schools that never synced or
        # went offline), with conflicting edits and old-version reports among them
        assert len(before_outage) > 60 and manifest.conflicts and manifest.v1_reports
        worker = SupervisedWorker(node1, tmp_path / "worker.log")
        try:
            # node2 goes down while the worker is processing the first two weeks
            wait_for(lambda: canonical_ids(couch1), "the worker's first canonical report", check=worker.check)
            cluster.node(2).stop()
            stopped_at = time.monotonic()
            made_before_outage = len(canonical_ids(couch1))

            # devices keep filing through node1 and node3: a third week, and corrections
            rng = random.Random(outage_week.seed + 1)
            now = datetime.now(UTC)
            for n, school in enumerate(manifest.schools()):
                writes = _school_reports(outage_week, school, manifest, rng)
                _write_school(couch3 if n % 2 else couch1, manifest, writes, now)
            special = {*manifest.conflicts, *manifest.v1_reports}
            plain = sorted(key for key in before_outage if key not in special)
            for sid, day in plain[::max(1, len(plain) // CORRECTIONS)][:CORRECTIONS]:
                correct(node3, manifest, sid, day)
            written_at = time.monotonic()
            assert any(key not in before_outage for key in manifest.conflicts), "the third week needs conflicts too"

            # the worker gets through all of it with node2 still down
            wanted = expected_ids(manifest)
            wait_for(lambda: canonical_ids(couch1) >= wanted, "every report's canonical copy while node2 is down",
                     check=worker.check, detail=lambda: f"missing: {sorted(wanted - canonical_ids(couch1))}\n"
                                                         f"worker log:\n{worker.log_tail()}")

            cluster.node(2).start()
            restarted_at = time.monotonic()

            last: dict = {}

            def settled() -> bool:
                asked_at = time.monotonic()
                last.update(worker_progress(couch1, stale_after_s=60))
                # "idle" may lag a write by ~0.5 s (_db_updates); only trust answers asked later
                return bool(last["idle"] and last["verified_with_server"]
                            and asked_at - max(written_at, restarted_at) > 2.0)

            wait_for(lambda: settled() and settled(), "the worker to be idle", every=0.5, check=worker.check,
                     detail=lambda: f"last worker_progress: {last}\nworker log:\n{worker.log_tail()}")
            idle_at = time.monotonic()
        finally:
            stopped = worker.stop()
        assert stopped == 0, worker.log_tail()
        status = couch1.db(OPS_DB).get("worker_status:1-of-1")  # the (last) worker process's counters

        # Documents are read as a quorum: _all_docs with keys opens each one on r copies. A range
        # read is served by one copy of each shard, maybe node2's, still catching up: such a
        # copy can list fewer documents, never other ones.
        oracle = Oracle(manifest)
        wanted = expected_ids(manifest)
        reports_db = couch1.db(REPORTS_DB)
        listed = {row["id"] for row in reports_db.all_docs()["rows"] if not row["id"].startswith("_design/")}
        assert listed <= wanted, sorted(listed - wanted)
        rows = reports_db.all_docs(keys=sorted(wanted), include_docs=True, conflicts=True)["rows"]
        assert [row["key"] for row in rows if not row.get("doc")] == []
        reports = {row["id"]: row["doc"] for row in rows}
        # exactly one canonical report per (school, date) written, with the final data
        assert set(reports) == wanted
        for doc_id, doc in reports.items():
            assert not doc.get("_conflicts"), doc_id
            _form, sid, day = doc_id.split(":")
            want = oracle.reports[(sid, day)]
            assert {k: doc["data"][k] for k in (*COUNTS, "zero_report")} == \
                {k: want[k] for k in (*COUNTS, "zero_report")}, doc_id
        # each made from its source document's final revision, with every conflict settled
        for school in manifest.schools():
            sid = school["_id"].split(":", 1)[1]
            db = couch1.db(school_db_name(sid))
            days = sorted(day for school_id, day in manifest.expected if school_id == sid)
            sources = db.all_docs(keys=[DAILY.make_id(day) for day in days], include_docs=True,
                                  conflicts=True)["rows"]
            for day, row in zip(days, sources, strict=True):
                assert row.get("doc"), (sid, row)
                assert not row["doc"].get("_conflicts"), (sid, row["id"])
                assert reports[f"daily_health:{sid}:{day}"]["source"] == {
                    "db": db.name, "doc_id": row["id"], "rev": row["doc"]["_rev"]}, (sid, row["id"])
            prefix = DAILY.make_id("2000-01-01").removesuffix("2000-01-01")  # "report:daily_health:"
            listed = {row["id"] for row in db.all_docs(startkey=prefix, endkey=prefix + "\ufff0")["rows"]}
            assert listed <= {DAILY.make_id(day) for day in days}, (sid, listed)
        # nothing quarantined, no errors, and the worker followed _db_updates as in production
        assert status["counters"]["quarantined"] == 0 and status["counters"]["errors"] == 0, status["counters"]
        assert couch1.db(OPS_DB).all_docs(startkey="quarantine:", endkey="quarantine:\ufff0")["rows"] == []
        assert status["feed"] == "_db_updates"  # the fixture made _global_changes

        # every figure, day by day, from the API through each node. A coordinator may consult
        # node2's shard copies, which internal replication is still bringing up to date just
        # after it returns, so each node gets a deadline to agree with the oracle.
        answers, attempts = {}, {}
        for name, url in (("node1", node1), ("node3", node3), ("node2", node2)):
            with admin_client(url, tmp_path_factory) as (_app, client):
                answers[name], attempts[name] = agreed_summaries(client, oracle, start, end, name)
        assert answers["node3"] == answers["node1"]
        assert answers["node2"] == answers["node1"]
    print(f"canonical reports made before node2 stopped: {made_before_outage} of {len(before_outage)}; in the end "
          f"{len(reports)}; worker counters {status['counters']}; summary reads until each node agreed with "
          f"the oracle: {attempts}; seconds: until node2 stopped {stopped_at - began:.0f}, node2 down "
          f"{restarted_at - stopped_at:.0f}, until idle {idle_at - restarted_at:.0f}, "
          f"all {time.monotonic() - began:.0f}; worker exits {len(worker.exits)}")
    # the worker must ride out a node going down, not depend on its supervisor
    assert not worker.exits, "the worker exited (restarted as systemd would; the checks above passed):\n" + \
        "\n".join(worker.exits)
