"""``python -m sync`` as a process: --once, shards, SIGKILL and restart, SIGTERM, bad credentials."""

from __future__ import annotations

import random
import signal
import time

import httpx
import pytest

from sync.checkpoint import Checkpointer
from sync.embedded import free_port
from sync.feeds import shard_of
from sync.provision import REPORTS_DB, school_db_name
from tests.sync import test_worker_support as support
from tests.sync.test_worker_support import days_ago, report

world = support.world  # fixture


def _fill(world, schools: int, docs: int) -> set[str]:
    expected = set()
    for _ in range(schools):
        school = world.add_school()
        batch = [report(school, days_ago(n)) for n in range(1, docs + 1)]
        assert all(r.ok for r in world.db(school).bulk_docs(batch))
        expected.update(f"daily_health:{school}:{days_ago(n)}" for n in range(1, docs + 1))
    return expected


def test_once_processes_everything_and_exits_0(world):
    expected = _fill(world, 2, 3)
    done = world.run_cli("--once")
    assert done.returncode == 0, done.stderr
    assert set(world.canonicals()) == expected
    assert '"level": "INFO"' in done.stderr  # JSON lines


def test_two_shards_process_every_database_exactly_once(world):
    expected = _fill(world, 4, 2)
    while {shard_of(school_db_name(s), 2) for s in world.schools} != {1, 2}:
        expected |= _fill(world, 1, 2)  # make sure both shards own a database
    procs = [world.popen_cli("run", "--shard", f"{i}/2", "--once") for i in (1, 2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    docs = world.canonicals()
    assert set(docs) == expected
    assert all(doc["_rev"].startswith("1-") for doc in docs.values())


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_gives_exactly_the_expected_reports(world):
    expected = _fill(world, 20, 20)
    rng = random.Random(world.run_id)
    interrupted = 0
    for _ in range(8):
        proc = world.popen_cli("--once", env_extra={"WORKER_BATCH_SIZE": "7"})
        time.sleep(rng.uniform(0.25, 1.0))
        proc.kill()
        proc.communicate(timeout=30)
        if proc.returncode == -signal.SIGKILL and len(world.canonicals()) < len(expected):
            interrupted += 1
        if interrupted >= 3:
            break
    assert interrupted, "every run finished before its kill"
    done = world.run_cli("--once", timeout=300)
    assert done.returncode == 0, done.stderr
    docs = world.canonicals()
    assert set(docs) == expected
    assert all(doc["source"]["db"] == school_db_name(doc["school_id"]) for doc in docs.values())
    # Replays after a kill overwrite the same ids; nothing was written twice with other content.
    again = world.run_cli("--once")
    assert again.returncode == 0
    assert {d["_id"]: d["_rev"] for d in world.canonicals().values()} == {d["_id"]: d["_rev"] for d in docs.values()}


def test_sigterm_finishes_the_batch_and_exits_0_and_metrics_are_served(world):
    _fill(world, 1, 3)
    port = free_port()
    proc = world.popen_cli("run", "--metrics-port", str(port))
    deadline = time.monotonic() + 60
    while len(world.canonicals()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    metrics = ""
    while "sync_worker_written_total 3.0" not in metrics and time.monotonic() < deadline:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        time.sleep(0.1)
    assert "sync_worker_written_total 3.0" in metrics
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(world.canonicals()) == 3


def test_bad_credentials_exit_3(world):
    base = world.couch.base_url.split("://", 1)[1]
    done = world.run_cli("--once", env_extra={"COUCHDB_URL": f"http://admin:wrong-password@{base}"})
    assert done.returncode == 3, done.stderr
    assert "credentials" in done.stderr


def test_reprocess_resets_the_checkpoint(world):
    expected = _fill(world, 1, 2)
    assert world.run_cli("--once").returncode == 0
    school = world.schools[0]
    # a lost canonical comes back after reprocess
    reports = world.couch.db(REPORTS_DB)
    lost = sorted(expected)[0]
    reports.delete(lost, reports.get(lost)["_rev"])
    assert world.run_cli("reprocess", school).returncode == 0
    assert Checkpointer(world.couch).stored(school_db_name(school))["since"] == 0
    assert world.run_cli("--once").returncode == 0
    assert set(world.canonicals()) == expected
