"""Sign-in accounts for trying the demo: a teacher, a county officer, a prefecture officer,
a province officer and an admin (ASCII login names, Chinese display names). Passwords are
generated on first load, kept in ``<VAR_DIR>/demo-accounts.json`` (outside git) and printed:
they are for the demo only.
"""

from __future__ import annotations

import json
import random
import secrets
from pathlib import Path

from demo.generate import DemoManifest
from demo.naming import person_name
from sync.couch import CouchClient
from sync.provision import REGISTRY_DB

ACCOUNTS_FILE = "demo-accounts.json"


def registry_has_schools(couch: CouchClient) -> bool:
    registry = couch.db(REGISTRY_DB)
    if not registry.exists():
        return False
    rows = registry.view("registry", "by_type", key="school", reduce=True)["rows"]
    return bool(rows and rows[0]["value"])


def _demo_school(manifest: DemoManifest, county_id: str) -> dict:
    """The county's first school that syncs daily (the demo teacher's: its app has data)."""
    schools = [s for s in manifest.schools() if s["county_id"] == county_id]
    daily = [s for s in schools if getattr(manifest.profiles.get(s["_id"].split(":", 1)[1]), "sync", "") == "daily"]
    return (daily or schools)[0]


def write_demo_accounts(couch: CouchClient, manifest: DemoManifest, var_dir: Path) -> dict:
    """Create the officers' and the admin's accounts (login names in ASCII, display names in
    Chinese), write ``<var_dir>/demo-accounts.json`` (mode 0600) and return its content."""
    county = manifest.counties()[0]
    county_id = county["_id"].split(":", 1)[1]
    prefecture = next(d for d in manifest.registry if d["_id"] == f"prefecture:{county['prefecture_id']}")
    school = _demo_school(manifest, county_id)
    school_id = school["_id"].split(":", 1)[1]
    teacher = next(t for t in manifest.roster(school_id))
    people = random.Random(f"{manifest.shape.seed}/officers")
    officers = {
        "county_officer": (f"officer_{county_id}", [f"county:{county_id}"], f"{county['name']}教育局"),
        "prefecture_officer": (f"officer_{county['prefecture_id']}", [f"prefecture:{county['prefecture_id']}"],
                               f"{prefecture['name']}教育局"),
        "province_officer": ("officer_province", ["province"], "四川省教育厅"),
        "admin": ("admin_demo", ["admin"], "系统管理员"),
    }
    name = teacher["username"]
    accounts = {"teacher": {"name": name, "password": manifest.accounts[name]["password"],
                            "roles": manifest.accounts[name]["roles"],
                            "display_name": f"{teacher['display_name']}({school['name']})"}}
    for role, (name, roles, office) in officers.items():
        password = secrets.token_urlsafe(9)
        display_name = f"{person_name(people)}({office})"
        couch.put_user(name, password=password, roles=roles, display_name=display_name)
        accounts[role] = {"name": name, "password": password, "roles": roles, "display_name": display_name}
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / ACCOUNTS_FILE
    path.write_text(json.dumps(accounts, indent=2))
    path.chmod(0o600)
    return accounts


def read_demo_accounts(var_dir: Path) -> dict | None:
    path = var_dir / ACCOUNTS_FILE
    return json.loads(path.read_text()) if path.exists() else None
