from __future__ import annotations

import pytest

from mobile_schema import UnknownForm, UnknownSchemaVersion, migrate, validate_document
from mobile_schema.examples import CLOCK, NOW, daily_health, daily_health_v1, incident


def test_v1_to_v2():
    old = daily_health_v1()
    assert validate_document(old, now=NOW) == []
    new = migrate(old)
    assert new["schema_version"] == 2
    assert new["data"]["absent_other"] == 6
    assert new["data"]["absent_illness"] == new["data"]["absent_fever"] == 0
    assert "absent" not in new["data"]
    clocks = new["meta"]["clocks"]
    assert "absent" not in clocks
    assert clocks["absent_illness"] == clocks["absent_fever"] == clocks["absent_other"] == {"at": CLOCK, "base": None}
    assert validate_document(new, now=NOW) == []
    assert old["schema_version"] == 1 and "absent" in old["data"], "input must not change"


def test_latest_is_a_copy():
    doc = daily_health()
    out = migrate(doc)
    assert out == doc and out is not doc
    assert migrate(incident()) == incident()


@pytest.mark.parametrize("version", [3, 0, "2", None, True])
def test_unknown_version(version):
    with pytest.raises(UnknownSchemaVersion):
        migrate({**daily_health(), "schema_version": version})


def test_unknown_version_is_an_issue_too():
    issues = validate_document({**daily_health(), "schema_version": 3}, now=NOW)
    assert [(i.field, i.code) for i in issues] == [("schema_version", "unknown_version")]


def test_unknown_form():
    with pytest.raises(UnknownForm):
        migrate({**daily_health(), "form": "weekly"})
