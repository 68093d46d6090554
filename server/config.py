"""Every setting of the service, read from the environment in one place.

Defaults run the embedded setup: ``COUCHDB_URL`` unset means "the embedded server that
``make run`` started", whose URL the launcher leaves in ``<VAR_DIR>/couchdb/url``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated on first run and kept in VAR_DIR."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def embedded_couchdb_url(var_dir: Path) -> str | None:
    path = var_dir / "couchdb" / "url"
    return path.read_text().strip() if path.exists() else None


@dataclass(frozen=True, kw_only=True)
class Settings:
    couchdb_url: str
    secret_key: str
    var_dir: Path
    utc_offset_minutes: int = 480
    report_deadline_local: str = "10:00"  # same variable as the worker's: timeliness must agree
    metrics_allowed: str = ""  # addresses/networks besides loopback that may scrape /metrics
    worker_stale_after_s: int = 120
    secure_cookies: bool = False
    # Proxies in front that append to X-Forwarded-For (nginx: 1). 0: clients connect directly
    # and forwarded headers are ignored (anyone could forge them).
    trusted_proxy_count: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("VAR_DIR", PROJECT_ROOT / "var")).resolve()
        couchdb_url = os.environ.get("COUCHDB_URL") or embedded_couchdb_url(var_dir)
        if not couchdb_url:
            raise RuntimeError("COUCHDB_URL is not set and no embedded server is running (start it with `make run`)")
        return cls(
            couchdb_url=couchdb_url,
            secret_key=_secret_key(var_dir),
            var_dir=var_dir,
            utc_offset_minutes=_env_int("LOCAL_UTC_OFFSET_MINUTES", 480),
            report_deadline_local=os.environ.get("REPORT_DEADLINE_LOCAL", "10:00"),
            metrics_allowed=os.environ.get("METRICS_ALLOWED", ""),
            secure_cookies=os.environ.get("SECURE_COOKIES", "") in ("1", "true", "yes"),
            trusted_proxy_count=_env_int("TRUSTED_PROXY_COUNT", 0),
        )
