"""The Flask service: JSON API, county dashboard, admin pages, and the teacher app's origin.

``create_app(test_config=None)``: settings from the environment (``server.config``), then
the test override. Each feature is one blueprint.
"""

from __future__ import annotations

import logging

from flask import Flask

from server import auth, couchdb
from server.api import API_SETTINGS, Api
from server.config import Settings


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    # httpx logs every CouchDB request at INFO: far too much next to the access log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = (test_config or {}).get("SETTINGS") or Settings.from_env()
    app.config.update(API_SETTINGS, SETTINGS=settings, SECRET_KEY=settings.secret_key,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    couchdb.init_app(app)
    auth.init_app(app)

    from server import dbproxy, devices, forms, health, pages, summaries, webapp

    api = Api(app)
    for feature in (health, forms, summaries, devices):
        api.register_blueprint(feature.blp)
    app.register_blueprint(dbproxy.bp)
    app.register_blueprint(webapp.bp)
    app.register_blueprint(pages.bp)
    return app
