"""``make run``: the whole system on one machine, for trying it out.

1. CouchDB: ``COUCHDB_URL`` when set, else the embedded pouchdb-server (supervised,
   data in ``var/couchdb``, admin password generated on first start).
2. Provision every database; load the small demo when the registry has no schools.
3. Start the sync worker (``python -m sync``) and the service under gunicorn on
   ``HOST:PORT`` (127.0.0.1:8000), restarting either if it dies.
4. Print the URLs and the demo accounts. Ctrl-C stops everything this started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from demo.__main__ import progress_printer
from demo.accounts import read_demo_accounts, registry_has_schools, write_demo_accounts
from demo.generate import DemoShape, load
from sync.couch import CouchClient
from sync.embedded import EmbeddedCouch
from sync.provision import provision_all, provision_core

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("devstack")


class Child:
    """A supervised child process: restarted (with a pause) when it exits on its own."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def start(self) -> Child:
        self._spawn()
        threading.Thread(target=self._watch, name=self.name, daemon=True).start()
        return self

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _watch(self) -> None:
        while not self.stopping.is_set():
            code = self.proc.wait()
            if self.stopping.is_set():
                return
            print(f"! {self.name} exited with {code}; restarting (log: {self.log_path})", file=sys.stderr)
            time.sleep(2)
            if not self.stopping.is_set():
                self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_for_http(url: str, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


def prepare_data(couch: CouchClient, var_dir: Path) -> dict | None:
    provision_core(couch)
    if not registry_has_schools(couch):
        shape = DemoShape(
            schools=int(os.environ.get("DEMO_SCHOOLS", 60)), days=int(os.environ.get("DEMO_DAYS", 30)))
        print(f"Loading the demo: {shape.schools} schools, {shape.days} days ...", flush=True)
        manifest = load(couch, shape, progress=progress_printer())
        write_demo_accounts(couch, manifest, var_dir)
    print("Provisioning databases ...", flush=True)
    bar = progress_printer()
    provision_all(couch, progress=lambda done, total: bar("databases", done, total))
    return read_demo_accounts(var_dir)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    embedded = None
    couchdb_url = os.environ.get("COUCHDB_URL")
    children: list[Child] = []
    # From the start: a stop while the demo loads must shut down what already runs.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if not couchdb_url:
            print("Starting the embedded CouchDB-compatible server (pouchdb-server) ...", flush=True)
            embedded = EmbeddedCouch(var_dir / "couchdb")
            couchdb_url = embedded.start().url
        with CouchClient(couchdb_url) as couch:
            accounts = prepare_data(couch, var_dir)
        env = dict(os.environ, COUCHDB_URL=couchdb_url, VAR_DIR=str(var_dir), HOST=host, PORT=port,
                   GUNICORN_WORKERS=os.environ.get("GUNICORN_WORKERS", "2"), PYTHONUNBUFFERED="1")
        python = sys.executable
        children.append(Child("worker", [python, "-m", "sync"], env, var_dir / "worker.log").start())
        children.append(Child("web", [python, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "server.wsgi:app"],
                              env, var_dir / "web.log").start())
        base = f"http://{host}:{port}"
        if not wait_for_http(base + "/api/v1/health"):
            print(f"! the service did not come up; see {var_dir / 'web.log'}", file=sys.stderr)
            return 1
        print_banner(base, embedded, var_dir, accounts)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        # A second Ctrl-C (or SIGTERM) must not cut the shutdown short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):
            child.stop()
        if embedded:
            embedded.stop()
    return 0


def _stop_on_sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt  # same clean shutdown as Ctrl-C


def print_banner(base: str, embedded: EmbeddedCouch | None, var_dir: Path, accounts: dict | None) -> None:
    lines = [
        "",
        "School daily health reporting is running.",
        f"  County dashboard   {base}/",
        f"  Teacher app        {base}/app/",
        f"  API health         {base}/api/v1/health",
        f"  OpenAPI            {base}/api/v1/openapi.json",
        f"  CouchDB (devices)  {base}/db/",
    ]
    if embedded:
        lines.append(f"  Embedded CouchDB   {embedded.base_url}  (admin password in {var_dir}/couchdb/admin.json)")
    if accounts:
        lines.append("Demo accounts (demo only; also in var/demo-accounts.json):")
        for role, acc in accounts.items():
            lines.append(f"  {role:<19}{acc['name']:<24}{acc['password']}")
    lines += [f"Logs: {var_dir}/web.log, {var_dir}/worker.log", "Press Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
