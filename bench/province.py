"""Province-scale benchmark on Apache CouchDB 3.4 (prints figures; not a test).

    .venv/bin/python bench/province.py --schools 1000 --days 30 [--url URL | --port 6200]

Starts its own CouchDB 3.4 node (``devstack.couchdb3.CouchDBNode``, first free port from
6200; ``--url`` uses a given, empty server instead), with the settings of
``deploy/couchdb/local.ini`` applied at run time (all but address, port, node mode, log and
admins; ``--js-engine quickjs`` adds ``[couchdb] js_engine``), and measures, for 21
prefectures and ``--schools`` schools (counties scaled as 189 for 20,000 schools, at least
one per prefecture):

1. provisioning: core databases and the registry, one database per school, one
   inspections database per county (the demo loader's stages, ``demo.generate``);
2. account creation: every device account (pre-hashed tokens, ``sync.accounts``) and a
   sample of people's accounts (CouchDB hashes them at 600,000 iterations), per account;
   and the first authentication of each kind (``GET /_session``) against a repeat;
3. load: the demo's reports written through the device accounts;
4. worker catch-up: ``python -m sync --once`` (run through this script's ``_worker`` mode,
   which counts and times every request the worker makes by database and kind) against
   a raw ``_bulk_docs`` rate on the same server in the same run: as many canonical
   reports, copied into a scratch database in batches of the worker's batch size by
   one client (measured before and after the worker); and a raw per-database floor (one
   ``_changes`` read and one ``_bulk_docs`` per school database, one client);
5. view build time, then p50/p95 of county, prefecture and province 30-day summaries
   through the API (Flask test client, as bench/summaries.py) against the raw view
   queries each endpoint makes, alternately in the same run;
6. steady state: the worker running (``python -m sync``), reports written at
   ``--steady-rate`` per second through device accounts straight to CouchDB for
   ``--steady-seconds``; latency from CouchDB's acknowledgement of the device's write to
   the report's row appearing in ``reports/_design/summaries`` (``daily_by_date`` with
   ``reduce=false``, polled every 0.25 s; the same index as the ``daily`` and
   ``reported`` views the county summary reads, so a row there is in the county summary);
7. morning burst: ``--burst`` PouchDB replicators (node, bench/morning_burst.js, memory
   adapter), each with its own new device account (never authenticated before), push
   the day's report at once through the service's ``/db/`` pass-through (gunicorn with
   deploy/gunicorn.conf.py); time until every replication has finished and until every
   report is in the summaries view, and how many are missing;
8. peak RSS (``VmHWM``) of the worker processes, the service's processes and CouchDB.

Prints a compact table at the end; ``--json FILE`` also writes every figure.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from demo.generate import (  # noqa: E402
    LOCAL_OFFSET,
    DemoManifest,
    DemoShape,
    create_accounts,
    daily_report,
    plan,
    plan_reports,
    provision_databases,
    report_data,
    write_registry,
    write_reports,
)
from sync.accounts import AccountSpec, new_device_token, write_accounts  # noqa: E402
from sync.canonical import canonical_id  # noqa: E402
from sync.couch import CouchClient, split_credentials  # noqa: E402
from sync.provision import REGISTRY_DB, REPORTS_DB, school_db_name  # noqa: E402

DEPLOY_INI = ROOT / "deploy" / "couchdb" / "local.ini"
# Settings of deploy/couchdb/local.ini a benchmark node does not take: the launcher's own
# address, port, node mode, log and admins.
NOT_APPLIED = {("couchdb", "single_node"), ("chttpd", "bind_address"), ("chttpd", "port")}
NOT_APPLIED_SECTIONS = {"admins", "log"}
PROVINCE_SCHOOLS = 20_000
PROVINCE_COUNTIES_PER_PREFECTURE = 9
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- small helpers ----------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(first: int, last: int, *, also: tuple[int, ...] = ()) -> int:
    """The first port in first..last that is free, with port+k free for every k in ``also``."""
    for port in range(first, last + 1):
        if all(port_free(port + k) for k in (0, *also)):
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def proc_status(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmHWM, VmRSS), or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def smaps_top(pid: int) -> list[tuple[int, str]]:
    """The largest mappings of ``pid`` by RSS: (kB, "address range perms name")."""
    out, head = [], ""
    try:
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                head = " ".join(line.split()[:2] + line.split()[5:])
            elif line.startswith("Rss:"):
                out.append((int(line.split()[1]), head))
    except OSError:
        return []
    return sorted(out, reverse=True)[:8]


def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents[ppid].append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int | None, *, tree: bool = True) -> float:
    """User + system CPU seconds of ``pid`` alone, or (``tree``) of it and its descendants,
    counting those that have exited and been waited for (CouchDB's couchjs processes come
    and go)."""
    if pid is None:
        return 0.0
    total = 0
    for p in [pid, *(children_of(pid) if tree else [])]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if tree:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: waited-for children
    return total / CLK_TCK


def js_stats(couch: CouchClient) -> dict[str, float]:
    """CouchDB's JavaScript process counters (``/_node/_local/_stats/couchdb/query_server``):
    processes spawned, design docs taught to a process, validate_doc_update calls, map calls,
    and the microseconds spent in each; empty where the server has no such statistics."""
    try:
        stats = couch.request("GET", "/_node/_local/_stats/couchdb/query_server")
    except Exception:  # noqa: BLE001 - a server without _node stats (pouchdb-server)
        return {}
    calls, spent = stats.get("calls", {}), stats.get("time", {})
    out = {f"{k}_calls": v["value"] for k, v in calls.items()}
    out.update({f"{k}_s": v["value"] / 1e6 for k, v in spent.items()})
    out["process_exits"] = stats.get("process_exits", {}).get("value", 0)
    return out


def js_delta(before: dict, after: dict) -> dict:
    """What happened in CouchDB's JavaScript processes between two ``js_stats``."""
    d = {k: after[k] - before.get(k, 0) for k in after}
    return {"spawns": d.get("spawn_proc_calls", 0), "spawn_s": round(d.get("spawn_proc_s", 0), 2),
            "ddoc_taught": d.get("ddoc_new_calls", 0), "ddoc_teach_s": round(d.get("ddoc_new_s", 0), 2),
            "vdu_calls": d.get("ddoc_vdu_calls", 0), "vdu_s": round(d.get("ddoc_vdu_s", 0), 2),
            "map_calls": d.get("map_calls", 0), "map_s": round(d.get("map_s", 0), 2),
            "exits": d.get("process_exits", 0)}


def js_note(delta: dict) -> str:
    if not delta:
        return ""
    return (f"couchjs: {delta['spawns']} spawned ({delta['spawn_s']:.1f} s), {delta['ddoc_taught']} design docs "
            f"taught ({delta['ddoc_teach_s']:.1f} s), {delta['vdu_calls']} validations ({delta['vdu_s']:.1f} s)")


class Pinger:
    """``GET /_up`` twice a second: how long the server takes to answer nothing, a gauge of
    how busy the machine is (a colleague's tests share its two cores)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            while not self._stop.wait(0.5):
                t = time.perf_counter()
                try:
                    http.get("/_up")
                except httpx.HTTPError:
                    continue
                self.samples.append((time.time(), time.perf_counter() - t))

    def start(self) -> Pinger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def median_since(self, since: float) -> float:
        return percentile([v for t, v in self.samples if t >= since], .5)


class HwmSampler:
    """Keeps the highest VmHWM seen of each of a set of processes (they may exit)."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.peaks: dict[str, dict[int, int]] = defaultdict(dict)
        self.peak_sum: dict[str, int] = {}
        self._watch: dict[str, callable] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, label: str, pids) -> None:
        """``pids``: a callable returning the pids to sample now."""
        self._watch[label] = pids

    def sample(self) -> None:
        for label, pids in list(self._watch.items()):
            now = 0
            for pid in pids():
                hwm = proc_status(pid, "VmHWM")
                if hwm is not None:
                    self.peaks[label][pid] = max(hwm, self.peaks[label].get(pid, 0))
                now += proc_status(pid, "VmRSS") or 0
            # The highest sum of the processes' RSS at one moment (a pool of processes that
            # come and go has no single high-water mark).
            self.peak_sum[label] = max(self.peak_sum.get(label, 0), now)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> HwmSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.sample()


