"""How ``_users`` accounts are written: people's passwords stretched by CouchDB, device
tokens pre-hashed by us with few iterations.

CouchDB 3.4 hashes every plain ``password`` it is given with PBKDF2-SHA256 at 600,000
iterations (about 0.13-0.24 s of server CPU here), at creation and again at the account's
first authentication after the credentials cache forgot it. That stretching exists to slow
down guessing a password a person chose; a device's password is a 256-bit random token
(``secrets.token_urlsafe(32)``) that no amount of guessing finds, so stretching it only
costs CPU: at 20,000 schools with two devices each, hours of it, and a morning burst of
first sign-ins queued behind it. Device accounts are therefore written with the hash
already computed (``password_scheme: pbkdf2`` with ``DEVICE_TOKEN_ITERATIONS``), which
CouchDB verifies as it is: ``[chttpd_auth] upgrade_hash_on_auth`` is false by default in
3.4, and deploy/couchdb/local.ini says so explicitly. People's accounts keep CouchDB's own
scheme. The decision and its figures: docs/couchdb.md and bench/RESULTS-province.md.

Two formats, picked by what the server verifies: CouchDB 3.4+ reads ``pbkdf2_prf``
(SHA-256, 32-byte key); older CouchDB and pouchdb-server verify PBKDF2-SHA1 with a 20-byte
key and no ``pbkdf2_prf`` field.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.couch import CouchClient

USERS_DB = "_users"
# Batch sizes for bulk account writes: a batch of people costs CouchDB one full PBKDF2 per
# account (~0.2 s), so it stays small enough to answer well within a request timeout.
TOKEN_BATCH = 500
PERSON_BATCH = 20

# A 256-bit random token gains nothing from stretching; 10 matches what CHT configures and
# keeps a first authentication at about a millisecond.
DEVICE_TOKEN_ITERATIONS = 10

STALE_CREDENTIAL_FIELDS = ("password", "derived_key", "salt", "password_scheme", "pbkdf2_prf", "iterations",
                           "password_sha")


def new_device_token() -> str:
    """A device's password: 32 random bytes, URL-safe (never shown to a person)."""
    return secrets.token_urlsafe(32)


def prehashed_credentials(token: str, *, iterations: int = DEVICE_TOKEN_ITERATIONS, sha256: bool = True) -> dict:
    """The ``_users`` fields that make ``token`` the account's password, hashed here.

    ``sha256``: the server understands ``pbkdf2_prf`` (CouchDB 3.4+); otherwise the legacy
    PBKDF2-SHA1 form every CouchDB-compatible server verifies.
    """
    salt = secrets.token_hex(16)
    if sha256:
        key = hashlib.pbkdf2_hmac("sha256", token.encode(), salt.encode(), iterations).hex()
        return {"password_scheme": "pbkdf2", "pbkdf2_prf": "sha256", "iterations": iterations, "salt": salt,
                "derived_key": key}
    key = hashlib.pbkdf2_hmac("sha1", token.encode(), salt.encode(), iterations, dklen=20).hex()
    return {"password_scheme": "pbkdf2", "iterations": iterations, "salt": salt, "derived_key": key}


def user_doc(name: str, *, roles: list[str], password: str | None = None,
             credentials: dict | None = None, current: dict | None = None, **extra: Any) -> dict:
    """A ``_users`` document for ``name``: ``current`` (when it exists) updated with ``roles``,
    ``extra`` and either a plain ``password`` (CouchDB hashes it) or pre-hashed
    ``credentials``; with neither, the stored password is kept."""
    if password is not None and credentials is not None:
        raise ValueError("give a plain password or pre-hashed credentials, not both")
    doc = dict(current) if current else {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user"}
    doc.update(extra)
    doc["roles"] = list(roles)
    if password is not None or credentials is not None:
        for stale in STALE_CREDENTIAL_FIELDS:
            doc.pop(stale, None)
        if password is not None:
            doc["password"] = password
        else:
            doc.update(credentials or {})
    return doc


@dataclass(frozen=True, kw_only=True)
class AccountSpec:
    """One account to write: ``token`` means ``password`` is a device's random token."""

    name: str
    roles: list[str]
    password: str
    token: bool


def write_accounts(couch: CouchClient, specs: list[AccountSpec], *, threads: int = 2,
                   progress: Callable[[str, int, int], None] | None = None) -> int:
    """Create or overwrite ``specs`` in ``_users`` in batches (existing accounts keep their
    ``_id`` and get the given roles and password). Device tokens go pre-hashed, 500 a batch;
    people's passwords are hashed by CouchDB, 20 a batch, ``threads`` batches at once (one
    per server core is the useful most). Returns how many were written; raises
    ``RuntimeError`` naming the first account CouchDB refused, ``CouchError`` for server
    trouble. ``progress(stage, done, total)`` is called after each batch."""
    users = couch.db(USERS_DB)
    sha256 = couch.has("pbkdf2_prf")
    say = progress or (lambda _stage, _done, _total: None)
    batches = [specs_batch for kind, size in ((True, TOKEN_BATCH), (False, PERSON_BATCH))
               for chosen in [[s for s in specs if s.token is kind]]
               for specs_batch in (chosen[i:i + size] for i in range(0, len(chosen), size))]

    def write(batch: list[AccountSpec]) -> int:
        ids = [f"org.couchdb.user:{spec.name}" for spec in batch]
        revs = {row["key"]: row["value"]["rev"] for row in users.all_docs(keys=ids)["rows"]
                if "value" in row and not row["value"].get("deleted")}
        docs = []
        for doc_id, spec in zip(ids, batch, strict=True):
            current = {"_id": doc_id, "_rev": revs[doc_id], "name": spec.name, "type": "user"} if doc_id in revs \
                else None
            if spec.token:
                docs.append(user_doc(spec.name, roles=spec.roles, current=current,
                                     credentials=prehashed_credentials(spec.password, sha256=sha256)))
            else:
                docs.append(user_doc(spec.name, roles=spec.roles, current=current, password=spec.password))
        refused = [r for r in users.bulk_docs(docs) if not r.ok]
        if refused:
            raise RuntimeError(f"account {refused[0].id} refused: {refused[0].error} {refused[0].reason}")
        return len(docs)

    done = 0
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for written in pool.map(write, batches):
            done += written
            say("accounts", done, len(specs))
    return done


__all__ = ["DEVICE_TOKEN_ITERATIONS", "AccountSpec", "new_device_token", "prehashed_credentials", "user_doc",
           "write_accounts"]
