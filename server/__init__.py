"""The Flask service: JSON API, county dashboard, admin pages, and the teacher app's origin.

``create_app(test_config=None)``: settings from the environment (``server.config``), then
the test override. Each feature is one blueprint.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import auth, couchdb, metrics
from server.api import API_SETTINGS, JSON_MAX_BYTES, Api, LimitedRequest
from server.config import Settings


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.request_class = LimitedRequest  # body limit per kind of route (server/api.py)
    # httpx logs every CouchDB request at INFO: far too much next to the access log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = (test_config or {}).get("SETTINGS") or Settings.from_env()
    app.config.update(API_SETTINGS, SETTINGS=settings, SECRET_KEY=settings.secret_key,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies, JSON_SORT_KEYS=False,
                      MAX_CONTENT_LENGTH=JSON_MAX_BYTES)
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxy_count:  # the client's address, scheme and host as nginx received them
        hops = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    couchdb.init_app(app)
    auth.init_app(app)
    metrics.init_app(app)  # /metrics; times every request

    from server import alerts, dbproxy, devices, forms, health, pages, reviews, summaries, verification, webapp

    api = Api(app)
    for feature in (health, forms, summaries, devices, alerts, verification, reviews):
        api.register_blueprint(feature.blp)
    from server import early_warning  # EARS C1/C2/C3 alarms, roll-ups and series (server/early_warning)
    api.register_blueprint(early_warning.blp)
    app.register_blueprint(dbproxy.bp)
    app.register_blueprint(webapp.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(verification.pages_bp)  # /counties/<id>/verification: upload results as a page
    from server.alerts import pages as alert_pages
    from server.reviews import pages as review_pages

    app.register_blueprint(review_pages.bp)  # /reviews: the review queue as pages
    app.register_blueprint(alert_pages.bp)  # /alerts: acknowledge alerts from the page
    from server import requests as school_requests  # requests to schools and their answers (issue 13)

    api.register_blueprint(school_requests.blp)
    from server import relay  # reports a device carried for another (docs/relay.md)

    api.register_blueprint(relay.blp)
    app.register_blueprint(school_requests.pages_bp)  # the county page's request forms
    from server import admin  # the admin pages and API, officers' corrections (server/admin)

    admin.init_app(app, api)
    return app
