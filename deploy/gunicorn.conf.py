"""Gunicorn settings for the school reporting service (``server.wsgi:app``).

Started by ``deploy/systemd/school-reporting-web.service``::

    gunicorn -c deploy/gunicorn.conf.py server.wsgi:app

Check without serving (imports the app, exits 0 or prints the error)::

    gunicorn --check-config -c deploy/gunicorn.conf.py server.wsgi:app

Signals (the systemd unit maps ``systemctl reload`` to SIGHUP):

- SIGHUP: re-read this file, start new workers (which import the code as it is
  now on disk), then stop the old ones gracefully. That is how an upgrade goes
  live without dropping requests (``preload_app`` is off for this reason).
- SIGTERM: graceful stop; workers get ``graceful_timeout`` to finish requests.
- SIGUSR1: reopen log files (not needed with journald, which we log to).

Every value can be overridden from the environment file without editing this
file: ``HOST``/``PORT`` (the same variables the service reads in development),
and ``GUNICORN_WORKERS`` / ``GUNICORN_THREADS`` / ``GUNICORN_TIMEOUT`` /
``GUNICORN_LOG_LEVEL`` for tuning.
"""

import datetime
import json
import logging
import os
import shutil


def _int_env(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# -- Where to listen ---------------------------------------------------------
# Loopback only: nginx is the one public listener (TLS, static files, /db/).
# A bracketed host is needed for IPv6 literals ("[::1]:8000").
_host = os.environ.get("HOST", "127.0.0.1").strip() or "127.0.0.1"
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"
bind = [f"{_host}:{_int_env('PORT', 8000)}"]

# -- Worker model --------------------------------------------------------------
# The service spends almost all of a request waiting on CouchDB over HTTP
# (views for summaries, _all_docs, writes through the audited endpoint), so
# requests are I/O bound: threads let one process overlap those waits at the
# cost of a few MB each. gthread, not gevent/eventlet: no monkey-patching of
# httpx or the standard library, and it is gunicorn's built-in threaded worker
# that handles keep-alive connections from nginx's upstream pool.
#
# More than one process, though: XLSX export (openpyxl) and JSON Schema
# rendering are CPU work that holds the GIL, and a second process keeps the
# dashboard answering while one worker builds a large export. It also means
# a worker recycled by max_requests (below) never leaves the service with no
# live worker. Two processes per core is enough for an I/O-bound service on
# the 2-4 core hosts this runs on; threads give the concurrency.
#
# Long-lived device traffic (_changes long-polls) goes to CouchDB through
# nginx, never through gunicorn, so threads are not held for minutes.
worker_class = "gthread"
workers = _int_env("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1), 8))
threads = _int_env("GUNICORN_THREADS", 8)

# -- Timeouts ------------------------------------------------------------------
# A worker that does not notify the arbiter for `timeout` seconds is killed.
# The slowest legitimate request is a county/province export over a date range
# reading CouchDB views, which the service bounds well under this.
timeout = _int_env("GUNICORN_TIMEOUT", 60)
# On SIGTERM/SIGHUP, time given to in-flight requests before workers are
# killed; it must stay below the unit's TimeoutStopSec (90 s).
graceful_timeout = 30
# nginx keeps idle connections to gunicorn open (upstream keepalive, closed by
# nginx after 60 s idle). Gunicorn must not close them first: a request nginx
# sends on a connection gunicorn has just closed fails, and a POST is not
# retried. Idle keep-alive connections wait in gthread's poller, not a thread.
keepalive = 75

# -- Worker recycling ----------------------------------------------------------
# Restart each worker after about this many requests, with jitter so workers do
# not all restart at once: caps the effect of any slow leak (openpyxl and big
# JSON responses fragment the heap).
max_requests = 2000
max_requests_jitter = 200

# -- Application loading -------------------------------------------------------
# preload_app = False, deliberately:
# - SIGHUP then re-imports the application in the new workers, so an upgrade
#   (git pull, pip install, systemctl reload) needs no restart and drops no
#   request. With preload the master would keep serving the old code.
# - The app creates its CouchDB HTTP client (connection pool) at start; created
#   in the master it would be shared by forked workers.
# The cost is a slower start of each worker and no copy-on-write sharing of
# memory, both small for a Flask app.
preload_app = False

# nginx on the same host sets X-Forwarded-Proto; trust it only from loopback so
# that request.scheme is "https" behind the proxy (the container layout sets
# FORWARDED_ALLOW_IPS to its proxy's network).
# The client's address (the sign-in limit counts per address) and the host (the
# CSRF origin check) come from nginx's X-Forwarded-For/-Host through the app's
# ProxyFix, which believes TRUSTED_PROXY_COUNT hops whoever sends them: that is
# safe only because gunicorn listens where nothing but nginx reaches it (above).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Worker heartbeat files go to a tmpfs: on a disk they are written every few
# seconds and a slow disk can stall a worker into a timeout.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

proc_name = "school-reporting-web"

# -- Logging: JSON lines on stdout/stderr, collected by journald -----------------
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# With logconfig_dict set, gunicorn routes access records through the
# "gunicorn.access" logger below; no file of its own.
accesslog = None
errorlog = "-"

# Fields of an access record, from gunicorn's atoms (see gunicorn docs,
# "access_log_format"): name in the JSON line -> atom.
_ACCESS_FIELDS = {
    "remote_addr": "h",
    "forwarded_for": "{x-forwarded-for}i",
    "method": "m",
    "path": "U",
    "query": "q",
    "protocol": "H",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "referer": "f",
    "user_agent": "a",
    "request_id": "{x-request-id}i",
}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line; access records get one field per atom.

    Built with json.dumps, so quotes or newlines in a user agent or path cannot
    break a line (gunicorn's own access_log_format does no escaping).
    """

    def format(self, record):
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            entry["event"] = "request"
            for field, atom in _ACCESS_FIELDS.items():
                value = atoms.get(atom)
                if isinstance(value, str):
                    # gunicorn escapes quotes for its text format; JSON does it
                    value = value.replace('\\"', '"')
                if value not in (None, "-", ""):
                    entry[field] = value
            for numeric in ("status", "bytes", "duration_ms"):
                if isinstance(entry.get(numeric), str) and entry[numeric].isdigit():
                    entry[numeric] = int(entry[numeric])
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonLinesFormatter}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    # The application's own loggers (Flask, server.*) propagate to the root.
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["stderr"],
            "propagate": False,
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["stdout"],
            "propagate": False,
        },
    },
}


# -- Prometheus with several worker processes ------------------------------------
# Each worker has its own counters; a scrape of /metrics lands on one worker.
# When PROMETHEUS_MULTIPROC_DIR is set (the web unit sets it to its runtime
# directory), prometheus-client writes per-process files there and the
# service's /metrics aggregates them. Stale files from a previous run would be
# counted again, so the directory is emptied when the master starts, and a dead
# worker's live gauges are dropped.
def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def child_exit(server, worker):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:  # metrics are optional for the server to start
        return
    multiprocess.mark_process_dead(worker.pid)
