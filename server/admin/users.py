"""People's CouchDB accounts and the schools' rosters of teachers.

An account is a ``_users`` doc whose roles say what the person may see (DESIGN §2).
Deactivation removes every role, sets ``deactivated: true`` and replaces the password
with a random one nobody knows: CouchDB then refuses the account's password (and,
because the password's salt changes, its old session cookies), and the service, which
re-reads the account on every request, refuses it too. Deleting the account instead
would lose who did what; reactivating restores the roles it had, with a new password.

A teacher's roster entry and the account's ``school:<id>`` role go together: adding a
teacher to a roster gives the role, removing takes it away.
"""

from __future__ import annotations

import builtins
import re
import secrets

from server.admin.errors import ConflictError, InvalidInput, NotFoundError
from server.admin.registry import ID_RE
from server.audit import AuditLog, utc_now_iso
from sync.couch import CouchClient
from sync.errors import Conflict
from sync.provision import REGISTRY_DB

# kind -> (role template, registry type its scope must be, or None when it has no scope)
ROLE_KINDS = {
    "teacher": ("school:{}", "school"),
    "inspector": ("inspector:{}", "county"),
    "county_officer": ("county:{}", "county"),
    "prefecture_officer": ("prefecture:{}", "prefecture"),
    "province_officer": ("province", None),
    "admin": ("admin", None),
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,99}$")
USER_PREFIX = "org.couchdb.user:"
DEVICE_ROLE = "device"
HIDDEN_FIELDS = frozenset({"password", "derived_key", "salt", "password_scheme", "iterations", "password_sha",
                           "_rev", "_id", "type"})


def new_password() -> str:
    return secrets.token_urlsafe(12)


def kind_of(roles: list[str]) -> tuple[str | None, str | None]:
    """``(kind, scope)`` of an account from its roles (the first that matches)."""
    for role in roles:
        for kind, (template, scope_type) in ROLE_KINDS.items():
            if scope_type is None and role == template:
                return kind, None
            prefix = template.split("{}")[0]
            if scope_type is not None and role.startswith(prefix):
                return kind, role[len(prefix):]
    return None, None


