"""The embedded pouchdb-server is supervised: when it dies, it comes back on the same port."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

pytestmark = pytest.mark.embedded_only


def wait_until(predicate, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def healthy(client) -> bool:
    return client.get("/api/v1/health").status_code == 200


def test_service_recovers_after_the_server_is_killed(embedded_server, client):
    assert healthy(client)
    before = embedded_server.restarts
    os.kill(embedded_server.pid, signal.SIGKILL)
    assert wait_until(lambda: embedded_server.restarts > before), "supervisor did not restart the server"
    assert wait_until(lambda: healthy(client))


def test_anonymous_database_creation_crash_is_survived(embedded_server, client):
    """pouchdb-server 4.2.0 dies on an anonymous ``PUT /<newdb>``; the supervisor must cover it."""
    before = embedded_server.restarts
    try:
        httpx.put(f"{embedded_server.base_url}/anonymous_crash_probe", timeout=5)
    except httpx.TransportError:
        pass
    if not wait_until(lambda: embedded_server.restarts > before, timeout_s=5):
        pytest.fail("expected pouchdb-server 4.2.0 to crash on an anonymous PUT and be restarted")
    assert wait_until(lambda: healthy(client))
