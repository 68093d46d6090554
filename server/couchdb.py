"""The service's connection to CouchDB (one pooled client per app, shared by threads)."""

from __future__ import annotations

from flask import Flask, current_app

from sync.couch import CouchClient


def init_app(app: Flask) -> None:
    app.extensions["couch"] = CouchClient(app.config["SETTINGS"].couchdb_url)


def get_couch() -> CouchClient:
    return current_app.extensions["couch"]
