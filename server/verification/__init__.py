"""Two-way verification with the health department's list of cases.

    POST /api/v1/counties/<id>/verification   upload the CSV (school_id,date,suspected,confirmed)
                                              as a text/csv body, or a form file "file"
    GET  /api/v1/counties/<id>/verification   mismatches of the latest upload, both directions;
                                              ?format=csv|xlsx
"""

from __future__ import annotations

from flask import g, request

from server.api import Blueprint, abort
from server.auth import check_csrf, login_required, require_county
from server.summaries import send_answer, summary_service
from server.summaries.schemas import ExportArgs
from server.summaries.service import UnknownArea
from server.verification.service import BadUpload, VerificationService

blp = Blueprint("verification", __name__, url_prefix="/api/v1/counties",
                description="Two-way verification with the health department's list")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _uploaded_text() -> tuple[str, str | None]:
    if request.content_length and request.content_length > MAX_UPLOAD_BYTES:
        abort(413, message="the list may be at most 2 MB")
    if request.mimetype == "multipart/form-data":
        if request.authorization is None:  # a browser form with the session cookie
            check_csrf()
        upload = request.files.get("file")
        if upload is None:
            abort(422, message="send the CSV as the form file 'file'", errors={"file": ["missing"]})
        return upload.read(MAX_UPLOAD_BYTES + 1).decode("utf-8", errors="replace"), upload.filename
    # text/plain is what a cross-site form can post: only with HTTP Basic, never with the cookie.
    if request.mimetype == "text/csv" or (request.mimetype == "text/plain" and request.authorization is not None):
        return request.get_data(as_text=True), None
    abort(415, message="send text/csv, or a multipart form with the file 'file'")


@blp.route("/<county_id>/verification", methods=["GET"])
@login_required
@blp.arguments(ExportArgs, location="query")
def verification_report(args, county_id: str):
    """Mismatches between the latest uploaded list and the schools' reports, in both directions."""
    require_county(county_id)
    try:
        answer = VerificationService(summary_service()).report(county_id)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    return send_answer(answer, {"mismatches": answer["mismatches"]}, args, f"verification-{county_id}")


@blp.route("/<county_id>/verification", methods=["POST"])
@login_required
@blp.doc(requestBody={"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "school_id,date,suspected,confirmed\ns1,2026-11-19,2,0\n"},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "csrf_token": {"type": "string"}}}}}})
@blp.alt_response(422, description="the list has errors (per line); nothing was stored")
def verification_upload(county_id: str):
    """Upload the health department's list (CSV: school_id,date,suspected,confirmed); answers the mismatches."""
    require_county(county_id)
    text, filename = _uploaded_text()
    try:
        answer = VerificationService(summary_service()).upload(county_id, text, by=g.user.name, filename=filename)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    except BadUpload as bad:
        abort(422, message="the list has errors; nothing was stored", errors=bad.errors)
    return answer, 201
