"""``python -m sync``: run the worker, provision databases, or reprocess a school.

    python -m sync [run] [--shard I/N] [--metrics-port P] [--once]
    python -m sync provision
    python -m sync reprocess <school_id>
    python -m sync mirror-device-status
    python -m sync backup --target URL [--check] [--concurrency K] [--match REGEX]
    python -m sync restore --source URL --db NAME [--db NAME ...]

Exit codes: 0 done (or stopped by SIGTERM after the current batch), 2 bad usage or
settings, 3 CouchDB refused the credentials.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from sync.checkpoint import Checkpointer
from sync.couch import CouchClient
from sync.errors import Unauthorized
from sync.provision import provision_all, school_db_name
from sync.settings import WorkerSettings, parse_shard
from sync.worker import EXIT_UNAUTHORIZED, JsonLogFormatter, Worker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync", description="School reports sync worker")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="follow the school databases (the default)")
    for p in (parser, run):
        p.add_argument("--shard", help="this worker's share of the databases, I/N (default WORKER_SHARD or 1/1)")
        p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
        p.add_argument("--once", action="store_true", help="exit 0 once every owned database is caught up")
        p.add_argument("--log-level", default="INFO")
    sub.add_parser("provision", help="create or upgrade every database")
    reprocess = sub.add_parser("reprocess", help="read a school's database again from the start")
    reprocess.add_argument("school_id")
    sub.add_parser("mirror-device-status", help="copy every device status doc into ops now (once, after the "
                   "upgrade that added the mirrors)")
    backup = sub.add_parser("backup", help="replicate to a backup CouchDB (see sync/backup.py), or --check it")
    backup.add_argument("--target", default=os.environ.get("BACKUP_URL"), help="backup server URL with "
                        "credentials (default BACKUP_URL)")
    backup.add_argument("--check", action="store_true", help="report the state of every backup; exit 1 if any is bad")
    backup.add_argument("--concurrency", type=int, default=20, help="one-shot jobs at once (default 20)")
    backup.add_argument("--match", help="only databases whose name matches this regex")
    restore = sub.add_parser("restore", help="bring databases back from a backup server")
    restore.add_argument("--source", required=True, help="backup server URL with credentials")
    restore.add_argument("--db", action="append", required=True, help="database to restore (repeatable)")
    return parser


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(getattr(args, "log_level", "INFO"))
    log = logging.getLogger("sync")
    overrides: dict[str, Any] = {}
    try:
        if getattr(args, "shard", None):
            overrides["shard_index"], overrides["shard_count"] = parse_shard(args.shard)
        if getattr(args, "metrics_port", None):
            overrides["metrics_port"] = args.metrics_port
        settings = WorkerSettings.from_env(**overrides)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with CouchClient(settings.couchdb_url) as client:
        try:
            if args.command == "provision":
                def progress(done: int, total: int) -> None:
                    print(f"\rprovisioned {done}/{total} databases", end="", file=sys.stderr, flush=True)

                report = provision_all(client, progress=progress)
                print(f"\ncreated {len(report.created_dbs)} databases, updated {len(report.design_updated)} "
                      f"design documents", file=sys.stderr)
                for reason in report.refused:
                    print(f"refused: {reason}", file=sys.stderr)
                return 1 if report.refused else 0
            if args.command == "reprocess":
                Checkpointer(client).reset(school_db_name(args.school_id))
                print(f"{school_db_name(args.school_id)} will be read again from the start", file=sys.stderr)
                return 0
            if args.command in ("backup", "restore"):
                from sync.backup import run_command

                return run_command(client, settings.couchdb_url, args)
        except Unauthorized:
            log.critical("CouchDB refused the credentials in COUCHDB_URL")
            return EXIT_UNAUTHORIZED
        worker = Worker(client, settings)
        if args.command == "mirror-device-status":
            try:
                written = worker.mirror_device_statuses()
            except Unauthorized:
                log.critical("CouchDB refused the credentials in COUCHDB_URL")
                return EXIT_UNAUTHORIZED
            print(f"wrote {written} device status mirrors", file=sys.stderr)
            return 0
        signal.signal(signal.SIGTERM, worker.request_stop)
        signal.signal(signal.SIGINT, worker.request_stop)
        if settings.metrics_port:
            worker.metrics.serve(settings.metrics_port)
        try:
            return worker.run(once=args.once)
        finally:
            worker.metrics.close()


if __name__ == "__main__":
    sys.exit(main())
