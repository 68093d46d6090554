"""``make run`` (``python -m devstack``) stopped with SIGTERM while its demo is still loading
leaves no server behind (it used to handle SIGTERM only once everything was up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync.embedded import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def processes_using(path: Path) -> list[str]:
    """Command lines of running processes that mention ``path`` (the embedded server's data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_sigterm_while_the_demo_loads_leaves_nothing_running(tmp_path):
    if os.environ.get("COUCHDB_URL"):
        pytest.skip("about the embedded server that `make run` starts")
    var_dir = tmp_path / "var"
    env = dict(os.environ, VAR_DIR=str(var_dir), PORT=str(free_port()), PYTHONUNBUFFERED="1")
    run = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The embedded server is up once its URL is written; the demo loads after that.
        wait_for(lambda: (var_dir / "couchdb" / "url").exists(), 120, "the embedded server")
        assert processes_using(var_dir / "couchdb"), "the embedded server should be running"
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=90)[0].decode(errors="replace")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, output[-2000:]
    left = processes_using(var_dir)  # devstack waits for its children before it exits
    assert left == [], (left, output[-2000:])
