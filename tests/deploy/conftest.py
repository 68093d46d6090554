"""The production-like stack (``devstack/prodlike.py``), started once for the session and
shared by every test under ``tests/deploy`` that asks for ``stack``.

nginx from the local template in front of gunicorn (three workers), two sync worker shards
and a fresh embedded pouchdb-server (or a CouchDB holding nothing else) with a small demo,
all on free loopback ports in a temporary VAR_DIR. The demo's accounts (a teacher of the
first school, that county's officer, ...) are in ``stack.accounts``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from demo.generate import DemoShape
from devstack.prodlike import ProdlikeConfig, ProdlikeStack
from sync.embedded import free_port
from tests.servers import server_holding_nothing

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
SHARDS = 2
DEMO = DemoShape(schools=8, days=4, seed=11)  # ends yesterday (school time): today is never filled


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    with contextlib.ExitStack() as cleanup:
        # Its own embedded server, or with COUCHDB_URL a CouchDB holding nothing else.
        couchdb_url = cleanup.enter_context(server_holding_nothing(tmp_path_factory, "prodlike-couch")) \
            if os.environ.get("COUCHDB_URL") else None
        # mkdtemp makes it 0700, like a Debian 12 home: nginx's workers must still reach it.
        var_dir = Path(tempfile.mkdtemp(prefix="prodlike-"))
        cleanup.callback(shutil.rmtree, var_dir, ignore_errors=True)
        config = ProdlikeConfig(
            var_dir=var_dir, couchdb_url=couchdb_url, listen_port=free_port(), web_port=free_port(),
            shards=SHARDS, metrics_ports=tuple(free_port() for _ in range(SHARDS)), web_workers=3,
            demo=DEMO, worker_poll_interval_s=0.5)
        running = ProdlikeStack(config).start()
        cleanup.callback(running.stop)
        yield running
