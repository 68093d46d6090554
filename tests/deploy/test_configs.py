"""Checks of the production deployment files in deploy/.

Real tools where they exist: nginx -t (Debian's nginx-light or nginx), gunicorn
--check-config on the real app, systemd-analyze verify, bash -n and shellcheck.
A test skips only when its tool is not installed on this machine.
"""

import configparser
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent

LOCAL_TEMPLATE_VARS = (
    "PREFIX_DIR",
    "WEBAPP_DIR",
    "LISTEN_ADDR",
    "LISTEN_PORT",
    "WEB_HOST",
    "WEB_PORT",
    "COUCHDB_HOST",
    "COUCHDB_PORT",
)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package: see tests/deploy/test_configs.py)")
    return path


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- nginx --------------------------------------------------------------------------


@pytest.fixture
def tls_site(tmp_path):
    """school-reporting.conf wrapped in a minimal nginx.conf, with a self-signed
    certificate and logs in tmp_path; returns (nginx.conf path, ports dict)."""
    openssl = need("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    result = run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    assert result.returncode == 0, result.stderr
    site = (DEPLOY / "nginx" / "school-reporting.conf").read_text()
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        f"  access_log {tmp_path}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {tmp_path}/site.conf;\n"
        "}\n"
    )
    return conf, site


def render_local_template(values):
    """What `envsubst '${PREFIX_DIR} ...'` makes of the template: the listed
    names are replaced in both forms ($NAME and ${NAME}), nothing else."""
    text = (DEPLOY / "nginx" / "local-http.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(LOCAL_TEMPLATE_VARS)
    names = "|".join(LOCAL_TEMPLATE_VARS)
    return re.sub(
        rf"\$(?:\{{({names})\}}|({names})\b)", lambda match: str(values[match.group(1) or match.group(2)]), text
    )


@pytest.fixture
def open_tmp():
    """A temporary directory others can read: nginx started as root serves
    files as "nobody", and pytest's tmp_path is private to its user."""
    with tempfile.TemporaryDirectory(prefix="deploy-test-") as directory:
        os.chmod(directory, 0o755)
        yield Path(directory)


@pytest.fixture
def local_site(open_tmp):
    prefix = open_tmp / "nginx"
    prefix.mkdir()
    webapp = open_tmp / "webapp"
    webapp.mkdir()
    values = {
        "PREFIX_DIR": prefix,
        "WEBAPP_DIR": webapp,
        "LISTEN_ADDR": "127.0.0.1",
        "LISTEN_PORT": free_port(),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": free_port(),
        "COUCHDB_HOST": "127.0.0.1",
        "COUCHDB_PORT": free_port(),
    }
    conf = prefix / "nginx.conf"
    conf.write_text(render_local_template(values))
    return conf, values


def test_tls_site_passes_nginx_t(tls_site, tmp_path):
    nginx = need("nginx")
    conf, _ = tls_site
    result = run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)])
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_tls_site_keeps_production_shape(tls_site):
    _, site = tls_site
    assert re.search(r"listen 443 ssl", site)
    assert "return 301 https://$host$request_uri;" in site
    assert "/.well-known/acme-challenge/" in site
    assert "Strict-Transport-Security" in site
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", site)
    # add_header in a location would drop HSTS there (nginx inheritance).
    code = re.sub(r"#[^\n]*", "", site)
    for block in re.findall(r"\blocation\b[^{;]*\{[^}]*\}", code):
        assert "add_header" not in block, block


