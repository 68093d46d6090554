"""The admin side: registry, users and rosters, devices, school databases, sync health,
replication jobs and the audit log (API under ``/api/v1/admin``, pages under ``/admin``),
and county officers' audited corrections (``/api/v1/schools/<id>/reports/<date>/corrections``).
"""

from __future__ import annotations

from server.admin import early_warning as _early_warning  # noqa: F401,E402 - adds its route to blp
from server.admin.pages import bp as pages_bp
from server.admin.routes import blp, corrections_blp


def init_app(app, api) -> None:
    """Register the admin API, the corrections API and the admin pages."""
    api.register_blueprint(blp)
    api.register_blueprint(corrections_blp)
    app.register_blueprint(pages_bp)


__all__ = ["blp", "corrections_blp", "init_app", "pages_bp"]
