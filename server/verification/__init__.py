"""Two-way verification with the health department's list of cases.

    POST /api/v1/counties/<id>/verification   upload the CSV (school_id,date,suspected,confirmed)
                                              as a text/csv body, or a form file "file"
    GET  /api/v1/counties/<id>/verification   mismatches of the latest upload, both directions;
                                              ?format=csv|xlsx
    GET/POST /counties/<id>/verification      the same as a page for officers: the upload form's
                                              results (matched, mismatches, or the list's errors)

A browser form posted to the API path (the county page's form, with the session cookie and
asking for HTML) is sent on to the page with 307, which posts the same body again.
"""

from __future__ import annotations

from flask import Blueprint as PageBlueprint
from flask import g, redirect, render_template, request, url_for

from server.api import UPLOAD_MAX_BYTES, Blueprint, abort, body_limit
from server.auth import check_csrf, login_required, require_county
from server.pages.i18n import current_language, translate
from server.spreadsheet import decode_csv_text
from server.summaries import send_answer, summary_service
from server.summaries.schemas import ExportArgs
from server.summaries.service import UnknownArea
from server.verification.service import BadUpload, VerificationService

blp = Blueprint("verification", __name__, url_prefix="/api/v1/counties",
                description="Two-way verification with the health department's list")


def _uploaded_text() -> tuple[str, str | None]:
    """The uploaded CSV as text; its size is bounded by ``body_limit`` on the view (413),
    bytes that are not UTF-8 are refused (422)."""
    if request.mimetype == "multipart/form-data":
        if request.authorization is None:  # a browser form with the session cookie
            check_csrf()
        upload = request.files.get("file")
        if upload is None:
            abort(422, message="send the CSV as the form file 'file'", errors={"file": ["missing"]})
        data, filename = upload.read(), upload.filename
    # text/plain is what a cross-site form can post: only with HTTP Basic, never with the cookie.
    elif request.mimetype == "text/csv" or (request.mimetype == "text/plain" and request.authorization is not None):
        data, filename = request.get_data(), None
    else:
        abort(415, message="send text/csv, or a multipart form with the file 'file'")
    try:
        return decode_csv_text(data), filename
    except UnicodeDecodeError:
        abort(422, message="the list is not UTF-8 text (save it as CSV UTF-8); nothing was stored",
              errors={"file": "the file is not UTF-8 text"})


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
@body_limit(UPLOAD_MAX_BYTES)
@login_required
@blp.doc(requestBody={"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "school_id,date,suspected,confirmed\ns1,2026-11-19,2,0\n"},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "csrf_token": {"type": "string"}}}}}})
@blp.alt_response(413, description="the list is over 2 MB")
@blp.alt_response(422, description="the list has errors (per line); nothing was stored")
def verification_upload(county_id: str):
    """Upload the health department's list (CSV: school_id,date,suspected,confirmed); answers the mismatches."""
    require_county(county_id)
    if _from_a_browser_form():
        return redirect(url_for("verification_pages.verification_page", county_id=county_id), code=307)
    text, filename = _uploaded_text()
    try:
        answer = VerificationService(summary_service()).upload(county_id, text, by=g.user.name, filename=filename)
    except UnknownArea:
        abort(404, message=f"no county {county_id!r} in the registry")
    except BadUpload as bad:
        abort(422, message="the list has errors; nothing was stored", errors=bad.errors)
    return answer, 201


# -- the page --------------------------------------------------------------------------------

pages_bp = PageBlueprint("verification_pages", __name__)


def _from_a_browser_form() -> bool:
    """A form a person posted from a page (session cookie, no HTTP Basic, asking for HTML)."""
    return (request.mimetype == "multipart/form-data" and request.authorization is None
            and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html")


def _page_upload(county_id: str) -> tuple[dict | None, dict[str, str], int]:
    """Store the posted list: ``(comparison, {}, 201)``, or ``(None, errors by line, 422)``."""
    if request.authorization is None:
        check_csrf()
    lang = current_language()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None, {"file": translate("choose_file", lang)}, 422
    try:
        text = decode_csv_text(upload.read())
    except UnicodeDecodeError:
        return None, {"file": translate("not_utf8", lang)}, 422
    try:
        answer = VerificationService(summary_service()).upload(county_id, text, by=g.user.name,
                                                               filename=upload.filename)
    except BadUpload as bad:
        return None, bad.errors, 422
    return answer, {}, 201


@pages_bp.route("/counties/<county_id>/verification", methods=["GET", "POST"])
@body_limit(UPLOAD_MAX_BYTES)
@login_required
def verification_page(county_id: str):
    """The verification results as a page: after an upload (POST, the county page's form) what
    was stored and how it compares, or why nothing was stored; GET shows the latest upload's."""
    from flask import abort as page_abort

    require_county(county_id)
    answer: dict | None = None
    errors: dict[str, str] = {}
    status, posted = 200, request.method == "POST"
    try:
        if posted:
            answer, errors, status = _page_upload(county_id)
        if answer is None:  # GET, or a list refused: the page still names the county
            answer = VerificationService(summary_service()).report(county_id)
    except UnknownArea:
        page_abort(404)
    return render_template("verification_result.html", answer=answer, errors=errors, posted=posted,
                           county_id=county_id), status