def test_local_template_renders_with_envsubst_and_passes_nginx_t(local_site):
    nginx = need("nginx")
    conf, values = local_site
    envsubst = shutil.which("envsubst")
    if envsubst:  # the documented way gives the same file
        env = {name: str(value) for name, value in values.items()}
        shell_format = " ".join(f"${{{name}}}" for name in LOCAL_TEMPLATE_VARS)
        template = (DEPLOY / "nginx" / "local-http.conf.template").read_text()
        result = run([envsubst, shell_format], input=template, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == conf.read_text()
    result = run([nginx, "-t", "-p", str(values["PREFIX_DIR"]), "-c", str(conf)])
    assert result.returncode == 0, result.stderr


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port):
        self.requests = []
        # For the service's /internal/db-access: X-Original-URI substring -> (status, X-Db-Status).
        self.refusals = {}
        super().__init__(("127.0.0.1", port), _RecordingHandler)


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )

    def _access_check(self):
        """The service's answer to nginx's auth_request (server/dbproxy access_check)."""
        uri = self.headers.get("X-Original-URI", "")
        status, db_status = next((v for k, v in self.server.refusals.items() if k in uri), (204, None))
        self.send_response(status)
        if db_status:
            self.send_header("X-Db-Status", db_status)
            self.send_header("X-Db-Error", f'{{"error":"refused","reason":"{db_status} for {uri}"}}')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._record()
        if self.path == "/internal/db-access":
            return self._access_check()
        if "feed=continuous" in self.path:
            # A continuous feed: one line, a pause, another line.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in (b'{"seq":"1","id":"a"}\n', b'{"seq":"2","id":"b"}\n'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                time.sleep(1.5)
            self.wfile.write(b"0\r\n\r\n")
            return
        content_type = "application/json"
        if self.path.endswith("/private"):
            body = b'{"error":"unauthorized"}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="server"')
        elif self.path.endswith(".html"):  # an attachment a device stored
            body, content_type = b"<script>alert(1)</script>", "text/html"
            self.send_response(200)
        else:
            body = b'{"ok":true}'
            self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self._record()
        body = b'{"ok":true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def running_local_site(local_site):
    """nginx from the local template in front of two recording upstreams."""
    nginx = need("nginx")
    conf, values = local_site
    web, couch = _Recorder(values["WEB_PORT"]), _Recorder(values["COUCHDB_PORT"])
    for server in (web, couch):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    webapp = Path(values["WEBAPP_DIR"])
    (webapp / "sw.js").write_text("self.addEventListener('fetch', () => {});\n")
    (webapp / "manifest.webmanifest").write_text('{"name": "t"}\n')
    (webapp / "app.1234.js").write_text("console.log(1);\n")
    prefix = str(values["PREFIX_DIR"])
    started = run([nginx, "-p", prefix, "-c", str(conf)])
    assert started.returncode == 0, started.stderr
    try:
        yield f"http://127.0.0.1:{values['LISTEN_PORT']}", web, couch
    finally:
        run([nginx, "-p", prefix, "-c", str(conf), "-s", "stop"])
        for server in (web, couch):
            server.shutdown()
            server.server_close()


