"""The relay wire format, version 1 (docs/relay.md): base45, round trips, malformed codes."""

from __future__ import annotations

import copy
import json
import zlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from mobile_schema import examples
from mobile_schema.errors import MalformedPayload
from mobile_schema.relay import (
    MAX_BODY_BYTES,
    base45_decode,
    base45_encode,
    body_bytes,
    decode_payload,
    deflate_raw,
    encode_payload,
    pack_document,
)
from server.devices.keys import sign_as_device

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_DEVICE = "device_0a1b2c3d4e5f"


def sign(body: bytes) -> bytes:
    return sign_as_device(KEY, body)


def stored(doc: dict, *history: str) -> dict:
    """``doc`` as a device stores it: with ``_rev`` and ``_revisions`` (``history`` newest first)."""
    ids = list(history or ("a1b2c3",))
    return dict(doc, _rev=f"{len(ids)}-{ids[0]}", _revisions={"start": len(ids), "ids": ids})


# -- base45 (RFC 9285) -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "text"), [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
    (b"\xff\xff", "FGW"),
])
def test_base45_rfc_vectors(raw, text):
    assert base45_encode(raw) == text
    assert base45_decode(text) == raw


@pytest.mark.parametrize("text", ["GGW", "A", "ABCD", "BB8a", ":::", "Z9"])
def test_base45_refuses_what_is_not_base45(text):
    with pytest.raises(MalformedPayload):
        base45_decode(text)


@given(st.binary(max_size=300))
def test_base45_round_trips_any_bytes(raw):
    assert base45_decode(base45_encode(raw)) == raw


# -- round trips -------------------------------------------------------------------------------

def _with_missing_field():
    doc = examples.daily_health()
    del doc["data"]["notes"]
    return doc


def _clocks_from_elsewhere():
    doc = examples.daily_health()
    theirs = f"{1_795_000_100_000:015d}:{3:05d}:{OTHER_DEVICE}"
    doc["meta"]["clocks"] = {"students_present": {"at": examples.CLOCK, "base": theirs},
                             "notes": {"at": theirs, "base": None}, "retired_field": {"at": theirs, "base": None}}
    return doc


def _explicit_nulls():
    doc = examples.daily_health()
    doc["county_id"] = None
    doc["meta"]["submitted_at"] = None
    doc["meta"]["clock_offset_ms"] = None
    return doc


def _extra_meta_and_top_level():
    doc = examples.incident()
    doc["meta"]["note"] = "an app of the future"
    doc["something_new"] = {"kept": [1, 2]}
    return doc


def _no_clocks():
    doc = examples.explanation()
    del doc["meta"]["clocks"]
    return doc