class UserAdmin:
    """Accounts and rosters; takes the admin ``CouchClient`` and the audit log."""

    def __init__(self, couch: CouchClient, audit: AuditLog):
        self.couch = couch
        self.users = couch.db("_users")
        self.registry = couch.db(REGISTRY_DB)
        self.audit = audit

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def public(doc: dict) -> dict:
        roles = list(doc.get("roles") or [])
        kind, scope = kind_of(roles or list(doc.get("roles_before_deactivation") or []))
        return {"name": doc.get("name"), "roles": roles, "kind": kind, "scope": scope,
                "display_name": doc.get("display_name") or doc.get("name"),
                "deactivated": bool(doc.get("deactivated")), "created_at": doc.get("created_at"),
                "created_by": doc.get("created_by")}

    def _doc(self, name: str) -> dict:
        doc = self.users.get_or_none(USER_PREFIX + name) if NAME_RE.match(name or "") else None
        if doc is None or DEVICE_ROLE in (doc.get("roles") or []) or name.startswith("device_"):
            raise NotFoundError(f"no user {name!r} (devices are managed under their school)")
        return doc

    def get(self, name: str) -> dict:
        """Raises ``NotFoundError``."""
        return self.public(self._doc(name))

    def list(self, *, kind: str | None = None, scope: str | None = None, q: str | None = None,
             include_deactivated: bool = True, limit: int = 100, start_after: str | None = None) -> dict:
        """People's accounts in name order (devices left out), ``limit`` at a time."""
        found: list[dict] = []
        start = USER_PREFIX + (start_after + "\x00" if start_after else "")
        while len(found) < limit:
            rows = self.users.all_docs(startkey=start, endkey=USER_PREFIX + "\ufff0", include_docs=True,
                                       limit=500)["rows"]
            for row in rows:
                doc = row.get("doc") or {}
                if DEVICE_ROLE in (doc.get("roles") or []) or str(doc.get("name", "")).startswith("device_"):
                    continue
                person = self.public(doc)
                if kind and person["kind"] != kind or scope and person["scope"] != scope:
                    continue
                if not include_deactivated and person["deactivated"]:
                    continue
                if q and q.lower() not in f"{person['name']} {person['display_name']}".lower():
                    continue
                found.append(person)
                if len(found) >= limit:
                    break
            if len(rows) < 500:
                break
            start = rows[-1]["id"] + "\x00"
        next_after = found[-1]["name"] if len(found) >= limit else None
        return {"users": found, "next_after": next_after}

    # -- changing ---------------------------------------------------------------------------

    def _role_for(self, kind: str, scope: str | None) -> str:
        if kind not in ROLE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(ROLE_KINDS)}")
        template, scope_type = ROLE_KINDS[kind]
        if scope_type is None:
            return template
        if not scope or not ID_RE.match(scope):
            raise InvalidInput(f"a {kind} needs the id of a {scope_type} (scope)")
        doc = self.registry.get_or_none(f"{scope_type}:{scope}")
        if doc is None or doc.get("type") != scope_type:
            raise InvalidInput(f"no {scope_type} {scope!r} in the registry")
        return template.format(scope)

    def create(self, *, who: str, name: str, kind: str, scope: str | None, display_name: str | None,
               password: str | None = None) -> dict:
        """Create the account (and a teacher's roster entry). The answer carries the password
        (generated when not given) once. Raises ``InvalidInput`` or ``ConflictError``."""
        if not NAME_RE.match(name or "") or name.startswith("device_") or name == self.couch.username:
            raise InvalidInput("name: 2-100 of letters, digits and . _ @ -, starting with a letter or digit "
                               "(and not device_...)")
        role = self._role_for(kind, scope)
        if self.users.get_or_none(USER_PREFIX + name) is not None:
            raise ConflictError(f"user {name!r} exists already")
        secret = password or new_password()
        try:
            self.couch.put_user(name, password=secret, roles=[role], display_name=display_name or name,
                                created_at=utc_now_iso(), created_by=who, deactivated=False)
        except Conflict as exc:
            raise ConflictError(f"user {name!r} exists already") from exc
        person = self.get(name)
        self.audit.record(who=who, action="user.create", target=f"user:{name}", after=person)
        if kind == "teacher" and scope:
            self._roster_change(who=who, school_id=scope, add=[{"username": name,
                                                                 "display_name": display_name or name}], remove=[])
        return dict(person, password=secret)

    def _save(self, doc: dict) -> None:
        try:
            self.users.put(doc)
        except Conflict as exc:
            raise ConflictError("the account was changed meanwhile; try again") from exc

    def reset_password(self, *, who: str, name: str, password: str | None = None) -> dict:
        """A new password (returned once). Raises ``NotFoundError`` or ``ConflictError`` (deactivated)."""
        doc = self._doc(name)
        if doc.get("deactivated"):
            raise ConflictError(f"{name} is deactivated; reactivate the account instead")
        secret = password or new_password()
        self._set_password(doc, secret)
        self._save(doc)
        self.audit.record(who=who, action="user.reset_password", target=f"user:{name}")
        return dict(self.public(doc), password=secret)

    @staticmethod
    def _set_password(doc: dict, secret: str) -> None:
        doc["password"] = secret
        for stale in ("derived_key", "salt", "password_scheme", "iterations", "password_sha"):
            doc.pop(stale, None)

    def deactivate(self, *, who: str, name: str) -> dict:
        """Roles removed, ``deactivated: true``, a random password. Raises ``NotFoundError``
        or ``ConflictError`` (one's own account)."""
        doc = self._doc(name)
        if name == who:
            raise ConflictError("you cannot deactivate your own account")
        before = self.public(doc)
        if not doc.get("deactivated"):
            doc["roles_before_deactivation"] = list(doc.get("roles") or [])
        doc.update(roles=[], deactivated=True, deactivated_at=utc_now_iso(), deactivated_by=who)
        self._set_password(doc, secrets.token_urlsafe(32))
        self._save(doc)
        after = self.public(doc)
        self.audit.record(who=who, action="user.deactivate", target=f"user:{name}", before=before, after=after)
        return after

    def reactivate(self, *, who: str, name: str) -> dict:
        """Restore the roles it had, with a new password (returned once)."""
        doc = self._doc(name)
        if not doc.get("deactivated"):
            raise ConflictError(f"{name} is active")
        before = self.public(doc)
        doc.update(roles=list(doc.pop("roles_before_deactivation", None) or []), deactivated=False)
        doc.pop("deactivated_at", None)
        doc.pop("deactivated_by", None)
        secret = new_password()
        self._set_password(doc, secret)
        self._save(doc)
        after = self.public(doc)
        self.audit.record(who=who, action="user.reactivate", target=f"user:{name}", before=before, after=after)
        return dict(after, password=secret)

    def update(self, *, who: str, name: str, display_name: str | None = None, kind: str | None = None,
               scope: str | None = None) -> dict:
        """Change the display name, or the role (kind and scope)."""
        doc = self._doc(name)
        before = self.public(doc)
        if display_name is not None:
            doc["display_name"] = display_name
        if kind is not None:
            if doc.get("deactivated"):
                raise ConflictError(f"{name} is deactivated; reactivate the account first")
            doc["roles"] = [self._role_for(kind, scope)]
        after = self.public(doc)
        if after != before:
            self._save(doc)
            self.audit.record(who=who, action="user.update", target=f"user:{name}", before=before, after=after)
        return after

    # -- rosters --------------------------------------------------------------------------

    def roster(self, school_id: str) -> dict:
        doc = self.registry.get_or_none(f"roster:{school_id}") or {}
        return {"school_id": school_id, "teachers": list(doc.get("teachers") or [])}

    def change_roster(self, *, who: str, school_id: str, add: builtins.list[dict], remove: builtins.list[str]) -> dict:
        """Add teachers (their accounts must exist; they get the school's role) and remove
        others (the role is taken away). Raises ``InvalidInput`` for an unknown account."""
        return self._roster_change(who=who, school_id=school_id, add=add, remove=remove)

    def _roster_change(self, *, who: str, school_id: str, add: builtins.list[dict], remove: builtins.list[str]) -> dict:
        role = f"school:{school_id}"
        accounts = {}
        for entry in add:
            doc = self.users.get_or_none(USER_PREFIX + entry["username"]) if NAME_RE.match(
                entry.get("username") or "") else None
            if doc is None or DEVICE_ROLE in (doc.get("roles") or []):
                raise InvalidInput(f"no user {entry.get('username')!r}: create the account first")
            if doc.get("deactivated"):
                raise InvalidInput(f"{entry['username']} is deactivated")
            accounts[entry["username"]] = doc
        for _attempt in range(3):
            current = self.registry.get_or_none(f"roster:{school_id}") or {
                "_id": f"roster:{school_id}", "type": "roster", "school_id": school_id, "teachers": []}
            before = list(current.get("teachers") or [])
            teachers = [t for t in before if t.get("username") not in set(remove)]
            names = {t.get("username") for t in teachers}
            for entry in add:
                if entry["username"] not in names:
                    teachers.append({"username": entry["username"],
                                     "display_name": entry.get("display_name")
                                     or accounts[entry["username"]].get("display_name") or entry["username"]})
                    names.add(entry["username"])
            if teachers == before:
                break
            current["teachers"] = teachers
            try:
                self.registry.put(current)
            except Conflict:
                continue
            self.audit.record(who=who, action="roster.change", target=f"roster:{school_id}",
                              before={"teachers": before}, after={"teachers": teachers})
            break
        else:
            raise ConflictError("the roster kept changing; try again")
        for doc in accounts.values():
            if role not in (doc.get("roles") or []):
                doc["roles"] = [*doc.get("roles", []), role]
                self._save(doc)
        for name in remove:
            doc = self.users.get_or_none(USER_PREFIX + name) if NAME_RE.match(name or "") else None
            if doc is not None and role in (doc.get("roles") or []) and DEVICE_ROLE not in doc["roles"]:
                doc["roles"] = [r for r in doc["roles"] if r != role]
                self._save(doc)
        return self.roster(school_id)
