"""Shared fixtures and builders for the worker, conflict and review tests (no tests here).

Other test modules import from here; fixtures defined here become theirs by import.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mobile_schema import examples
from sync.couch import CouchClient
from sync.provision import OPS_DB, REGISTRY_DB, REPORTS_DB, provision_core, provision_school, school_db_name
from sync.settings import WorkerSettings

PROJECT = Path(__file__).resolve().parents[2]
COUNTY = "c-test"
PREFECTURE = "p-test"


def days_ago(n: int) -> str:
    """A local (UTC+8) date ``n`` days before today."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8) - dt.timedelta(days=n)).date().isoformat()


def report(school_id: str, date: str, *, device: str = examples.DEVICE, author: str = "t1", **data) -> dict:
    doc = examples.daily_health(date=date, **data)
    doc["school_id"] = school_id
    doc["meta"]["device"] = device
    doc["meta"]["author"] = author
    doc["meta"]["clocks"] = {}
    return doc


@dataclass
class World:
    """Schools of one test: registry entries, provisioned databases, a worker's settings."""

    couch: CouchClient
    couch_url: str
    run_id: str
    schools: list[str] = field(default_factory=list)
    registry_ids: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        return f"^school_w{self.run_id}"

    def settings(self, **changes) -> WorkerSettings:
        values = dict(couchdb_url=self.couch_url, db_pattern=self.pattern, status_interval_s=0.0)
        values.update(changes)
        return WorkerSettings(**values)

    def add_school(self, *, registered: bool = True, roster: tuple[str, ...] | None = ("t1", "t2")) -> str:
        school_id = f"w{self.run_id}-{len(self.schools)}"
        self.schools.append(school_id)
        registry = self.couch.db(REGISTRY_DB)
        if registered:
            registry.put({"_id": f"school:{school_id}", "type": "school", "county_id": COUNTY,
                          "prefecture_id": PREFECTURE, "name": f"School {school_id}", "opened": "2020-01-01",
                          "closed": None})
            self.registry_ids.append(f"school:{school_id}")
            if roster is not None:
                registry.put({"_id": f"roster:{school_id}", "type": "roster", "school_id": school_id,
                              "teachers": [{"username": u, "display_name": u.upper()} for u in roster]})
                self.registry_ids.append(f"roster:{school_id}")
        provision_school(self.couch, school_id)
        return school_id

    def db(self, school_id: str):
        return self.couch.db(school_db_name(school_id))

    def canonicals(self) -> dict[str, dict]:
        rows = self.couch.db(REPORTS_DB).all_docs(include_docs=True, startkey="daily_health:w" + self.run_id,
                                                  endkey="daily_health:w" + self.run_id + "\ufff0")["rows"]
        out = {r["id"]: r["doc"] for r in rows}
        rows = self.couch.db(REPORTS_DB).all_docs(include_docs=True, startkey="incident:w" + self.run_id,
                                                  endkey="incident:w" + self.run_id + "\ufff0")["rows"]
        out.update({r["id"]: r["doc"] for r in rows})
        return out

    def ops_docs(self, doc_type: str | None = None) -> list[dict]:
        names = {school_db_name(s) for s in self.schools}
        rows = self.couch.db(OPS_DB).all_docs(include_docs=True)["rows"]
        return [r["doc"] for r in rows if r["doc"].get("db") in names
                and (doc_type is None or r["doc"].get("type") == doc_type)]

    def run_cli(self, *args: str, timeout: float = 120, env_extra: dict | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, COUCHDB_URL=self.couch_url, WORKER_DB_PATTERN=self.pattern)
        env.update(env_extra or {})
        return subprocess.run([sys.executable, "-m", "sync", *args], cwd=PROJECT, env=env, capture_output=True,
                              text=True, timeout=timeout)

    def popen_cli(self, *args: str, env_extra: dict | None = None) -> subprocess.Popen:
        env = dict(os.environ, COUCHDB_URL=self.couch_url, WORKER_DB_PATTERN=self.pattern)
        env.update(env_extra or {})
        return subprocess.Popen([sys.executable, "-m", "sync", *args], cwd=PROJECT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def world(couch, couch_url, run_id):
    provision_core(couch)
    w = World(couch=couch, couch_url=couch_url, run_id=run_id)
    yield w
    for school_id in w.schools:
        try:
            w.db(school_id).delete_database()
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
            pass
    registry = couch.db(REGISTRY_DB)
    for doc_id in w.registry_ids:
        doc = registry.get_or_none(doc_id)
        if doc:
            registry.delete(doc_id, doc["_rev"])


@pytest.fixture
def device(couch, couch_url):
    """``device(school_id)`` -> (account name, client syncing as that device account)."""
    made = []

    def make(school_id: str) -> tuple[str, CouchClient]:
        name = f"device_{uuid.uuid4().hex[:12]}"
        couch.put_user(name, password="device-pw", roles=[f"school:{school_id}", "device"])
        base = couch.base_url.split("://", 1)[1]
        client = CouchClient(f"http://{name}:device-pw@{base}")
        made.append((name, client))
        return name, client

    yield make
    for name, client in made:
        client.close()
        couch.delete_user(name)


def put_branch(db, doc: dict, rev: str, history: list[str]) -> None:
    """Write ``doc`` as revision ``rev`` (``"3-abc"``) with ancestors ``history`` (newest first,
    without ``rev``), bypassing validation as replication does (``new_edits=false``)."""
    body = copy.deepcopy(doc)
    pos, rid = rev.split("-", 1)
    body["_rev"] = rev
    body["_revisions"] = {"start": int(pos), "ids": [rid] + [h.split("-", 1)[1] for h in history]}
    results = db.bulk_docs([body], new_edits=False)
    assert all(r.ok for r in results), results
