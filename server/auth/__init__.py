"""Who is asking, and what they may see.

People sign in with their CouchDB account, checked through CouchDB's ``_session``: in a
browser with the sign-in form (a Flask session cookie afterwards), from scripts with HTTP
Basic on every request. Roles come from the CouchDB account:

    _admin / admin          everything
    province                every prefecture and county
    prefecture:<id>         the counties of that prefecture
    county:<id>             that county (summaries, reviews, verification)
    inspector:<county>      that county's inspections
    school:<id>             that school (teachers and devices)

Every request re-reads the account (cached a few seconds), so a deactivated user's cookie
stops working at once.

Sign-in attempts are limited per (account, client address) and per noisy address, counted
in CouchDB so every gunicorn worker agrees (``server.auth.limits``); the client address is
the one nginx forwards when ``TRUSTED_PROXY_COUNT`` says a proxy is in front (ProxyFix).

State-changing requests authenticated by the session cookie must prove they come from the
service's own pages (``protect_from_csrf``): an ``Origin`` (or ``Referer``) of this origin,
or the session's CSRF token. HTTP Basic requests need no such proof.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from server.auth.limits import SignInLimiter
from server.couchdb import get_couch
from sync.errors import CouchUnavailable, Forbidden, NotFound, Unauthorized
from sync.provision import OPS_DB, REGISTRY_DB

ADMIN_ROLES = frozenset({"_admin", "admin"})
ACCOUNT_CACHE_S = 5.0
BASIC_CACHE_S = 60.0
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bp = Blueprint("auth", __name__, template_folder="templates")


@dataclass(frozen=True, kw_only=True)
class User:
    name: str
    roles: tuple[str, ...]

    def _ids(self, kind: str) -> set[str]:
        return {role.split(":", 1)[1] for role in self.roles if role.startswith(f"{kind}:")}

    @property
    def is_admin(self) -> bool:
        return bool(ADMIN_ROLES & set(self.roles))

    @property
    def is_province(self) -> bool:
        return self.is_admin or "province" in self.roles

    @property
    def counties(self) -> set[str]:
        return self._ids("county")

    @property
    def prefectures(self) -> set[str]:
        return self._ids("prefecture")

    @property
    def schools(self) -> set[str]:
        return self._ids("school")

    @property
    def is_officer(self) -> bool:
        return self.is_province or bool(self.counties or self.prefectures)

    def can_read_prefecture(self, prefecture_id: str) -> bool:
        return self.is_province or prefecture_id in self.prefectures

    def can_read_county(self, county_id: str, prefecture_id: str | None) -> bool:
        return (self.is_province or county_id in self.counties
                or (prefecture_id is not None and prefecture_id in self.prefectures))


class TTLCache:
    """A tiny thread-safe cache: account lookups and verified Basic credentials."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            item = self._items.get(key)
            if item and time.monotonic() - item[0] < self.ttl_s:
                return item[1]
            self._items.pop(key, None)
            return None

    def put(self, key: str, value) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic(), value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


_accounts = TTLCache(ACCOUNT_CACHE_S)
_basic = TTLCache(BASIC_CACHE_S)


class SignInRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_GONE = "gone"  # cached marker: the account was deleted or deactivated


def _account_roles(name: str) -> tuple[str, ...] | None:
    """The account's current roles (None when deleted or deactivated). Server admins have ``_admin``."""
    cached = _accounts.get(name)
    if cached is not None:
        return None if cached == _GONE else cached
    couch = get_couch()
    if name == couch.username:
        roles: tuple[str, ...] = ("_admin",)
    else:
        try:
            doc = couch.db("_users").get(f"org.couchdb.user:{name}")
        except NotFound:
            doc = None
        if doc is None or doc.get("deactivated"):
            _accounts.put(name, _GONE)
            return None
        roles = tuple(doc.get("roles") or ())
    _accounts.put(name, roles)
    return roles


def client_address() -> str:
    """The client's address: the peer's, or the one the trusted proxy forwarded (ProxyFix)."""
    return request.remote_addr or "unknown"


def verify_password(name: str, password: str) -> User:
    """Check a name and password with CouchDB; raises ``SignInRefused`` (401 or 429) and
    ``CouchUnavailable``. Failures count per (name, client address) (``server.auth.limits``)."""
    address = client_address()
    limiter: SignInLimiter = current_app.extensions["signin_limiter"]
    refusal = limiter.refusal(name, address)
    if refusal:
        raise SignInRefused(429, refusal)
    try:
        ctx = get_couch().session(name, password, client_address=address)
    except Unauthorized:
        limiter.record_failure(name, address)
        raise SignInRefused(401, "wrong name or password") from None
    except Forbidden as exc:
        # CouchDB 3.4's own lockout ([chttpd_auth_lockout]) after repeated failures, keyed
        # on (the client address we forward, name): the same pair our limit counts.
        limiter.record_failure(name, address)
        raise SignInRefused(429, "too many failed sign-ins for this account; wait a few minutes") from exc
    roles = tuple(ctx["roles"])
    return User(name=ctx["name"] or name, roles=roles)


