"""``GET /metrics``: the service's Prometheus metrics (requests, latencies, CouchDB errors).

Under gunicorn each worker process counts for itself. With ``PROMETHEUS_MULTIPROC_DIR``
set (the web unit and ``make prodlike`` set it; gunicorn.conf.py empties it at start and
drops dead workers' gauges), prometheus-client keeps the values in files there and a
scrape adds up every process. Without it (``flask run``, tests) the values live in this
process.

Not for the public: nginx answers 404 for ``/metrics``, and this view answers only
clients connecting from loopback or from the addresses in ``METRICS_ALLOWED``
(comma-separated IPs or networks, e.g. a Prometheus host), and never a request that a
proxy forwarded (``X-Forwarded-For``).
"""

from __future__ import annotations

import ipaddress
import os
import time

from flask import Blueprint, Flask, Response, abort, g, got_request_exception, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from server.auth import public
from sync.errors import CouchError

# One registry of the module's own (the default one also holds process metrics that are
# wrong under multiprocess mode); the metrics exist once per process, whatever number of
# apps the tests create.
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("http_requests", "HTTP requests answered by the service", ["method", "endpoint", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("http_request_duration_seconds", "Time to answer a request, by endpoint", ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
COUCH_ERRORS = Counter("couchdb_errors", "Requests that failed because of CouchDB, by endpoint and kind",
                       ["endpoint", "kind"], registry=REGISTRY)

bp = Blueprint("metrics", __name__)


def _endpoint() -> str:
    # The route's endpoint name, never the raw path: ids in paths would make one series per id.
    return request.endpoint or "unmatched"


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    endpoint = _endpoint()
    if endpoint == "metrics.metrics":
        return response
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    if started is not None:
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    # The service answers 502 and 504 (the /db/ pass-through) and 503 (health, sign-in) only
    # when CouchDB cannot be reached or does not answer in time; unhandled CouchErrors are
    # counted in _record_exception.
    if response.status_code in (502, 503, 504) and not g.get("metrics_couch_error_counted"):
        COUCH_ERRORS.labels(endpoint, "unavailable").inc()
    return response


def _record_exception(_sender, exception: BaseException, **_extra) -> None:
    if isinstance(exception, CouchError):
        COUCH_ERRORS.labels(_endpoint(), type(exception).__name__).inc()
        g.metrics_couch_error_counted = True


def _allowed_networks(app: Flask) -> list:
    raw = app.config.get("METRICS_ALLOWED", app.config["SETTINGS"].metrics_allowed)
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]


def _may_scrape() -> bool:
    if request.headers.get("X-Forwarded-For"):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    from flask import current_app

    return address.is_loopback or any(address in net for net in current_app.extensions["metrics_allowed"])


@bp.route("/metrics")
@public  # no sign-in: restricted by address instead (see the module docstring)
def metrics():
    if not _may_scrape():
        abort(404)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body + _worker_progress_metrics(), content_type=CONTENT_TYPE_LATEST)


def _worker_progress_metrics() -> bytes:
    """The worker's progress as health computes it (one reading per scrape, not per process)."""
    from flask import current_app

    from server.couchdb import get_couch
    from sync.progress import worker_progress

    registry = CollectorRegistry()
    gauges = {name: Gauge(f"sync_{name}", text, registry=registry) for name, text in (
        ("worker_idle", "1 when the worker has processed every change the server knows of"),
        ("worker_catching_up", "1 while a worker shard has not checked every database once since it started"),
        ("dbs_pending", "School and inspection databases with changes the worker has not processed"),
        ("docs_pending", "Changes known to be waiting in those databases"),
        ("lag_seconds", "Seconds since the oldest unprocessed change was noticed"))}
    try:
        progress = worker_progress(get_couch(), stale_after_s=current_app.config["SETTINGS"].worker_stale_after_s)
    except CouchError:
        return b""
    gauges["worker_idle"].set(int(progress["idle"]))
    gauges["worker_catching_up"].set(int(progress["state"] == "catching_up"))
    gauges["dbs_pending"].set(progress["dbs_pending"] + progress["dbs_changed_unseen"])
    gauges["docs_pending"].set(progress["docs_pending"])
    gauges["lag_seconds"].set(progress["lag_seconds"])
    return generate_latest(registry)


def init_app(app: Flask) -> None:
    """Time and count every request of ``app`` and serve ``/metrics``.

    Raises ``ValueError`` at start for a malformed ``METRICS_ALLOWED``."""
    app.extensions["metrics_allowed"] = _allowed_networks(app)
    app.before_request(_start_timer)
    app.after_request(_record)
    got_request_exception.connect(_record_exception, app)
    app.register_blueprint(bp)


__all__ = ["COUCH_ERRORS", "LATENCY", "REQUESTS", "REGISTRY", "init_app"]
