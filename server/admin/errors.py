"""Why an admin action is refused; ``status`` is the HTTP status the API answers with.

    AdminError (400)
    ├── NotFoundError (404)      no such school, user, device, job
    ├── ConflictError (409)      the thing changed meanwhile, or is in the wrong state
    └── InvalidInput (422)       input that cannot be used; ``errors`` names each problem
        └── ImportRejected       a registry file with bad rows (nothing was written)
"""

from __future__ import annotations


class AdminError(Exception):
    """``errors``, when given, is the API's ``errors`` object (a dict, as README documents)."""

    status = 400

    def __init__(self, message: str, *, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class NotFoundError(AdminError):
    status = 404


class ConflictError(AdminError):
    status = 409


class InvalidInput(AdminError):
    status = 422


class ImportRejected(InvalidInput):
    """Every bad row of an import: ``errors = {"rows": [{sheet, line, reason}, ...]}``."""
