"""The embedded CouchDB-compatible server for development, tests and the demo.

When ``COUCHDB_URL`` is not set the project runs ``pouchdb-server`` (pinned in
package-lock.json) itself: bound to 127.0.0.1 on a free port, data under
``<var>/couchdb``, an admin account generated on first start and kept in
``<var>/couchdb/admin.json`` (outside git, mode 0600) so it is never "admin party".
A supervisor thread restarts the process on the same port when it dies (an anonymous
``PUT /<db>`` crashes pouchdb-server 4.2.0, for one).

Run alone with ``python -m sync.embedded`` (prints the URL, Ctrl-C stops it).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

from sync.errors import CouchUnavailable

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POUCHDB_SERVER = PROJECT_ROOT / "node_modules" / ".bin" / "pouchdb-server"
# Devices stay offline for days: their sessions must outlive that (CouchDB's default is 10 min).
SESSION_TIMEOUT_S = 30 * 24 * 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedCouch:
    """A supervised ``pouchdb-server`` process. Use as a context manager or start()/stop()."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None, admin_user: str = "admin"):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.admin_user = admin_user
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self.admin_password = self._ensure_credentials()

    # -- files ------------------------------------------------------------------------

    def _ensure_credentials(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        creds_file = self.data_dir / "admin.json"
        config_file = self.data_dir / "config.json"
        if creds_file.exists() and config_file.exists():
            return json.loads(creds_file.read_text())["password"]
        password = secrets.token_urlsafe(18)
        creds_file.write_text(json.dumps({"user": self.admin_user, "password": password}))
        creds_file.chmod(0o600)
        # pouchdb-server hashes the plain password in place on first start.
        config = {
            "admins": {self.admin_user: password},
            "couch_httpd_auth": {"timeout": str(SESSION_TIMEOUT_S), "allow_persistent_cookies": "true"},
            "log": {"file": str(self.data_dir / "log.txt"), "level": "warning"},
        }
        config_file.write_text(json.dumps(config, indent=2))
        config_file.chmod(0o600)
        return password

    # -- URLs ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL with the admin's credentials, as ``COUCHDB_URL`` expects."""
        return f"http://{self.admin_user}:{self.admin_password}@127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- process ------------------------------------------------------------------------

    def _spawn(self) -> None:
        if not POUCHDB_SERVER.exists():
            raise CouchUnavailable(f"{POUCHDB_SERVER} is missing: run `npm ci` in {PROJECT_ROOT}")
        out = open(self.data_dir / "server.out", "ab")
        self._proc = subprocess.Popen(
            [str(POUCHDB_SERVER), "--host", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
             "--config", str(self.data_dir / "config.json"), "--no-color"],
            cwd=self.data_dir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it ourselves
        )
        out.close()
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc and self._proc.poll() is not None:
                raise CouchUnavailable(f"pouchdb-server exited with {self._proc.returncode}; see "
                                       f"{self.data_dir / 'server.out'}")
            try:
                if httpx.get(self.base_url + "/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise CouchUnavailable(f"pouchdb-server did not answer on {self.base_url} within {timeout_s}s")

    def start(self) -> EmbeddedCouch:
        with self._lock:
            self._spawn()
        url_file = self.data_dir / "url"  # lets `flask run` or `python -m sync` find the dev server
        url_file.write_text(self.url)
        url_file.chmod(0o600)
        self._supervisor = threading.Thread(target=self._supervise, name="embedded-couch", daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("pouchdb-server exited with %s; restarting on port %s", code, self.port)
            time.sleep(backoff)
            try:
                with self._lock:
                    if not self._stopping.is_set():
                        self._spawn()
                        self.restarts += 1
                        backoff = 0.2
            except CouchUnavailable:
                log.exception("restart failed; retrying")
                backoff = min(backoff * 2, 10)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._proc and self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()

    def __enter__(self) -> EmbeddedCouch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    var_dir = Path(os.environ.get("VAR_DIR", PROJECT_ROOT / "var"))
    port = int(os.environ["COUCHDB_PORT"]) if os.environ.get("COUCHDB_PORT") else None
    server = EmbeddedCouch(var_dir / "couchdb", port=port).start()
    print(f"COUCHDB_URL={server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
