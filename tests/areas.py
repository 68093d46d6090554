"""A one-county, one-school area in the registry, with accounts, for tests of the pages."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sync.couch import CouchClient
from sync.provision import provision_core


@contextlib.contextmanager
def one_school_county(couch: CouchClient, tag: str, *, password: str, roles: dict[str, str],
                      device_label: str | None = None) -> Iterator[dict]:
    """A prefecture, a county (芦山县), its one open school and a device there, under ids
    unique to this call (``<tag>c<run>`` ...). ``roles`` maps an account's part in the test
    (``teacher``) to its role: ``school``, ``county`` or a literal role such as ``admin``.
    Yields ``{c, p, s, device, run, <part>: account name}``; the accounts are removed after."""
    run = uuid.uuid4().hex[:8]
    c, p, s = f"{tag}c{run}", f"{tag}p{run}", f"{tag}c{run}s1"
    device = f"{tag}dev{run}"
    provision_core(couch)
    device_doc = {"_id": f"device:{device}", "type": "device", "school_id": s, "status": "active"}
    if device_label:
        device_doc["label"] = device_label
    couch.db("registry").bulk_docs([
        {"_id": f"prefecture:{p}", "type": "prefecture", "name": "雅安市"},
        {"_id": f"county:{c}", "type": "county", "prefecture_id": p, "name": "芦山县"},
        {"_id": f"school:{s}", "type": "school", "county_id": c, "prefecture_id": p, "name": "芦山县第一小学",
         "opened": "2020-01-01", "closed": None},
        device_doc])
    scoped = {"school": f"school:{s}", "county": f"county:{c}"}
    names = {part: f"{tag}{part[0]}{run}" for part in roles}
    for part, role in roles.items():
        couch.put_user(names[part], password=password, roles=[scoped.get(role, role)])
    try:
        yield {"c": c, "p": p, "s": s, "device": device, "run": run, **names}
    finally:
        for name in names.values():
            couch.delete_user(name)
