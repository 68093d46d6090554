"""Measure on a CouchDB 3 node the costs behind the settings in deploy/couchdb/local.ini.

    .venv/bin/python deploy/couchdb/measure.py accounts URL [--count 20]
    .venv/bin/python deploy/couchdb/measure.py open-dbs URL [--count 2000] [--idle 60]
    .venv/bin/python deploy/couchdb/measure.py views URL [--docs 60000] [--q 1,2,4]
    .venv/bin/python deploy/couchdb/measure.py backup-batch URL [--count 20]

URL carries admin credentials (``http://admin:secret@127.0.0.1:6100``). Use a node of your
own: the commands create databases and accounts named ``measure_*`` and delete them
afterwards, and ``open-dbs`` is only meaningful when nothing else uses the node. Nothing
here changes the server's configuration; to compare settings, change them yourself
(``PUT /_node/_local/_config/...``) between runs. Figures and the settings they support:
docs/couchdb.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402

from sync.accounts import prehashed_credentials  # noqa: E402
from sync.couch import CouchClient  # noqa: E402
from sync.design import METRIC_FIELDS, REPORTS_DESIGN, school_design  # noqa: E402
from sync.errors import CouchUnavailable  # noqa: E402

PREFIX = "measure_"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def _summary(label: str, samples: list[float]) -> None:
    print(f"{label:<44} mean {_ms(statistics.mean(samples))}  median {_ms(statistics.median(samples))}"
          f"  max {_ms(max(samples))}  (n={len(samples)})")


def accounts(couch: CouchClient, count: int) -> None:
    """Creating an account with a plain password (CouchDB hashes it) against a pre-hashed
    device account, and each kind's first and second authentication (GET /_session, Basic)."""
    run = uuid.uuid4().hex[:6]
    users = couch.db("_users")
    sha256 = couch.has("pbkdf2_prf")
    iterations = couch.config_get("chttpd_auth", "iterations") or "600000 (default)"
    upgrade = couch.config_get("chttpd_auth", "upgrade_hash_on_auth") or "false (default)"
    print(f"server {couch.info().get('version')}; [chttpd_auth] iterations = {iterations}, "
          f"upgrade_hash_on_auth = {upgrade}; device hash: PBKDF2-{'SHA256' if sha256 else 'SHA1'}, 10 iterations")
    made: list[str] = []
    try:
        for kind in ("person", "device"):
            create, first, second = [], [], []
            revs: dict[str, str] = {}
            for i in range(count):
                name = f"{PREFIX}{kind}_{run}_{i:03d}"
                password = secrets.token_urlsafe(32) if kind == "device" else secrets.token_urlsafe(12)
                doc: dict = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user", "roles": []}
                if kind == "device":
                    doc.update(prehashed_credentials(password, sha256=sha256))
                else:
                    doc["password"] = password
                started = time.perf_counter()
                users.put(doc)
                create.append(time.perf_counter() - started)
                made.append(doc["_id"])
                revs[doc["_id"]] = doc["_rev"]
                with httpx.Client(base_url=couch.base_url, auth=(name, password), timeout=60) as as_user:
                    for samples in (first, second):
                        started = time.perf_counter()
                        answer = as_user.get("/_session")
                        samples.append(time.perf_counter() - started)
                        assert answer.status_code == 200 and answer.json()["userCtx"]["name"] == name, answer.text
            time.sleep(2)  # CouchDB upgrades hashes in the background after the response
            rehashed = [users.get(doc_id) for doc_id, rev in revs.items() if users.get(doc_id)["_rev"] != rev]
            _summary(f"{kind}: create (PUT _users)", create)
            _summary(f"{kind}: first auth (GET /_session, Basic)", first)
            _summary(f"{kind}: second auth (cached)", second)
            if rehashed:
                print(f"{kind}: {len(rehashed)} of {count} _users documents were rewritten after the first auth "
                      f"(upgrade_hash_on_auth), now {rehashed[0].get('iterations')} iterations")
            else:
                print(f"{kind}: no _users document was rewritten by its authentication")
    finally:
        for doc_id in made:
            current = users.get_or_none(doc_id)
            if current is not None:
                users.delete(doc_id, current["_rev"])


