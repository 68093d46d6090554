"""Settings of the sync worker process, read from the environment in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

_SHARD = re.compile(r"^\s*(\d+)\s*[/-]\s*(?:of\s*)?(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` (or ``"2-of-4"``) -> ``(2, 4)``. Raises ``ValueError`` unless 1 <= I <= N."""
    m = _SHARD.match(text or "")
    if not m:
        raise ValueError(f"shard must look like I/N, got {text!r}")
    index, total = int(m.group(1)), int(m.group(2))
    if not 1 <= index <= total:
        raise ValueError(f"shard index must be between 1 and {total}, got {index}")
    return index, total


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Everything one worker process needs; immutable, passed in (never read from globals)."""

    couchdb_url: str
    shard_index: int = 1
    shard_count: int = 1
    batch_size: int = 200
    poll_interval_s: float = 2.0
    deadline_local: str = "10:00"
    utc_offset_minutes: int = 480
    max_attempts: int = 3
    metrics_port: int | None = None
    status_interval_s: float = 5.0
    queue_size: int = 1000
    longpoll_timeout_s: float = 30.0
    #: Follow only databases whose name matches this regex (a worker for a subset; tests).
    db_pattern: str | None = None
    #: Databases processed at once (threads). The work is waiting on CouchDB, mostly on
    #: many small requests per school database; one database is never in two threads.
    concurrency: int = 4
    #: Recompute early warnings (EARS C1/C2/C3, sync/early_warning.py) after each batch.
    early_warning: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.shard_index <= self.shard_count:
            raise ValueError(f"bad shard {self.shard_index}/{self.shard_count}")
        if self.batch_size < 1 or self.max_attempts < 1 or self.concurrency < 1:
            raise ValueError("batch_size, max_attempts and concurrency must be positive")
        hours, _, minutes = self.deadline_local.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"deadline_local must be HH:MM, got {self.deadline_local!r}")

    @property
    def shard_name(self) -> str:
        """``1-of-1``: the suffix of this worker's ``worker_status`` doc."""
        return f"{self.shard_index}-of-{self.shard_count}"

    def with_changes(self, **changes) -> WorkerSettings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WorkerSettings:
        """Read ``COUCHDB_URL`` (required), ``WORKER_SHARD``, ``WORKER_BATCH_SIZE``,
        ``WORKER_POLL_INTERVAL``, ``REPORT_DEADLINE_LOCAL``, ``LOCAL_UTC_OFFSET_MINUTES``,
        ``WORKER_MAX_ATTEMPTS``, ``WORKER_METRICS_PORT``, ``WORKER_DB_PATTERN``, ``WORKER_CONCURRENCY``
        and ``WORKER_EARLY_WARNING`` (0 turns it off);
        ``overrides`` win.

        Raises ``KeyError`` when ``COUCHDB_URL`` is missing, ``ValueError`` for a bad value.
        """
        env = os.environ if environ is None else environ
        url = env.get("COUCHDB_URL")
        if not url:
            raise KeyError("COUCHDB_URL is not set")
        index, total = parse_shard(env.get("WORKER_SHARD", "1/1"))
        port = env.get("WORKER_METRICS_PORT")
        values: dict[str, Any] = dict(
            couchdb_url=url,
            shard_index=index,
            shard_count=total,
            batch_size=int(env.get("WORKER_BATCH_SIZE", "200")),
            poll_interval_s=float(env.get("WORKER_POLL_INTERVAL", "2")),
            deadline_local=env.get("REPORT_DEADLINE_LOCAL", "10:00"),
            utc_offset_minutes=int(env.get("LOCAL_UTC_OFFSET_MINUTES", "480")),
            max_attempts=int(env.get("WORKER_MAX_ATTEMPTS", "3")),
            metrics_port=int(port) if port else None,
            db_pattern=env.get("WORKER_DB_PATTERN") or None,
            concurrency=int(env.get("WORKER_CONCURRENCY", "4")),
            early_warning=env.get("WORKER_EARLY_WARNING", "1").strip().lower() not in {"0", "false", "no", "off"},
        )
        values.update(overrides)
        return cls(**values)