def _basic_credentials() -> tuple[str, str] | None:
    """The request's HTTP Basic name and password, if it sends them."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        return None
    return auth.username, auth.password or ""


def _user_from_basic() -> User | None:
    credentials = _basic_credentials()
    if credentials is None:
        return None
    key = hashlib.sha256("\0".join(credentials).encode()).hexdigest()
    user = _basic.get(key)
    if user is None:
        user = verify_password(*credentials)
        _basic.put(key, user)
    return user


def current_user() -> User | None:
    """The signed-in user of this request, or None. Raises ``SignInRefused`` for bad Basic credentials."""
    if "user" in g:
        return g.user
    user = _user_from_basic()
    if user is None and session.get("user"):
        name = session["user"]
        roles = _account_roles(name)
        if roles is None:  # account deleted or deactivated: the cookie no longer counts
            session.clear()
        else:
            user = User(name=name, roles=roles)
    elif user is not None:
        roles = _account_roles(user.name)
        user = User(name=user.name, roles=roles) if roles is not None else None
    g.user = user
    return user


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _refuse(status: int, message: str):
    from server.api import abort

    if _wants_json():
        headers = {"WWW-Authenticate": 'Basic realm="school-reporting"'} if status == 401 else None
        abort(status, message=message, headers=headers)
    if status == 401:
        return redirect(url_for("auth.login", next=request.full_path))
    from flask import abort as flask_abort

    flask_abort(status)


def public(view):
    """Mark a view as open to anyone (health, forms, the sign-in page, the app's files)."""
    view.access = "public"
    return view


def login_required(view):
    """The view needs a signed-in user (401 JSON for the API, a redirect for pages)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            user = current_user()
        except SignInRefused as refused:
            return _refuse(refused.status, refused.message)
        if user is None:
            return _refuse(401, "sign in first (HTTP Basic or the sign-in page)")
        return view(*args, **kwargs)

    wrapper.access = "login"
    return wrapper


def require(check, message: str = "your role does not allow this"):
    """Refuse with 403 unless ``check(user)`` holds (after ``login_required``)."""
    if not check(g.user):
        _refuse(403, message)


def county_prefecture(county_id: str) -> str | None:
    """The prefecture a county belongs to (None for an unknown county)."""
    doc = get_couch().db(REGISTRY_DB).get_or_none(f"county:{county_id}")
    return doc.get("prefecture_id") if doc and doc.get("type") == "county" else None


def require_county(county_id: str) -> None:
    """403 unless the user may read that county (its officer, its prefecture's, province, admin)."""
    user = g.user
    if user.is_province or county_id in user.counties:
        return
    require(lambda u: u.can_read_county(county_id, county_prefecture(county_id)),
            f"you may not see county {county_id}")


# -- the sign-in page -------------------------------------------------------------------

def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _token_matches(sent: str | None) -> bool:
    expected = session.get("csrf", "")
    return bool(sent and expected) and hmac.compare_digest(str(sent).encode(), expected.encode())


def check_csrf() -> None:
    """Forms post a token from the session; refuse a post without it (403)."""
    if not _token_matches(request.form.get("csrf_token", "")):
        from flask import abort as flask_abort

        flask_abort(403)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a URL, or None for ``null``, a relative or a malformed one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _same_origin() -> bool:
    """The request's ``Origin`` (or without one its ``Referer``) is this service's origin
    (scheme, host and port as the client used them; behind nginx as ProxyFix restores them)."""
    sent = request.headers.get("Origin")
    if sent is None:
        sent = request.headers.get("Referer")
    own = _origin_of(request.host_url)
    return sent is not None and own is not None and _origin_of(sent) == own


def protect_from_csrf() -> None:
    """Refuse (403) a state-changing request authenticated by the session cookie unless it
    is same-origin or carries the session's CSRF token (header ``X-CSRF-Token`` or form field
    ``csrf_token``). Requests with HTTP Basic, anonymous ones, public views (which check
    their own credentials) and the ``/db/`` pass-through are not cookie-authenticated here."""
    if request.method not in UNSAFE_METHODS or _basic_credentials() or not session.get("user"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "access", None) in ("public", "couchdb") or request.path.startswith("/db/"):
        return
    if _same_origin():
        return
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = request.form.get("csrf_token")
    if _token_matches(sent):
        return
    from server.api import abort

    abort(403, message="cross-site request refused: send it from this site's pages, or with the CSRF token")


@bp.app_context_processor
def inject_user():
    try:
        user = current_user()
    except SignInRefused:
        user = None
    return {"current_user": user, "csrf_token": _csrf_token}


def safe_next(target: str) -> str | None:
    """``target`` when it is a path of this site, else None (the caller goes to the landing page).

    Only a path that starts with one ``/``, holds no backslash, whitespace or control
    character (browsers drop tabs and newlines, so ``/%09/evil`` would become ``//evil``) and
    has no scheme or host once parsed."""
    if not target.startswith("/") or target.startswith("//"):
        return None
    if any(ch == "\\" or ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    return target if not (parts.scheme or parts.netloc) else None


def landing_for(user: User) -> str:
    if user.is_admin or user.is_province:
        return "/"
    if user.counties:
        return f"/counties/{sorted(user.counties)[0]}"
    if user.schools:
        return "/app/"
    return "/"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    status = 200
    if request.method == "POST":
        check_csrf()
        name = request.form.get("name", "").strip()
        try:
            user = verify_password(name, request.form.get("password", ""))
        except SignInRefused as refused:
            error, status = refused.message, refused.status
        except CouchUnavailable:
            error, status = "the database is unreachable; try again shortly", 503
        else:
            session.clear()
            session["user"] = user.name
            session.permanent = True
            _accounts.drop(user.name)
            return redirect(safe_next(request.args.get("next", "")) or landing_for(user))
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST"])
@public
def logout():
    check_csrf()
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app) -> None:
    """Register the sign-in pages, the sign-in limiter (on ``ops``) and the CSRF check."""
    app.register_blueprint(bp)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 12 * 3600)
    app.extensions["signin_limiter"] = SignInLimiter(app.extensions["couch"].db(OPS_DB))
    app.before_request(protect_from_csrf)


__all__ = ["User", "current_user", "login_required", "public", "require", "require_county", "check_csrf",
           "client_address", "county_prefecture", "protect_from_csrf", "safe_next", "verify_password",
           "SignInRefused", "TTLCache", "init_app"]