MEMORY_KEYS = ("processes", "ets", "binary")


def _memory(couch: CouchClient) -> dict:
    system = couch.request("GET", "/_node/_local/_system")
    memory = {key: system["memory"].get(key, 0) for key in MEMORY_KEYS}
    memory["sum"] = sum(memory.values())
    memory["process_count"] = system.get("process_count", 0)
    return memory


def open_dbs(couch: CouchClient, count: int, idle_s: float) -> None:
    """Memory of ``count`` open school-like databases (q=1, the school design document, a few
    documents each): the node's memory (Erlang processes, ETS tables, binaries) before creating
    them, right after opening them all, and after ``idle_s`` seconds without requests."""
    run = uuid.uuid4().hex[:6]
    names = [f"{PREFIX}school_{run}_{i:05d}" for i in range(count)]
    limit = couch.config_get("couchdb", "max_dbs_open")
    print(f"[couchdb] max_dbs_open = {limit or '500 (default)'}; {count} databases")
    before = _memory(couch)
    try:
        for name in names:
            db = couch.db(name)
            db.create(q=1)
            db.bulk_docs([school_design(name), {"_id": "config:device", "type": "config"},
                          {"_id": "device_status:d1", "type": "device_status", "data": {"battery": 90}}])
        started = time.perf_counter()
        for name in names:
            couch.db(name).info()  # opens the shard if it was closed
        touched = time.perf_counter() - started
        samples = [("just opened", _memory(couch))]
        time.sleep(idle_s)
        samples.append((f"after {idle_s:.0f} s idle", _memory(couch)))
        stats = couch.request("GET", "/_node/_local/_stats/couchdb/open_databases")
        print(f"open databases (stat): {stats.get('value')}; reading all their infos took {touched:.1f} s")
        for label, after in samples:
            per_db = {key: (after[key] - before[key]) / count for key in (*MEMORY_KEYS, "sum", "process_count")}
            print(f"{label:<16} memory {before['sum'] / 1e6:6.1f} MB -> {after['sum'] / 1e6:6.1f} MB: "
                  f"{per_db['sum'] / 1024:5.1f} KB per database (processes {per_db['processes'] / 1024:.1f}, "
                  f"ets {per_db['ets'] / 1024:.1f}, binary {per_db['binary'] / 1024:.1f}); "
                  f"{per_db['process_count']:.1f} Erlang processes per database")
    finally:
        for name in names:
            try:
                couch.db(name).delete_database()
            except Exception:  # noqa: BLE001 - best effort
                pass


def _canonical(i: int, rnd: random.Random) -> dict:
    school, day = i % 2000, i // 2000
    county = school % 189
    date = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}"
    return {"_id": f"daily_health:s{school:05d}:{date}", "type": "canonical_report", "form": "daily_health",
            "school_id": f"s{school:05d}", "county_id": f"c{county:03d}", "prefecture_id": f"p{county % 21:02d}",
            "date": date, "metrics": [rnd.randint(0, 120) for _ in METRIC_FIELDS],
            "data": {field: rnd.randint(0, 120) for field in METRIC_FIELDS[4:]},
            "timeliness": {"on_time_device": True, "on_time_server": True, "received_at": f"{date}T01:30:00Z"}}


