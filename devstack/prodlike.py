"""``make prodlike``: the production layout on one machine, on loopback.

nginx (Debian's, from ``deploy/nginx/local-http.conf.template``) is the one origin:
``/app/`` from ``webapp/``, ``/db/`` to CouchDB, ``/`` and ``/api/`` to gunicorn
(``deploy/gunicorn.conf.py``, several worker processes, Prometheus multiprocess mode),
and two sync worker shards (``--shard 1/2``, ``--shard 2/2``) each serving its metrics.
CouchDB is ``COUCHDB_URL`` when set, else the embedded pouchdb-server. An empty server
gets the databases and a small demo first.

Everything writes under ``VAR_DIR`` (default ``var/prodlike``): ``nginx/`` (rendered
config, pid, logs), ``couchdb/``, ``prometheus/``, ``web.log``, ``worker-<i>.log``.
Ctrl-C (or SIGTERM) stops everything this started.

Environment: ``VAR_DIR``, ``COUCHDB_URL``, ``LISTEN_PORT`` (8080), ``WEB_PORT`` (8000),
``WORKER_SHARDS`` (2), ``WORKER_METRICS_BASE_PORT`` (9310: shard i on base + i),
``GUNICORN_WORKERS`` (3), ``DEMO_SCHOOLS`` (12), ``DEMO_DAYS`` (10). A port of 0 means
"any free port" (the tests use that).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from demo.accounts import read_demo_accounts, registry_has_schools, write_demo_accounts
from demo.generate import DemoManifest, DemoShape, load
from devstack.__main__ import Child, wait_for_http
from sync.couch import CouchClient, split_credentials
from sync.embedded import EmbeddedCouch, free_port
from sync.provision import provision_all, provision_core

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "local-http.conf.template"
TEMPLATE_VARS = ("PREFIX_DIR", "WEBAPP_DIR", "LISTEN_ADDR", "LISTEN_PORT", "WEB_HOST", "WEB_PORT",
                 "COUCHDB_HOST", "COUCHDB_PORT")


def find_nginx() -> str:
    """Debian installs nginx in /usr/sbin, often not on a normal user's PATH."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (or `make system-packages`)")
    return found


def render_nginx_conf(values: dict[str, object]) -> str:
    """The template with only its own placeholders substituted, as ``envsubst '${A} ${B}'``
    does (nginx's ``$variables`` stay). Raises ``KeyError`` for a missing value."""
    text = TEMPLATE.read_text()
    names = "|".join(TEMPLATE_VARS)
    return re.sub(rf"\$(?:\{{({names})\}}|({names})\b)", lambda m: str(values[m.group(1) or m.group(2)]), text)


def _worker_user() -> str:
    """nginx's ``user`` directive for a master started as root: its workers then run as the
    invoking user (root) instead of "nobody", who cannot enter a private checkout (a 0700
    home on Debian 12, a ``mktemp -d`` folder). Started by anyone else, the workers already
    run as that user and nginx ignores the directive, so none is given."""
    if os.geteuid() != 0:
        return ""
    return f" user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


def _port(value: str | int | None, default: int) -> int:
    port = int(value) if value not in (None, "") else default
    return port or free_port()


@dataclass(frozen=True, kw_only=True)
class ProdlikeConfig:
    var_dir: Path
    couchdb_url: str | None = None
    listen_port: int = 8080
    web_port: int = 8000
    shards: int = 2
    metrics_ports: tuple[int, ...] = ()  # one per shard; empty: WORKER_METRICS_BASE_PORT + i
    web_workers: int = 3
    demo: DemoShape = field(default_factory=lambda: DemoShape(schools=12, days=10))
    worker_poll_interval_s: float = 2.0
    webapp_dir: Path = ROOT / "webapp"  # what nginx serves as /app/ (tests use a copy elsewhere)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ProdlikeConfig:
        env = os.environ if environ is None else environ
        shards = int(env.get("WORKER_SHARDS", "2"))
        base = env.get("WORKER_METRICS_BASE_PORT", "9310")
        return cls(
            var_dir=Path(env.get("VAR_DIR") or ROOT / "var" / "prodlike").resolve(),
            couchdb_url=env.get("COUCHDB_URL") or None,
            listen_port=_port(env.get("LISTEN_PORT"), 8080),
            web_port=_port(env.get("WEB_PORT"), 8000),
            shards=shards,
            metrics_ports=tuple(_port(int(base) + i if int(base) else 0, 0) for i in range(1, shards + 1)),
            web_workers=int(env.get("GUNICORN_WORKERS", "3")),
            demo=DemoShape(schools=int(env.get("DEMO_SCHOOLS", "12")), days=int(env.get("DEMO_DAYS", "10"))),
            worker_poll_interval_s=float(env.get("WORKER_POLL_INTERVAL", "2")),
        )


