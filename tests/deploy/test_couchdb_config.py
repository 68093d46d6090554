"""The CouchDB settings in deploy/couchdb/ (local.ini, cluster/cluster.ini): every name is a
real CouchDB 3.4 setting, every setting says why, the values agree with what the code
assumes, and the file loads on a real node.

Names are checked against the list below, taken from CouchDB 3.4.3's ``etc/default.ini``
(settings there are mostly commented out, so a running server does not list them) and the
smoosh channel settings of CouchDB's compaction documentation. Where the release is
unpacked on this machine (``COUCHDB_HOME``, default ``~/.cache/couchdb-3.4.3``) the list is
checked against its ``default.ini`` itself. With ``COUCHDB_URL`` pointing at Apache
CouchDB, each key is also looked up in that server's configuration; with the
``../shared/couchdb`` launcher present, a node of its own is started with local.ini and
every value is read back. See docs/couchdb.md for the reasons behind the values.
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import httpx
import pytest

from devstack.couchdb3 import CouchDBNode, launcher
from sync.accounts import DEVICE_TOKEN_ITERATIONS
from sync.backup import DEFAULT_CONCURRENCY
from sync.embedded import SESSION_TIMEOUT_S, free_port
from sync.provision import SCHOOL_DB_Q

REPO = Path(__file__).resolve().parents[2]
COUCHDB_DIR = REPO / "deploy" / "couchdb"
INI_FILES = (COUCHDB_DIR / "local.ini", COUCHDB_DIR / "cluster" / "cluster.ini")

# Every key CouchDB 3.4.3's etc/default.ini names (set or commented out) in the sections
# the deploy files use.
DEFAULT_INI_KEYS: dict[str, set[str]] = {
    "couchdb": {
        "attachment_stream_buffer_size", "attachment_writer_timeout", "btree_chunk_size",
        "changes_doc_ids_optimization_threshold", "compaction_log_level", "database_dir", "default_engine",
        "default_security", "enable_database_recovery", "file_compression", "js_engine", "maintenance_mode",
        "max_attachment_size", "max_dbs_open", "max_document_id_length", "max_document_size",
        "max_partition_size", "os_process_timeout", "plugin_dir", "single_node", "stem_interactive_updates",
        "update_lru_on_read", "uri_file", "users_db_security_editable", "util_driver_dir", "uuid",
        "view_index_dir", "write_xxhash_checksums",
    },
    "cluster": {"n", "placement", "q", "reconnect_interval_sec", "seedlist"},
    "chttpd": {
        "admin_only_all_dbs", "allow_jsonp", "authentication_handlers", "backlog", "bind_address",
        "buffer_response", "bulk_get_use_batches", "changes_timeout", "config_whitelist", "decode_plus_to_space",
        "disconnect_check_jitter_msec", "disconnect_check_msec", "enable_cors", "enable_xframe_options",
        "max_db_number_for_dbs_info_req", "max_http_request_size", "max_uri_length", "port", "prefer_minimal",
        "require_valid_user", "require_valid_user_except_for_up", "rewrite_limit", "scrub_json_request",
        "secure_rewrites", "server_header_versions", "server_options", "socket_options", "x_forwarded_host",
        "x_forwarded_proto", "x_forwarded_ssl",
    },
    "chttpd_auth": {
        "allow_persistent_cookies", "auth_cache_size", "authentication_db", "authentication_redirect",
        "cookie_domain", "hash_algorithms", "iterations", "max_iterations", "min_iterations", "password_regexp",
        "password_scheme", "pbkdf2_prf", "proxy_use_secret", "public_fields", "same_site", "secret", "timeout",
        "upgrade_hash_on_auth", "users_db_public",
    },
    "chttpd_auth_cache": {"max_lifetime", "max_objects", "max_size"},
    "couch_passwords_cache": {"enable", "max_idle", "max_objects"},
    "chttpd_auth_lockout": {"max_lifetime", "max_objects", "mode", "threshold"},
    "global_changes": {"max_event_delay", "max_write_delay", "update_db"},
    "cors": {"credentials", "headers", "methods", "origins"},
    "replicator": {
        "auth_plugins", "cert_file", "checkpoint_interval", "cluster_start_period", "connection_timeout",
        "http_connections", "interval", "key_file", "max_churn", "max_document_id_length", "max_jobs",
        "missing_doc_retry_msec", "password", "priority_coeff", "request_timeout", "retries_per_request",
        "session_refresh_interval_sec", "socket_options", "ssl_certificate_max_depth",
        "ssl_trusted_certificates_file", "startup_jitter", "usage_coeff", "use_bulk_get", "use_checkpoints",
        "valid_endpoint_protocols", "valid_endpoint_protocols_log", "valid_proxy_protocols",
        "valid_socket_options", "verify_ssl_certificates", "verify_ssl_certificates_log", "worker_batch_size",
        "worker_processes",
    },
    "smoosh": {"compaction_log_level", "db_channels", "persist", "state_dir", "view_channels"},
    "log": {
        "file", "filter_fields", "level", "max_message_size", "strip_last_msg", "syslog_appid", "syslog_facility",
        "syslog_host", "syslog_port", "write_buffer", "write_delay", "writer",
    },
    "admins": set(),
}
# The keys default.ini sets (not commented out): any running CouchDB 3.4 lists them.
DEFAULT_INI_ACTIVE: dict[str, set[str]] = {
    "couchdb": {"uuid", "database_dir", "view_index_dir"},
    "chttpd": {"port", "bind_address"},
    "chttpd_auth": {"hash_algorithms"},
    "smoosh": {"state_dir"},
}
# Smoosh settings documented in CouchDB's compaction guide but not in default.ini:
# [smoosh] cleanup_index_files, and the settings of a channel ([smoosh.<channel>]).
SMOOSH_KEYS = {"cleanup_index_files", "cleanup_channels", "staleness", "wait_secs"}
SMOOSH_CHANNEL_KEYS = {
    "priority", "min_priority", "max_priority", "min_size", "max_size", "min_changes", "capacity", "concurrency",
    "from", "to", "strict_window",
}
# Keys of local.ini that a test node started by the launcher must keep as the launcher
# wrote them (its own port, and a log file instead of journald).
NODE_OWN_KEYS = {("chttpd", "port"), ("chttpd", "bind_address"), ("log", "writer"), ("log", "level")}


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None, comment_prefixes=(";",))
    parser.read_string(path.read_text())
    return parser


def settings(path: Path) -> list[tuple[str, str, str]]:
    ini = read_ini(path)
    return [(section, key, value) for section in ini.sections() for key, value in ini[section].items()]


def known(section: str, key: str) -> bool:
    if section.startswith("smoosh."):
        return key in SMOOSH_CHANNEL_KEYS
    if section == "smoosh" and key in SMOOSH_KEYS:
        return True
    return key in DEFAULT_INI_KEYS.get(section, set())


@pytest.mark.parametrize("path", INI_FILES, ids=lambda p: p.name)
def test_every_setting_is_a_couchdb_setting(path):
    unknown = [f"[{section}] {key}" for section, key, _value in settings(path) if not known(section, key)]
    assert not unknown, f"not CouchDB 3.4 settings: {unknown}"


@pytest.mark.parametrize("path", INI_FILES, ids=lambda p: p.name)
def test_every_setting_says_why(path):
    """Each run of settings (consecutive key lines) has a comment directly above it, or
    directly above its section header."""
    lines = path.read_text().splitlines()
    setting = re.compile(r"^[a-z_0-9.]+\s*=")
    unexplained = []
    for number, line in enumerate(lines):
        if not setting.match(line):
            continue
        above = number - 1
        while above >= 0 and setting.match(lines[above]):
            above -= 1
        if above >= 0 and lines[above].startswith("["):
            above -= 1
        if above < 0 or not lines[above].startswith(";"):
            unexplained.append(f"line {number + 1}: {line}")
    assert not unexplained, f"settings without a reason above them: {unexplained}"


def test_values_agree_with_the_code():
    ini = read_ini(COUCHDB_DIR / "local.ini")
    cluster = read_ini(COUCHDB_DIR / "cluster" / "cluster.ini")
    # sessions: the same 30 days as the embedded server
    assert int(ini["chttpd_auth"]["timeout"]) == SESSION_TIMEOUT_S
    # people's passwords stretched by CouchDB; device tokens pre-hashed with far fewer
    # iterations, which must stay as written (no upgrade on authentication)
    assert int(ini["chttpd_auth"]["iterations"]) == 600000 > DEVICE_TOKEN_ITERATIONS
    assert ini["chttpd_auth"]["upgrade_hash_on_auth"] == "false"
    # the cache of verified credentials holds every device and the people besides
    assert int(ini["couch_passwords_cache"]["max_objects"]) >= 2 * 20000 + 10000
    # new databases without an explicit q get one shard, like the school databases
    assert ini["cluster"]["q"] == cluster["cluster"]["q"] == str(SCHOOL_DB_Q)
    assert (ini["cluster"]["n"], cluster["cluster"]["n"]) == ("1", "3")
    # every school shard of a node stays open
    assert int(ini["couchdb"]["max_dbs_open"]) >= 20000
    assert int(ini["couchdb"]["max_document_size"]) < int(ini["chttpd"]["max_http_request_size"])
    # the worker's feed
    assert ini["global_changes"]["update_db"] == "true"
    assert 0 < int(ini["global_changes"]["max_write_delay"]) <= 5000
    # the backup's one-shot batches fit in the free job slots
    assert int(ini["replicator"]["max_jobs"]) >= DEFAULT_CONCURRENCY + 3 * 2
    assert int(ini["replicator"]["startup_jitter"]) <= 1000
    assert ini["chttpd_auth_lockout"]["mode"] in {"enforce", "warn"}
    for channel in ("ratio_dbs", "slack_dbs", "ratio_views", "slack_views"):
        assert channel in ini["smoosh"]["db_channels"] + "," + ini["smoosh"]["view_channels"]
        window = ini[f"smoosh.{channel}"]
        assert (window["from"], window["to"], window["strict_window"]) == ("16:00", "22:00", "true")


def release_default_ini() -> Path | None:
    home = Path(os.environ.get("COUCHDB_HOME") or Path.home() / ".cache" / "couchdb-3.4.3")
    path = home / "etc" / "default.ini"
    return path if path.is_file() else None


def test_known_names_are_those_of_the_release():
    """The list above is CouchDB's own: compared with the unpacked release's default.ini."""
    path = release_default_ini()
    if path is None:
        pytest.skip("CouchDB 3.4.3 is not unpacked here (COUCHDB_HOME, default ~/.cache/couchdb-3.4.3)")
    found: dict[str, set[str]] = {}
    active: dict[str, set[str]] = {}
    section = None
    for line in path.read_text().splitlines():
        header = re.match(r"^;?\s*\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        setting = re.match(r"^(;?)\s*([A-Za-z0-9_.:]+)\s*=", line)
        if setting and section:
            found.setdefault(section, set()).add(setting.group(2))
            if not setting.group(1):
                active.setdefault(section, set()).add(setting.group(2))
    for name, keys in DEFAULT_INI_KEYS.items():
        assert found.get(name, set()) == keys, name
        assert active.get(name, set()) == DEFAULT_INI_ACTIVE.get(name, set()), name


# -- against real servers ---------------------------------------------------------------


def apache_couchdb(url: str) -> bool:
    with httpx.Client(timeout=10) as http:
        welcome = http.get(url.rstrip("/") + "/").json()
    return welcome.get("couchdb") == "Welcome" and "Apache" in str(welcome.get("vendor", {}).get("name", ""))


def node_config(url: str, section: str) -> dict:
    with httpx.Client(timeout=10) as http:
        answer = http.get(f"{url.rstrip('/')}/_node/_local/_config/{section}")
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize("path", INI_FILES, ids=lambda p: p.name)
def test_every_key_is_known_to_the_server(path):
    """On COUCHDB_URL (whatever its own configuration): a key is either in the server's
    section, or one that CouchDB's default.ini leaves commented out (or a documented smoosh
    key); a key default.ini sets is always there."""
    url = os.environ.get("COUCHDB_URL")
    if not url:
        pytest.skip("COUCHDB_URL is not set: the embedded pouchdb-server has no CouchDB configuration")
    if not apache_couchdb(url):
        pytest.skip("COUCHDB_URL is not Apache CouchDB (pouchdb-server has no /_node/_local/_config)")
    sections: dict[str, dict] = {}
    for section, key, _value in settings(path):
        if section not in sections:
            sections[section] = node_config(url, section)
        if key in sections[section]:
            continue
        assert key not in DEFAULT_INI_ACTIVE.get(section, set()), f"[{section}] {key} missing on the server"
        assert known(section, key), f"[{section}] {key} is neither on the server nor a known default"


@pytest.mark.slow
def test_local_ini_loads_on_a_node(tmp_path):
    """A node of its own with local.ini read after the launcher's config (as local.d/ is
    read after local.ini): it starts, and every value reads back as written."""
    if launcher() is None:
        pytest.skip("no CouchDB 3 launcher (../shared/couchdb/couchdb or COUCHDB_SCRIPT)")
    node = CouchDBNode(tmp_path / "node", free_port())
    node.start()
    try:
        node.stop()
        fragment = []
        section = None
        for line in (COUCHDB_DIR / "local.ini").read_text().splitlines():
            header = re.match(r"^\[([^\]]+)\]", line)
            section = header.group(1) if header else section
            key = re.match(r"^([a-z_0-9.]+)\s*=", line)
            if key and (section, key.group(1)) in NODE_OWN_KEYS:
                continue
            fragment.append(line)
        with (node.dir / "local.ini").open("a") as ini:
            ini.write("\n; deploy/couchdb/local.ini, appended by the test\n" + "\n".join(fragment) + "\n")
        node.start()
        base = node.url
        wrong = {}
        for section, key, value in settings(COUCHDB_DIR / "local.ini"):
            if (section, key) in NODE_OWN_KEYS:
                continue
            with httpx.Client(timeout=10) as http:
                answer = http.get(f"{base}/_node/_local/_config/{section}/{key}")
            if answer.status_code != 200 or answer.json() != value:
                wrong[f"[{section}] {key}"] = (value, answer.status_code, answer.text.strip())
        assert not wrong, wrong
    finally:
        node.stop()
