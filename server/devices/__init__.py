"""Devices: ``POST /api/v1/devices/enrol``, ``GET /api/v1/devices/roster``,
``POST /api/v1/devices/key`` and ``GET /api/v1/devices/time``.

The app enrols a device once, online, and then syncs with the device's own CouchDB
account; ``roster`` answers that account (HTTP Basic, checked by CouchDB's ``_session``)
with what may have changed since (a teacher added to the roster, the county's schools
and checklist for an inspector's device); ``time`` gives the server clock so the app can
measure its offset; ``key`` registers the signing key of a device enrolled before keys
existed (docs/relay.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import current_app, request

from server.api import Blueprint, abort
from server.auth import SignInRefused, User, public, verify_password
from server.couchdb import get_couch
from server.devices.schemas import EnrolArgs, Enrolment, KeyArgs, KeyRegistration, Refresh, ServerTime
from server.devices.service import DeviceEnrolment, EnrolmentError, Person

blp = Blueprint("devices", __name__, url_prefix="/api/v1/devices", description="Device enrolment for the teacher app")


def _enrolment() -> DeviceEnrolment:
    return DeviceEnrolment(get_couch(), utc_offset_minutes=current_app.config["SETTINGS"].utc_offset_minutes)


@blp.route("/enrol", methods=["POST"])
@public  # the body carries the person's own credentials, checked through CouchDB (rate-limited)
@blp.arguments(EnrolArgs)
@blp.response(201, Enrolment)
@blp.alt_response(401, description="Name or password is incorrect")
@blp.alt_response(429, description="Too many failed sign-ins")
@blp.alt_response(403, description="The person is not a teacher of that school (or inspector of that county), "
                                    "or the credentials are a device's (only people enrol devices)")
@blp.alt_response(404, description="No such school or county, or its database is not provisioned")
def enrol(args):
    """Enrol this device for a school, or an inspector's device for a county; the answer's
    password is shown only once."""
    try:
        user = verify_password(args["username"], args["password"])
    except SignInRefused as refused:
        abort(refused.status, message=refused.message)
    person = Person(name=user.name, roles=user.roles)
    try:
        enrolment = _enrolment().enrol(person, school_id=args["school_id"], county_id=args["county_id"],
                                       label=args["label"], public_key=args["public_key"])
    except EnrolmentError as exc:
        abort(exc.status, message=str(exc))
    enrolment["utc_offset_minutes"] = current_app.config["SETTINGS"].utc_offset_minutes
    return enrolment


@blp.route("/roster")
@public  # answers only a device account, whose credentials CouchDB verifies (rate-limited)
@blp.response(200, Refresh)
@blp.alt_response(401, description="No device credentials, or CouchDB refuses them (e.g. a revoked device)")
@blp.alt_response(403, description="Not a device account, or the device is revoked")
def roster():
    """What the device asks again when online: its school's roster (and window), or for an
    inspector's device the county's schools, the checklist and who may use it."""
    user = device_account()
    try:
        answer = _enrolment().refresh(user.name, tuple(user.roles))
    except EnrolmentError as exc:
        abort(exc.status, message=str(exc))
    return answer, 200, {"Cache-Control": "no-store"}


@blp.route("/key", methods=["POST"])
@public  # answers only a device account, whose credentials CouchDB verifies (rate-limited)
@blp.arguments(KeyArgs)
@blp.response(200, KeyRegistration)
@blp.alt_response(401, description="No device credentials, or CouchDB refuses them (e.g. a revoked device)")
@blp.alt_response(403, description="Not a device account, or the device is revoked")
@blp.alt_response(409, description="The device already registered another key (a key is registered once)")
def register_key(args):
    """Register this device's signing key, once (a device enrolled before keys existed);
    the same key again is answered 200."""
    user = device_account()
    try:
        return _enrolment().register_key(user.name, tuple(user.roles), args["public_key"])
    except EnrolmentError as exc:
        abort(exc.status, message=str(exc))


def device_account() -> User:
    """The request's HTTP Basic account, verified through CouchDB (rate-limited). Aborts with
    401 (no or wrong credentials) or 429; whether it is a device is the caller's check."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        abort(401, message="sign in as the device account (HTTP Basic)",
              headers={"WWW-Authenticate": 'Basic realm="school-reporting"'})
    try:
        return verify_password(auth.username, auth.password or "")
    except SignInRefused as refused:
        abort(refused.status, message=refused.message)


@blp.route("/time")
@public
@blp.response(200, ServerTime)
def server_time():
    """The server's clock in milliseconds (the app also reads the ``Date`` header)."""
    epoch_ms = time.time_ns() // 1_000_000
    now = datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"now": now, "epoch_ms": epoch_ms}, 200, {"Cache-Control": "no-store"}
