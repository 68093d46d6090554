"""``make prodlike`` from a checkout only its owner may enter (issue 16).

A Debian 12 home directory and a ``mktemp -d`` folder are mode 0700. nginx started by root
used to run its workers as "nobody", who could not enter such a folder: every request,
``/api/v1/health`` included, answered 403. Here the stack's VAR_DIR and the web app nginx
serves both sit under a 0700 folder, as they do in a private checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat

import httpx
import pytest

from demo.generate import DemoShape
from devstack.prodlike import ROOT, ProdlikeConfig, ProdlikeStack
from sync.embedded import free_port
from tests.deploy.conftest import NGINX
from tests.servers import server_holding_nothing

pytestmark = pytest.mark.slow


def test_the_stack_answers_from_a_private_directory(tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    private = tmp_path_factory.mktemp("home")
    private.chmod(0o700)
    checkout = private / "checkout"
    shutil.copytree(ROOT / "webapp", checkout / "webapp")
    with contextlib.ExitStack() as cleanup:
        couchdb_url = cleanup.enter_context(server_holding_nothing(tmp_path_factory, "private-couch")) \
            if os.environ.get("COUCHDB_URL") else None
        config = ProdlikeConfig(
            var_dir=checkout / "var" / "prodlike", couchdb_url=couchdb_url, listen_port=free_port(),
            web_port=free_port(), shards=1, metrics_ports=(free_port(),), web_workers=1,
            demo=DemoShape(schools=2, days=1, seed=3), webapp_dir=checkout / "webapp")
        stack = cleanup.enter_context(ProdlikeStack(config))
        # Nothing loosened the folder's mode to make it work.
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        with httpx.Client(base_url=stack.origin, timeout=10) as client:
            health = client.get("/api/v1/health")
            assert health.status_code == 200, health.text
            app = client.get("/app/index.html")
            assert app.status_code == 200 and "<html" in app.text.lower()
            assert client.get("/app/sw.js").status_code == 200
