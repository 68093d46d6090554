"""Serves the teacher app (``webapp/``) at ``/app/`` and its vendored browser builds from npm.

nginx serves the same files in production (deploy/nginx); the service worker and the
manifest must always be revalidated so a new version reaches devices.
"""

from __future__ import annotations

from flask import Blueprint, redirect, send_from_directory

from server.auth import public
from server.config import PROJECT_ROOT

WEBAPP_DIR = PROJECT_ROOT / "webapp"
VENDOR_FILES = {
    "pouchdb.min.js": PROJECT_ROOT / "node_modules" / "pouchdb" / "dist",
    # relay without signal (docs/relay.md): QR codes shown by the origin, scanned by the carrier
    "qrcode.js": PROJECT_ROOT / "node_modules" / "qrcode-generator" / "dist",
    "jsQR.js": PROJECT_ROOT / "node_modules" / "jsqr" / "dist",
}
NO_CACHE = {"sw.js", "manifest.webmanifest", "index.html"}

bp = Blueprint("webapp", __name__)


@bp.route("/app")
@public
def app_root():
    return redirect("/app/", code=301)


@bp.route("/app/", defaults={"filename": "index.html"})
@bp.route("/app/<path:filename>")
@public
def app_file(filename: str):
    if filename.startswith("vendor/") and filename[len("vendor/"):] in VENDOR_FILES:
        name = filename[len("vendor/"):]
        response = send_from_directory(VENDOR_FILES[name], name, max_age=3600)
    else:
        response = send_from_directory(WEBAPP_DIR, filename, max_age=0 if filename in NO_CACHE else 3600)
    if filename in NO_CACHE:
        response.headers["Cache-Control"] = "no-cache"
    if filename == "sw.js":
        response.headers["Service-Worker-Allowed"] = "/app/"
    return response