DOCUMENTS = {
    "daily_health": examples.daily_health,
    "daily_health_v1": examples.daily_health_v1,
    "incident": examples.incident,
    "explanation": examples.explanation,
    "inspection": examples.inspection,
    "data_lacks_a_field": _with_missing_field,
    "clocks_from_another_device": _clocks_from_elsewhere,
    "explicit_nulls": _explicit_nulls,
    "extra_keys": _extra_meta_and_top_level,
    "no_clocks": _no_clocks,
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_decoding_rebuilds_the_stored_document(name):
    doc = stored(DOCUMENTS[name](), "c3", "b2", "a1")
    original = copy.deepcopy(doc)
    text = encode_payload(doc, sign, index=2, count=3)
    assert doc == original  # encoding does not touch the document
    assert text.startswith("SR1:2/3:")
    decoded = decode_payload(text)
    assert decoded.doc == original
    assert (decoded.index, decoded.count) == (2, 3)
    assert decoded.body_bytes == body_bytes(original)
    assert len(decoded.signature) == 64
    KEY.public_key().verify(  # the signature is over the exact body bytes decoded
        _der(decoded.signature), decoded.body_bytes, ec.ECDSA(hashes.SHA256()))


def _der(signature: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def test_the_body_is_compact_where_it_can_be_and_keyed_where_it_must_be():
    body = pack_document(stored(examples.daily_health()))
    assert body[9][:2] == [120, 114]  # values in field order
    assert isinstance(body[10], list) and body[10][1] == examples.DEVICE
    assert body[11] == [[1, [1_795_000_000_000, 0], None]]  # field index, own clock as [wall, counter]
    assert body[12] == {}
    assert b" " not in body_bytes(stored(examples.daily_health()))  # JSON.stringify: no spaces
    lacking = pack_document(stored(_with_missing_field()))
    assert isinstance(lacking[9], dict) and "notes" not in lacking[9]
    nulls = pack_document(stored(_explicit_nulls()))
    assert nulls[7] is None and nulls[12] == {"county_id": None}
    elsewhere = pack_document(stored(_clocks_from_elsewhere()))
    assert elsewhere[11][0][2] == f"{1_795_000_100_000:015d}:{3:05d}:{OTHER_DEVICE}"
    assert elsewhere[11][2][0] == "retired_field"


def test_a_document_with_only_rev_gets_its_revision_as_history():
    doc = dict(examples.daily_health(), _rev="4-dd")
    decoded = decode_payload(encode_payload(doc, sign)).doc
    assert decoded["_rev"] == "4-dd" and decoded["_revisions"] == {"start": 4, "ids": ["dd"]}


def test_a_daily_report_fits_one_code():
    text = encode_payload(stored(examples.daily_health(), *[f"{n:032x}" for n in range(8, 0, -1)]), sign)
    assert len(text) < 1200, len(text)  # QR version 20-ish at level M holds ~1,600 alphanumeric characters


@settings(max_examples=60, deadline=None)
@given(notes=st.text(max_size=200), present=st.integers(min_value=0, max_value=10**6),
       author=st.text(min_size=1, max_size=50), fever=st.booleans())
def test_any_values_round_trip(notes, present, author, fever):
    doc = stored(examples.daily_health(notes=notes, students_present=present, disinfection_done=fever))
    doc["meta"]["author"] = author
    try:
        text = encode_payload(doc, sign)
    except UnicodeEncodeError:
        return  # lone surrogates: not text a device can store
    assert decode_payload(text).doc == doc


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("_rev"), "no _rev"),
    (lambda d: d.update(form="device_status"), "not relayed"),
    (lambda d: d.update(meta="nope"), "meta is not an object"),
    (lambda d: d["meta"].update(clocks=[]), "clocks is not an object"),
    (lambda d: d.update(_revisions={"start": 2, "ids": ["zz"]}), "does not end at _rev"),
])
def test_documents_that_cannot_be_sent(change, message):
    doc = stored(examples.daily_health())
    change(doc)
    with pytest.raises(ValueError, match=message):
        encode_payload(doc, sign)


def test_a_signature_must_be_64_bytes():
    with pytest.raises(ValueError, match="64 bytes"):
        encode_payload(stored(examples.daily_health()), lambda body: b"\0" * 70)


# -- malformed codes ---------------------------------------------------------------------------

def _code(body: bytes, *, packed: bytes | None = None, signature: bytes = b"\1" * 64) -> str:
    return "SR1:1/1:" + base45_encode(signature + (deflate_raw(body) if packed is None else packed))


def _body(change) -> bytes:
    body = pack_document(stored(examples.daily_health()))
    change(body)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


