"""Health never says idle while reports are unprocessed (``sync.progress``, ``/api/v1/health``).

A real worker runs in a thread (forever mode, limited to this test's databases); a gate
holds its batches, so reports sit unprocessed for as long as the test wants. Runs on the
embedded server (polling) and on CouchDB (``_db_updates``) alike.
"""

from __future__ import annotations

import threading
import time

import pytest

from sync.progress import worker_progress
from sync.worker import Worker
from tests.sync.test_worker_support import days_ago, report, world  # noqa: F401 - fixture
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


class GatedWorker(Worker):
    """A worker whose batches wait for ``gate`` (the test decides when work may proceed)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def process_batch(self, ctx, rows):
        while not self.gate.wait(0.1):
            if self.stop_event.is_set():
                raise SystemExit  # leaves the thread; the batch stays unprocessed
        super().process_batch(ctx, rows)


def test_health_is_not_idle_until_every_report_is_processed(world, client):  # noqa: F811
    school = world.add_school()
    days = [days_ago(n) for n in range(1, 31)]
    world.db(school).bulk_docs([report(school, day) for day in days[:20]])

    def progress():
        return worker_progress(world.couch, stale_after_s=30)

    worker = GatedWorker(world.couch, world.settings(status_interval_s=0.2, poll_interval_s=0.2,
                                                     longpoll_timeout_s=2))
    assert progress()["state"] in ("down", "idle") or not progress()["running"]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # Held at the gate: twenty reports wait, and health must say so, never "idle".
        first = wait_for(lambda: (p := progress())["running"] and p, what="the worker's first status")
        assert first["state"] in ("catching_up", "busy"), first
        for _ in range(10):
            now = progress()
            assert now["state"] != "idle" and not now["idle"], now
            assert len(world.canonicals()) == 0
            time.sleep(0.1)
        answer = client.get("/api/v1/health").get_json()["worker"]
        assert answer["state"] in ("catching_up", "busy") and answer["idle"] is False

        worker.gate.set()
        wait_for(lambda: progress()["idle"], what="idle after the gate opened")
        # Idle means done: every report is canonical at the moment health says so.
        assert len(world.canonicals()) == 20
        settled = progress()
        assert settled["dbs_pending"] == 0 and settled["docs_pending"] == 0 and settled["lag_seconds"] == 0

        # New reports while the worker follows the feed: not idle again until they are in.
        worker.gate.clear()
        world.db(school).bulk_docs([report(school, day) for day in days[20:]])
        busy = wait_for(lambda: (p := progress())["state"] == "busy" and p, timeout_s=60,
                        what="health to notice the new reports")
        assert busy["dbs_pending"] + busy["dbs_changed_unseen"] >= 1
        for _ in range(10):
            assert not progress()["idle"]
            assert len(world.canonicals()) == 20
            time.sleep(0.1)
        lagging = wait_for(lambda: (p := progress())["lag_seconds"] > 0 and p, timeout_s=60,
                           what="a lag in seconds while held")
        assert lagging["docs_pending"] >= 1
        worker.gate.set()
        wait_for(lambda: progress()["idle"], what="idle after the second gate opened")
        assert len(world.canonicals()) == 30
    finally:
        worker.gate.set()
        worker.request_stop()
        thread.join(timeout=30)
    assert progress()["state"] == "down"  # a stopped worker is never "idle"
