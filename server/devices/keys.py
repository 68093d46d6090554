"""Device signing keys (docs/relay.md): ECDSA P-256 public keys, as the app sends them.

The app sends its public key as base64url (padding optional) of the 65-byte uncompressed
point (``0x04 || x || y``, WebCrypto's ``raw`` export); the registry keeps it in that text
form, without padding. Signatures are IEEE P1363 ``r || s`` (64 bytes), WebCrypto's form.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

POINT_BYTES = 65
SIGNATURE_BYTES = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{86,87}={0,2}")  # 65 bytes: 87 characters unpadded


class BadPublicKey(ValueError):
    """Text that is not the base64url of an uncompressed P-256 point on the curve; ``str`` says why."""


def public_key_point(text: str) -> bytes:
    """The 65-byte point of a public key's text. Raises ``BadPublicKey``."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text):
        raise BadPublicKey("public_key is base64url of the 65-byte uncompressed P-256 point")
    try:
        point = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadPublicKey("public_key is not base64url") from exc
    if len(point) != POINT_BYTES or point[0] != 0x04:
        raise BadPublicKey("public_key is not an uncompressed point (65 bytes starting with 0x04)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:  # cryptography checks that the point is on the curve
        raise BadPublicKey("public_key is not a point on the P-256 curve") from exc
    return point


def normalized_public_key(text: str) -> str:
    """The registry's text of a public key (base64url, no padding). Raises ``BadPublicKey``."""
    return base64.urlsafe_b64encode(public_key_point(text)).decode("ascii").rstrip("=")


def signature_verifies(public_key: str, body: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (``r || s``) is the key's ECDSA P-256/SHA-256 signature of ``body``.
    A stored key that no longer parses, or a signature of the wrong length, does not verify."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key_point(public_key))
    except BadPublicKey:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):  # ValueError: r or s out of range
        return False
    return True


# -- the device's side, as the app's WebCrypto does it (for the demo and the tests) -----------

def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The text the app registers for ``key``'s public half (base64url of the 65-byte point)."""
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).decode("ascii").rstrip("=")


def sign_as_device(key: ec.EllipticCurvePrivateKey, body: bytes) -> bytes:
    """``body``'s ECDSA P-256/SHA-256 signature as WebCrypto gives it: ``r || s``, 64 bytes."""
    r, s = decode_dss_signature(key.sign(body, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


__all__ = ["BadPublicKey", "normalized_public_key", "public_key_point", "public_key_text", "sign_as_device",
           "signature_verifies"]