GOOD = encode_payload(stored(examples.daily_health()), sign)
MALFORMED = {
    "no prefix": GOOD.removeprefix("SR1:"),
    "version 2": GOOD.replace("SR1:", "SR2:", 1),
    "lowercase": GOOD.lower(),
    "index past count": GOOD.replace("SR1:1/1:", "SR1:2/1:", 1),
    "index zero": GOOD.replace("SR1:1/1:", "SR1:0/1:", 1),
    "not text": 12,
    "longer than a QR code": "SR1:1/1:" + "0" * 4300,
    "one character cut": GOOD[:-1],
    "signature only": "SR1:1/1:" + base45_encode(b"\1" * 64),
    "not deflate": _code(b"", packed=b"\xff\xfe\xfd\xfc"),
    "ends early": _code(b"", packed=deflate_raw(body_bytes(stored(examples.daily_health())))[:-3]),
    "bytes after the stream": _code(b"", packed=deflate_raw(b"[1]") + b"xx"),
    "too large": _code(b"[" + b" " * MAX_BODY_BYTES + b"]"),
    "not UTF-8": _code(b"\xff\xfe"),
    "not JSON": _code(b"[1,"),
    "NaN": _code(b"[NaN]"),
    "deeply nested": _code(b"[" * 5000 + b"]" * 5000),
    "lone surrogate": _code(_body(lambda b: b[9].__setitem__(17, "SURROGATE")).replace(b"SURROGATE", b"\\ud800")),
    "not an array": _code(b'{"a":1}'),
    "12 elements": _code(_body(lambda b: b.pop())),
    "body version 2": _code(_body(lambda b: b.__setitem__(0, 2))),
    "body version true": _code(_body(lambda b: b.__setitem__(0, True))),
    "unknown form": _code(_body(lambda b: b.__setitem__(1, "device_status"))),
    "version not integer": _code(_body(lambda b: b.__setitem__(2, "2"))),
    "unknown version with values in order": _code(_body(lambda b: b.__setitem__(2, 9))),
    "no id": _code(_body(lambda b: b.__setitem__(3, ""))),
    "revisions longer than start": _code(_body(lambda b: b.__setitem__(4, [1, ["a", "b"]]))),
    "revisions empty": _code(_body(lambda b: b.__setitem__(4, [1, []]))),
    "type not text": _code(_body(lambda b: b.__setitem__(5, None))),
    "too few values": _code(_body(lambda b: b[9].pop())),
    "meta of 7": _code(_body(lambda b: b[10].pop())),
    "meta object with clocks": _code(_body(lambda b: b.__setitem__(10, {"device": "x", "clocks": {}}))),
    "no origin device": _code(_body(lambda b: b[10].__setitem__(1, None))),
    "clock field out of range": _code(_body(lambda b: b.__setitem__(11, [[99, None, None]]))),
    "clock not a triple": _code(_body(lambda b: b.__setitem__(11, [[1, None]]))),
    "clock of three numbers": _code(_body(lambda b: b.__setitem__(11, [[1, [1, 2, 3], None]]))),
    "two clocks for a field": _code(_body(lambda b: b.__setitem__(11, [[1, None, None], ["students_present",
                                                                                         None, None]]))),
    "clocks not an array": _code(_body(lambda b: b.__setitem__(11, {}))),
    "extra repeats data": _code(_body(lambda b: b.__setitem__(12, {"data": {}}))),
    "extra repeats a present school": _code(_body(lambda b: b.__setitem__(12, {"school_id": "s2"}))),
    "extra not an object": _code(_body(lambda b: b.__setitem__(12, []))),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_codes_are_refused_with_a_reason(name):
    with pytest.raises(MalformedPayload) as refused:
        decode_payload(MALFORMED[name])
    assert refused.value.reason


def test_the_good_code_of_the_malformed_table_decodes():
    assert decode_payload(GOOD).doc["_id"] == "report:daily_health:2026-11-28"


def test_inflating_stops_at_the_cap_without_inflating_everything():
    bomb = zlib.compressobj(level=9, wbits=-15)
    packed = bomb.compress(b"0" * (20 * MAX_BODY_BYTES)) + bomb.flush()
    code = _code(b"", packed=packed)
    assert len(code) < 4296  # a code that fits a QR code ...
    with pytest.raises(MalformedPayload, match="more than"):
        decode_payload(code)  # ... that would be a large body
