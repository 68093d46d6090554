"""Health and form definitions."""

from __future__ import annotations

import jsonschema

from mobile_schema import FORMS, examples


def test_health_reports_couchdb_state(client, couch):
    from sync.provision import provision_core

    provision_core(couch)
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["couchdb"]["ok"] is True
    assert set(body["worker"]) >= {"shards", "lag_total", "running"}


def test_forms_list_has_versions_and_an_etag(client):
    answer = client.get("/api/v1/forms")
    assert answer.status_code == 200
    names = {form["name"] for form in answer.get_json()["forms"]}
    assert names == set(FORMS)
    etag = answer.headers["ETag"]
    assert client.get("/api/v1/forms", headers={"If-None-Match": etag}).status_code == 304


def test_exported_schema_validates_an_example(client):
    schema = client.get("/api/v1/forms/daily_health").get_json()
    jsonschema.validate(examples.daily_health()["data"], schema)
    assert client.get("/api/v1/forms/nope").status_code == 404
    assert client.get("/api/v1/forms/nope").get_json()["code"] == 404
