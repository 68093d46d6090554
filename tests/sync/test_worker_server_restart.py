"""The database server dies under a running worker: the worker backs off, carries on, and
``reports`` ends exactly as expected (no loss, no duplicate)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import days_ago, report

world = support.world  # fixture
pytestmark = [pytest.mark.embedded_only, pytest.mark.slow]


def test_worker_survives_a_server_restart_mid_run(world, embedded_server):
    expected = set()
    for _ in range(10):
        school = world.add_school()
        assert all(r.ok for r in world.db(school).bulk_docs([report(school, days_ago(n)) for n in range(1, 21)]))
        expected.update(f"daily_health:{school}:{days_ago(n)}" for n in range(1, 21))
    worker = world.popen_cli("run", env_extra={"WORKER_BATCH_SIZE": "5", "WORKER_POLL_INTERVAL": "0.5"})
    try:
        while not (done_before_kill := len(world.canonicals())):  # the worker has started writing
            time.sleep(0.05)
        restarts = embedded_server.restarts
        os.kill(embedded_server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if embedded_server.restarts > restarts and set(world.canonicals()) == expected:
                    break
            except Exception:  # noqa: BLE001 - the server is down for a moment; keep polling
                pass
            time.sleep(0.5)
        assert worker.poll() is None, "the worker died with the server"
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert done_before_kill < len(expected), "the run finished before the server was killed"
    docs = world.canonicals()
    assert set(docs) == expected
    assert all(doc["_rev"].startswith("1-") for doc in docs.values())