def test_local_site_routes_like_production(running_local_site):
    base, web, couch = running_local_site
    with httpx.Client(base_url=base, timeout=10) as client:
        # /db/ reaches CouchDB without the prefix, encoded slashes intact,
        # Authorization and cookies untouched, forged proxy-auth headers dropped.
        response = client.get(
            "/db/school_1/report%3Adaily_health%3A2020-03-02%2Fx?revs=true&open_revs=all",
            headers={
                "Authorization": "Basic ZGV2aWNlOnB3",
                "Cookie": "AuthSession=abc",
                "X-Auth-CouchDB-UserName": "admin",
                "X-Auth-CouchDB-Roles": "_admin",
            },
        )
        assert response.status_code == 200
        seen = couch.requests[-1]
        assert seen["path"] == "/school_1/report%3Adaily_health%3A2020-03-02%2Fx?revs=true&open_revs=all"
        assert seen["headers"]["Authorization"] == "Basic ZGV2aWNlOnB3"
        assert seen["headers"]["Cookie"] == "AuthSession=abc"
        assert "X-Auth-CouchDB-UserName" not in seen["headers"]
        assert "X-Auth-CouchDB-Roles" not in seen["headers"]
        # ... after the service allowed it (auth_request): same method, URI and credentials.
        check = web.requests[-1]
        assert check["path"] == "/internal/db-access" and check["body"] == b""
        assert check["headers"]["X-Original-Method"] == "GET"
        assert check["headers"]["X-Original-URI"] == (
            "/db/school_1/report%3Adaily_health%3A2020-03-02%2Fx?revs=true&open_revs=all")
        assert check["headers"]["Authorization"] == "Basic ZGV2aWNlOnB3"
        assert check["headers"]["Cookie"] == "AuthSession=abc"
        # Served inert: a sandbox CSP on every /db/ answer, attachment for a body not JSON.
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-disposition" not in response.headers
        html = client.get("/db/school_1/doc/evil.html")
        assert html.headers["content-disposition"] == "attachment"
        assert html.headers["content-security-policy"] == "sandbox"

        # No basic-auth popup in browsers on an expired device session.
        response = client.get("/db/school_1/private")
        assert response.status_code == 401
        assert "www-authenticate" not in response.headers

        # Request bodies go through (streamed, not refused for size).
        big = b'{"docs":[' + b",".join([b'{"n":"' + b"x" * 1000 + b'"}'] * 3000) + b"]}"
        response = client.post("/db/school_1/_bulk_docs", content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 201
        assert couch.requests[-1]["path"] == "/school_1/_bulk_docs"
        assert web.requests[-1]["headers"]["X-Original-Method"] == "POST"
        assert web.requests[-1]["body"] == b""  # the body goes to CouchDB only

        # What the service refuses never reaches CouchDB; its status and CouchDB-shaped
        # body come back, 429 included (auth_request itself passes only 401 and 403).
        web.refusals.update({"_users": (403, "403"), "_all_dbs": (401, "401"), "locked": (403, "429")})
        reached = len(couch.requests)
        for path, status in (("/db/_users/org.couchdb.user:x", 403), ("/db/_all_dbs", 401),
                             ("/db/school_locked/", 429)):
            refused = client.put(path, json={"roles": ["admin"]}, headers={"Cookie": "AuthSession=abc"})
            assert refused.status_code == status, (path, refused.status_code, refused.text)
            assert refused.headers["content-type"] == "application/json"
            assert refused.json() == {"error": "refused", "reason": f"{status} for {path}"}
            assert refused.headers["content-security-policy"] == "sandbox"
            assert "www-authenticate" not in refused.headers
        assert len(couch.requests) == reached
        # Sign-in goes to the service (which checks the password first), not to CouchDB;
        # the access check itself is not reachable from outside.
        client.post("/db/_session", json={"name": "d", "password": "p"})
        assert web.requests[-1]["path"] == "/db/_session" and web.requests[-1]["body"] == b'{"name":"d","password":"p"}'
        assert len(couch.requests) == reached
        assert client.get("/internal/db-access").status_code == 404
        # The service sees the port the browser used (its Origin check compares it).
        assert web.requests[-1]["headers"]["Host"] == base.removeprefix("http://")
        assert web.requests[-1]["headers"]["X-Forwarded-Host"] == base.removeprefix("http://")
        # 10 MB for the service, 64 MB (above) for /db/.
        assert client.post("/api/v1/x", content=b"x" * (11 * 1024 * 1024)).status_code == 413

        # /, /api/ go to gunicorn; /metrics is not public.
        assert client.get("/api/v1/health").status_code == 200
        assert web.requests[-1]["path"] == "/api/v1/health"
        assert web.requests[-1]["headers"]["X-Forwarded-Proto"] == "http"
        assert client.get("/metrics").status_code == 404
        assert client.get("/db/_utils/").status_code == 404

        # Caching under /app/: entry points revalidate, versioned files last.
        sw = client.get("/app/sw.js")
        assert sw.headers.get("cache-control") == "no-cache", (sw.status_code, sw.headers, sw.text)
        manifest = client.get("/app/manifest.webmanifest")
        assert manifest.headers["cache-control"] == "no-cache"
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        assert client.get("/app/app.1234.js").headers["cache-control"] == "max-age=31536000"
        # Not a file: Flask answers.
        client.get("/app/")
        assert web.requests[-1]["path"] == "/app/"


def test_local_site_streams_continuous_changes(running_local_site):
    base, _, _ = running_local_site
    with httpx.Client(base_url=base, timeout=10) as client:
        started = time.monotonic()
        with client.stream("GET", "/db/school_1/_changes?feed=continuous&heartbeat=10000") as response:
            lines = response.iter_lines()
            first = next(lines)
            first_at = time.monotonic() - started
            rest = list(lines)
    assert first == '{"seq":"1","id":"a"}'
    # The upstream pauses 1.5 s after each line: a buffering proxy would hand
    # over the first line only when the whole feed ended (about 3 s).
    assert first_at < 1.2, first_at
    assert rest[0] == '{"seq":"2","id":"b"}'


# -- gunicorn -------------------------------------------------------------------------


def test_gunicorn_check_config_loads_the_app(tmp_path):
    gunicorn = VENV_BIN / "gunicorn"
    if not gunicorn.exists():
        gunicorn = Path(need("gunicorn"))
    # The settings the units give it (env file); importing the app does not connect to CouchDB.
    env = dict(os.environ, COUCHDB_URL="http://service:pw@127.0.0.1:9", VAR_DIR=str(tmp_path), SECRET_KEY="x")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = run([str(gunicorn), "--check-config", "-c", str(DEPLOY / "gunicorn.conf.py"), "server.wsgi:app"],
                 cwd=REPO, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gunicorn_settings_follow_host_and_port(monkeypatch):
    monkeypatch.setenv("HOST", "::1")
    monkeypatch.setenv("PORT", "8123")
    namespace = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    assert namespace["bind"] == ["[::1]:8123"]
    assert namespace["worker_class"] == "gthread"
    assert namespace["threads"] > 1
    assert namespace["preload_app"] is False
    assert namespace["graceful_timeout"] < 90  # TimeoutStopSec of the web unit
    assert namespace["max_requests"] and namespace["max_requests_jitter"]


# -- systemd ----------------------------------------------------------------------------

UNITS = ("school-reporting-web.service", "school-reporting-worker@.service")


def read_unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_unit_structure(name):
    unit = read_unit(name)
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"]
    assert service["EnvironmentFile"] == "/etc/school-reporting/env"
    assert service["User"] == "school-reporting"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert "/var/lib/school-reporting" in service["ReadWritePaths"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    exec_start = service["ExecStart"]
    if name.startswith("school-reporting-web"):
        assert re.search(r"/\.venv/bin/gunicorn --config \S*/deploy/gunicorn\.conf\.py server\.wsgi:app$", exec_start)
        assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
        assert service["Type"] == "notify"
    else:
        assert '/.venv/bin/python -m sync --shard "%i/$${WORKER_SHARDS}"' in exec_start
        assert "--metrics-port" in exec_start


def test_env_example_names_every_variable_the_units_use():
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {
        "COUCHDB_URL",
        "SECRET_KEY",
        "VAR_DIR",
        "HOST",
        "PORT",
        "LOCAL_UTC_OFFSET_MINUTES",
        "REPORT_DEADLINE_LOCAL",
        "SECURE_COOKIES",
        "TRUSTED_PROXY_COUNT",
        "WORKER_SHARDS",
        "WORKER_METRICS_BASE_PORT",
    } <= names


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = need("systemd-analyze")
    # verify checks that ExecStart binaries exist: point the units at stand-ins.
    root = tmp_path / "root"
    (root / ".venv" / "bin").mkdir(parents=True)
    for tool in ("gunicorn", "python"):
        stub = root / ".venv" / "bin" / tool
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/school-reporting", str(root))
        (tmp_path / name).write_text(text)
    (tmp_path / "school-reporting-worker@1.service").write_text(
        (tmp_path / "school-reporting-worker@.service").read_text()
    )
    result = run(
        [
            analyze,
            "verify",
            "--man=no",
            str(tmp_path / "school-reporting-web.service"),
            str(tmp_path / "school-reporting-worker@1.service"),
        ]
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", output  # unknown keys are only warnings: none allowed


def test_backup_timer_and_service_pass_systemd_analyze_verify(tmp_path):
    analyze = need("systemd-analyze")
    root = tmp_path / "root"
    (root / ".venv" / "bin").mkdir(parents=True)
    stub = root / ".venv" / "bin" / "python"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    for name in ("school-reporting-backup.service", "school-reporting-backup.timer"):
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/school-reporting", str(root))
        (tmp_path / name).write_text(text)
    service = read_unit("school-reporting-backup.service")["Service"]
    assert service["Type"] == "oneshot" and "-m sync backup" in service["ExecStart"]
    result = run([analyze, "verify", "--man=no", str(tmp_path / "school-reporting-backup.service"),
                  str(tmp_path / "school-reporting-backup.timer")])
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


# -- CouchDB ----------------------------------------------------------------------------


def read_ini(path):
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None, comment_prefixes=(";",))
    parser.read_string(path.read_text())
    return parser


def test_couchdb_single_node_settings():
    ini = read_ini(DEPLOY / "couchdb" / "local.ini")
    assert ini["couchdb"]["single_node"] == "true"
    assert ini["chttpd"]["require_valid_user"] == "true"
    assert ini["chttpd"]["bind_address"] == "127.0.0.1"
    assert int(ini["chttpd_auth"]["timeout"]) >= 7 * 24 * 3600  # offline for days
    assert ini["chttpd_auth"]["allow_persistent_cookies"] == "true"
    assert int(ini["chttpd"]["max_http_request_size"]) == 64 * 1024 * 1024
    assert (ini["cluster"]["q"], ini["cluster"]["n"]) == ("1", "1")
    for key in ("max_jobs", "interval", "max_churn"):
        assert int(ini["replicator"][key]) > 0
    assert not [key for key in ini["admins"]], "no admin password in the repository"
    assert "ratio_dbs" in ini["smoosh"]["db_channels"]


def test_couchdb_cluster_overrides():
    ini = read_ini(DEPLOY / "couchdb" / "cluster" / "cluster.ini")
    assert ini["couchdb"]["single_node"] == "false"
    assert (ini["cluster"]["q"], ini["cluster"]["n"]) == ("1", "3")


def test_cluster_compose_file_parses():
    import yaml  # PyYAML, from requirements-test.txt

    compose = yaml.safe_load((DEPLOY / "couchdb" / "cluster" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"couchdb1", "couchdb2", "couchdb3", "web", "worker1", "worker2", "nginx"} <= set(services)
    for index in (1, 2, 3):
        node = services[f"couchdb{index}"]
        assert node["image"].startswith("couchdb:3")
        assert node["environment"]["NODENAME"] == f"couchdb{index}.cluster.local"
    assert services["web"]["command"][-1] == "server.wsgi:app"
    assert services["worker1"]["command"] == ["python", "-m", "sync", "--shard", "1/2"]
    assert services["worker2"]["command"] == ["python", "-m", "sync", "--shard", "2/2"]
    assert services["provision"]["command"] == ["python", "-m", "sync", "provision"]
    nodes = services["cluster-setup"]["environment"]["CLUSTER_NODES"].split()
    assert nodes == [f"couchdb{i}.cluster.local" for i in (1, 2, 3)]
    # Every file the compose file mounts exists in the repository.
    base = DEPLOY / "couchdb" / "cluster"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (base / source).resolve().exists(), source


def test_setup_cluster_script_is_valid_bash():
    script = DEPLOY / "couchdb" / "cluster" / "setup-cluster.sh"
    result = run(["bash", "-n", str(script)])
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert text.index("/_membership") < text.index('"action\\":\\"enable_cluster')
    for action in ("enable_cluster", "add_node", "finish_cluster"):
        assert action in text


def test_setup_cluster_script_passes_shellcheck():
    shellcheck = need("shellcheck")
    result = run([shellcheck, str(DEPLOY / "couchdb" / "cluster" / "setup-cluster.sh")])
    assert result.returncode == 0, result.stdout
