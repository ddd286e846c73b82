"""The few X.509 certificates Vega needs, written directly in DER.

Two shapes only: the cluster CA (self-signed, CA:TRUE, pathlen 0, keyCertSign)
and a leaf (CA:FALSE, digitalSignature, serverAuth + clientAuth), both Ed25519
(RFC 8410).  The HTTP port's leaf is the one exception: its key is ECDSA P-256 (browsers
do not offer Ed25519 in TLS), given as a whole SubjectPublicKeyInfo, and it names the
host names and addresses it serves (subjectAltName: HTTP clients check them).  Writing them here rather than with ``cryptography.x509`` keeps the
import to the Ed25519 primitive: ``cryptography.x509`` and its serialization
cost every fresh interpreter (every driver) about 55 ms more (63 ms against 9 ms
for the Ed25519 primitive alone, measured over a bare interpreter).  ``tests/test_tls.py``
parses the results with ``cryptography.x509`` and ``openssl s_client`` verifies
them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_ED25519 = b"\x06\x03\x2b\x65\x70"  # OID 1.3.101.112
_ORGANIZATION = b"\x06\x03\x55\x04\x0a"
_COMMON_NAME = b"\x06\x03\x55\x04\x03"
_BASIC_CONSTRAINTS = b"\x06\x03\x55\x1d\x13"
_KEY_USAGE = b"\x06\x03\x55\x1d\x0f"
_SUBJECT_KEY_ID = b"\x06\x03\x55\x1d\x0e"
_AUTHORITY_KEY_ID = b"\x06\x03\x55\x1d\x23"
_EXTENDED_KEY_USAGE = b"\x06\x03\x55\x1d\x25"
_SUBJECT_ALT_NAME = b"\x06\x03\x55\x1d\x11"
_SERVER_AUTH = b"\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x01"
_CLIENT_AUTH = b"\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x02"


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return _tlv(0x02, body)


def _time(moment: datetime.datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5)."""
    moment = moment.astimezone(datetime.timezone.utc)
    if moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _name(organization: str, common_name: str) -> bytes:
    return _seq(_tlv(0x31, _seq(_ORGANIZATION, _tlv(0x0C, organization.encode()))),
                _tlv(0x31, _seq(_COMMON_NAME, _tlv(0x0C, common_name.encode()))))


def _extension(oid: bytes, value: bytes, critical: bool) -> bytes:
    return _seq(oid, b"\x01\x01\xff" if critical else b"", _tlv(0x04, value))


def key_id(public: bytes) -> bytes:
    """The key identifier of an Ed25519 public key (SHA-1 of the key, RFC 5280 4.2.1.2)."""
    return hashlib.sha1(public).digest()


def _alt_names(dns_names: Iterable[str], addresses: Iterable[bytes]) -> bytes:
    """GeneralNames: dNSName [2] IA5String, iPAddress [7] OCTET STRING (4 or 16 bytes)."""
    return _seq(*[_tlv(0x82, name.encode("ascii")) for name in dns_names],
                *[_tlv(0x87, packed) for packed in addresses])


def certificate(*, signer: Ed25519PrivateKey, issuer: tuple, subject: tuple, public: bytes,
                serial: int, not_before: datetime.datetime, not_after: datetime.datetime,
                ca: bool, spki: bytes = b"", dns_names: Iterable[str] = (),
                addresses: Iterable[bytes] = ()) -> bytes:
    """A DER certificate for the Ed25519 key ``public`` (32 raw bytes), or for the key of
    the DER SubjectPublicKeyInfo ``spki`` when given, signed by ``signer``; ``issuer`` and
    ``subject`` are ``(organization, common name)``; a leaf with ``dns_names`` or
    ``addresses`` (packed IPv4/IPv6) lists them as its subjectAltName."""
    issuer_public = signer.public_key().public_bytes_raw()
    dns_names, addresses = tuple(dns_names), tuple(addresses)
    if ca:
        extensions: Iterable[bytes] = (
            _extension(_BASIC_CONSTRAINTS, _seq(b"\x01\x01\xff", _integer(0)), True),
            _extension(_KEY_USAGE, b"\x03\x02\x01\x06", True),  # keyCertSign, cRLSign
            _extension(_SUBJECT_KEY_ID, _tlv(0x04, key_id(public)), False))
    else:
        extensions = (
            _extension(_BASIC_CONSTRAINTS, _seq(), True),
            _extension(_KEY_USAGE, b"\x03\x02\x07\x80", True),  # digitalSignature
            _extension(_EXTENDED_KEY_USAGE, _seq(_SERVER_AUTH, _CLIENT_AUTH), False),
            _extension(_AUTHORITY_KEY_ID, _seq(_tlv(0x80, key_id(issuer_public))), False))
        if dns_names or addresses:
            extensions += (_extension(_SUBJECT_ALT_NAME, _alt_names(dns_names, addresses),
                                      False),)
    tbs = _seq(b"\xa0\x03\x02\x01\x02",  # version 3
               _integer(serial),
               _seq(_ED25519),
               _name(*issuer),
               _seq(_time(not_before), _time(not_after)),
               _name(*subject),
               spki or _seq(_seq(_ED25519), _tlv(0x03, b"\x00" + public)),
               _tlv(0xA3, _seq(*extensions)))
    return _seq(tbs, _seq(_ED25519), _tlv(0x03, b"\x00" + signer.sign(tbs)))


def private_key_der(seed: bytes) -> bytes:
    """PKCS#8 of an Ed25519 private key (RFC 8410)."""
    return _seq(_integer(0), _seq(_ED25519), _tlv(0x04, _tlv(0x04, seed)))


def pem(kind: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {kind}-----\n".encode() + b"\n".join(lines)
            + f"\n-----END {kind}-----\n".encode())
