"""Every choice field has bilingual labels for each of its codes, in the field metadata and
in the JSON Schema export; labels are for people and change nothing about what is valid."""

from __future__ import annotations

import jsonschema
import pytest
from marshmallow import validate

from mobile_schema import FORMS, get_form, json_schema, validate_document
from mobile_schema.examples import NOW, incident, inspection
from mobile_schema.fields import ListOf, Object


def choice_fields(schema, path=""):
    """(path, field carrying the labels, codes) of every choice field, nested ones included."""
    for name, field in schema.fields.items():
        here = f"{path}{name}"
        holder, inner = field, field
        if isinstance(field, ListOf):
            inner = field.inner
        if isinstance(inner, Object):
            yield from choice_fields(inner.schema, here + ".")
            continue
        for v in inner.validators:
            if isinstance(v, validate.OneOf):
                yield here, holder, list(v.choices)


ALL = [
    (form.name, version, path, holder, codes)
    for form in FORMS.values()
    for version in form.versions
    for path, holder, codes in choice_fields(form.schema(version))
]


def test_the_expected_choice_fields_are_covered():
    paths = {(form, path) for form, _v, path, _h, _c in ALL}
    assert {
        ("incident", "symptoms"),
        ("incident", "actions.code"),
        ("incident", "status"),
        ("incident", "status_history.status"),
        ("inspection", "items.status"),
        ("inspection", "findings.status"),
        ("inspection", "follow_up_status"),
    } <= paths


@pytest.mark.parametrize("form, version, path, holder, codes", ALL, ids=[f"{a[0]}-v{a[1]}-{a[2]}" for a in ALL])
def test_every_code_has_both_labels(form, version, path, holder, codes):
    labels = holder.metadata.get("choices")
    assert labels is not None, f"{form} v{version} {path} has no choice labels"
    assert list(labels) == codes  # every code, in the field's own order, nothing else
    for code, label in labels.items():
        assert set(label) == {"en", "zh"} and label["en"].strip() and label["zh"].strip(), code
        assert label["zh"] != code


def test_export_carries_the_labels():
    schema = json_schema("incident")
    assert schema["x-fields"]["symptoms"]["choices"]["fever"] == {"en": "Fever", "zh": "发热"}
    assert schema["x-fields"]["status"]["choices"]["under_treatment"]["zh"] == "治疗中"
    action = schema["definitions"]["ActionSchema"]["properties"]["code"]
    assert list(action["choices"]) == action["enum"]
    schema = json_schema("inspection")
    assert list(schema["x-fields"]["follow_up_status"]["choices"]) == schema["properties"]["follow_up_status"]["enum"]
    item = schema["definitions"]["ItemSchema"]["properties"]["status"]
    assert item["choices"]["not_applicable"] == {"en": "Not applicable", "zh": "不适用"}
    assert list(schema["definitions"]["FindingSchema"]["properties"]["status"]["choices"]) == [
        "open",
        "rectifying",
        "rectified",
        "verified",
    ]
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_enum_in_the_export_has_labels():
    for name in FORMS:
        schema = json_schema(name)
        props = [(k, p, schema["x-fields"][k]) for k, p in schema["properties"].items()]
        props += [(k, p, p) for d in schema["definitions"].values() for k, p in d["properties"].items()]
        for key, prop, meta in props:
            enum = prop.get("enum") or (prop.get("items") or {}).get("enum")
            if enum:
                assert list(meta["choices"]) == enum, f"{name}.{key}"


def test_labels_are_not_valid_values():
    # What is stored is still the code: a label, in either language, is refused as before.
    assert validate_document(incident(symptoms=["发热"]), now=NOW)
    assert validate_document(incident(symptoms=["Fever"]), now=NOW)
    assert not validate_document(incident(), now=NOW)
    bad = inspection(items=[{"item_id": "entry_temperature", "status": "符合要求", "note": ""}])
    assert validate_document(bad, now=NOW)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad["data"], json_schema("inspection"), cls=jsonschema.Draft7Validator)
    assert get_form("inspection").merge_rule("follow_up_status") == "max"
