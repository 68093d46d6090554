"""How heavy the teacher app is and how fast it starts offline on a slow phone.

    .venv/bin/python bench/app_shell.py [--runs 5] [--throttle 4]

1. The app shell's compressed size: every URL the service worker caches (its
   ``SHELL_FILES`` and ``FORM_URLS``, so the vendored libraries under ``/app/vendor/``:
   PouchDB, and qrcode-generator and jsQR for relay without signal), fetched from the
   service and gzipped (level 6, what nginx sends), per file, the vendored part, and in total.
2. Offline start: an embedded pouchdb-server and the service on free ports, a school and
   a teacher, a device enrolled in Debian's chromium (360 px wide); then, offline, with the
   CPU throttled (CDP ``Emulation.setCPUThrottlingRate``), the time from reload to the home
   screen showing the records, served by the service worker. Median and worst of ``--runs``.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import create_app  # noqa: E402
from server.config import Settings  # noqa: E402
from sync.couch import CouchClient  # noqa: E402
from sync.embedded import EmbeddedCouch  # noqa: E402
from sync.provision import provision_core, provision_school  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUDGET_BYTES = 500 * 1024


def cached_urls() -> list[str]:
    """The URLs sw.js caches, read from its source (the one list there is)."""
    source = (ROOT / "webapp" / "sw.js").read_text()
    urls = []
    for name in ("SHELL_FILES", "FORM_URLS"):
        block = re.search(name + r"\s*=\s*\[(.*?)\]", source, re.S).group(1)
        urls += re.findall(r"'([^']+)'", block)
    return urls


def shell_size(base_url: str) -> tuple[int, int, list[tuple[str, int, int]]]:
    rows = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for url in cached_urls():
            response = client.get(url, headers={"Accept-Encoding": "identity"})
            response.raise_for_status()
            body = response.content
            rows.append((url, len(body), len(gzip.compress(body, compresslevel=6))))
    return sum(r[1] for r in rows), sum(r[2] for r in rows), rows


def offline_start(base_url: str, couch: CouchClient, runs: int, throttle: float) -> list[float]:
    from playwright.sync_api import sync_playwright

    run = uuid.uuid4().hex[:8]
    school_id, teacher, password = f"bench{run}", f"t_bench{run}", "bench-pass"
    registry = couch.db("registry")
    registry.put({"_id": f"county:c{run}", "type": "county", "prefecture_id": f"p{run}", "name": "Bench county"})
    registry.put({"_id": f"school:{school_id}", "type": "school", "county_id": f"c{run}", "prefecture_id": f"p{run}",
                  "name": "Bench school", "opened": "2020-01-01", "closed": None})
    registry.put({"_id": f"roster:{school_id}", "type": "roster", "school_id": school_id,
                  "teachers": [{"username": teacher, "display_name": "王老师"}]})
    provision_school(couch, school_id)
    couch.put_user(teacher, password=password, roles=[f"school:{school_id}"])
    timings = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        page.goto(base_url + "/app/")
        page.fill("#enrol-form input[name=username]", teacher)
        page.fill("#enrol-form input[name=password]", password)
        page.click("#enrol-form button[type=submit]")
        page.click(f"button.roster-name[data-username='{teacher}']")
        page.fill("#pin-form input[name=pin]", "1357")
        page.fill("#pin-form input[name=pin2]", "1357")
        page.click("#pin-form button[type=submit]")
        page.wait_for_selector("main[data-screen=home]")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        for _ in range(runs):
            started = time.perf_counter()
            response = page.reload(wait_until="commit")
            page.wait_for_selector("main[data-screen=home] #records", timeout=60000)
            timings.append(time.perf_counter() - started)
            assert response is not None and response.from_service_worker
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        cdp.detach()
        context.close()
        browser.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--throttle", type=float, default=4.0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedCouch(Path(tmp) / "couchdb") as embedded:
        couch = CouchClient(embedded.url)
        provision_core(couch)
        app = create_app({"SETTINGS": Settings(couchdb_url=embedded.url, secret_key="bench", var_dir=Path(tmp))})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{server.server_port}"
        try:
            raw, compressed, rows = shell_size(base_url)
            print("app shell (every URL the service worker caches), gzip level 6:")
            for url, size, gz in sorted(rows, key=lambda r: -r[2]):
                print(f"  {url:40s} {size:>9,d} B  gzip {gz:>8,d} B")
            vendored = [r for r in rows if r[0].startswith("/app/vendor/")]
            print(f"  {'of which /app/vendor/':40s} {sum(r[1] for r in vendored):>9,d} B  "
                  f"gzip {sum(r[2] for r in vendored):>8,d} B")
            print(f"  {'total':40s} {raw:>9,d} B  gzip {compressed:>8,d} B "
                  f"({compressed / 1024:.1f} KiB of the {BUDGET_BYTES // 1024} KiB budget)")
            timings = offline_start(base_url, couch, args.runs, args.throttle)
            print(f"offline start (reload to home screen, service worker, CPU {args.throttle:g}x slower), "
                  f"{len(timings)} runs: median {statistics.median(timings) * 1000:.0f} ms, "
                  f"worst {max(timings) * 1000:.0f} ms")
        finally:
            server.shutdown()
            server.server_close()
            app.extensions["couch"].close()
            couch.close()
    return 0 if compressed <= BUDGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