# -- the worker, instrumented (child mode) -------------------------------------------------

def request_kind(method: str, path: str) -> str:
    """``school_* GET _local`` style label of one request the worker makes."""
    parts = unquote(path).strip("/").split("/")
    db = parts[0] or "/"
    if db.startswith("school_"):
        db = "school_*"
    elif db.startswith("inspections_"):
        db = "inspections_*"
    rest = parts[1:]
    if db.startswith("_"):
        what = ""
    elif not rest or rest == [""]:
        what = "info" if method == "GET" else ""
    elif rest[0] == "_local":
        # The worker's checkpoints: ops/_local/checkpoint:<db> (before issue 12, each
        # school database's _local/sync_worker, as in the results recorded then).
        checkpoint = rest[1:] == ["sync_worker"] or (len(rest) == 2 and rest[1].startswith("checkpoint:"))
        what = "_local/" + ("checkpoint" if checkpoint else "*")
    elif rest[0] == "_design":
        what = "view " + "/".join(rest[1:4:2])
    elif rest[0].startswith("_"):
        what = rest[0]
    else:
        what = "doc " + rest[0].split(":", 1)[0]
    return f"{db} {method} {what}".strip()


def child_worker(argv: list[str]) -> int:
    """``province.py _worker STATS.json [--cprofile FILE] [--trace-memory]``: ``python -m sync
    --once`` with every request counted and timed by kind; the statistics go to STATS.json
    (with ``--trace-memory``, also Python's peak traced memory and what is still allocated at
    the end, by line)."""
    stats_path = Path(argv[0])
    cprofile_path = argv[argv.index("--cprofile") + 1] if "--cprofile" in argv else None
    trace = "--trace-memory" in argv
    if trace:
        import tracemalloc

        tracemalloc.start(5)
    import sync.couch as couch_module
    from sync.__main__ import main as sync_main

    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lock = threading.Lock()
    original = couch_module.CouchClient._send

    def timed(self, method, path, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, method, path, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            with lock:
                entry = stats[request_kind(method, path)]
                entry[0] += 1
                entry[1] += elapsed

    couch_module.CouchClient._send = timed
    profiler = cProfile.Profile() if cprofile_path else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    code = sync_main(["--once", "--log-level", "WARNING"])
    if profiler:
        profiler.disable()
        profiler.dump_stats(cprofile_path)
    wall = time.perf_counter() - started
    usage = os.times()
    memory = None
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        top = tracemalloc.take_snapshot().statistics("traceback")[:8]
        memory = {"current_mb": current / 2**20, "peak_mb": peak / 2**20,
                  "top": [{"mb": stat.size / 2**20, "count": stat.count,
                           "where": [f"{f.filename.replace(str(ROOT) + '/', '')}:{f.lineno}" for f in stat.traceback]}
                          for stat in top]}
    rollup = {}
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            rollup[name] = int(value.split()[0])
    except OSError:
        pass
    stats_path.write_text(json.dumps({"code": code, "wall_s": wall, "cpu_s": usage.user + usage.system,
                                      "memory": memory, "threads_at_end": threading.active_count(),
                                      "vm_hwm_kb": proc_status(os.getpid(), "VmHWM"),
                                      "smaps_kb": {k: rollup.get(k) for k in ("Rss", "Anonymous", "Private_Dirty")},
                                      "requests": {k: {"count": v[0], "seconds": v[1]} for k, v in stats.items()}}))
    return code


# -- the benchmark ----------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        cpp = args.counties_per_prefecture or max(
            1, round(PROVINCE_COUNTIES_PER_PREFECTURE * args.schools / PROVINCE_SCHOOLS))
        self.shape = DemoShape(prefectures=args.prefectures, counties_per_prefecture=cpp, schools=args.schools,
                               days=args.days, seed=2020)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-province-{args.schools}-"))
        self.fig: dict = {"shape": {"prefectures": self.shape.prefectures,
                                    "counties": self.shape.prefectures * cpp, "schools": self.shape.schools,
                                    "days": self.shape.days}}
        self.node = None
        self.couch_pid: int | None = None
        self.url = args.url
        self.procs: list[subprocess.Popen] = []
        self.hwm = HwmSampler()
        self.manifest: DemoManifest | None = None
        self.devices: dict[str, list[str]] = {}
        self.teachers: dict[str, list[str]] = {}
        self.rng = random.Random(7)
        self.pinger: Pinger | None = None
        self._last_note = time.time()

    # -- plumbing --------------------------------------------------------------------------

    def couch_cpu(self) -> float:
        """CPU seconds of CouchDB: the Erlang VM and its couchjs processes."""
        return cpu_seconds(self.couch_pid)

    def couchjs_cpu(self) -> float:
        """CPU seconds of CouchDB's live couchjs processes (views, validate_doc_update)."""
        return cpu_seconds(self.couch_pid) - cpu_seconds(self.couch_pid, tree=False) if self.couch_pid else 0.0

    def load_note(self, key: str) -> str:
        """Records and returns the 1-minute load average and the median ``GET /_up`` time since
        the previous note (a colleague's tests share the machine)."""
        load = os.getloadavg()[0]
        self.fig.setdefault("loadavg", {})[key] = load
        if self.pinger is None:
            return f"load {load:.1f}"
        ping = self.pinger.median_since(self._last_note) * 1000
        self._last_note = time.time()
        self.fig.setdefault("ping_ms", {})[key] = ping
        return f"load {load:.1f}, GET /_up p50 {ping:.1f} ms"

    def start_couchdb(self) -> None:
        if self.url:
            say(f"CouchDB: the given URL {split_credentials(self.url)[0]}")
            return
        from devstack.couchdb3 import CouchDBNode

        port = free_port(self.args.port, 6299, also=(2, 4))
        self.node = CouchDBNode(self.workdir / "couchdb", port).start()
        self.url = self.node.url
        self.couch_pid = int((self.node.dir / "couchdb.pid").read_text().strip())
        with CouchClient(self.url) as couch:
            version = couch.info()["version"]
            # What deploy/couchdb/local.ini sets that matters to these figures.
            # The production settings (deploy/couchdb/local.ini), set at run time.
            import configparser

            ini = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
            ini.optionxform = str
            ini.read(DEPLOY_INI)
            settings = [(section, key, value) for section in ini.sections() if section not in NOT_APPLIED_SECTIONS
                        for key, value in ini.items(section) if (section, key) not in NOT_APPLIED]
            if self.args.js_engine:
                settings.append(("couchdb", "js_engine", self.args.js_engine))
            if self.args.os_process_limit:
                settings += [("query_server_config", "os_process_limit", str(self.args.os_process_limit)),
                             ("query_server_config", "os_process_soft_limit", str(self.args.os_process_limit))]
            refused = []
            for section, key, value in settings:
                try:
                    couch.config_set(section, key, value)
                except Exception as exc:  # noqa: BLE001 - say which, carry on
                    refused.append(f"[{section}] {key}: {exc}")
        engine = self.args.js_engine or "spidermonkey (default)"
        if self.args.os_process_limit:
            engine += f", os_process_limit = os_process_soft_limit = {self.args.os_process_limit}"
        self.fig["couchdb"] = {"version": version, "port": port, "js_engine": engine,
                               "settings": [f"[{s}] {k} = {v}" for s, k, v in settings], "refused": refused}
        self.hwm.watch("couchdb", lambda: [self.couch_pid])
        self.hwm.watch("couchdb_with_js", lambda: [self.couch_pid, *children_of(self.couch_pid)])
        say(f"CouchDB {version} started on port {port} ({self.node.dir}); {len(settings) - len(refused)} settings "
            f"of deploy/couchdb/local.ini applied{' (refused: ' + '; '.join(refused) + ')' if refused else ''}; "
            f"JavaScript engine {engine}")

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.node is not None and not self.args.keep:
            self.node.stop()
            say("CouchDB stopped")
        elif self.node is not None:
            say(f"CouchDB left running: COUCHDB_URL={self.url} "
                f"(stop: .venv/bin/python -m devstack.couchdb3 stop {self.node.dir})")

    # -- 1..3: provisioning, accounts, load ---------------------------------------------------

    def provision_and_load(self, couch: CouchClient) -> None:
        t = time.perf_counter()
        manifest, rng = plan(self.shape, teacher_password=secrets.token_urlsafe(12))
        self.manifest = manifest
        for name, acc in manifest.accounts.items():
            (self.devices if acc["kind"] == "device" else self.teachers).setdefault(acc["school_id"], []).append(name)
        self.fig["plan_s"] = time.perf_counter() - t

        cpu0, t = self.couch_cpu(), time.perf_counter()
        write_registry(couch, manifest)
        core_s = time.perf_counter() - t
        t = time.perf_counter()
        provision_databases(couch, manifest, threads=self.args.threads)
        dbs_s = time.perf_counter() - t
        n_dbs = len(manifest.schools()) + len(manifest.counties())
        self.fig["provision"] = {"core_and_registry_s": core_s, "registry_docs": len(manifest.registry),
                                 "school_and_inspection_dbs_s": dbs_s, "dbs": n_dbs,
                                 "per_db_ms": dbs_s / n_dbs * 1000, "couchdb_cpu_s": self.couch_cpu() - cpu0}
        self.load_note("provision")
        say(f"provisioning: core + registry ({len(manifest.registry)} docs) {core_s:.1f} s; "
            f"{n_dbs} school + inspection databases {dbs_s:.1f} s ({dbs_s / n_dbs * 1000:.1f} ms each, "
            f"{self.args.threads} threads)")

        # Device accounts: all of them, pre-hashed.
        n_devices = sum(len(v) for v in self.devices.values())
        cpu0, t = self.couch_cpu(), time.perf_counter()
        create_accounts(couch, manifest, kinds=("device",))
        dev_s = time.perf_counter() - t
        dev_cpu = self.couch_cpu() - cpu0
        # People's accounts: a sample (each costs CouchDB a full PBKDF2 at 600,000 iterations).
        people = [name for names in self.teachers.values() for name in names][:self.args.people_sample]
        cpu0, t = self.couch_cpu(), time.perf_counter()
        write_accounts(couch, [AccountSpec(name=n, roles=manifest.accounts[n]["roles"],
                                           password=manifest.accounts[n]["password"], token=False) for n in people])
        ppl_s = time.perf_counter() - t
        ppl_cpu = self.couch_cpu() - cpu0
        self.fig["accounts"] = {
            "devices": n_devices, "devices_s": dev_s, "device_ms": dev_s / n_devices * 1000,
            "device_couchdb_cpu_ms": dev_cpu / n_devices * 1000,
            "people": len(people), "people_s": ppl_s, "person_ms": ppl_s / max(1, len(people)) * 1000,
            "person_couchdb_cpu_ms": ppl_cpu / max(1, len(people)) * 1000,
            "people_not_created": sum(len(v) for v in self.teachers.values()) - len(people)}
        say(f"accounts: {n_devices} devices in {dev_s:.1f} s ({dev_s / n_devices * 1000:.2f} ms each); "
            f"{len(people)} people in {ppl_s:.1f} s ({ppl_s / max(1, len(people)) * 1000:.0f} ms each, "
            f"CouchDB CPU {ppl_cpu / max(1, len(people)) * 1000:.0f} ms each)")
        self.first_auth(couch, people[:20], [n for names in self.devices.values() for n in names][:100])

        writes = plan_reports(manifest, rng)
        docs = sum(len(d) for w in writes for _dev, _ne, d in w.phases())
        cpu0, js0, t = self.couch_cpu(), js_stats(couch), time.perf_counter()
        written = write_reports(couch, manifest, writes, threads=self.args.threads)
        load_s = time.perf_counter() - t
        js = js_delta(js0, js_stats(couch))
        self.fig["load"] = {"docs": written, "planned": docs, "s": load_s, "per_s": written / load_s,
                            "per_school": written / self.shape.schools, "couchdb_cpu_s": self.couch_cpu() - cpu0,
                            "expected_canonical": len(manifest.expected), "js": js}
        say(f"{self.load_note('load')}; load: {written} documents through device accounts in {load_s:.1f} s "
            f"({written / load_s:.0f}/s, "
            f"{written / self.shape.schools:.1f} per school, {self.args.threads} threads, one client per device); "
            f"{js_note(js)}")

    def write_probe(self, couch: CouchClient, count: int = 40) -> None:
        """One device write at a time into ``count`` school databases written longest ago (no
        JavaScript process of CouchDB is tagged with them any more: it keeps at most
        ``os_process_limit`` = 100, one database each), then once more into the same ones
        (a process tagged with each is idle and waiting). Latency and couchjs work of each."""
        schools = [s["_id"].split(":", 1)[1] for s in self.manifest.schools()][:count]
        day = (self.shape.start_date - timedelta(days=400)).isoformat()
        out = {}
        with httpx.Client(base_url=couch.base_url, timeout=120) as http:
            for phase, offset in (("cold", 0), ("warm", 1)):
                iso = (date.fromisoformat(day) - timedelta(days=offset)).isoformat()
                before, times = js_stats(couch), []
                for sid in schools:
                    device = self.devices[sid][0]
                    doc = daily_report(sid, iso, report_data(self.rng, 300, False), device=device,
                                       author=self.teachers[sid][0], submitted=datetime.now(UTC))
                    t = time.perf_counter()
                    answer = http.put(f"/{school_db_name(sid)}/{quote(doc['_id'], safe=':')}", json=doc,
                                      auth=(device, self.manifest.accounts[device]["password"]))
                    times.append(time.perf_counter() - t)
                    if answer.status_code != 201:
                        raise RuntimeError(f"probe write refused: {answer.status_code} {answer.text[:200]}")
                js = js_delta(before, js_stats(couch))
                out[phase] = {"p50_ms": percentile(times, .5) * 1000, "p95_ms": percentile(times, .95) * 1000,
                              "n": len(times), "js": js}
        self.fig["write_probe"] = out
        say("one device write at a time: " + "; ".join(
            f"{k} database p50 {v['p50_ms']:.1f} ms p95 {v['p95_ms']:.1f} ms ({js_note(v['js'])})"
            for k, v in out.items()) + f"; {self.load_note('probe')}")

    def first_auth(self, couch: CouchClient, people: list[str], devices: list[str]) -> None:
        base = couch.base_url
        out = {}
        with httpx.Client(base_url=base, timeout=60) as http:
            for kind, names in (("person", people), ("device", devices)):
                first, again = [], []
                for name in names:
                    auth = httpx.BasicAuth(name, self.manifest.accounts[name]["password"])
                    for target in (first, again):
                        t = time.perf_counter()
                        answer = http.get("/_session", auth=auth)
                        target.append(time.perf_counter() - t)
                        if answer.json()["userCtx"]["name"] != name:
                            raise RuntimeError(f"{name} did not authenticate: {answer.text}")
                out[kind] = {"n": len(names), "first_p50_ms": percentile(first, .5) * 1000,
                             "first_max_ms": max(first) * 1000, "again_p50_ms": percentile(again, .5) * 1000}
        self.fig["first_auth"] = out
        say("first authentication (GET /_session, Basic): " + "; ".join(
            f"{k} first p50 {v['first_p50_ms']:.1f} ms (max {v['first_max_ms']:.1f}), again {v['again_p50_ms']:.1f} ms"
            for k, v in out.items()))

    # -- 4: worker catch-up against raw _bulk_docs -------------------------------------------------

    def raw_bulk(self, couch: CouchClient, samples: list[dict], count: int, batch: int) -> float:
        scratch = couch.db(f"bench_scratch_{uuid.uuid4().hex[:8]}")
        scratch.create()
        docs = []
        for i in range(count):
            doc = {k: v for k, v in samples[i % len(samples)].items() if k != "_rev"}
            doc["_id"] = f"raw:{i:08d}:{doc['_id']}"
            docs.append(doc)
        t = time.perf_counter()
        for start in range(0, len(docs), batch):
            results = scratch.bulk_docs(docs[start:start + batch])
            if any(not r.ok for r in results):
                raise RuntimeError("raw bulk write refused")
        elapsed = time.perf_counter() - t
        scratch.delete_database()
        return count / elapsed

    def raw_per_db(self, couch: CouchClient) -> tuple[float, int, float]:
        """One client: per school database one ``_changes`` (docs, conflicts) and one
        ``_bulk_docs`` of those documents into a scratch database. Returns (docs/s, docs, s)."""
        scratch = couch.db(f"bench_scratch_{uuid.uuid4().hex[:8]}")
        scratch.create()
        n, t = 0, time.perf_counter()
        for school in self.manifest.schools():
            db = couch.db(school_db_name(school["_id"].split(":", 1)[1]))
            rows = db.changes(since=0, include_docs=True, conflicts=True, style="all_docs", limit=200)["results"]
            docs = [{k: v for k, v in r["doc"].items() if k not in ("_rev", "_conflicts")} | {
                "_id": f"{db.name}:{r['id']}"} for r in rows if r.get("doc") and not r["id"].startswith("_design/")]
            scratch.bulk_docs(docs)
            n += len(docs)
        elapsed = time.perf_counter() - t
        scratch.delete_database()
        return n / elapsed, n, elapsed

    def catch_up(self, couch: CouchClient) -> None:
        reports = couch.db(REPORTS_DB)
        batch = int(os.environ.get("WORKER_BATCH_SIZE", "200"))
        stats_path = self.workdir / "worker-stats.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "_worker", str(stats_path)]
        if self.args.cprofile:
            argv += ["--cprofile", str(self.workdir / "worker.prof")]
        if self.args.trace_memory:
            argv += ["--trace-memory"]
        env = dict(os.environ, COUCHDB_URL=self.url, PYTHONUNBUFFERED="1")
        log = open(self.workdir / "worker-once.log", "wb")
        cpu0, js0, qs0 = self.couch_cpu(), self.couchjs_cpu(), js_stats(couch)
        t = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak = top_rss = 0
        at_top: list[tuple[int, str]] = []
        while True:
            hwm = proc_status(proc.pid, "VmHWM")
            peak = max(peak, hwm or 0)
            rss = proc_status(proc.pid, "VmRSS") or 0
            if self.args.trace_memory and rss > top_rss:
                # Where the worker's memory is at its highest: its largest mappings.
                top_rss, at_top = rss, smaps_top(proc.pid)
            try:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.2)
        wall = time.perf_counter() - t
        log.close()
        couch_cpu, js_cpu = self.couch_cpu() - cpu0, self.couchjs_cpu() - js0
        qs = js_delta(qs0, js_stats(couch))
        if proc.returncode:
            print((self.workdir / "worker-once.log").read_text()[-3000:])
            raise RuntimeError(f"worker --once exited with {proc.returncode}")
        stats = json.loads(stats_path.read_text())
        canonical = reports.info()["doc_count"] - len(
            reports.all_docs(startkey="_design/", endkey="_design0")["rows"])
        rate = canonical / wall
        self.canonical_samples = [r["doc"] for r in reports.all_docs(include_docs=True, limit=2000,
                                                                     startkey="daily_health:")["rows"]]
        raw = self.raw_bulk(couch, self.canonical_samples, canonical, batch)
        say(f"raw _bulk_docs ({canonical} canonical reports, batches of {batch}, one client): {raw:.0f} docs/s")
        say("raw per-database floor (one client: _changes + _bulk_docs per school database) ...")
        floor_rate, floor_docs, floor_s = self.raw_per_db(couch)
        say(f"raw per-database floor: {floor_docs} docs in {floor_s:.1f} s = {floor_rate:.0f} docs/s")
        self.fig["worker"] = {
            "canonical": canonical, "wall_s": wall, "per_s": rate, "in_process_s": stats["wall_s"],
            "worker_cpu_s": stats["cpu_s"], "couchdb_cpu_s": couch_cpu, "couchjs_cpu_s": js_cpu,
            # Its own VmHWM, read by itself at the end. Not ru_maxrss: Linux counts in it the
            # copy of this (large) process the child was before exec.
            "peak_rss_kb": stats.get("vm_hwm_kb") or peak, "js": qs,
            "raw_bulk_per_s": raw, "ratio": rate / raw, "raw_per_db_floor_per_s": floor_rate,
            "ratio_to_floor": rate / floor_rate, "batch": batch,
            "requests": stats["requests"], "memory": stats.get("memory"),
            "dbs": len(self.manifest.schools()) + len(self.manifest.counties())}
        say(f"{self.load_note('worker')}; worker --once: {canonical} canonical reports in {wall:.1f} s = "
            f"{rate:.0f}/s; raw _bulk_docs "
            f"{raw:.0f}/s -> {rate / raw:.2f}x (goal >= 0.5x); raw per-db floor {floor_rate:.0f}/s -> "
            f"{rate / floor_rate:.2f}x; worker CPU {stats['cpu_s']:.1f} s, CouchDB CPU {couch_cpu:.1f} s "
            f"(couchjs {js_cpu:.1f} s), "
            f"peak RSS {(stats.get('vm_hwm_kb') or peak) / 1024:.0f} MB; {js_note(qs)}")
        print(f"  worker at the end: {stats.get('threads_at_end')} threads alive, memory (kB) {stats.get('smaps_kb')}")
        if at_top:
            print(f"  worker's largest memory mappings when its RSS was highest ({top_rss / 1024:.0f} MB):")
            for kb, what in at_top[:6]:
                print(f"    {kb / 1024:7.1f} MB  {what}")
        if stats.get("memory"):
            m = stats["memory"]
            print(f"  worker Python memory (tracemalloc): peak {m['peak_mb']:.0f} MB, still allocated at the end "
                  f"{m['current_mb']:.0f} MB; largest at the end:")
            for stat in m["top"][:5]:
                print(f"    {stat['mb']:7.1f} MB in {stat['count']} blocks  " + " <- ".join(stat["where"][:3]))
        if self.args.cprofile:
            import pstats

            print("  worker cProfile, top functions by cumulative time (profiling slows it):")
            pstats.Stats(str(self.workdir / "worker.prof"), stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        total_req = sum(v["count"] for v in stats["requests"].values())
        total_t = sum(v["seconds"] for v in stats["requests"].values())
        dbs = self.fig["worker"]["dbs"]
        print(f"  worker requests: {total_req} ({total_req / dbs:.1f} per database), {total_t:.1f} s waiting on them "
              f"in {stats['wall_s']:.1f} s (several threads); by kind: count, per database, time, each, share:")
        for kind, v in sorted(stats["requests"].items(), key=lambda kv: -kv[1]["seconds"]):
            each = v["seconds"] / v["count"] * 1000
            print(f"    {kind:40s} {v['count']:7d} {v['count'] / dbs:6.2f}/db {v['seconds']:7.1f} s {each:6.1f} ms"
                  f"  {v['seconds'] / total_t * 100:5.1f}%")

    def raw_again(self, couch: CouchClient) -> None:
        """The raw _bulk_docs rate once more, later in the run (how much it moves)."""
        w = self.fig["worker"]
        w["raw_bulk_again_per_s"] = self.raw_bulk(couch, self.canonical_samples, w["canonical"], w["batch"])
        w["ratio_to_again"] = w["per_s"] / w["raw_bulk_again_per_s"]
        say(f"raw _bulk_docs again: {w['raw_bulk_again_per_s']:.0f} docs/s (worker at {w['ratio_to_again']:.2f}x)")

    # -- 5: summaries ---------------------------------------------------------------------------

    def summaries(self, couch: CouchClient) -> None:
        from server import create_app
        from server.config import Settings
        from server.summaries.service import MULTI_KEY_LIMIT

        reports = couch.db(REPORTS_DB)
        t = time.perf_counter()
        reports.view("summaries", "daily", limit=1, group=True, timeout_s=3600)
        build = time.perf_counter() - t
        self.fig["view_build_s"] = build
        say(f"view build, _design/summaries: {build:.1f} s ({reports.info()['doc_count']} docs in reports)")

        app = create_app({"SETTINGS": Settings(couchdb_url=self.url, secret_key="bench", var_dir=self.workdir / "var"),
                          "TESTING": True})
        _base, user, password = split_credentials(self.url)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        end = self.shape.end_date
        start = end - timedelta(days=29)
        first = min(start, end - timedelta(days=7))
        days = [(first + timedelta(days=n)).isoformat() for n in range((end - first).days + 1)]
        query = {"from": start.isoformat(), "to": end.isoformat()}
        counties = [c["_id"].split(":", 1)[1] for c in self.manifest.counties()]
        prefectures = sorted({c["prefecture_id"] for c in self.manifest.counties()})
        counties_of = defaultdict(list)
        for c in self.manifest.counties():
            counties_of[c["prefecture_id"]].append(c["_id"].split(":", 1)[1])
        client.get("/api/v1/summaries/province", query_string=query)  # warm the registry snapshot

        def raw_county(cid: str) -> None:
            reports.view("summaries", "daily", startkey=["county", cid, first.isoformat()],
                         endkey=["county", cid, end.isoformat()], group=True)
            reports.view("summaries", "reported", startkey=[cid, first.isoformat()],
                         endkey=[cid, end.isoformat(), {}], reduce=False)

        def raw_areas(ids: list[str]) -> None:
            if len(ids) * len(days) <= MULTI_KEY_LIMIT:
                reports.view("summaries", "daily", keys=[["county", c, d] for c in ids for d in days], group=True)
            else:
                reports.view("summaries", "daily_by_date", startkey=[days[0]], endkey=[days[-1], {}], group=True)

        def api(path: str) -> None:
            answer = client.get(path, query_string=query)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")

        results = {}
        for level, runs, pick, raw_action, api_path in (
                ("county", self.args.runs, lambda: self.rng.choice(counties), raw_county,
                 "/api/v1/summaries/county/{}"),
                ("prefecture", self.args.runs, lambda: self.rng.choice(prefectures),
                 lambda p: raw_areas(counties_of[p]), "/api/v1/summaries/prefecture/{}"),
                ("province", max(10, self.args.runs // 2), lambda: "", lambda _p: raw_areas(counties),
                 "/api/v1/summaries/province")):
            api_t, raw_t = [], []
            for _ in range(runs):
                area = pick()
                t = time.perf_counter()
                raw_action(area)
                raw_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                api(api_path.format(area))
                api_t.append(time.perf_counter() - t)
            results[level] = {"api_p50_ms": percentile(api_t, .5) * 1000, "api_p95_ms": percentile(api_t, .95) * 1000,
                              "raw_p50_ms": percentile(raw_t, .5) * 1000, "raw_p95_ms": percentile(raw_t, .95) * 1000,
                              "runs": runs}
            r = results[level]
            say(f"{level} 30-day summary: API p50 {r['api_p50_ms']:.1f} ms p95 {r['api_p95_ms']:.1f} ms; "
                f"raw view queries p50 {r['raw_p50_ms']:.1f} ms p95 {r['raw_p95_ms']:.1f} ms")
        # The province endpoint reads keys up to MULTI_KEY_LIMIT (county, day) pairs and one
        # date range above it (189 counties x 37 days): time the range at every size too.
        rng_t = []
        for _ in range(max(10, self.args.runs // 2)):
            t = time.perf_counter()
            reports.view("summaries", "daily_by_date", startkey=[days[0]], endkey=[days[-1], {}], group=True)
            rng_t.append(time.perf_counter() - t)
        results["province_range_raw"] = {"p50_ms": percentile(rng_t, .5) * 1000,
                                         "p95_ms": percentile(rng_t, .95) * 1000,
                                         "path": "keys" if len(counties) * len(days) <= MULTI_KEY_LIMIT else "range"}
        say(f"province by one date range of daily_by_date (raw): p50 {percentile(rng_t, .5) * 1000:.1f} ms "
            f"p95 {percentile(rng_t, .95) * 1000:.1f} ms (the endpoint uses {results['province_range_raw']['path']} "
            f"for {len(counties)} counties x {len(days)} days; {self.load_note('summaries')})")
        c = results["county"]
        c["goal_p50_ms"] = 1.5 * c["raw_p50_ms"] + 10
        c["goal_p95_ms"] = 1.5 * c["raw_p95_ms"] + 10
        self.fig["summaries"] = results
        app.extensions["couch"].close()

    # -- 6, 7: worker and service running ------------------------------------------------------------

    def start_services(self, couch: CouchClient) -> None:
        env = dict(os.environ, COUCHDB_URL=self.url, VAR_DIR=str(self.workdir / "var"), SECRET_KEY="bench",
                   PYTHONUNBUFFERED="1")
        self.svc_port = free_port(6250, 6299)
        svc_env = dict(env, HOST="127.0.0.1", PORT=str(self.svc_port))
        with open(self.workdir / "web.log", "wb") as out:
            self.web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                         "server.wsgi:app"], cwd=ROOT, env=svc_env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(self.web)
        t = time.perf_counter()
        with open(self.workdir / "worker.log", "wb") as out:
            self.worker = subprocess.Popen([sys.executable, "-m", "sync", "--log-level", "WARNING"], cwd=ROOT,
                                           env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(self.worker)
        self.hwm.watch("worker", lambda: [self.worker.pid])
        self.hwm.watch("service", lambda: [self.web.pid, *children_of(self.web.pid)])
        base = f"http://127.0.0.1:{self.svc_port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/v1/health", timeout=5).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the service did not start; see {self.workdir / 'web.log'}")
        from sync.progress import worker_progress

        state = None
        while time.monotonic() < deadline + 600:
            try:
                state = worker_progress(couch, stale_after_s=60)["state"]
            except Exception:  # noqa: BLE001 - not provisioned/ready yet
                state = None
            if state == "idle":
                break
            time.sleep(0.5)
        idle_s = time.perf_counter() - t
        workers = children_of(self.web.pid)
        self.fig["services"] = {"gunicorn_workers": len(workers), "worker_idle_after_start_s": idle_s}
        say(f"service (gunicorn, {len(workers)} workers) on {base}; worker (python -m sync) idle after {idle_s:.1f} s "
            f"(first round over {len(self.manifest.schools()) + len(self.manifest.counties())} databases)")

    def free_dates(self, skip: int, count: int) -> list[str]:
        """``count`` dates no school has reported (before the demo's range), after ``skip``."""
        return [(self.shape.start_date - timedelta(days=1 + skip + k)).isoformat() for k in range(count)]

    def watch_view(self, wanted: dict[str, float], dates: list[str], seen: dict[str, float], stop: threading.Event,
                   couch: CouchClient, interval: float = 0.25) -> None:
        """Poll ``daily_by_date`` (reduce=false) for ``dates`` until every id of ``wanted`` is seen."""
        reports = couch.db(REPORTS_DB)
        open_dates = list(dates)
        while open_dates and not stop.is_set():
            for day in list(open_dates):
                try:
                    rows = reports.view("summaries", "daily_by_date", startkey=[day], endkey=[day, {}],
                                        reduce=False)["rows"]
                except Exception as exc:  # noqa: BLE001 - keep watching; say so
                    say(f"summaries view poll failed: {exc}")
                    continue
                now = time.time()
                for row in rows:
                    if row["id"] in wanted and row["id"] not in seen:
                        seen[row["id"]] = now
            pending_dates = {d for cid, d in ((c, c.rsplit(":", 1)[1]) for c in wanted) if cid not in seen}
            open_dates = [d for d in open_dates if d in pending_dates]
            stop.wait(interval)

    def steady_state(self, couch: CouchClient) -> None:
        rate, seconds = self.args.steady_rate, self.args.steady_seconds
        total = int(rate * seconds)
        schools = [s["_id"].split(":", 1)[1] for s in self.manifest.schools()]
        self.rng.shuffle(schools)
        n_dates = math.ceil(total / len(schools))
        dates = self.free_dates(0, n_dates)
        self.used_dates = n_dates
        plan_ = []
        now = datetime.now(UTC)
        for j in range(total):
            sid, day = schools[j % len(schools)], dates[j // len(schools)]
            device = self.devices[sid][0]
            data = report_data(self.rng, 300, self.rng.random() < 0.5)
            doc = daily_report(sid, day, data, device=device, author=self.teachers[sid][0], submitted=now)
            plan_.append((sid, device, doc))
        acked: dict[str, float] = {}
        write_t: list[float] = []
        failures: list[str] = []
        seen: dict[str, float] = {}
        stop = threading.Event()
        wanted = {canonical_id(doc["_id"], sid): 0.0 for sid, _d, doc in plan_}
        lock = threading.Lock()
        poll_client = CouchClient(self.url)
        poller = threading.Thread(target=self.watch_view, args=(wanted, dates, seen, stop, poll_client), daemon=True)
        base = couch.base_url
        cpu_w0, cpu_c0, js0, qs0 = cpu_seconds(self.worker.pid), self.couch_cpu(), self.couchjs_cpu(), js_stats(couch)

        # Open loop: devices write when they write, whether or not the server keeps up (up to
        # ``threads`` writes in flight).
        threads = min(256, max(16, int(rate * 3)))
        with httpx.Client(base_url=base, timeout=120,
                          limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads)) as http:
            def write(j: int) -> None:
                sid, device, doc = plan_[j]
                delay = t0 + j / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                started = time.perf_counter()
                try:
                    answer = http.put(f"/{school_db_name(sid)}/{quote(doc['_id'], safe=':')}", json=doc,
                                      auth=(device, self.manifest.accounts[device]["password"]))
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    return
                done = time.perf_counter()
                with lock:
                    if answer.status_code == 201:
                        acked[canonical_id(doc["_id"], sid)] = time.time()
                        write_t.append(done - started)
                    else:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

            poller.start()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(write, range(total)))
            written_s = time.perf_counter() - t0
        # Wait for the worker to count them all (at most two minutes more).
        deadline = time.monotonic() + 120
        while len(seen) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        poller.join(timeout=10)
        poll_client.close()
        lat = [seen[k] - acked[k] for k in acked if k in seen]
        # A report not counted within two minutes of the last write counts as infinitely late.
        lat_all = lat + [math.inf] * (len(acked) - len(lat))
        self.fig["steady"] = {
            "target_per_s": rate, "written": len(acked), "failed": len(failures), "write_s": written_s,
            "achieved_per_s": len(acked) / written_s, "write_p50_ms": percentile(write_t, .5) * 1000,
            "write_p95_ms": percentile(write_t, .95) * 1000, "counted": len(lat), "missing": len(acked) - len(lat),
            "p50_s": percentile(lat_all, .5), "p95_s": percentile(lat_all, .95), "max_s": max(lat_all, default=None),
            "dates": n_dates, "worker_cpu_s": cpu_seconds(self.worker.pid) - cpu_w0,
            "couchdb_cpu_s": self.couch_cpu() - cpu_c0, "couchjs_cpu_s": self.couchjs_cpu() - js0,
            "measured_at": "reports/_design/summaries daily_by_date", "js": js_delta(qs0, js_stats(couch)),
            "threads": threads}
        s = self.fig["steady"]
        say(f"steady state: {len(acked)} reports written in {written_s:.1f} s ({s['achieved_per_s']:.1f}/s, "
            f"device write p50 {s['write_p50_ms']:.0f} ms p95 {s['write_p95_ms']:.0f} ms, {len(failures)} failed); "
            f"write -> summaries view p50 {s['p50_s']:.2f} s p95 {s['p95_s']:.2f} s max {s['max_s']:.2f} s; "
            f"{s['missing']} not counted; worker CPU {s['worker_cpu_s']:.1f} s, CouchDB CPU {s['couchdb_cpu_s']:.1f} s "
            f"(couchjs {s['couchjs_cpu_s']:.1f} s); {self.load_note('steady')}; {js_note(s['js'])}")
        if failures:
            print("  first failures:", failures[:3])

    def morning_burst(self, couch: CouchClient) -> None:
        n = self.args.burst
        schools = [s["_id"].split(":", 1)[1] for s in self.manifest.schools()]
        self.rng.shuffle(schools)
        today = (datetime.now(UTC) + LOCAL_OFFSET).date().isoformat()
        n_dates = math.ceil(n / len(schools))
        dates = [today, *self.free_dates(getattr(self, "used_dates", 0), n_dates - 1)]
        submitted = datetime.now(UTC)
        reps, specs, registry_docs = [], [], []
        for i in range(n):
            sid, day = schools[i % len(schools)], dates[i // len(schools)]
            name = f"device_{uuid.uuid4().hex}"
            token = new_device_token()
            specs.append(AccountSpec(name=name, roles=[f"school:{sid}", "device"], password=token, token=True))
            registry_docs.append({"_id": f"device:{name}", "type": "device", "school_id": sid, "status": "active",
                                  "label": "burst device", "enrolled_by": "bench"})
            doc = daily_report(sid, day, report_data(self.rng, 300, self.rng.random() < 0.5), device=name,
                               author=self.teachers[sid][0], submitted=submitted)
            reps.append({"name": name, "password": token, "db": school_db_name(sid), "doc": doc,
                         "canonical": canonical_id(doc["_id"], sid)})
        t = time.perf_counter()
        write_accounts(couch, specs)
        accounts_s = time.perf_counter() - t
        couch.db(REGISTRY_DB).bulk_docs(registry_docs)
        spec_path = self.workdir / "burst.json"
        target = f"http://127.0.0.1:{self.svc_port}/db" if not self.args.burst_direct else couch.base_url
        spec_path.write_text(json.dumps({"base": target, "replicators": reps}))
        wanted = {r["canonical"]: 0.0 for r in reps}
        seen: dict[str, float] = {}
        stop = threading.Event()
        poll_client = CouchClient(self.url)
        cpu_w0, cpu_c0, cpu_s0 = cpu_seconds(self.worker.pid), self.couch_cpu(), cpu_seconds(self.web.pid)
        js0, qs0 = self.couchjs_cpu(), js_stats(couch)
        say(f"morning burst: {n} new device accounts written in {accounts_s:.2f} s; {n} PouchDB replicators "
            f"push at once to {target.split('@')[-1]} ...")
        poller = threading.Thread(target=self.watch_view, args=(wanted, dates, seen, stop, poll_client), daemon=True)
        poller.start()
        node = subprocess.run(["node", str(ROOT / "bench" / "morning_burst.js"), str(spec_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        if node.returncode:
            print(node.stderr[-3000:])
            raise RuntimeError("morning_burst.js failed")
        out = json.loads(node.stdout)
        t0 = out["t0_ms"] / 1000
        deadline = time.time() + 180
        while len(seen) < n and time.time() < deadline:
            time.sleep(0.5)
        stop.set()
        poller.join(timeout=10)
        poll_client.close()
        results = out["results"]
        ok = [r for r in results if r["ok"]]
        done = [r["end_ms"] / 1000 - t0 for r in ok]
        counted = sorted(seen[k] - t0 for k in seen)
        errors = defaultdict(int)
        for r in results:
            if not r["ok"]:
                errors[r["error"][:120]] += 1
        self.fig["burst"] = {
            "replicators": n, "through": "service /db/ (gunicorn)" if not self.args.burst_direct else "CouchDB",
            "accounts_s": accounts_s, "replicated_ok": len(ok), "failed": n - len(ok),
            "docs_written": sum(r.get("docs_written", 0) for r in ok),
            "replication_p50_s": percentile(done, .5), "replication_p95_s": percentile(done, .95),
            "all_replicated_s": max(done) if done else None, "counted": len(counted),
            "missing": n - len(counted), "counted_p50_s": percentile(counted, .5),
            "all_counted_s": max(counted) if len(counted) == n else None,
            "counted_within_60s": sum(1 for c in counted if c <= 60), "errors": dict(errors),
            "worker_cpu_s": cpu_seconds(self.worker.pid) - cpu_w0, "couchdb_cpu_s": self.couch_cpu() - cpu_c0,
            "service_cpu_s": cpu_seconds(self.web.pid) - cpu_s0, "couchjs_cpu_s": self.couchjs_cpu() - js0,
            "node_peak_rss_kb": out.get("peak_rss_kb"), "js": js_delta(qs0, js_stats(couch))}
        b = self.fig["burst"]
        say(f"morning burst: {len(ok)}/{n} replications ok (p50 {b['replication_p50_s']:.1f} s, "
            f"p95 {b['replication_p95_s']:.1f} s, last {b['all_replicated_s']} s); counted {len(counted)}/{n}, "
            f"{b['counted_within_60s']} within 60 s, last at "
            f"{b['all_counted_s'] if b['all_counted_s'] is not None else 'never (not all)'} s; "
            f"{b['missing']} missing; CPU worker {b['worker_cpu_s']:.1f} s, service {b['service_cpu_s']:.1f} s, "
            f"CouchDB {b['couchdb_cpu_s']:.1f} s (couchjs {b['couchjs_cpu_s']:.1f} s); {self.load_note('burst')}; "
            f"{js_note(b['js'])}")
        if errors:
            print("  errors:", dict(errors))

    def memory(self) -> None:
        self.hwm.stop()
        if self.pinger:
            self.pinger.stop()
        peaks = self.hwm.peaks
        svc = peaks.get("service", {})
        self.fig["rss_mb"] = {
            "worker_once": self.fig.get("worker", {}).get("peak_rss_kb", 0) / 1024,
            "worker_running": max(peaks.get("worker", {}).values(), default=0) / 1024,
            "service_total": sum(svc.values()) / 1024,
            "service_largest_process": max(svc.values(), default=0) / 1024,
            "service_processes": len(svc),
            "couchdb": max(peaks.get("couchdb", {}).values(), default=0) / 1024,
            "couchdb_with_js_sum": self.hwm.peak_sum.get("couchdb_with_js", 0) / 1024}
        r = self.fig["rss_mb"]
        say(f"peak RSS (VmHWM): worker --once {r['worker_once']:.0f} MB, worker running {r['worker_running']:.0f} MB, "
            f"service {r['service_total']:.0f} MB in {r['service_processes']} processes (largest "
            f"{r['service_largest_process']:.0f} MB), CouchDB {r['couchdb']:.0f} MB (with its couchjs processes, "
            f"highest sum sampled {r['couchdb_with_js_sum']:.0f} MB)")

    # -- the whole run ---------------------------------------------------------------------------

    def run(self) -> int:
        shape = self.shape
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "sync", "server", "demo"], cwd=ROOT,
                               capture_output=True, text=True).stdout.split()
        self.fig["git"] = {"head": head.stdout.strip(), "uncommitted": dirty[1::2]}
        print(f"code: {head.stdout.strip()}{' + uncommitted ' + ', '.join(dirty[1::2]) if dirty else ''}")
        print(f"shape: {shape.prefectures} prefectures x {shape.counties_per_prefecture} counties "
              f"({shape.prefectures * shape.counties_per_prefecture}), {shape.schools} schools, {shape.days} days "
              f"({shape.start_date}..{shape.end_date}); machine: {os.cpu_count()} CPUs; workdir {self.workdir}",
              flush=True)
        try:
            self.start_couchdb()
            self.hwm.start()
            self.pinger = Pinger(split_credentials(self.url)[0]).start()
            with CouchClient(self.url, timeout=120) as couch:
                if couch.db(REGISTRY_DB).exists():
                    from demo.accounts import registry_has_schools

                    if registry_has_schools(couch):
                        raise RuntimeError("the server already holds schools: give an empty one")
                self.provision_and_load(couch)
                self.write_probe(couch)
                self.catch_up(couch)
                self.summaries(couch)
                self.raw_again(couch)
                if not (self.args.skip_steady and self.args.burst == 0):
                    self.start_services(couch)
                    if not self.args.skip_steady:
                        self.steady_state(couch)
                    if self.args.burst:
                        self.morning_burst(couch)
            self.memory()
        finally:
            self.stop_all()
        self.print_table()
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.fig, indent=1, default=str))
        return 0

    def print_table(self) -> None:
        f = self.fig
        rows = []
        p, a, ld, w = f.get("provision", {}), f.get("accounts", {}), f.get("load", {}), f.get("worker", {})
        if p:
            rows.append(("provision: core + registry", f"{p['core_and_registry_s']:.1f} s",
                         f"{p['registry_docs']} registry docs"))
            rows.append(("provision: school + inspection dbs", f"{p['school_and_inspection_dbs_s']:.1f} s",
                         f"{p['dbs']} dbs, {p['per_db_ms']:.1f} ms/db"))
        if a:
            rows.append(("accounts: devices (pre-hashed)", f"{a['device_ms']:.2f} ms/account",
                         f"{a['devices']} in {a['devices_s']:.1f} s"))
            rows.append(("accounts: people (600k iterations)", f"{a['person_ms']:.0f} ms/account",
                         f"{a['people']} in {a['people_s']:.1f} s (sample)"))
        fa = f.get("first_auth", {})
        for kind in ("person", "device"):
            if kind in fa:
                rows.append((f"first auth: {kind}", f"{fa[kind]['first_p50_ms']:.1f} ms p50",
                             f"again {fa[kind]['again_p50_ms']:.1f} ms"))
        if ld:
            rows.append(("load through device accounts", f"{ld['s']:.1f} s",
                         f"{ld['docs']} docs, {ld['per_s']:.0f}/s, {ld['per_school']:.1f}/school"))
        wp = f.get("write_probe", {})
        for phase in ("cold", "warm"):
            if phase in wp:
                v = wp[phase]
                rows.append((f"one device write, {phase} database", f"{v['p50_ms']:.1f} ms p50",
                             f"p95 {v['p95_ms']:.1f} ms; {v['js']['spawns']} couchjs spawned, "
                             f"{v['js']['ddoc_taught']} ddocs taught for {v['n']} writes"))
        if w:
            rows.append(("worker catch-up (--once)", f"{w['per_s']:.0f} reports/s",
                         f"{w['canonical']} in {w['wall_s']:.1f} s"))
            rows.append(("raw _bulk_docs, same server", f"{w['raw_bulk_per_s']:.0f} docs/s",
                         f"again later {w.get('raw_bulk_again_per_s', 0):.0f}/s; batches of {w['batch']}"))
            rows.append(("worker / raw _bulk_docs", f"{w['ratio']:.2f}x",
                         f"goal >= 0.5x: {'met' if w['ratio'] >= 0.5 else 'NOT met'}"))
            rows.append(("raw per-db floor (_changes+_bulk_docs)", f"{w['raw_per_db_floor_per_s']:.0f} docs/s",
                         f"worker at {w['ratio_to_floor']:.2f}x of it"))
        if "view_build_s" in f:
            rows.append(("view build (summaries)", f"{f['view_build_s']:.1f} s", ""))
        s = f.get("summaries", {})
        if s:
            c = s["county"]
            rows.append(("county 30 d: API p50/p95", f"{c['api_p50_ms']:.1f}/{c['api_p95_ms']:.1f} ms",
                         f"raw {c['raw_p50_ms']:.1f}/{c['raw_p95_ms']:.1f} ms; goal p50 <= {c['goal_p50_ms']:.1f}: "
                         f"{'met' if c['api_p50_ms'] <= c['goal_p50_ms'] else 'NOT met'}, p95 <= "
                         f"{c['goal_p95_ms']:.1f}: {'met' if c['api_p95_ms'] <= c['goal_p95_ms'] else 'NOT met'}"))
            pr = s["prefecture"]
            rows.append(("prefecture 30 d: API p50/p95", f"{pr['api_p50_ms']:.1f}/{pr['api_p95_ms']:.1f} ms",
                         f"raw {pr['raw_p50_ms']:.1f}/{pr['raw_p95_ms']:.1f} ms"))
            pv = s["province"]
            rows.append(("province 30 d: API p50/p95", f"{pv['api_p50_ms']:.1f}/{pv['api_p95_ms']:.1f} ms",
                         f"raw {pv['raw_p50_ms']:.1f}/{pv['raw_p95_ms']:.1f} ms "
                         f"({s['province_range_raw']['path']}); goal p95 <= 300 ms: "
                         f"{'met' if pv['api_p95_ms'] <= 300 else 'NOT met'}"))
            pr_range = s["province_range_raw"]
            rows.append(("province: one date range, raw p50/p95",
                         f"{pr_range['p50_ms']:.1f}/{pr_range['p95_ms']:.1f} ms",
                         "daily_by_date grouped (the path above 1,000 county-days)"))
        sv = f.get("services", {})
        if sv:
            rows.append(("worker start -> idle", f"{sv['worker_idle_after_start_s']:.1f} s", "first round, all dbs"))
        st = f.get("steady", {})
        if st:
            rows.append(("steady: write -> summary p50/p95", f"{st['p50_s']:.2f}/{st['p95_s']:.2f} s",
                         f"{st['achieved_per_s']:.0f}/s for {st['write_s']:.0f} s, max {st['max_s']:.2f} s, "
                         f"{st['missing']} missing; goal p95 <= 5 s: {'met' if st['p95_s'] <= 5 else 'NOT met'}"))
        b = f.get("burst", {})
        if b:
            last = b["all_replicated_s"]
            rows.append((f"burst: {b['replicators']} replicators", f"{b['replicated_ok']} ok",
                         f"last replication {last if last is None else round(last, 1)} s, "
                         f"p95 {b['replication_p95_s']:.1f} s, {b['through']}"))
            allc = b["all_counted_s"]
            rows.append(("burst: all counted", f"{allc:.1f} s" if allc is not None else "NOT all",
                         f"{b['counted']} counted, {b['missing']} missing; goal <= 60 s: "
                         f"{'met' if allc is not None and allc <= 60 else 'NOT met'}"))
        r = f.get("rss_mb", {})
        if r:
            rows.append(("peak RSS worker (once / running)", f"{r['worker_once']:.0f} / {r['worker_running']:.0f} MB",
                         ""))
            rows.append(("peak RSS service", f"{r['service_total']:.0f} MB",
                         f"{r['service_processes']} processes, largest {r['service_largest_process']:.0f} MB"))
            rows.append(("peak RSS CouchDB", f"{r['couchdb']:.0f} MB",
                         f"with couchjs processes: {r['couchdb_with_js_sum']:.0f} MB (highest sum sampled)"))
        print()
        loads = ", ".join(f"{k} {v:.1f}" for k, v in f.get("loadavg", {}).items())
        pings = ", ".join(f"{k} {v:.1f}" for k, v in f.get("ping_ms", {}).items())
        print(f"== {f['shape']['schools']} schools x {f['shape']['days']} days, {f['shape']['counties']} counties, "
              f"JavaScript: {f.get('couchdb', {}).get('js_engine', '?')} ==")
        print(f"1-min load average at: {loads}")
        print(f"GET /_up p50 (ms) during: {pings}")
        for name, value, note in rows:
            print(f"{name:40s} {value:>18s}   {note}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        return child_worker(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--prefectures", type=int, default=21)
    parser.add_argument("--counties-per-prefecture", type=int, default=None,
                        help="default: scaled as 9 per prefecture (189 counties) for 20,000 schools, at least 1")
    parser.add_argument("--url", help="an empty CouchDB 3 server to use instead of starting one")
    parser.add_argument("--port", type=int, default=6200, help="first port to try for the CouchDB node (6200-6249)")
    parser.add_argument("--threads", type=int, default=8, help="client threads for provisioning and the load")
    parser.add_argument("--people-sample", type=int, default=100, help="people's accounts to create and time")
    parser.add_argument("--runs", type=int, default=30, help="summary queries per level")
    parser.add_argument("--steady-rate", type=float, default=100.0)
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--skip-steady", action="store_true")
    parser.add_argument("--burst", type=int, default=500, help="PouchDB replicators in the morning burst (0: none)")
    parser.add_argument("--burst-direct", action="store_true", help="replicate straight to CouchDB, not /db/")
    parser.add_argument("--js-engine", choices=["spidermonkey", "quickjs"],
                        help="[couchdb] js_engine of the node this starts (default: CouchDB's, spidermonkey)")
    parser.add_argument("--os-process-limit", type=int,
                        help="[query_server_config] os_process_limit and os_process_soft_limit (default 100)")
    parser.add_argument("--cprofile", action="store_true", help="profile the catch-up worker (cProfile)")
    parser.add_argument("--trace-memory", action="store_true", help="tracemalloc in the catch-up worker")
    parser.add_argument("--keep", action="store_true", help="leave the CouchDB node running")
    parser.add_argument("--json", help="write every figure to this file")
    return Bench(parser.parse_args()).run()


if __name__ == "__main__":
    raise SystemExit(main())
