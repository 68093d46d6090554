"""The relay wire format, version 1 (docs/relay.md): one stored document and its device's
signature as the text of one QR code.

    SR1:<i>/<n>:<base45(signature || deflate-raw(body))>

``body`` is the document packed as a 13-element JSON array (field values in the form
version's field order instead of keys). ``webapp/js/relay_codec.js`` is the same format in
the browser. The signature is over the body's exact bytes, so decoding returns them with
the document and nothing here re-serialises before a signature is checked. Signing and
verifying are the caller's (``sign`` below; ``server.relay`` verifies): this package stays
free of cryptography.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .clocks import hlc_format, hlc_parse
from .errors import MalformedPayload, UnknownSchemaVersion
from .forms import get_form

PREFIX = "SR1"
BODY_VERSION = 1
SIGNATURE_BYTES = 64
MAX_BODY_BYTES = 64 * 1024  # inflating stops here: a small code must not become a large body
#: The most characters a QR code holds in alphanumeric mode (version 40, level L).
MAX_TEXT_CHARS = 4296
RELAY_FORMS = ("daily_health", "incident", "explanation", "inspection")
META_KEYS = (
    "author",
    "device",
    "app_version",
    "created_at",
    "updated_at",
    "submitted_at",
    "utc_offset_minutes",
    "clock_offset_ms",
)
PLACE_KEYS = ("school_id", "county_id", "date")
#: Keys the body array carries in their own elements; ``extra`` may only hold the others
#: (and a place key whose element is null: an explicit null in the stored document).
BODY_KEYS = frozenset({"_id", "_rev", "_revisions", "type", "form", "schema_version", "data", "meta", *PLACE_KEYS})

_TEXT = re.compile(r"SR1:([1-9][0-9]{0,5})/([1-9][0-9]{0,5}):([0-9A-Z $%*+\-./:]+)")
_MAX_WALL = 10**15 - 1
_MAX_COUNTER = 10**5 - 1

# RFC 9285 base45, written here (about twenty lines, like webapp/js/relay_codec.js) rather
# than taken from a package: the npm package needs Node's Buffer, and both sides must agree.
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUES = {ch: i for i, ch in enumerate(BASE45_ALPHABET)}


def base45_encode(data: bytes) -> str:
    """``data`` as RFC 9285 base45 text."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [BASE45_ALPHABET[n % 45], BASE45_ALPHABET[n // 45 % 45], BASE45_ALPHABET[n // 2025]]
    if len(data) % 2:
        n = data[-1]
        out += [BASE45_ALPHABET[n % 45], BASE45_ALPHABET[n // 45]]
    return "".join(out)


def base45_decode(text: str) -> bytes:
    """The bytes of RFC 9285 base45 ``text``. Raises ``MalformedPayload`` for a character
    outside the alphabet, an impossible length, or a group over its byte range."""
    if len(text) % 3 == 1:
        raise MalformedPayload(f"base45: impossible length {len(text)}")
    try:
        digits = [_BASE45_VALUES[ch] for ch in text]
    except KeyError as exc:
        raise MalformedPayload(f"base45: not a base45 character: {exc.args[0]!r}") from None
    out = bytearray()
    for i in range(0, len(digits), 3):
        group = digits[i : i + 3]
        if len(group) == 3:
            n = group[0] + group[1] * 45 + group[2] * 2025
            if n > 0xFFFF:
                raise MalformedPayload("base45: a group is over 65535")
            out += n.to_bytes(2, "big")
        else:
            n = group[0] + group[1] * 45
            if n > 0xFF:
                raise MalformedPayload("base45: the last group is over 255")
            out.append(n)
    return bytes(out)


def deflate_raw(data: bytes) -> bytes:
    """RFC 1951 deflate without a zlib header (``CompressionStream('deflate-raw')``)."""
    packer = zlib.compressobj(level=9, wbits=-15)
    return packer.compress(data) + packer.flush()


def inflate_raw(data: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """The inflated bytes of a whole raw deflate stream. Raises ``MalformedPayload`` when
    ``data`` does not inflate, ends early, has bytes after its end, or inflates past ``limit``."""
    unpacker = zlib.decompressobj(wbits=-15)
    try:
        out = unpacker.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedPayload(f"does not inflate: {exc}") from None
    if len(out) > limit:
        raise MalformedPayload(f"the body inflates to more than {limit} bytes")
    if not unpacker.eof:
        raise MalformedPayload("the compressed body ends early")
    if unpacker.unused_data:
        raise MalformedPayload("bytes after the compressed body")
    return out


def field_order(form: str, version: int) -> list[str]:
    """The form version's field names in declared order. Raises ``UnknownForm`` or
    ``UnknownSchemaVersion``."""
    return list(get_form(form).schema(version).fields)


@dataclass(frozen=True, kw_only=True)
class DecodedPayload:
    """A decoded code: the stored ``doc``, the signed ``body_bytes``, the 64-byte
    ``signature`` (``r || s``), and the code's place ``index`` of ``count`` (not signed)."""

    doc: dict[str, Any]
    body_bytes: bytes
    signature: bytes
    index: int
    count: int

    @property
    def origin_device(self) -> str:
        """The device that claims the document (``meta.device``): the one whose key must verify it."""
        return str(self.doc["meta"]["device"])


# -- packing ---------------------------------------------------------------------------------


def _pack_clock(value: Any, device: Any) -> Any:
    """``[wall, counter]`` for a well-formed clock of the document's own device, else as is."""
    if isinstance(value, str) and isinstance(device, str):
        try:
            wall, counter, clock_device = hlc_parse(value)
        except ValueError:
            return value
        if clock_device == device and hlc_format(wall, counter, device) == value:
            return [wall, counter]
    return value


def pack_document(doc: Mapping[str, Any]) -> list[Any]:
    """The body array of a stored document (``_revisions`` as from ``GET ?revs=true``; without
    it, the history is ``_rev`` alone). Raises ``ValueError`` for a document that cannot be
    sent: no ``_id``/``_rev``/``form``/``schema_version``/``type``, a form that is not relayed,
    ``meta`` or ``meta.clocks`` not objects, or ``_revisions`` that disagree with ``_rev``."""
    for key in ("_id", "_rev", "type", "form", "schema_version", "data", "meta"):
        if key not in doc:
            raise ValueError(f"the document has no {key}")
    form, version = doc["form"], doc["schema_version"]
    if form not in RELAY_FORMS:
        raise ValueError(f"form {form!r} is not relayed")
    start_text, _, newest = str(doc["_rev"]).partition("-")
    revisions = doc.get("_revisions") or {"start": int(start_text), "ids": [newest]}
    if f"{revisions['start']}-{revisions['ids'][0]}" != doc["_rev"]:
        raise ValueError("_revisions does not end at _rev")
    try:
        order: list[str] | None = field_order(form, version)
    except UnknownSchemaVersion:
        order = None  # a version this side does not know travels as an object
    data = doc["data"]
    if order is not None and isinstance(data, dict) and set(data) == set(order) and len(data) == len(order):
        data = [data[name] for name in order]
    meta = doc["meta"]
    if not isinstance(meta, dict):
        raise ValueError("meta is not an object")
    rest = {k: v for k, v in meta.items() if k != "clocks"}
    packed_meta: Any = [rest[k] for k in META_KEYS] if set(rest) == set(META_KEYS) else rest
    clocks = None
    if "clocks" in meta:
        if not isinstance(meta["clocks"], dict):
            raise ValueError("meta.clocks is not an object")
        clocks = []
        for name, clock in meta["clocks"].items():
            if not isinstance(clock, dict):
                raise ValueError(f"meta.clocks.{name} is not an object")
            where = order.index(name) if order is not None and name in order else name
            clocks.append(
                [
                    where,
                    _pack_clock(clock.get("at"), meta.get("device")),
                    _pack_clock(clock.get("base"), meta.get("device")),
                ]
            )
    extra = {k: v for k, v in doc.items() if k not in BODY_KEYS or (k in PLACE_KEYS and v is None)}
    places = [doc.get(k) for k in PLACE_KEYS]  # an absent key and an explicit null are both null here
    return [
        BODY_VERSION,
        form,
        version,
        doc["_id"],
        [revisions["start"], list(revisions["ids"])],
        doc["type"],
        *places,
        data,
        packed_meta,
        clocks,
        extra,
    ]


def body_bytes(doc: Mapping[str, Any]) -> bytes:
    """The signed bytes of ``doc``'s body: UTF-8 JSON as ``JSON.stringify`` writes it (no spaces)."""
    return json.dumps(pack_document(doc), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_payload(doc: Mapping[str, Any], sign: Callable[[bytes], bytes], index: int = 1, count: int = 1) -> str:
    """The text of one code for ``doc``. ``sign(body)`` returns the 64-byte ``r || s``
    ECDSA P-256/SHA-256 signature of the body. Raises ``ValueError`` (see ``pack_document``,
    a signature of another length, or ``index`` outside ``1..count``)."""
    if not 1 <= index <= count:
        raise ValueError(f"code {index} of {count}")
    body = body_bytes(doc)
    signature = bytes(sign(body))
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"a signature must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
    return f"{PREFIX}:{index}/{count}:{base45_encode(signature + deflate_raw(body))}"


# -- unpacking -------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unpack_clock(value: Any, device: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_int(v) for v in value)
        and isinstance(device, str)
        and 0 <= value[0] <= _MAX_WALL
        and 0 <= value[1] <= _MAX_COUNTER
    ):
        try:
            return hlc_format(value[0], value[1], device)
        except ValueError:
            pass  # a device name no clock can hold
    raise MalformedPayload("a clock is neither text, null nor [wall, counter] of the origin device")


def _refuse_constant(name: str) -> Any:
    raise MalformedPayload(f"{name} is not JSON as JSON.stringify writes it")


def unpack_document(body: Any) -> dict[str, Any]:
    """The stored document a body array describes. Raises ``MalformedPayload`` for anything
    that is not a version-1 body of a relayed form (a field order that needs a form version
    this side does not know included)."""
    if not isinstance(body, list) or len(body) != 13:
        raise MalformedPayload("the body is not a 13-element array")
    version_tag, form, version, doc_id, revisions, doc_type = body[:6]
    school_id, county_id, date, data, meta, clocks, extra = body[6:]
    if version_tag != BODY_VERSION or not _is_int(version_tag):
        raise MalformedPayload(f"body version {version_tag!r} is not {BODY_VERSION}")
    if form not in RELAY_FORMS:
        raise MalformedPayload(f"unknown form {form!r}")
    if not _is_int(version):
        raise MalformedPayload("schema_version is not an integer")
    if not isinstance(doc_id, str) or not doc_id:
        raise MalformedPayload("no document id")
    if not (
        isinstance(revisions, list)
        and len(revisions) == 2
        and _is_int(revisions[0])
        and revisions[0] >= 1
        and isinstance(revisions[1], list)
        and 1 <= len(revisions[1]) <= revisions[0]
        and all(isinstance(r, str) and r for r in revisions[1])
    ):
        raise MalformedPayload("revisions are not [start, [id, ...]]")
    if not isinstance(doc_type, str):
        raise MalformedPayload("type is not text")
    if not isinstance(extra, dict):
        raise MalformedPayload("extra is not an object")
    places = dict(zip(PLACE_KEYS, (school_id, county_id, date), strict=True))
    clashes = sorted(k for k in extra if k in BODY_KEYS and not (k in PLACE_KEYS and places[k] is None))
    if clashes:
        raise MalformedPayload(f"extra repeats {', '.join(clashes)}")
    if isinstance(meta, list):
        if len(meta) != len(META_KEYS):
            raise MalformedPayload(f"meta is an array of {len(meta)}, not {len(META_KEYS)}")
        meta_out = dict(zip(META_KEYS, meta, strict=True))
    elif isinstance(meta, dict) and "clocks" not in meta:
        meta_out = dict(meta)
    else:
        raise MalformedPayload("meta is neither the 8-element array nor an object without clocks")
    if not isinstance(meta_out.get("device"), str) or not meta_out["device"]:
        raise MalformedPayload("the payload names no origin device (meta.device)")
    if clocks is not None and not isinstance(clocks, list):
        raise MalformedPayload("clocks are not an array")
    needs_order = isinstance(data, list) or any(isinstance(c, list) and c and _is_int(c[0]) for c in clocks or [])
    order: list[str] = []
    if needs_order:
        try:
            order = field_order(form, version)
        except UnknownSchemaVersion:
            raise MalformedPayload(f"{form} has no schema_version {version} here to read its field order") from None
    if isinstance(data, list):
        if len(data) != len(order):
            raise MalformedPayload(f"data has {len(data)} values, {form} v{version} has {len(order)} fields")
        data = dict(zip(order, data, strict=True))
    if clocks is not None:
        meta_out["clocks"] = {}
        for clock in clocks:
            if not isinstance(clock, list) or len(clock) != 3:
                raise MalformedPayload("a clock is not [field, at, base]")
            where = clock[0]
            if _is_int(where):
                if not 0 <= where < len(order):
                    raise MalformedPayload(f"clock field {where} is not a field of {form} v{version}")
                name = order[where]
            elif isinstance(where, str):
                name = where
            else:
                raise MalformedPayload("a clock names no field")
            if name in meta_out["clocks"]:
                raise MalformedPayload(f"two clocks for {name}")
            meta_out["clocks"][name] = {
                "at": _unpack_clock(clock[1], meta_out["device"]),
                "base": _unpack_clock(clock[2], meta_out["device"]),
            }
    start, ids = revisions
    doc: dict[str, Any] = {
        "_id": doc_id,
        "_rev": f"{start}-{ids[0]}",
        "_revisions": {"start": start, "ids": ids},
        "type": doc_type,
        "form": form,
        "schema_version": version,
    }
    doc.update({k: v for k, v in places.items() if v is not None})
    doc.update(data=data, meta=meta_out)
    doc.update(extra)
    return doc


def decode_payload(text: str) -> DecodedPayload:
    """The document, signed bytes, signature and place of one code's text. The signature is
    not verified here. Raises ``MalformedPayload`` for anything that is not a well-formed
    version-1 payload: prefix, characters, base45, length, inflating (at most
    ``MAX_BODY_BYTES``), UTF-8 JSON, and the body's shape."""
    if not isinstance(text, str):
        raise MalformedPayload("a payload is text")
    if len(text) > MAX_TEXT_CHARS:
        raise MalformedPayload(f"longer than a QR code holds ({MAX_TEXT_CHARS} characters)")
    match = _TEXT.fullmatch(text)
    if match is None:
        raise MalformedPayload("not an SR1 relay code")
    index, count = int(match.group(1)), int(match.group(2))
    if index > count:
        raise MalformedPayload(f"code {index} of {count}")
    frame = base45_decode(match.group(3))
    if len(frame) <= SIGNATURE_BYTES:
        raise MalformedPayload("too short for a signature and a body")
    body = inflate_raw(frame[SIGNATURE_BYTES:])
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except MalformedPayload:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedPayload("the body is not UTF-8 JSON") from None
    try:  # "\ud800" parses, but is not Unicode and no database stores it as sent
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPayload("the body holds text that is not valid Unicode") from None
    return DecodedPayload(
        doc=unpack_document(parsed), body_bytes=body, signature=frame[:SIGNATURE_BYTES], index=index, count=count
    )


__all__ = [
    "BASE45_ALPHABET",
    "MAX_BODY_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "RELAY_FORMS",
    "SIGNATURE_BYTES",
    "DecodedPayload",
    "MalformedPayload",
    "base45_decode",
    "base45_encode",
    "body_bytes",
    "decode_payload",
    "deflate_raw",
    "encode_payload",
    "field_order",
    "inflate_raw",
    "pack_document",
    "unpack_document",
]