class ProdlikeStack:
    """Start with ``start()`` (returns self once nginx answers ``/api/v1/health``), stop with
    ``stop()``; also a context manager. Raises ``RuntimeError`` when a part does not come up
    (its log is named in the message)."""

    def __init__(self, config: ProdlikeConfig):
        self.config = config
        self.var_dir = config.var_dir
        self.embedded: EmbeddedCouch | None = None
        self.couchdb_url = config.couchdb_url or ""
        self.children: list[Child] = []
        self.manifest: DemoManifest | None = None  # the demo loaded by this start, if any
        self.accounts: dict | None = None
        self.metrics_ports = config.metrics_ports or tuple(9310 + i for i in range(1, config.shards + 1))

    # -- addresses ------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The one public origin (nginx)."""
        return f"http://127.0.0.1:{self.config.listen_port}"

    @property
    def web_url(self) -> str:
        """gunicorn directly (where Prometheus scrapes ``/metrics``)."""
        return f"http://127.0.0.1:{self.config.web_port}"

    @property
    def nginx_prefix(self) -> Path:
        return self.var_dir / "nginx"

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> ProdlikeStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.couchdb_url:
            self.embedded = EmbeddedCouch(self.var_dir / "couchdb").start()
            self.couchdb_url = self.embedded.url
        with CouchClient(self.couchdb_url) as couch:
            self._prepare_data(couch)
        env = dict(os.environ, COUCHDB_URL=self.couchdb_url, VAR_DIR=str(self.var_dir), PYTHONUNBUFFERED="1",
                   WORKER_POLL_INTERVAL=str(self.config.worker_poll_interval_s))
        python = sys.executable
        prometheus_dir = self.var_dir / "prometheus"
        # As deploy/env.example: nginx in front (one trusted hop), Secure session cookies
        # (browsers keep them on http://127.0.0.1, a secure context).
        web_env = dict(env, HOST="127.0.0.1", PORT=str(self.config.web_port),
                       GUNICORN_WORKERS=str(self.config.web_workers), PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir),
                       TRUSTED_PROXY_COUNT="1", SECURE_COOKIES="1")
        self._child("web", [python, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "server.wsgi:app"], web_env)
        for index, port in enumerate(self.metrics_ports, 1):
            self._child(f"worker-{index}", [python, "-m", "sync", "--shard", f"{index}/{self.config.shards}",
                                            "--metrics-port", str(port)], env)
        self._start_nginx()
        if not wait_for_http(self.origin + "/api/v1/health", timeout_s=180):
            raise RuntimeError(f"the service did not answer through nginx; see {self.var_dir}/web.log and "
                               f"{self.nginx_prefix}/error.log")

    def _prepare_data(self, couch: CouchClient) -> None:
        provision_core(couch)
        if not registry_has_schools(couch):
            shape = self.config.demo
            print(f"Loading a small demo: {shape.schools} schools, {shape.days} days ...", flush=True)
            self.manifest = load(couch, shape)
            write_demo_accounts(couch, self.manifest, self.var_dir)
        provision_all(couch)
        self.accounts = read_demo_accounts(self.var_dir)

    def _child(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.var_dir / f"{name}.log").start()
        self.children.append(child)
        return child

    def _start_nginx(self) -> None:
        prefix = self.nginx_prefix
        prefix.mkdir(parents=True, exist_ok=True)
        couch_host = urlsplit(split_credentials(self.couchdb_url)[0])
        values = {
            "PREFIX_DIR": prefix, "WEBAPP_DIR": self.config.webapp_dir, "LISTEN_ADDR": "127.0.0.1",
            "LISTEN_PORT": self.config.listen_port, "WEB_HOST": "127.0.0.1", "WEB_PORT": self.config.web_port,
            "COUCHDB_HOST": couch_host.hostname, "COUCHDB_PORT": couch_host.port or 5984,
        }
        conf = prefix / "nginx.conf"
        conf.write_text(render_nginx_conf(values))
        nginx = find_nginx()
        base = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        checked = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx rejected {conf}:\n{checked.stderr}")
        # In the foreground, so that it is supervised (and stopped) like the other children.
        self._child("nginx", [*base, "-g", f"daemon off;{_worker_user()}"], dict(os.environ))

    def stop(self) -> None:
        """Stop every part this started (in parallel; each gets SIGTERM, then SIGKILL)."""
        threads = [threading.Thread(target=child.stop) for child in self.children]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.children.clear()
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def __enter__(self) -> ProdlikeStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for people -----------------------------------------------------------------------

    def banner(self) -> str:
        lines = [
            "",
            "School reporting, production layout (nginx + gunicorn + 2 worker shards), on loopback:",
            f"  Origin (nginx)      {self.origin}/",
            f"  Teacher app         {self.origin}/app/",
            f"  Devices' CouchDB    {self.origin}/db/",
            f"  Health              {self.origin}/api/v1/health",
            f"  Service metrics     {self.web_url}/metrics   (not through nginx)",
        ]
        lines += [f"  Worker {i} metrics    http://127.0.0.1:{port}/metrics"
                  for i, port in enumerate(self.metrics_ports, 1)]
        if self.embedded:
            lines.append(f"  Embedded CouchDB    {self.embedded.base_url}  (admin password in "
                         f"{self.embedded.data_dir}/admin.json)")
        for role, account in (self.accounts or {}).items():
            lines.append(f"  {role:<20}{account['name']:<24}{account['password']}")
        lines += [f"Logs: {self.var_dir}/*.log, {self.nginx_prefix}/*.log", "Press Ctrl-C to stop.", ""]
        return "\n".join(lines)


def main() -> int:
    config = ProdlikeConfig.from_env()
    stack = ProdlikeStack(config)

    def stop_on_sigterm(_signum, _frame) -> None:
        raise KeyboardInterrupt  # the same clean shutdown as Ctrl-C

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    except RuntimeError as exc:
        print(f"! {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
