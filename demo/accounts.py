"""Sign-in accounts for trying the demo: a teacher, a county officer, a prefecture officer,
a province officer and an admin. Passwords are generated on first load, kept in
``<VAR_DIR>/demo-accounts.json`` (outside git) and printed: they are for the demo only.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from demo.generate import DemoManifest
from sync.couch import CouchClient
from sync.provision import REGISTRY_DB

ACCOUNTS_FILE = "demo-accounts.json"


def registry_has_schools(couch: CouchClient) -> bool:
    registry = couch.db(REGISTRY_DB)
    if not registry.exists():
        return False
    rows = registry.view("registry", "by_type", key="school", reduce=True)["rows"]
    return bool(rows and rows[0]["value"])


def write_demo_accounts(couch: CouchClient, manifest: DemoManifest, var_dir: Path) -> dict:
    county = manifest.counties()[0]
    county_id = county["_id"].split(":", 1)[1]
    school = next(s for s in manifest.schools() if s["county_id"] == county_id)
    school_id = school["_id"].split(":", 1)[1]
    teacher = next(name for name, acc in manifest.accounts.items()
                   if acc["kind"] == "teacher" and acc["school_id"] == school_id)
    officers = {
        "county_officer": (f"officer_{county_id}", [f"county:{county_id}"]),
        "prefecture_officer": (f"officer_{county['prefecture_id']}", [f"prefecture:{county['prefecture_id']}"]),
        "province_officer": ("officer_province", ["province"]),
        "admin": ("admin_demo", ["admin"]),
    }
    accounts = {"teacher": {"name": teacher, "password": manifest.accounts[teacher]["password"],
                            "roles": manifest.accounts[teacher]["roles"]}}
    for role, (name, roles) in officers.items():
        password = secrets.token_urlsafe(9)
        couch.put_user(name, password=password, roles=roles)
        accounts[role] = {"name": name, "password": password, "roles": roles}
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / ACCOUNTS_FILE
    path.write_text(json.dumps(accounts, indent=2))
    path.chmod(0o600)
    return accounts


def read_demo_accounts(var_dir: Path) -> dict | None:
    path = var_dir / ACCOUNTS_FILE
    return json.loads(path.read_text()) if path.exists() else None
