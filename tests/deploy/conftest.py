"""The production-like stack (``devstack/prodlike.py``), started once for the session and
shared by every test under ``tests/deploy`` that asks for ``stack``.

nginx from the local template in front of gunicorn (three workers), two sync worker shards
and a fresh embedded pouchdb-server (or ``COUCHDB_URL``, if empty) holding a small demo,
all on free loopback ports in a temporary VAR_DIR. The demo's accounts (a teacher of the
first school, that county's officer, ...) are in ``stack.accounts``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from demo.generate import DemoShape
from devstack.prodlike import ProdlikeConfig, ProdlikeStack
from sync.couch import CouchClient
from sync.embedded import free_port
from sync.provision import REGISTRY_DB

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
SHARDS = 2
DEMO = DemoShape(schools=8, days=4, seed=11)  # ends yesterday (school time): today is never filled


@pytest.fixture(scope="session")
def stack():
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    if os.environ.get("COUCHDB_URL"):
        with CouchClient(os.environ["COUCHDB_URL"]) as probe:
            if probe.db(REGISTRY_DB).exists():
                pytest.skip("COUCHDB_URL already has a registry; the production-like run needs an empty server")
    # Readable by others: nginx started as root serves as "nobody".
    var_dir = Path(tempfile.mkdtemp(prefix="prodlike-"))
    config = ProdlikeConfig(
        var_dir=var_dir, couchdb_url=os.environ.get("COUCHDB_URL"), listen_port=free_port(), web_port=free_port(),
        shards=SHARDS, metrics_ports=tuple(free_port() for _ in range(SHARDS)), web_workers=3,
        demo=DEMO, worker_poll_interval_s=0.5)
    running = ProdlikeStack(config).start()
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
