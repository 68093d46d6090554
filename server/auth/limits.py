"""Failed sign-ins, counted in CouchDB so that every gunicorn worker (and every node of a
cluster) sees the same count.

Each failure is written as one small document per key in the admin-only ``ops`` database
and never updated: workers and nodes record failures at the same moment without
conflicts, and the failures of one key within the window are one ``_all_docs`` range::

    signin_failure:<kind>:<sha256 of the key>:<epoch ms, 13 digits>:<random>

Keys (``WINDOW_S`` = 5 minutes):

    pair      (account, address)   ``per_pair`` failures: that address may no longer try
                                   that account; the account stays open to other addresses
    address   address alone        ``per_address`` failures on any accounts: a very noisy
                                   address (password spraying) is refused altogether
    account   account alone        ``account_alert`` failures from all addresses: the account
                                   is under attack, and addresses that already failed on it
                                   get only ``per_pair_under_attack`` tries. Never a hard lock:
                                   an address that has not failed still signs in.

Old failures are deleted when their key fails again (deleted documents are tiny tombstones).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from sync.couch import Database
from sync.errors import NotFound

log = logging.getLogger(__name__)

PREFIX = "signin_failure:"
DOC_TYPE = "signin_failure"


@dataclass(frozen=True, kw_only=True)
class SignInLimits:
    window_s: float = 300.0
    per_pair: int = 10
    per_address: int = 50
    account_alert: int = 50
    per_pair_under_attack: int = 3


class SignInLimiter:
    """Counts failed sign-ins per (account, address), address and account in ``ops``.

    ``refusal`` says whether to refuse an attempt before asking CouchDB; ``record_failure``
    counts a wrong password. Both raise ``CouchUnavailable`` when CouchDB does not answer;
    a missing ``ops`` database (not provisioned) counts as no failures, with a warning.
    """

    def __init__(self, ops: Database, limits: SignInLimits | None = None):
        self.ops = ops
        self.limits = limits or SignInLimits()

    @staticmethod
    def _prefix(kind: str, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{PREFIX}{kind}:{digest}:"

    def _keys(self, account: str, address: str) -> dict[str, str]:
        return {"pair": self._prefix("pair", f"{account}\0{address}"),
                "address": self._prefix("address", address),
                "account": self._prefix("account", account)}

    def _recent(self, prefix: str, cap: int) -> int:
        """Failures of one key within the window (counting stops at ``cap``)."""
        cutoff_ms = int((time.time() - self.limits.window_s) * 1000)
        try:
            rows = self.ops.all_docs(startkey=f"{prefix}{cutoff_ms:013d}", endkey=f"{prefix}\ufff0",
                                     limit=cap)["rows"]
        except NotFound:
            log.warning("no %s database: failed sign-ins are not counted", self.ops.name)
            return 0
        return len(rows)

    def refusal(self, account: str, address: str) -> str | None:
        """Why this attempt is refused (a message for a 429), or None when it may go ahead."""
        keys, limits = self._keys(account, address), self.limits
        if self._recent(keys["address"], limits.per_address) >= limits.per_address:
            return "too many failed sign-ins from this address; wait a few minutes"
        pair = self._recent(keys["pair"], limits.per_pair)
        if pair >= limits.per_pair:
            return "too many failed sign-ins for this account from this address; wait a few minutes"
        if pair >= limits.per_pair_under_attack and \
                self._recent(keys["account"], limits.account_alert) >= limits.account_alert:
            return "this account is receiving many wrong passwords; wait a few minutes"
        return None

    def record_failure(self, account: str, address: str) -> None:
        """Count one wrong password for the account from the address, and drop expired counts."""
        now_ms = int(time.time() * 1000)
        stamp = f"{now_ms:013d}:{secrets.token_hex(4)}"
        keys = self._keys(account, address)
        docs = [{"_id": prefix + stamp, "type": DOC_TYPE, "kind": kind} for kind, prefix in keys.items()]
        try:
            self.ops.bulk_docs(docs)
            self._expire(list(keys.values()), now_ms)
        except NotFound:
            log.warning("no %s database: failed sign-ins are not counted", self.ops.name)

    def _expire(self, prefixes: list[str], now_ms: int) -> None:
        cutoff_ms = now_ms - int(self.limits.window_s * 1000)
        stale = []
        for prefix in prefixes:
            rows = self.ops.all_docs(startkey=prefix, endkey=f"{prefix}{cutoff_ms:013d}", limit=100)["rows"]
            stale += [{"_id": row["id"], "_rev": row["value"]["rev"], "_deleted": True} for row in rows]
        if stale:
            self.ops.bulk_docs(stale)  # a conflict means another worker deleted it first: fine


__all__ = ["SignInLimiter", "SignInLimits"]
