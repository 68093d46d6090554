"""``python -m demo [--schools N --days D ...]``: load demo data into COUCHDB_URL (or the embedded server).

Refuses to load into a server whose registry already has schools. Prints the accounts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from demo.accounts import registry_has_schools, write_demo_accounts
from demo.generate import DemoShape, load
from sync.couch import CouchClient


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--province", action="store_true", help="the full province shape (needs a real CouchDB)")
    for f in fields(DemoShape):
        if f.name in ("end",):
            continue
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None)
    return parser.parse_args(argv)


def progress_printer():
    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="", file=sys.stderr, leave=True)
        bar.update(done - bar.n)  # respects tqdm's minimum interval between redraws
        if done >= total:
            bar.close()

    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    changes = {k: v for k, v in vars(args).items() if k != "province" and v is not None}
    shape = DemoShape.province(**changes) if args.province else DemoShape(**changes)
    url = os.environ.get("COUCHDB_URL")
    if not url:
        url_file = Path(os.environ.get("VAR_DIR", "var")) / "couchdb" / "url"
        if not url_file.exists():
            print("COUCHDB_URL is not set and no embedded server is running (`make run` starts one)", file=sys.stderr)
            return 2
        url = url_file.read_text().strip()
    with CouchClient(url) as couch:
        if registry_has_schools(couch):
            print("the registry already has schools: not loading the demo twice", file=sys.stderr)
            return 1
        manifest = load(couch, shape, progress=progress_printer())
        accounts = write_demo_accounts(couch, manifest, Path(os.environ.get("VAR_DIR", "var")))
    print(json.dumps(accounts, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