def views(couch: CouchClient, docs: int, qs: list[int]) -> None:
    """Time to build the reports summaries views over ``docs`` synthetic canonical reports,
    for each q."""
    for q in qs:
        db = couch.db(f"{PREFIX}reports_q{q}_{uuid.uuid4().hex[:6]}")
        db.create(q=q)
        try:
            rnd = random.Random(1)
            for start in range(0, docs, 2000):
                db.bulk_docs([_canonical(i, rnd) for i in range(start, min(docs, start + 2000))])
            db.put(dict(REPORTS_DESIGN))
            started = time.perf_counter()
            while True:  # the first query waits for the build; CouchDB answers 500 timeout after 60 s
                try:
                    db.view("summaries", "daily", limit=1, timeout_s=3600)
                    break
                except CouchUnavailable as exc:
                    if "timeout" not in str(exc):
                        raise
            built = time.perf_counter() - started
            # a province-style read: every county's figures over 28 days, reduced per county and day
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                db.view("summaries", "daily_by_date", startkey=["2026-01-01"], endkey=["2026-01-28", {}],
                        group=True)
                timings.append(time.perf_counter() - started)
            print(f"q={q}: {docs} canonical reports, summaries views built in {built:6.1f} s "
                  f"({docs / built:5.0f} docs/s); 28-day daily_by_date group query median "
                  f"{_ms(statistics.median(timings)).strip()}")
        finally:
            db.delete_database()


def backup_batch(couch: CouchClient, url: str, count: int) -> None:
    """Wall time of one batch of ``count`` one-shot ``_replicator`` jobs copying small
    databases on the same node, as ``python -m sync backup`` submits them."""
    run = uuid.uuid4().hex[:6]
    jitter = couch.config_get("replicator", "startup_jitter")
    print(f"[replicator] startup_jitter = {jitter or '5000 (default)'} ms; {count} one-shot jobs")
    base = url.rstrip("/")
    sources = [f"{PREFIX}src_{run}_{i:03d}" for i in range(count)]
    replicator = couch.db("_replicator")
    job_ids = []
    try:
        for name in sources:
            db = couch.db(name)
            db.create(q=1)
            db.bulk_docs([{"_id": f"doc:{i:02d}", "n": i} for i in range(20)])
        started = time.perf_counter()
        for name in sources:
            job_id = f"{PREFIX}{name}"
            replicator.put({"_id": job_id, "source": f"{base}/{name}", "target": f"{base}/{name}_copy",
                            "create_target": True, "create_target_params": {"q": 1}})
            job_ids.append(job_id)
        pending = set(job_ids)
        while pending:
            for job_id in list(pending):
                state = replicator.get(job_id).get("_replication_state")
                if state == "completed":
                    pending.discard(job_id)
                elif state == "failed":
                    raise RuntimeError(f"{job_id} failed")
            time.sleep(0.2)
        print(f"{count} one-shot jobs completed in {time.perf_counter() - started:.1f} s")
    finally:
        for job_id in job_ids:
            current = replicator.get_or_none(job_id)
            if current is not None:
                replicator.delete(job_id, current["_rev"])
        for name in sources:
            for db_name in (name, f"{name}_copy"):
                try:
                    couch.db(db_name).delete_database()
                except Exception:  # noqa: BLE001 - best effort
                    pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("accounts", "open-dbs", "views", "backup-batch"):
        command = sub.add_parser(name)
        command.add_argument("url")
        if name == "open-dbs":
            command.add_argument("--idle", type=float, default=60.0)
        if name == "views":
            command.add_argument("--docs", type=int, default=60000)
            command.add_argument("--q", default="1,2,4")
        else:
            command.add_argument("--count", type=int, default={"open-dbs": 2000}.get(name, 20))
    args = parser.parse_args(argv)
    with CouchClient(args.url, timeout=120) as couch:
        if "couchdb" not in couch.info() or not couch.has("node_config"):
            print("these measurements need Apache CouchDB 3", file=sys.stderr)
            return 2
        if args.command == "accounts":
            accounts(couch, args.count)
        elif args.command == "open-dbs":
            open_dbs(couch, args.count, args.idle)
        elif args.command == "views":
            views(couch, args.docs, [int(q) for q in args.q.split(",")])
        else:
            backup_batch(couch, args.url, args.count)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
